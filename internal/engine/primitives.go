package engine

import (
	"context"
	"errors"
	"sync/atomic"
)

// The engine's services to behaviours: its lock, peers, queues and
// counters. Methods ending in Locked need the lock (Lock/Unlock), the others
// must be called without it.

// Lock takes the engine's lock, which guards its peers and send side and a
// behaviour's own state.
func (s *Engine) Lock() { s.mu.Lock() }

// Unlock releases the engine's lock.
func (s *Engine) Unlock() { s.mu.Unlock() }

// WaitLocked releases the lock until the send side changes (an ACK, a peer
// attached or gone, a subscription, Close) or done fires, and reports
// whether it woke for a change. It holds the lock again on return.
func (s *Engine) WaitLocked(done <-chan struct{}) bool {
	s.mu.AssertHeld()
	return s.waitRoomLocked(done)
}

// BroadcastLocked wakes every WaitLocked, for a change a behaviour made.
func (s *Engine) BroadcastLocked() {
	s.mu.AssertHeld()
	s.broadcastRoomLocked()
}

// ClosingLocked reports whether Close has begun.
func (s *Engine) ClosingLocked() bool {
	s.mu.AssertHeld()
	return s.state != stateOpen
}

// Options returns the socket's options. They do not change after New; do
// not modify them.
func (s *Engine) Options() *Options { return &s.opts }

// Emit reports an event.
func (s *Engine) Emit(e Event) { s.emit(e) }

// Counters returns the counters behaviours keep.
func (s *Engine) Counters() *Counters { return &s.stats.Counters }

// Counters are the figures behaviours count, reported in Stats.
type Counters struct {
	Unroutable   atomic.Uint64 // replies and routed messages whose peer is unknown or gone
	StaleReplies atomic.Uint64 // replies to no outstanding request
	BadEnvelopes atomic.Uint64 // messages with a malformed envelope
	Retries      atomic.Uint64 // requests sent again
}

// PeersLocked returns every peer, in round-robin order. The slice is the
// engine's: read it under the lock only.
func (s *Engine) PeersLocked() []*Peer {
	s.mu.AssertHeld()
	return s.peers
}

// PeerLocked returns the peer of session sess, or nil if the socket does
// not know it (any more).
func (s *Engine) PeerLocked(sess SessionID) *Peer {
	s.mu.AssertHeld()
	return s.bySession[sess]
}

// LockRecv takes the receive side's lock, for a change to what a receive
// filter (RecvFiltering) reads: a Next that begins after UnlockRecv sees
// the change. It is held only while messages move, never while Next
// waits. Take it before Lock, never while holding it.
func (s *Engine) LockRecv() { s.in.recvMu.Lock() }

// UnlockRecv releases LockRecv's lock.
func (s *Engine) UnlockRecv() { s.in.recvMu.Unlock() }

// Next returns the next received message and the peer that sent it, taking
// from the peers in turn (fair queueing). It waits like Recv; taking the
// message acknowledges it.
func (s *Engine) Next(ctx context.Context) (Message, *Peer, error) { return s.in.next(ctx) }

// NextMany is Next for a batch: it waits for the first message as Next
// does, then takes up to len(dst) in all of those already queued, from
// the peers in turn, without waiting. It returns how many it stored in
// dst; peers, if not nil, gets each one's peer and is at least as long as
// dst. dst is not empty: RecvMany answers an empty one itself.
func (s *Engine) NextMany(ctx context.Context, dst []Message, peers []*Peer) (int, error) {
	return s.in.nextMany(ctx, dst, peers)
}

// QueueCommandLocked tells connected peer p a command outside the data
// stream (SUBSCRIBE, CANCEL): it goes out before queued data and is never
// dropped. A later command with the same Data replaces one not yet written.
func (s *Engine) QueueCommandLocked(p *Peer, cmd Command) {
	s.mu.AssertHeld()
	if c := p.conn.Load(); c != nil {
		c.queueCommandLocked(cmd)
	}
}

// DropHeldLocked discards every message p holds and returns how many.
func (s *Engine) DropHeldLocked(p *Peer) int {
	s.mu.AssertHeld()
	n := p.ledger.Len()
	if n > 0 {
		p.takeAll()
	}
	return n
}

// MoveHeldLocked moves every message from holds to peer to, behind what
// to holds already.
func (s *Engine) MoveHeldLocked(from, to *Peer) {
	s.mu.AssertHeld()
	for _, m := range from.takeAll() {
		to.push(m)
	}
	if c := to.conn.Load(); c != nil {
		c.wakeLocked()
	}
}

// Kick is what QueueLocked leaves to its caller: the connection the caller
// may write the message on itself once it released the lock (Flush), or
// must wake (Wake) when it cannot write. The zero Kick does nothing.
type Kick struct{ c *conn }

// Flush writes the queued message from the calling goroutine (see
// inlineFlush). Call it without the lock.
func (k Kick) Flush() {
	if k.c != nil {
		k.c.inlineFlush()
	}
}

