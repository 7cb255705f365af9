package socktype

import (
	"context"
	"fmt"

	"github.com/wispmq/wisp/internal/engine"
)

// router is a ROUTER socket: it puts each peer's routing id in front of
// what that peer sent, and routes what it sends by the first frame. A
// peer's routing id is the one it stated in its handshake, or else its
// session id, which is unique and stays the same across its reconnections.
// byID is guarded by the engine's lock.
type router struct {
	e    *engine.Engine
	byID map[string]*engine.Peer // the peer each routing id leads to
}

func newRouter(e *engine.Engine) engine.Behavior {
	return &router{e: e, byID: make(map[string]*engine.Peer)}
}

func (b *router) Caps() engine.Caps {
	return engine.Caps{
		Peers:     []engine.Type{engine.Req, engine.Dealer, engine.Router},
		SendsData: true, ReceivesData: true, Addressed: true,
		CanSend: true, CanRecv: true,
	}
}

// routingID is the id a ROUTER knows the peer that stated info by.
func routingID(info *engine.PeerInfo) []byte {
	if len(info.RoutingID) > 0 {
		return append([]byte(nil), info.RoutingID...)
	}
	return append([]byte(nil), info.Session[:]...)
}

// AdmitLocked refuses a peer stating a routing id another session's
// connected peer has.
func (b *router) AdmitLocked(info *engine.PeerInfo) error {
	rid := routingID(info)
	holder := b.byID[string(rid)]
	if holder != nil && holder.Connected() && !(holder.HasSession() && holder.Session() == info.Session) {
		return fmt.Errorf("%w: %q", engine.ErrDuplicateRoutingID, rid)
	}
	return nil
}

// AttachedLocked maps p's routing id to p. A departed session's peer that
// had the id loses it, and the messages queued for the id move to p, whose
// peer now answers to it.
func (b *router) AttachedLocked(p *engine.Peer, _ bool) {
	rid := routingID(p.Info())
	if p.Ext == nil {
		p.Ext = rid // what Recv puts in front; read without the lock
	}
	if old := string(p.RoutingID); old != string(rid) && p.RoutingID != nil && b.byID[old] == p {
		delete(b.byID, old)
	}
	if holder := b.byID[string(rid)]; holder != nil && holder != p {
		b.e.MoveHeldLocked(holder, p)
		holder.RoutingID = nil // it is away; its resume timeout forgets it
	}
	p.RoutingID = rid
	b.byID[string(rid)] = p
}

func (b *router) DetachedLocked(*engine.Peer) {}

// GoneLocked forgets p's routing id: messages for it are unroutable now.
func (b *router) GoneLocked(p *engine.Peer) {
	if p.RoutingID != nil && b.byID[string(p.RoutingID)] == p {
		delete(b.byID, string(p.RoutingID))
	}
	p.RoutingID = nil
}

// RehomeLocked: messages queued for a routing id may go to a new session
// that states the same id.
func (b *router) RehomeLocked(p *engine.Peer, info *engine.PeerInfo) bool {
	return string(p.RoutingID) == string(routingID(info))
}

func (b *router) CommandLocked(_ *engine.Peer, cmd engine.Command) error {
	return engine.UnexpectedCommand(engine.Router, cmd)
}

func (b *router) CloseLocked() {}

// Recv returns the next message with its peer's routing id in front.
func (b *router) Recv(ctx context.Context) (engine.Message, error) {
	m, p, err := b.e.Next(ctx)
	if err != nil {
		return nil, err
	}
	return routed(m, p), nil
}

// recvManyMax bounds a ROUTER's batch, so that the peers of a batch fit
// on the stack.
const recvManyMax = 64

// RecvMany returns up to recvManyMax messages, each with its peer's
// routing id in front.
func (b *router) RecvMany(ctx context.Context, dst []engine.Message) (int, error) {
	var peers [recvManyMax]*engine.Peer
	dst = dst[:min(len(dst), len(peers))]
	n, err := b.e.NextMany(ctx, dst, peers[:len(dst)])
	for i := range n {
		dst[i] = routed(dst[i], peers[i])
	}
	return n, err
}

// routed returns m with the routing id of p, its sender, in front.
func routed(m engine.Message, p *engine.Peer) engine.Message {
	rid, _ := p.Ext.([]byte)
	// A copy: the caller owns what Recv returns and may change it. The
	// frame list and the id's copy share one allocation when both are
	// short, as a broker's messages and session ids are.
	var out engine.Message
	var id []byte
	if len(m)+1 <= len(routedFrames{}.frames) && len(rid) <= len(routedFrames{}.rid) {
		r := new(routedFrames)
		out, id = r.frames[:0:len(m)+1], r.rid[:len(rid):len(rid)]
	} else {
		out, id = make(engine.Message, 0, len(m)+1), make([]byte, len(rid))
	}
	copy(id, rid)
	return append(append(out, id), m...)
}

// routedFrames is what ROUTER's Recv returns, in one allocation: the frame
// list (the routing id and up to three frames) and the routing id's copy
// (a session id's 16 bytes, or a stated id as short).
type routedFrames struct {
	frames [4][]byte
	rid    [16]byte
}

// Send sends frames[1:] to the peer frames[0] names. A message for an
// unknown peer is dropped and counted, or fails with ErrUnroutable under
// WithRouterMandatory. A known peer whose queue is full makes Send wait for
// room, like PUSH.
func (b *router) Send(ctx context.Context, routed engine.Msg) error {
	if len(routed.Rest) == 0 {
		return fmt.Errorf("%w: a ROUTER message needs a routing id frame and at least one more", engine.ErrInvalidMessage)
	}
	e := b.e
	rid := routed.First
	m := engine.Msg{First: routed.Rest[0], Rest: routed.Rest[1:]}
	if len(m.Rest) == 0 {
		m.Rest = nil
	}
	if err := e.CheckMsg(m); err != nil {
		return err
	}
	e.Lock()
	if e.Options().RouterMandatory && b.byID[string(rid)] == nil && !e.ClosingLocked() {
		e.Unlock()
		return fmt.Errorf("%w: %x", engine.ErrUnroutable, rid)
	}
	return e.SendToLocked(ctx, m, func() *engine.Peer { return b.byID[string(rid)] })
}

// Peer reports the counters of the peer routingID leads to, and who it
// proved to be, for an application that decides by the sender.
func (b *router) Peer(routingID []byte) (engine.PeerStats, bool) {
	b.e.Lock()
	defer b.e.Unlock()
	p := b.byID[string(routingID)]
	if p == nil {
		return engine.PeerStats{}, false
	}
	return b.e.PeerStatsLocked(p), true
}

// Forget gives up the peer routingID leads to: what is queued for it is
// dropped and its connection closed. It reports how many messages were
// dropped, and false for an id no peer has.
func (b *router) Forget(routingID []byte) (int, bool) {
	b.e.Lock()
	p := b.byID[string(routingID)]
	if p == nil {
		b.e.Unlock()
		return 0, false
	}
	n, closeConn := b.e.AbandonLocked(p)
	b.e.Unlock()
	closeConn()
	return n, true
}
