package socktype

import (
	"context"

	"github.com/wispmq/wisp/internal/engine"
)

// pipeline is PUSH and PULL: a PUSH sends each message to the next PULL in
// turn that has room (round robin), a PULL takes from its PUSHes in turn
// (fair queueing). Delivery, acknowledgement and resending are the
// engine's; a pipeline adds no rule of its own.
type pipeline struct {
	e    *engine.Engine
	push bool
}

func newPush(e *engine.Engine) engine.Behavior { return &pipeline{e: e, push: true} }
func newPull(e *engine.Engine) engine.Behavior { return &pipeline{e: e} }

func (b *pipeline) Caps() engine.Caps {
	if b.push {
		return engine.Caps{Peers: []engine.Type{engine.Pull}, SendsData: true, CanSend: true}
	}
	return engine.Caps{Peers: []engine.Type{engine.Push}, ReceivesData: true, CanRecv: true}
}

func (b *pipeline) AdmitLocked(*engine.PeerInfo) error               { return nil }
func (b *pipeline) AttachedLocked(*engine.Peer, bool)                {}
func (b *pipeline) DetachedLocked(*engine.Peer)                      {}
func (b *pipeline) GoneLocked(*engine.Peer)                          {}
func (b *pipeline) RehomeLocked(*engine.Peer, *engine.PeerInfo) bool { return true }
func (b *pipeline) CloseLocked()                                     {}

func (b *pipeline) CommandLocked(_ *engine.Peer, cmd engine.Command) error {
	return engine.UnexpectedCommand(b.e.Type(), cmd)
}

func (b *pipeline) Send(ctx context.Context, m engine.Msg) error {
	return b.e.SendRoundRobin(ctx, m) // a PULL's Caps say it does not send
}

func (b *pipeline) Recv(ctx context.Context) (engine.Message, error) {
	if b.push {
		return nil, engine.NotSupported(b.e.Type(), "Recv")
	}
	m, _, err := b.e.Next(ctx)
	return m, err
}

func (b *pipeline) SendMany(ctx context.Context, msgs []engine.Message) (int, error) {
	return b.e.SendRoundRobinMany(ctx, msgs)
}

// RecvMany is a PULL's: the engine turns a PUSH's away (Caps).
func (b *pipeline) RecvMany(ctx context.Context, dst []engine.Message) (int, error) {
	return b.e.NextMany(ctx, dst, nil)
}
