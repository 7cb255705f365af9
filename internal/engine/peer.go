package engine

import (
	"bytes"
	"fmt"
	"github.com/wispmq/wisp/internal/lockorder"
	"sync/atomic"
	"time"

	"github.com/wispmq/wisp/internal/queue"
	"github.com/wispmq/wisp/patterns"
)

// Msg is a message on the send side. The first frame is kept apart so a
// single-frame Send stores its frame without allocating a [][]byte.
//
// It has no size field: one costs less to compute (a single-frame message
// has no Rest to walk) than the 8 bytes would on every queued copy, and the
// struct stays at 64 bytes, one cache line.
type Msg struct {
	First []byte
	Rest  [][]byte // the frames after the first
	Spool uint64   // its number in the socket's spool, or 0 (see Options.Acked)
	cum   int64    // bytes pushed to its peer up to and including it
}

// Size returns the payload bytes of all its frames.
func (m Msg) Size() int {
	n := len(m.First)
	for _, f := range m.Rest {
		n += len(f)
	}
	return n
}

// Peer is one peer session: the socket on the other end, across its
// connections. It holds both directions of the stream with that socket:
// the send ledger (what this socket owes it) and the receive queue and
// window (what it sent that the application has not taken or this socket
// not acknowledged). A connecting endpoint's peer exists before its first
// handshake, without a session, so that messages can queue for it.
//
// A peer lives from its first connection (or its endpoint's Connect) until
// it has been away for the resume timeout and holds nothing: then the
// socket forgets it, keeping only where its streams stood (departed).
type Peer struct {
	e *Engine

	// Guarded by Engine.mu.
	session      SessionID
	hasSession   bool     // false for a connecting endpoint's peer before its handshake
	resumeNeeded bool     // an ACK skipped unsent messages: the writer must send RESUME again
	gone         bool     // the behaviour was told the peer is gone, since its last attach
	readerPaused bool     // its connection's reader waits for the receive budget (awaitBudget)
	ready        bool     // guarded by inbox.mu, kept here where it costs no padding: listed in inbox.ready
	info         PeerInfo // what the peer stated at its last handshake
	dialer       *dialer  // the endpoint this socket dials it through, if any
	lastEndpoint string   // the endpoint of its last connection
	peerMax      uint64
	ledger       patterns.Ledger[Msg]
	heldBytes    int64       // payload bytes in the ledger
	sentHigh     uint64      // highest sequence ever sent on the current stream
	skipped      []Msg       // scratch for those skipped messages
	pushed       int64       // payload bytes ever pushed; msg.cum counts in it
	expiry       *time.Timer // resume timeout while away
	gen          uint64      // bumped on every attach and detach to void stale timers

	// RoutingID is the id that addresses the peer in Send, for a type that
	// routes by id (ROUTER; a BUS names its members by it); events and
	// Stats report it. Ext is the
	// behaviour's own per-peer state. Both are the behaviour's, under
	// Engine.mu.
	RoutingID []byte
	Ext       any

	// conn is the attached connection, or nil. Written under Engine.mu;
	// read without it by Recv, which wakes the writer to acknowledge.
	conn atomic.Pointer[conn]

	takes takes // what Recv took and has not recorded in win; guarded by inbox.recvMu

	// Guarded by inbox.mu.
	q      queue.FIFO[delivery]
	queued int           // messages in q
	space  chan struct{} // non-nil while the connection's reader waits for space in the queue

	// ackMu guards win: the reader accepts, Recv takes, the writer
	// acknowledges. winChanged tells Recv's batch that the window's
	// interval changed (a new connection stated another).
	ackMu      lockorder.Mutex
	win        patterns.RecvWindow
	winChanged atomic.Bool

	msgsOut, bytesOut, resends, drops, msgsIn, bytesIn atomic.Uint64
}

// departed is what a socket keeps of a peer it forgot, so that a stream
// with that session continues where it stopped if the session comes back:
// the next sequence number it would have sent the peer (the peer drops
// lower ones as duplicates), and the receive window (which of the peer's
// messages it has, and acknowledged). order says which record is oldest.
type departed struct {
	nextSeq uint64
	win     patterns.RecvWindow
	order   uint64
}

// departedKey lists a departed record in the order it was made.
type departedKey struct {
	session SessionID
	order   uint64
}

