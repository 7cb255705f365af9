package socktype

import (
	"context"
	"fmt"

	"github.com/wispmq/wisp/internal/engine"
)

// bus is BUS, a member of a mesh: Send gives every member the message and
// Recv takes from all of them in turn (fair queueing). Each member's copy
// is a message of that member's own stream, acknowledged and resent after
// a reconnect like a DEALER's, so a member that stays in the mesh gets
// every message once and in order; a copy is never handed to another
// member (Addressed), since every member has its own already.
//
// Send waits until every member has room and then queues the message for
// all of them at once: a slow member slows the mesh rather than silently
// missing messages, and a Send that gives up (its context ended) has
// given the message to nobody, so a caller may send it again without
// duplicating it anywhere. scratch is guarded by the engine's lock.
type bus struct {
	e       *engine.Engine
	scratch []*engine.Peer // the members of the message being sent
}

// member is what a bus keeps of a peer: whether it is still in the mesh.
// It is the peer's Ext, guarded by the engine's lock.
type member struct {
	// gone: away for the resume timeout, or given up. replaced: a new
	// session answers at the endpoint the bus dials it through, so it will
	// not come back there. Either way messages no longer go to it; both
	// clear if it does come back.
	gone, replaced bool
}

func newBus(e *engine.Engine) engine.Behavior { return &bus{e: e} }

func (b *bus) Caps() engine.Caps {
	return engine.Caps{
		Peers:     []engine.Type{engine.Bus},
		SendsData: true, ReceivesData: true, Addressed: true, FansOut: true,
		CanSend: true, CanRecv: true,
	}
}

func (b *bus) AdmitLocked(*engine.PeerInfo) error { return nil }
func (b *bus) DetachedLocked(*engine.Peer)        {} // its copies wait for its return
func (b *bus) CloseLocked()                       {}

// AttachedLocked makes p a member, or one again. Its session id's bytes
// are its routing id, which events report and Forget takes.
func (b *bus) AttachedLocked(p *engine.Peer, _ bool) {
	sess := p.Session()
	p.RoutingID = sess[:]
	if m, ok := p.Ext.(*member); ok {
		*m = member{}
		return
	}
	p.Ext = &member{}
}

// GoneLocked takes p out of the mesh: the engine dropped its copies, and
// new messages are not queued for a member that is not coming back.
func (b *bus) GoneLocked(p *engine.Peer) {
	if m, ok := p.Ext.(*member); ok {
		m.gone = true
	}
}

// RehomeLocked: p's copies were for p's session only, and the new session
// at p's endpoint is a new member, which starts with what is sent from now
// on. p is out of the mesh from here: it would hold copies for nobody
// until its resume timeout, and, its queue full, hold up every Send.
func (b *bus) RehomeLocked(p *engine.Peer, _ *engine.PeerInfo) bool {
	if m, ok := p.Ext.(*member); ok {
		m.replaced = true
	}
	return false
}

// Forget gives up the member whose session id is session: its copies are
// dropped and its connection closed, so Send, Flush and Close stop waiting
// for a member that left for good. It reports how many copies were
// dropped, and false for a session that is no member.
func (b *bus) Forget(session []byte) (int, bool) {
	var sess engine.SessionID
	if len(session) != len(sess) {
		return 0, false
	}
	copy(sess[:], session)
	b.e.Lock()
	p := b.e.PeerLocked(sess)
	if p == nil || !inMesh(p) {
		b.e.Unlock()
		return 0, false
	}
	n, closeConn := b.e.AbandonLocked(p)
	b.e.Unlock()
	closeConn()
	return n, true
}

func (b *bus) CommandLocked(_ *engine.Peer, cmd engine.Command) error {
	return engine.UnexpectedCommand(engine.Bus, cmd)
}

// inMesh reports whether messages go to p: it completed a handshake, and
// is connected or away for less than the resume timeout (its copies then
// wait for its return, which resends them).
func inMesh(p *engine.Peer) bool {
	m, ok := p.Ext.(*member)
	return ok && p.HasSession() && !m.gone && !m.replaced
}

// Send queues m for every member once all of them have room below the send
// high-water marks, waiting for that until ctx ends or the socket closes;
// then nobody got m. With no member, m goes to nobody (WithFailFast:
// ErrNoPeer while none is connected). A message larger than some member
// accepts fails at once: the mesh's messages go to all members or none.
func (b *bus) Send(ctx context.Context, m engine.Msg) error {
	e := b.e
	if err := e.CheckMsg(m); err != nil {
		return err
	}
	// Small messages to idle members are written from this goroutine once
	// the lock is released, as a PUB's are.
	var inline [8]engine.Kick
	kicks := engine.Kicks(inline[:0])
	e.Lock()
	defer func() {
		e.Unlock()
		kicks.Flush()
	}()
	for {
		if e.ClosingLocked() {
			return engine.ErrClosed
		}
		if e.Options().FailFast && !e.AnyConnectedLocked() {
			return engine.ErrNoPeer
		}
		members, err := b.membersLocked(m.Size())
		if err != nil {
			return err
		}
		ready := true
		for _, p := range members {
			if !p.Room(m.Size()) {
				ready = false
				break
			}
		}
		if ready {
			for _, p := range members {
				kicks = kicks.Add(e.QueueLocked(p, m))
			}
			clear(members) // keep no peer alive through the scratch slice
			return nil
		}
		clear(members)
		if !e.WaitLocked(ctx.Done()) {
			return ctx.Err()
		}
	}
}

// membersLocked lists the members a message of size bytes goes to, in
// b.scratch, or fails if one of them accepts no message that large.
func (b *bus) membersLocked(size int) ([]*engine.Peer, error) {
	members := b.scratch[:0]
	for _, p := range b.e.PeersLocked() {
		if !inMesh(p) {
			continue
		}
		if limit := p.Info().MaxMessageSize; limit != 0 && uint64(size) > limit {
			clear(members)
			return nil, fmt.Errorf("%w: %d bytes, and member %v accepts at most %d", engine.ErrMessageTooLarge, size, p.Session(), limit)
		}
		members = append(members, p)
	}
	b.scratch = members[:0]
	return members, nil
}

// Recv returns the next message from any member, fair-queued.
func (b *bus) Recv(ctx context.Context) (engine.Message, error) {
	m, _, err := b.e.Next(ctx)
	return m, err
}

func (b *bus) RecvMany(ctx context.Context, dst []engine.Message) (int, error) {
	return b.e.NextMany(ctx, dst, nil)
}
