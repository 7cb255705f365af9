package engine

import (
	"fmt"
	"sync/atomic"
	"time"

	"github.com/wispmq/wisp/patterns"
)

// msg is a message on the send side. The first frame is kept apart so a
// single-frame Send stores its frame without allocating a [][]byte.
type msg struct {
	first []byte
	rest  [][]byte
	size  int
	cum   int64 // bytes pushed to its pipe up to and including it
}

// pipe is the send side of one peer session: the ledger of messages it owes
// that peer. It outlives connections so a reconnect resumes where the last
// connection stopped. Every field is guarded by Engine.mu unless noted.
type pipe struct {
	s            *Engine
	dialer       *dialer // the connecting endpoint it belongs to, or nil
	session      SessionID
	hasSession   bool
	conn         *conn // the attached connection, or nil
	peerMax      uint64
	ledger       patterns.Ledger[msg]
	heldBytes    int64               // payload bytes in the ledger
	sentHigh     uint64              // highest sequence ever sent on the current stream
	resumeNeeded bool                // an ACK skipped unsent messages: the writer must send RESUME again
	skipped      []msg               // scratch for those skipped messages
	pushed       int64               // payload bytes ever pushed; msg.cum counts in it
	expiry       *time.Timer         // resume timeout while detached
	gen          uint64              // bumped on every attach and detach to void stale timers
	routingID    string              // ROUTER: the peer's routing id, while mapped in byRoutingID
	subs         map[string]struct{} // PUB, XPUB: the peer's prefixes
	mark         uint64              // PUB, XPUB: the last message sent to it, to send each once
	dropping     bool                // PUB, XPUB: the last message for it found its queue full

	msgsOut, bytesOut, resends, drops atomic.Uint64
}

// room reports whether the pipe can take a message of size n: below both
// high-water marks (a lone message may exceed the byte mark) and within the
// peer's stated maximum message size.
func (p *pipe) room(n int) bool {
	o := &p.s.opts
	return p.ledger.Len() < o.SendHWM &&
		(p.heldBytes == 0 || p.heldBytes+int64(n) <= o.SendHWMBytes) &&
		(p.peerMax == 0 || uint64(n) <= p.peerMax)
}

func (p *pipe) push(m msg) {
	p.pushed += int64(m.size)
	m.cum = p.pushed
	p.ledger.Push(m)
	p.heldBytes += int64(m.size)
}

// ack releases every message up to seq, keeping heldBytes in step with one
// look at the last released message's running total. After a reconnect an
// ACK may cover messages sent on the previous connection and not yet resent:
// those are dropped from the resend too, and the writer restates where the
// stream goes on with RESUME.
func (p *pipe) ack(seq uint64) (int, error) {
	l := &p.ledger
	if seq <= l.AckedSeq() {
		return 0, nil
	}
	if seq > p.sentHigh {
		return 0, fmt.Errorf("%w: got ACK %d, last sent %d", patterns.ErrAckBeyondSent, seq, p.sentHigh)
	}
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
	}
	return n, err
}

func (p *pipe) takeAll() []msg {
	p.heldBytes = 0
	all := p.ledger.TakeAll(nil)
	p.sentHigh = p.ledger.AckedSeq()
	return all
}

func (p *pipe) stopExpiry() {
	if p.expiry != nil {
		p.expiry.Stop()
		p.expiry = nil
	}
}

// armExpiry starts the resume timeout of a detached pipe: when it fires the
// pipe's messages go to other peers. Callers hold s.mu.
func (p *pipe) armExpiry() {
	p.stopExpiry()
	gen := p.gen
	p.expiry = time.AfterFunc(p.s.opts.ResumeTimeout, func() { p.s.expirePipe(p, gen) })
}

func (p *pipe) statsLocked() PeerStats {
	ps := PeerStats{
		Connected:     p.conn != nil,
		MsgsOut:       p.msgsOut.Load(),
		BytesOut:      p.bytesOut.Load(),
		Resends:       p.resends.Load(),
		Unacked:       p.ledger.Unacked(),
		SendQueue:     p.ledger.Len(),
		Drops:         p.drops.Load(),
		Subscriptions: len(p.subs),
	}
	if p.hasSession {
		ps.Session = p.session.String()
	}
	if p.routingID != "" {
		ps.RoutingID = []byte(p.routingID)
	}
	if p.dialer != nil {
		ps.Endpoint = p.dialer.endpoint
	}
	if p.conn != nil {
		ps.Endpoint, ps.Remote = p.conn.endpoint, p.conn.remote
	}
	return ps
}

// newPipeLocked adds an empty pipe. Callers hold s.mu.
func (s *Engine) newPipeLocked(d *dialer) *pipe {
	p := &pipe{s: s, dialer: d}
	s.pipes = append(s.pipes, p)
	return p
}

// maxStreamPos bounds how many departed sessions' stream positions a
// sending socket remembers.
const maxStreamPos = 1 << 16

// rememberStreamLocked records where p's stream with its session stopped,
// so a later stream to that session continues past every sequence number the
// session may hold (it would drop lower ones as duplicates). Callers hold
// s.mu.
func (s *Engine) rememberStreamLocked(p *pipe) {
	if !p.hasSession {
		return
	}
	if len(s.streamPos) >= maxStreamPos {
		for k := range s.streamPos { // forget one, arbitrarily
			delete(s.streamPos, k)
			break
		}
	}
	s.streamPos[p.session] = p.ledger.NextSeq()
}