// maxDeparted bounds how many forgotten peers a socket remembers; past it
// the oldest record goes first. A returning session whose record went
// restarts its streams from 1.
const maxDeparted = 1 << 16

// room reports whether the peer can take a message of size n: below both
// high-water marks (a lone message may exceed the byte mark) and within the
// peer's stated maximum message size.
func (p *Peer) room(n int) bool {
	o := &p.e.opts
	return p.ledger.Len() < o.SendHWM &&
		(p.heldBytes == 0 || p.heldBytes+int64(n) <= o.SendHWMBytes) &&
		(p.peerMax == 0 || uint64(n) <= p.peerMax)
}

func (p *Peer) push(m Msg) { p.pushSized(m, m.Size()) }

// pushSized is push for a message whose size the caller has at hand: the
// hot paths already walked its frames once.
func (p *Peer) pushSized(m Msg, size int) {
	n := int64(size)
	p.pushed += n
	m.cum = p.pushed
	p.ledger.Push(m)
	p.heldBytes += n
	if p.readerPaused {
		p.resumeReader() // the peer's ACKs for it arrive on that connection
	}
}

// ack releases every message up to seq, keeping heldBytes in step with one
// look at the last released message's running total. After a reconnect an
// ACK may cover messages sent on the previous connection and not yet resent:
// those are dropped from the resend too, and the writer restates where the
// stream goes on with RESUME.
func (p *Peer) ack(seq uint64) (int, error) {
	l := &p.ledger
	if seq <= l.AckedSeq() {
		return 0, nil
	}
	if seq > p.sentHigh {
		return 0, fmt.Errorf("%w: got ACK %d, last sent %d", patterns.ErrAckBeyondSent, seq, p.sentHigh)
	}
	spooled := p.spooledUpTo(seq)
	if first := l.FirstUnsentSeq(); seq >= first {
		p.skipped = l.TakeUnsent(p.skipped[:0], int(seq-first+1))
		clear(p.skipped)
		p.resumeNeeded = true
	}
	var released int64
	if k := seq - l.AckedSeq(); k <= uint64(l.Unacked()) {
		last := l.Peek(int(k) - 1)
		released = p.heldBytes - (p.pushed - last.cum)
	}
	n, err := l.Ack(seq)
	if err == nil {
		p.heldBytes -= released
		p.e.reportSpooled(spooled)
	}
	return n, err
}

// takeAll removes every message the peer holds; numbering goes on after
// them.
func (p *Peer) takeAll() []Msg {
	p.heldBytes = 0
	all := p.ledger.TakeAll(nil)
	p.sentHigh = p.ledger.AckedSeq()
	return all
}

func (p *Peer) stopExpiry() {
	if p.expiry != nil {
		p.expiry.Stop()
		p.expiry = nil
	}
}

// armExpiry starts the resume timeout of a peer that is away. Callers hold
// Engine.mu.
func (p *Peer) armExpiry() {
	p.stopExpiry()
	gen := p.gen
	p.expiry = time.AfterFunc(p.e.opts.ResumeTimeout, func() { p.e.expirePeer(p, gen) })
}

// endpoint is the endpoint the peer is (or was last) reached through.
func (p *Peer) endpoint() string {
	if c := p.conn.Load(); c != nil {
		return c.endpoint
	}
	if p.dialer != nil {
		return p.dialer.endpoint
	}
	return p.lastEndpoint
}

// statsLocked reports the peer's counters. Callers hold Engine.mu, which
// is taken before inbox.mu.
func (p *Peer) statsLocked() PeerStats {
	ps := PeerStats{
		Endpoint:  p.endpoint(),
		MsgsOut:   p.msgsOut.Load(),
		BytesOut:  p.bytesOut.Load(),
		MsgsIn:    p.msgsIn.Load(),
		BytesIn:   p.bytesIn.Load(),
		Resends:   p.resends.Load(),
		Unacked:   p.ledger.Unacked(),
		SendQueue: p.ledger.Len(),
		Drops:     p.drops.Load(),
		RoutingID: bytes.Clone(p.RoutingID), // the application may change what it gets
		UserID:    p.info.UserID,
		TLS:       p.info.TLS,
	}
	if c := p.conn.Load(); c != nil {
		ps.Connected, ps.Remote = true, c.remote
	}
	if p.hasSession {
		ps.Session = p.session.String()
	}
	in := &p.e.in
	in.mu.Lock()
	ps.RecvQueue = p.queued
	in.mu.Unlock()
	return ps
}

