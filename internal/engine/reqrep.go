package engine

import (
	"context"
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"time"
)

// Request-reply envelopes (wire/SPEC.md section 4.1). A request travels as
//
//	[routing frames...] [request id] [empty delimiter] [body frames...]
//
// REQ adds the 4-byte request id and the delimiter; each ROUTER on the way
// adds, on receipt, the routing id that leads back to its sender; REP keeps
// every frame before the delimiter and puts them, and the delimiter, in
// front of its reply, which each ROUTER on the way back strips again.

// requestIDSize is the length of a REQ request id frame.
const requestIDSize = 4

// requester is a REQ socket's outstanding request. Guarded by Engine.mu.
type requester struct {
	nextID  uint32
	active  bool   // a request awaits its reply
	gaveUp  bool   // a Recv waiting for it ended with its context: retries pause
	lost    bool   // its carrier was lost during the pause: resend when Recv resumes
	given   bool   // it was given to some pipe at least once
	id      uint32 // the outstanding request's id
	m       msg    // the outstanding request, envelope included
	carrier *Peer  // the pipe it was last given to, or nil while unsent
	timer   *time.Timer
	gen     uint64 // bumped per request, to void stale retry timers
}

func (r *requester) init() { r.nextID = rand.Uint32() }

// replier is a REP socket's request being answered. Guarded by Engine.mu.
type replier struct {
	pending  bool
	session  SessionID // who asked
	envelope [][]byte  // the frames before the delimiter
}

// sendRequest is Send on a REQ socket: it never blocks. The request goes to
// the next connected peer in turn, or waits for a connecting endpoint, or
// for the first peer to arrive.
func (s *Engine) sendRequest(frames [][]byte) error {
	bodySize, err := s.checkFrames(frames)
	if err != nil {
		return err
	}
	if len(frames)+2 > MaxFramesPerMessage {
		return fmt.Errorf("%w: %d frames and the envelope's 2, the most is %d", ErrInvalidMessage, len(frames), MaxFramesPerMessage)
	}
	s.mu.Lock()
	if s.closing {
		s.mu.Unlock()
		return ErrClosed
	}
	r := &s.req
	if r.active && !r.gaveUp {
		s.mu.Unlock()
		return fmt.Errorf("%w: REQ must receive the reply to request %d before sending another", ErrState, r.id)
	}
	if s.opts.FailFast && !s.anyConnectedLocked() {
		s.mu.Unlock()
		return ErrNoPeer
	}
	id := r.nextID
	r.nextID++
	idFrame := binary.BigEndian.AppendUint32(make([]byte, 0, requestIDSize), id)
	rest := make([][]byte, 0, len(frames)+1)
	rest = append(rest, []byte{})
	rest = append(rest, frames...)
	r.stopTimer()
	r.active, r.gaveUp, r.lost, r.given, r.id, r.carrier = true, false, false, false, id, nil
	r.m = msg{first: idFrame, rest: rest, size: requestIDSize + bodySize}
	r.gen++
	c := s.dispatchRequestLocked(false)
	s.armRetryLocked()
	s.mu.Unlock()
	if c != nil {
		c.inlineFlush()
	}
	return nil
}

// dispatchRequestLocked gives the outstanding request to the next pipe in
// turn, connected ones first, unless that pipe still holds it unacknowledged
// (it will deliver it). It returns the connection the caller should write
// the request on itself once it releases s.mu (see kickLocked); callers that
// cannot use redispatchLocked. Callers hold s.mu.
func (s *Engine) dispatchRequestLocked(retry bool) *conn {
	r := &s.req
	p := s.pickLocked(r.m.size)
	if p == nil {
		if r.carrier == nil || r.carrier.conn.Load() == nil {
			r.carrier = nil // wait for a peer: attachPipeLocked dispatches
		}
		return nil
	}
	var c *conn
	if !p.holds(r.m) {
		p.push(r.m)
		c = s.kickLocked(p, r.m.size)
		if retry || r.given {
			s.stats.retries.Add(1)
		}
	}
	r.carrier, r.given = p, true
	return c
}