// Inline reports whether the caller is to write the message itself: it must
// then call Flush once it released the lock, or Wake.
func (k Kick) Inline() bool { return k.c != nil }

// Wake hands the queued message to the connection's writer instead.
func (k Kick) Wake() {
	if k.c != nil {
		k.c.signal()
	}
}

// Kicks collects the Kicks of a message queued for many peers (a
// broadcast), for the sender to Flush once it released the lock: a
// broadcast to thousands of idle peers then starts no writer goroutine.
type Kicks []Kick

// Add returns ks with k added if the caller is to write its message
// itself. Like append, it returns the slice (a pointer receiver would move
// a caller's stack array to the heap, an allocation per broadcast).
func (ks Kicks) Add(k Kick) Kicks {
	if k.Inline() {
		ks = append(ks, k)
	}
	return ks
}

// Flush writes every collected message from the calling goroutine. Call
// it without the lock.
func (ks Kicks) Flush() {
	for _, k := range ks {
		k.Flush()
	}
}

// Wake hands every collected message to its connection's writer instead,
// for a caller about to wait with the lock released, and returns ks
// emptied.
func (ks Kicks) Wake() Kicks {
	for _, k := range ks {
		k.Wake()
	}
	return ks[:0]
}

// QueueLocked queues m for p and wakes p's writer, or returns the Kick with
// which the caller writes it itself (a small message to an idle connection
// whose peer has acknowledged everything).
func (s *Engine) QueueLocked(p *Peer, m Msg) Kick {
	s.mu.AssertHeld()
	size := m.Size()
	p.pushSized(m, size)
	return Kick{s.kickLocked(p, size)}
}

// Connected reports whether the peer has a connection.
func (p *Peer) Connected() bool { return p.conn.Load() != nil }

// Session returns the peer's session id (the zero id before its first
// handshake).
func (p *Peer) Session() SessionID { return p.session }

// HasSession reports whether the peer completed a handshake. Callers hold
// the lock.
func (p *Peer) HasSession() bool { return p.hasSession }

// Info returns what the peer stated at its last handshake. Callers hold
// the lock and must not modify it.
func (p *Peer) Info() *PeerInfo { return &p.info }

// Room reports whether p can take a message of size bytes below the send
// high-water marks and within its stated maximum size. Callers hold the
// lock.
func (p *Peer) Room(size int) bool {
	p.e.mu.AssertHeld()
	return p.room(size)
}

// Holds reports whether p still holds m, sent or not, by the identity of
// its first frame. It looks at every message p holds: for REQ, whose peers
// hold a few.
func (p *Peer) Holds(m Msg) bool {
	p.e.mu.AssertHeld()
	for i := p.ledger.Len() - 1; i >= 0; i-- {
		if x := p.ledger.Peek(i); len(x.First) > 0 && &x.First[0] == &m.First[0] {
			return true
		}
	}
	return false
}

// CountDrops counts n messages dropped for p, in its Stats and the
// socket's.
func (p *Peer) CountDrops(n int) {
	p.drops.Add(uint64(n))
	p.e.stats.drops.Add(uint64(n))
}

// Endpoint returns the endpoint the peer is, or was last, reached through.
func (p *Peer) Endpoint() string { return p.endpoint() }

// Remote returns the network address of the peer's connection, if any.
func (p *Peer) Remote() string {
	if c := p.conn.Load(); c != nil {
		return c.remote
	}
	return ""
}

// PeerStatsLocked reports p's counters, with the behaviour's own.
func (s *Engine) PeerStatsLocked(p *Peer) PeerStats {
	s.mu.AssertHeld()
	ps := p.statsLocked()
	if statser, ok := s.b.(PeerStatser); ok {
		statser.PeerStatsLocked(p, &ps)
	}
	return ps
}

// ErrAbandoned is the reason a connection ends when the application gave
// its peer up (AbandonLocked).
var ErrAbandoned = errors.New("wisp: the application gave the peer up")

// AbandonLocked gives p up for the application: what the socket holds for
// p is dropped (counted in Drops), p is gone at once (EventPeerGone, the
// behaviour's GoneLocked) rather than after the resume timeout, and its
// connection, if any, is returned for the caller to close once it has
// released the lock (closing a TLS connection writes, which must not
// happen under it). It returns how many messages were dropped. A peer
// that comes back later is served like any other.
func (s *Engine) AbandonLocked(p *Peer) (dropped int, closeConn func()) {
	s.mu.AssertHeld()
	dropped = s.DropHeldLocked(p)
	if dropped > 0 {
		p.CountDrops(dropped)
	}
	s.goneLocked(p)
	s.broadcastRoomLocked() // Flush and Close look again
	closeConn = func() {}
	if c := p.conn.Load(); c != nil {
		closeConn = func() { c.close(ErrAbandoned) }
	}
	return dropped, closeConn
}