func newPeer(s *Engine, d *dialer) *Peer {
	p := &Peer{e: s, dialer: d}
	p.ackMu.Init(rankWindow, "Peer.ackMu")
	return p
}

// newPeerLocked adds a peer without a session. Callers hold Engine.mu.
func (s *Engine) newPeerLocked(d *dialer) *Peer {
	s.mu.AssertHeld()
	p := newPeer(s, d)
	s.peers = append(s.peers, p)
	return p
}

// adoptSessionLocked gives a peer without a session its session: a new
// stream, which continues where an earlier one with that session stopped if
// the socket remembers it. Callers hold Engine.mu.
func (s *Engine) adoptSessionLocked(p *Peer, sess SessionID) {
	s.mu.AssertHeld()
	p.session, p.hasSession = sess, true
	s.bySession[sess] = p
	rec, ok := s.departed[sess]
	delete(s.departed, sess)
	p.ledger.RestartAt(rec.nextSeq)
	p.sentHigh = p.ledger.AckedSeq()
	if ok {
		p.ackMu.Lock()
		p.win = rec.win
		p.ackMu.Unlock()
	}
}

// forgetLocked ends p's session and drops p; the socket remembers where
// its streams stood. An endpoint that still dials p gets a new peer
// without a session, which waits for whoever answers there next: nothing
// of p's session (what its behaviour keeps for it, its counters) may pass
// to another. It returns the endpoint's peer, or nil. Callers hold
// Engine.mu.
func (s *Engine) forgetLocked(p *Peer) *Peer {
	s.mu.AssertHeld()
	d := p.dialer
	if !p.hasSession {
		if d != nil {
			return p // already waiting for a session
		}
		s.removePeerLocked(p)
		return nil
	}
	s.rememberLocked(p)
	if s.bySession[p.session] == p {
		delete(s.bySession, p.session)
	}
	var np *Peer
	if d != nil {
		np = s.newPeerLocked(d)
		for _, m := range p.takeAll() {
			np.push(m)
		}
		d.peer, p.dialer = np, nil
	}
	s.removePeerLocked(p)
	return np
}

// rememberLocked keeps a departed record of p's streams, unless they never
// carried a message, evicting the oldest record when there are too many.
// Callers hold Engine.mu.
func (s *Engine) rememberLocked(p *Peer) {
	s.mu.AssertHeld()
	p.ackMu.Lock()
	rec := departed{nextSeq: p.ledger.NextSeq(), win: p.win}
	p.ackMu.Unlock()
	if rec.nextSeq <= 1 && rec.win.Last() == 0 {
		return // nothing to continue: a new stream starts at 1 anyway
	}
	_, known := s.departed[p.session]
	for !known && len(s.departed) >= maxDeparted && s.departedOrder.Len() > 0 {
		k := s.departedOrder.Pop()
		if r, ok := s.departed[k.session]; ok && r.order == k.order {
			delete(s.departed, k.session)
		}
	}
	s.departedN++
	rec.order = s.departedN
	s.departed[p.session] = rec
	s.departedOrder.Push(departedKey{p.session, rec.order})
	if s.departedOrder.Len() > 2*maxDeparted {
		s.compactDepartedLocked()
	}
}

// compactDepartedLocked drops the order's entries of records that came
// back or were made again, which accumulate as sessions come and go.
// Callers hold Engine.mu.
func (s *Engine) compactDepartedLocked() {
	n := s.departedOrder.Len()
	for range n {
		k := s.departedOrder.Pop()
		if r, ok := s.departed[k.session]; ok && r.order == k.order {
			s.departedOrder.Push(k)
		}
	}
}

// removePeerLocked drops p from the socket's list. Its ledger must be empty.
// Callers hold Engine.mu.
func (s *Engine) removePeerLocked(p *Peer) {
	s.mu.AssertHeld()
	p.stopExpiry()
	s.goneLocked(p)
	for i, q := range s.peers {
		if q == p {
			copy(s.peers[i:], s.peers[i+1:])
			s.peers[len(s.peers)-1] = nil // release the pointer for the GC
			s.peers = s.peers[:len(s.peers)-1]
			s.rr.Removed(i)
			return
		}
	}
}