// redispatchLocked is dispatchRequestLocked for callers that cannot write
// (timers, connection events): the writer sends the request. Callers hold
// s.mu.
func (s *Engine) redispatchLocked(retry bool) {
	if c := s.dispatchRequestLocked(retry); c != nil {
		c.signal() // kickLocked cleared idle, so wakeLocked would not
	}
}

// holds reports whether the pipe's ledger still has m, by the identity of
// its first frame. Only REQ uses it, whose ledgers hold a few requests.
func (p *Peer) holds(m msg) bool {
	for i := p.ledger.Len() - 1; i >= 0; i-- {
		if x := p.ledger.Peek(i); len(x.first) > 0 && &x.first[0] == &m.first[0] {
			return true
		}
	}
	return false
}

func (r *requester) stopTimer() {
	if r.timer != nil {
		r.timer.Stop()
		r.timer = nil
	}
}

// armRetryLocked starts the retry interval of the outstanding request.
// Callers hold s.mu.
func (s *Engine) armRetryLocked() {
	r := &s.req
	r.stopTimer()
	if !s.opts.RequestRetry || s.opts.RetryInterval <= 0 || !r.active || r.gaveUp || s.closing {
		return
	}
	gen := r.gen
	r.timer = time.AfterFunc(s.opts.RetryInterval, func() { s.retryRequest(gen) })
}

func (s *Engine) retryRequest(gen uint64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r := &s.req
	if r.gen != gen || !r.active || r.gaveUp || s.closing {
		return
	}
	r.timer = nil
	s.redispatchLocked(true)
	s.armRetryLocked()
}

// requestPipeLost runs when p's connection ends: a request it carried goes
// out again at once. Callers hold s.mu.
func (s *Engine) requestPipeLost(p *Peer) {
	r := &s.req
	if !r.active || r.carrier != p || !s.opts.RequestRetry || s.closing {
		return
	}
	if r.gaveUp {
		r.lost = true
		return
	}
	s.redispatchLocked(true)
}

// requestPipeAttached runs when p gets a connection. A request that found
// no peer goes out now; one whose carrier now leads to a new server session
// goes out again, since the old server took it with it. Callers hold s.mu.
func (s *Engine) requestPipeAttached(p *Peer, newSession bool) {
	r := &s.req
	if r.active && r.carrier != nil && r.carrier != p && p.holds(r.m) {
		// The request came along with what its endpoint's old peer held.
		r.carrier = p
	}
	switch {
	case !r.active || s.closing:
	case r.carrier == nil:
		s.redispatchLocked(false)
	case r.carrier == p && newSession && s.opts.RequestRetry && r.gaveUp:
		r.lost = true
	case r.carrier == p && newSession && s.opts.RequestRetry:
		s.redispatchLocked(true)
	}
}

// recvReply is Recv on a REQ socket: it returns the body of the reply to
// the outstanding request and drops every other reply.
func (s *Engine) recvReply(ctx context.Context) (Message, error) {
	r := &s.req
	s.mu.Lock()
	if !r.active {
		s.mu.Unlock()
		return nil, fmt.Errorf("%w: REQ has no request waiting for a reply", ErrState)
	}
	if r.gaveUp {
		r.gaveUp = false
		if r.lost {
			// The server that had it went away while nobody waited.
			r.lost = false
			s.redispatchLocked(true)
		}
		s.armRetryLocked()
	}
	s.mu.Unlock()
	for {
		m, _, err := s.in.next(ctx)
		if err != nil {
			if ctx.Err() != nil {
				s.mu.Lock()
				if r.active {
					r.gaveUp = true
					r.stopTimer()
				}
				s.mu.Unlock()
			}
			return nil, err
		}
		id, body, ok := parseReply(m)
		if !ok {
			s.stats.badEnvelopes.Add(1)
			continue
		}
		s.mu.Lock()
		if r.active && r.id == id {
			r.active, r.m, r.carrier = false, msg{}, nil
			r.stopTimer()
			r.gen++
			s.mu.Unlock()
			return body, nil
		}
		s.mu.Unlock()
		s.stats.stale.Add(1)
	}
}

