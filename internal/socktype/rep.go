package socktype

import (
	"context"
	"fmt"

	"github.com/wispmq/wisp/internal/engine"
)

// rep is a REP socket: it receives requests fair-queued and answers each on
// the connection of the peer that asked. The fields are guarded by the
// engine's lock.
type rep struct {
	e        *engine.Engine
	pending  bool             // a request awaits its reply
	asker    engine.SessionID // who asked
	envelope [][]byte         // the frames before the delimiter
}

func newRep(e *engine.Engine) engine.Behavior { return &rep{e: e} }

func (b *rep) Caps() engine.Caps {
	return engine.Caps{
		Peers:     []engine.Type{engine.Req, engine.Dealer},
		SendsData: true, ReceivesData: true, Addressed: true, DirectReads: true,
		CanSend: true, CanRecv: true,
	}
}

func (b *rep) AdmitLocked(*engine.PeerInfo) error { return nil }
func (b *rep) AttachedLocked(*engine.Peer, bool)  {}
func (b *rep) DetachedLocked(*engine.Peer)        {}
func (b *rep) GoneLocked(*engine.Peer)            {}
func (b *rep) CloseLocked()                       {}

// RehomeLocked: a reply belongs to the session that asked, not to whoever
// answers at its endpoint now.
func (b *rep) RehomeLocked(*engine.Peer, *engine.PeerInfo) bool { return false }

func (b *rep) CommandLocked(_ *engine.Peer, cmd engine.Command) error {
	return engine.UnexpectedCommand(engine.Rep, cmd)
}

// Recv returns the request's body and remembers its envelope and its
// sender for Send. A request that was never answered is abandoned.
func (b *rep) Recv(ctx context.Context) (engine.Message, error) {
	e := b.e
	for {
		m, p, err := e.Next(ctx)
		if err != nil {
			return nil, err
		}
		k := delimiterIndex(m)
		if k < 0 {
			e.Counters().BadEnvelopes.Add(1)
			continue
		}
		e.Lock()
		b.pending, b.asker, b.envelope = true, p.Session(), m[:k]
		e.Unlock()
		return m[k+1:], nil
	}
}

// delimiterIndex returns the index of the empty frame that ends a request's
// envelope, or -1 when the message has none or nothing after it.
func delimiterIndex(m engine.Message) int {
	for i, f := range m {
		if len(f) == 0 {
			if i == len(m)-1 {
				return -1
			}
			return i
		}
	}
	return -1
}

// Send answers the request the last Recv returned, on the connection of
// the peer that sent it; a reply whose asker is gone is dropped and
// counted.
func (b *rep) Send(ctx context.Context, body engine.Msg) error {
	e := b.e
	if err := e.CheckMsg(body); err != nil {
		return err
	}
	nframes := 1 + len(body.Rest)
	e.Lock()
	if !b.pending {
		e.Unlock()
		return fmt.Errorf("%w: REP has no request to answer; Recv one first", engine.ErrState)
	}
	envelope, asker := b.envelope, b.asker
	if len(envelope)+1+nframes > engine.MaxFramesPerMessage {
		e.Unlock()
		return fmt.Errorf("%w: %d frames and the envelope's %d, the most is %d", engine.ErrInvalidMessage, nframes, len(envelope)+1, engine.MaxFramesPerMessage)
	}
	b.pending, b.envelope = false, nil
	all := make([][]byte, 0, len(envelope)+1+nframes)
	all = append(all, envelope...)
	all = append(all, []byte{}, body.First)
	all = append(all, body.Rest...)
	m := engine.Msg{First: all[0], Rest: all[1:]}
	return e.SendToLocked(ctx, m, func() *engine.Peer { return e.PeerLocked(asker) })
}