// attachPeerLocked makes connection c the connection of its peer session,
// creating the peer or taking over what the connecting endpoint's peer held
// as needed. Callers hold Engine.mu.
func (s *Engine) attachPeerLocked(c *conn) *Peer {
	s.mu.AssertHeld()
	sess := c.info.Session
	p := s.bySession[sess]
	var d *Peer
	if c.dialer != nil {
		d = c.dialer.peer
	}
	newSession := p == nil
	if p == nil {
		if d != nil && !d.hasSession {
			p = d
		} else {
			p = s.newPeerLocked(nil)
		}
		s.adoptSessionLocked(p, sess)
	}
	if d != nil && d != p {
		// The endpoint leads to another session than its peer's (the socket
		// behind it was replaced, or is one reached another way): what the
		// endpoint's peer held goes to this one, if it is still rightly
		// addressed.
		resent := d.ledger.Unacked()
		if s.b.RehomeLocked(d, &c.info) {
			for _, m := range d.takeAll() {
				p.push(m)
			}
			if resent > 0 {
				p.resends.Add(uint64(resent))
				s.stats.resends.Add(uint64(resent))
			}
		} else if n := s.DropHeldLocked(d); n > 0 {
			s.stats.Unroutable.Add(uint64(n))
		}
		d.dialer = nil
		if !d.hasSession {
			s.removePeerLocked(d)
		}
		p.dialer, c.dialer.peer = c.dialer, p
	}
	p.stopExpiry()
	p.gen++
	p.gone = false
	if !newSession {
		// The same session again: resend what it has not acknowledged.
		if resumed := p.ledger.Unacked(); resumed > 0 {
			p.resends.Add(uint64(resumed))
			s.stats.resends.Add(uint64(resumed))
		}
		p.ledger.Rewind()
	}
	c.needResume = s.opts.Acks
	p.info = c.info
	p.lastEndpoint = c.endpoint
	p.peerMax = c.info.MaxMessageSize
	p.ackMu.Lock()
	p.win.SetWindow(c.info.Window, c.info.WindowBytes)
	p.win.Reconnected()
	p.winChanged.Store(true)
	p.ackMu.Unlock()
	c.p = p
	s.setAsideTooLargeLocked(p)
	p.conn.Store(c)
	if !newSession && c.ackTimer != nil {
		// What Recv took over the old connection may not be in the window
		// yet (it records takes in batches), so the first look of this
		// connection's writer may find nothing owed, and Recv arms no timer
		// for the rest of its batch: the delayed ACK looks once more.
		c.armAck()
	}
	s.connected++
	s.pumpOrphansLocked()
	s.b.AttachedLocked(p, newSession)
	s.broadcastRoomLocked() // a Send waiting for any peer can go on; WaitPeers
	return p
}

// setAsideTooLargeLocked takes out of p's queue, before its connection
// writes any of them, the messages larger than the peer just said it
// accepts: written, each would end the connection ("frame too large"),
// and a dialer would redial and write it again, forever, with every later
// message stuck behind it. They become orphans, which go only to a peer
// that accepts them (room) and which Flush and Close count as undelivered
// until one does; for an addressed type they are dropped, since they are
// for this peer only. Only a queue with nothing in flight is sorted this
// way: what is in flight was written to this peer already. Callers hold
// Engine.mu.
func (s *Engine) setAsideTooLargeLocked(p *Peer) {
	s.mu.AssertHeld()
	if p.peerMax == 0 || p.ledger.Unacked() != 0 {
		return
	}
	tooLarge := false
	for i := range p.ledger.Len() {
		if uint64(p.ledger.Peek(i).Size()) > p.peerMax {
			tooLarge = true
			break
		}
	}
	if !tooLarge {
		return
	}
	dropped := 0
	for _, m := range p.takeAll() {
		switch {
		case uint64(m.Size()) <= p.peerMax:
			p.push(m)
		case s.caps.Addressed:
			dropped++
		default:
			s.orphans.Push(m)
		}
	}
	if dropped > 0 {
		p.CountDrops(dropped)
	}
}

