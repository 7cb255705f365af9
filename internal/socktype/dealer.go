package socktype

import (
	"context"
	"fmt"

	"github.com/wispmq/wisp/internal/engine"
)

// dealer is DEALER and PAIR: it sends round robin and receives fair-queued,
// with no envelope. A PAIR is a DEALER that talks to one peer at a time.
type dealer struct {
	e    *engine.Engine
	pair bool
}

func newDealer(e *engine.Engine) engine.Behavior { return &dealer{e: e} }
func newPair(e *engine.Engine) engine.Behavior   { return &dealer{e: e, pair: true} }

func (b *dealer) Caps() engine.Caps {
	peers := []engine.Type{engine.Dealer, engine.Rep, engine.Router}
	if b.pair {
		peers = []engine.Type{engine.Pair}
	}
	return engine.Caps{Peers: peers, SendsData: true, ReceivesData: true, CanSend: true, CanRecv: true}
}

// AdmitLocked refuses a PAIR's second peer while the first is connected.
func (b *dealer) AdmitLocked(info *engine.PeerInfo) error {
	if !b.pair {
		return nil
	}
	for _, p := range b.e.PeersLocked() {
		if p.Connected() && p.Session() != info.Session {
			return fmt.Errorf("%w: connected to session %v", engine.ErrAlreadyPaired, p.Session())
		}
	}
	return nil
}

func (b *dealer) AttachedLocked(*engine.Peer, bool)                {}
func (b *dealer) DetachedLocked(*engine.Peer)                      {}
func (b *dealer) GoneLocked(*engine.Peer)                          {}
func (b *dealer) RehomeLocked(*engine.Peer, *engine.PeerInfo) bool { return true }
func (b *dealer) CloseLocked()                                     {}

func (b *dealer) CommandLocked(_ *engine.Peer, cmd engine.Command) error {
	return engine.UnexpectedCommand(b.e.Type(), cmd)
}

func (b *dealer) Send(ctx context.Context, m engine.Msg) error {
	return b.e.SendRoundRobin(ctx, m)
}

func (b *dealer) Recv(ctx context.Context) (engine.Message, error) {
	m, _, err := b.e.Next(ctx)
	return m, err
}

func (b *dealer) SendMany(ctx context.Context, msgs []engine.Message) (int, error) {
	return b.e.SendRoundRobinMany(ctx, msgs)
}

func (b *dealer) RecvMany(ctx context.Context, dst []engine.Message) (int, error) {
	return b.e.NextMany(ctx, dst, nil)
}