// removePipeLocked drops p from the socket. Its ledger must be empty.
func (s *Engine) removePipeLocked(p *pipe) {
	p.stopExpiry()
	s.rememberStreamLocked(p)
	if p.hasSession && s.bySession[p.session] == p {
		delete(s.bySession, p.session)
	}
	if p.routingID != "" && s.byRoutingID[p.routingID] == p {
		delete(s.byRoutingID, p.routingID)
	}
	if s.req.carrier == p {
		s.req.carrier = nil
	}
	for i, q := range s.pipes {
		if q == p {
			copy(s.pipes[i:], s.pipes[i+1:])
			s.pipes[len(s.pipes)-1] = nil // release the pointer for the GC
			s.pipes = s.pipes[:len(s.pipes)-1]
			s.rr.Removed(i)
			return
		}
	}
}

// attachPipeLocked binds connection c to the pipe of its peer session,
// merging and renumbering as the peer's identity requires, and returns the
// sequence number its stream resumes at. Callers hold s.mu.
func (s *Engine) attachPipeLocked(c *conn) {
	sess := c.peer.Session
	p := s.bySession[sess]
	var d *pipe
	if c.dialer != nil {
		d = c.dialer.pipe
	}
	switch {
	case p != nil && d != nil && d != p:
		// The dialer's endpoint now leads to a peer we already hold a stream
		// for: move what the dialer queued into that stream.
		if !s.keepsAddress(d, c) {
			s.dropHeldLocked(d)
		}
		for _, m := range d.takeAll() {
			p.push(m)
		}
		s.removePipeLocked(d)
		p.dialer, c.dialer.pipe = c.dialer, p
	case p == nil && d != nil:
		p = d
		if p.hasSession && s.bySession[p.session] == p {
			s.rememberStreamLocked(p)
			delete(s.bySession, p.session)
		}
	case p == nil:
		p = s.newPipeLocked(nil)
	}
	p.stopExpiry()
	p.gen++
	var resumed int
	newSession := !(p.hasSession && p.session == sess)
	if p.hasSession && newSession && !s.keepsAddress(p, c) {
		s.dropHeldLocked(p) // addressed to a peer that is gone
	}
	if !newSession {
		resumed = p.ledger.Unacked()
		p.ledger.Rewind()
	} else {
		// A new stream to this session: it starts at 1, or past where an
		// earlier stream to it stopped. Messages the old session held
		// unacknowledged are sent to this one.
		if p.hasSession {
			resumed = p.ledger.Unacked()
		}
		p.ledger.RestartAt(s.streamPos[sess])
		delete(s.streamPos, sess)
		p.sentHigh = p.ledger.AckedSeq()
	}
	c.needResume = s.opts.Acks
	if resumed > 0 {
		p.resends.Add(uint64(resumed))
		s.stats.resends.Add(uint64(resumed))
	}
	p.session, p.hasSession = sess, true
	s.bySession[sess] = p
	p.conn = c
	p.peerMax = c.peer.MaxMessageSize
	c.pipe = p
	s.pumpOrphansLocked()
	if s.typ == Req {
		s.requestPipeAttached(p, newSession)
	}
	s.broadcastRoomLocked() // a Send waiting for any peer can go on
}

// detachPipeLocked unhooks c from its pipe; the pipe keeps its ledger for the
// resume timeout. Callers hold s.mu.
func (s *Engine) detachPipeLocked(c *conn) {
	p := c.pipe
	if p == nil || p.conn != c {
		return
	}
	p.conn = nil
	p.gen++
	if s.isPublisher() {
		s.dropSubscriptionsLocked(p)
	}
	if s.closing && s.ctx.Err() != nil {
		return
	}
	p.armExpiry()
	if s.typ == Req {
		s.requestPipeLost(p)
	}
}

// expirePipe runs when a detached pipe's resume timeout ends: its messages
// become orphans for other peers, and a pipe without a dialer is dropped.
func (s *Engine) expirePipe(p *pipe, gen uint64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if p.gen != gen || p.conn != nil || s.ctx.Err() != nil {
		return
	}
	p.expiry = nil
	if p.hasSession {
		e := Event{Kind: EventPeerGone, Session: p.session.String()}
		if p.routingID != "" {
			e.RoutingID = []byte(p.routingID)
		}
		if p.dialer != nil {
			e.Endpoint = p.dialer.endpoint
		}
		s.emit(e)
	}
	if s.addressed() {
		// Nobody else may have these: the peer they were for is gone.
		s.dropHeldLocked(p)
		if p.routingID != "" && s.byRoutingID[p.routingID] == p {
			delete(s.byRoutingID, p.routingID)
			p.routingID = ""
		}
		if p.dialer == nil {
			s.removePipeLocked(p)
		}
		s.broadcastRoomLocked()
		return
	}
	n := p.ledger.Len()
	for _, m := range p.takeAll() {
		s.orphans.Push(m)
	}
	if n > 0 {
		p.resends.Add(uint64(n))
		s.stats.resends.Add(uint64(n))
	}
	if p.dialer == nil {
		s.removePipeLocked(p)
	} else if n > 0 || p.ledger.Len() > 0 {
		p.armExpiry() // keep moving what Send queues to a dead endpoint
	}
	s.pumpOrphansLocked()
	s.broadcastRoomLocked()
}

// pumpOrphansLocked hands orphaned messages, oldest first, to connected
// pipes that have room. Callers hold s.mu.
func (s *Engine) pumpOrphansLocked() {
	for s.orphans.Len() > 0 {
		m := s.orphans.Peek()
		i := s.rr.Pick(len(s.pipes), func(i int) bool {
			p := s.pipes[i]
			return p.conn != nil && p.room(m.size)
		})
		if i < 0 {
			return
		}
		s.orphans.Pop()
		p := s.pipes[i]
		p.push(m)
		p.conn.wakeLocked()
	}
}