// parseReply splits a reply that reached a REQ socket into its request id
// and body: [id] [empty] [body...].
func parseReply(m Message) (uint32, Message, bool) {
	if len(m) < 3 || len(m[0]) != requestIDSize || len(m[1]) != 0 {
		return 0, nil, false
	}
	return binary.BigEndian.Uint32(m[0]), m[2:], true
}

// delimiterIndex returns the index of the empty frame that ends a request's
// envelope, or -1 when the message has none or nothing after it.
func delimiterIndex(m Message) int {
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

// recvRequest is Recv on a REP socket: it returns the request's body and
// remembers its envelope and its sender for Send. A request that was never
// answered is abandoned.
func (s *Engine) recvRequest(ctx context.Context) (Message, error) {
	for {
		m, f, err := s.in.next(ctx)
		if err != nil {
			return nil, err
		}
		k := delimiterIndex(m)
		if k < 0 {
			s.stats.badEnvelopes.Add(1)
			continue
		}
		s.mu.Lock()
		s.rep = replier{pending: true, session: f.session, envelope: m[:k]}
		s.mu.Unlock()
		return m[k+1:], nil
	}
}

// sendReply is Send on a REP socket: it answers the request the last Recv
// returned, on the connection of the peer that sent it.
func (s *Engine) sendReply(ctx context.Context, frames [][]byte) error {
	size, err := s.checkFrames(frames)
	if err != nil {
		return err
	}
	s.mu.Lock()
	rep := s.rep
	if !rep.pending {
		s.mu.Unlock()
		return fmt.Errorf("%w: REP has no request to answer; Recv one first", ErrState)
	}
	if len(rep.envelope)+1+len(frames) > MaxFramesPerMessage {
		s.mu.Unlock()
		return fmt.Errorf("%w: %d frames and the envelope's %d, the most is %d", ErrInvalidMessage, len(frames), len(rep.envelope)+1, MaxFramesPerMessage)
	}
	s.rep = replier{}
	all := make([][]byte, 0, len(rep.envelope)+1+len(frames))
	all = append(all, rep.envelope...)
	all = append(all, []byte{})
	all = append(all, frames...)
	for _, f := range rep.envelope {
		size += len(f)
	}
	m := msg{first: all[0], rest: all[1:], size: size}
	return s.sendToLocked(ctx, m, func() *Peer { return s.bySession[rep.session] })
}

// sendToLocked queues m on the pipe route returns, waiting for room below
// the high-water marks. A message whose pipe is gone, or goes while Send
// waits, is dropped and counted. Callers hold s.mu; sendToLocked releases
// it, and writes the message itself when kickLocked says so.
func (s *Engine) sendToLocked(ctx context.Context, m msg, route func() *Peer) error {
	for {
		if s.closing {
			s.mu.Unlock()
			return ErrClosed
		}
		p := route()
		if p == nil {
			s.stats.unroutable.Add(1)
			s.mu.Unlock()
			return nil
		}
		if p.peerMax != 0 && uint64(m.size) > p.peerMax {
			s.mu.Unlock()
			return fmt.Errorf("%w: %d bytes, and the peer accepts at most %d", ErrMessageTooLarge, m.size, p.peerMax)
		}
		if p.room(m.size) {
			p.push(m)
			c := s.kickLocked(p, m.size)
			s.mu.Unlock()
			if c != nil {
				c.inlineFlush()
			}
			return nil
		}
		if !s.waitRoomLocked(ctx.Done()) {
			s.mu.Unlock()
			return ctx.Err()
		}
	}
}