// detachPeerLocked unhooks c from its peer, which keeps what it holds for
// the resume timeout. Callers hold Engine.mu.
func (s *Engine) detachPeerLocked(c *conn) {
	s.mu.AssertHeld()
	p := c.p
	if p == nil || p.conn.Load() != c {
		return
	}
	p.conn.Store(nil)
	s.connected--
	p.gen++
	s.broadcastRoomLocked()
	if s.state == stateClosed {
		s.b.DetachedLocked(p)
		return
	}
	p.armExpiry()
	s.b.DetachedLocked(p)
}

// expirePeer runs when a peer has been away for the resume timeout: what it
// held goes to other peers (or is dropped, if addressed to it), and once the
// application has taken everything it sent, the socket forgets it.
func (s *Engine) expirePeer(p *Peer, gen uint64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if p.gen != gen || p.conn.Load() != nil || s.state == stateClosed {
		return
	}
	p.expiry = nil
	moved := p.ledger.Len()
	if s.caps.Addressed {
		// Nobody else may have these: the peer they were for is gone.
		if n := s.DropHeldLocked(p); n > 0 {
			s.stats.Unroutable.Add(uint64(n))
		}
		moved = 0
	} else if moved > 0 {
		for _, m := range p.takeAll() {
			s.orphans.Push(m)
		}
		p.resends.Add(uint64(moved))
		s.stats.resends.Add(uint64(moved))
		s.pumpOrphansLocked()
	}
	s.goneLocked(p)
	s.broadcastRoomLocked()
	if !s.drainedLocked(p) {
		// The application has yet to take what the peer sent; until it has,
		// a return of the peer must find its stream as it was.
		p.armExpiry()
		return
	}
	if ep := s.forgetLocked(p); ep != nil && moved > 0 {
		ep.armExpiry() // keep moving what Send queues to a dead endpoint
	}
}

// goneLocked reports, once per absence, that p is gone for good: to the
// application with EventPeerGone if p had a session, and to the behaviour.
// Callers hold Engine.mu.
func (s *Engine) goneLocked(p *Peer) {
	s.mu.AssertHeld()
	if p.gone {
		return
	}
	p.gone = true
	if p.hasSession {
		s.emit(Event{Kind: EventPeerGone, Session: p.session.String(), Endpoint: p.endpoint(), RoutingID: bytes.Clone(p.RoutingID)})
	}
	s.b.GoneLocked(p)
}

// drainedLocked reports whether the application took everything p sent,
// counting what Recv took and has not recorded unless Recv is running
// (lockWindow). Callers hold Engine.mu.
func (s *Engine) drainedLocked(p *Peer) bool {
	s.mu.AssertHeld()
	in := &s.in
	in.mu.Lock()
	queued := p.queued
	in.mu.Unlock()
	in.lockWindow(p)
	defer p.ackMu.Unlock()
	return queued == 0 && p.win.Taken() == p.win.Last()
}

// pumpOrphansLocked hands orphaned messages, oldest first, to connected
// peers that have room. Callers hold Engine.mu.
// handOverLocked gives the messages queued for a connecting endpoint's
// peer that never had a session to the connected peers, as orphans: the
// endpoint turned out to lead to a peer connected the other way (two
// sockets that connect to each other), so they would wait for it forever.
// Messages addressed to one peer stay. Callers hold Engine.mu.
func (s *Engine) handOverLocked(p *Peer) {
	s.mu.AssertHeld()
	if p == nil || p.hasSession || p.conn.Load() != nil || p.ledger.Len() == 0 || s.caps.Addressed {
		return
	}
	for _, m := range p.takeAll() {
		s.orphans.Push(m)
	}
	s.pumpOrphansLocked()
	s.broadcastRoomLocked()
}

func (s *Engine) pumpOrphansLocked() {
	s.mu.AssertHeld()
	for s.orphans.Len() > 0 {
		m := s.orphans.Peek()
		i := s.rr.Pick(len(s.peers), func(i int) bool {
			p := s.peers[i]
			return p.conn.Load() != nil && p.room(m.Size())
		})
		if i < 0 {
			return
		}
		s.orphans.Pop()
		p := s.peers[i]
		p.push(m)
		p.conn.Load().wakeLocked()
	}
}
