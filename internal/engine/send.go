package engine

import (
	"context"
	"fmt"
)

// Send sends one message made of the given frames (at least one).
//
// PUSH, DEALER and PAIR pick the next peer in turn that has room below the
// send high-water mark; messages wait for a connecting endpoint that is not
// connected yet only when no connected peer has room. When no peer has
// room, Send blocks until one has, or until ctx ends (returning ctx's error)
// or the socket closes (ErrClosed). A bound socket with no peer at all
// blocks the same way, unless it was made WithFailFast (ErrNoPeer).
//
// REQ sends a request and never blocks: it fails with ErrState while the
// previous request awaits its reply (unless a Recv for it gave up), and
// otherwise queues the request for the next peer in turn. REP sends the
// reply to the request the last Recv returned (ErrState if there is none).
// ROUTER takes the routing id of the receiving peer as the first frame and
// sends the rest to that peer.
//
// A message larger than every connected peer's stated maximum size fails at
// once with ErrMessageTooLarge rather than waiting.
//
// Send keeps the frames until the receiver acknowledges the message, and may
// write them again after a reconnect: the caller must not modify them after
// Send returns. Send copies nothing, so sending a large message costs no
// more than sending a small one.
func (s *Engine) Send(ctx context.Context, frames [][]byte) error {
	if s.typ == XSub {
		return s.sendSubscription(frames)
	}
	if !s.sends {
		return fmt.Errorf("%w: Send on %v", ErrNotSupported, s.typ)
	}
	switch s.typ {
	case Pub, XPub:
		return s.publish(ctx, frames)
	case Req:
		return s.sendRequest(frames)
	case Rep:
		return s.sendReply(ctx, frames)
	case Router:
		return s.sendRouted(ctx, frames)
	}
	m, err := s.makeMsg(frames)
	if err != nil {
		return err
	}
	s.mu.Lock()
	for {
		if s.closing {
			s.mu.Unlock()
			return ErrClosed
		}
		if s.opts.FailFast && !s.anyConnectedLocked() {
			s.mu.Unlock()
			return ErrNoPeer
		}
		if p := s.pickLocked(m.size); p != nil {
			p.push(m)
			c := s.kickLocked(p, m.size)
			s.mu.Unlock()
			if c != nil {
				c.inlineFlush()
			}
			return nil
		}
		if limit, ok := s.largestPeerMaxLocked(); ok && uint64(m.size) > limit {
			s.mu.Unlock()
			return fmt.Errorf("%w: %d bytes, and every peer accepts at most %d", ErrMessageTooLarge, m.size, limit)
		}
		if !s.waitRoomLocked(ctx.Done()) {
			s.mu.Unlock()
			return ctx.Err()
		}
	}
}

// anyConnectedLocked reports whether some pipe has a connection. Callers
// hold s.mu.
func (s *Engine) anyConnectedLocked() bool {
	for _, p := range s.peers {
		if p.conn.Load() != nil {
			return true
		}
	}
	return false
}

// largestPeerMaxLocked returns the largest message any peer could take, when
// every peer has stated a limit; waiting would not help a larger message.
// Callers hold s.mu.
func (s *Engine) largestPeerMaxLocked() (uint64, bool) {
	var limit uint64
	for _, p := range s.peers {
		if p.peerMax == 0 {
			return 0, false // unknown yet, or unlimited
		}
		limit = max(limit, p.peerMax)
	}
	return limit, len(s.peers) > 0
}

// pickLocked chooses the pipe for the next message: connected pipes in turn
// first, then pipes of endpoints still connecting. While messages of a
// departed peer wait for room elsewhere it chooses none: a new message must
// not overtake them, and they count against the send marks until they are
// placed, so a peer that stays away cannot make the socket hold more than
// its marks. Callers hold s.mu.
func (s *Engine) pickLocked(size int) *Peer {
	if s.orphans.Len() > 0 {
		s.pumpOrphansLocked()
		if s.orphans.Len() > 0 {
			return nil
		}
	}
	i := s.rr.Pick(len(s.peers), func(i int) bool {
		p := s.peers[i]
		return p.conn.Load() != nil && p.room(size)
	})
	if i < 0 {
		i = s.rr.Pick(len(s.peers), func(i int) bool {
			p := s.peers[i]
			return p.conn.Load() == nil && p.dialer != nil && p.room(size)
		})
	}
	if i < 0 {
		return nil
	}
	return s.peers[i]
}

// checkFrames validates a message's frames and returns its payload size.
func (s *Engine) checkFrames(frames [][]byte) (int, error) {
	if len(frames) == 0 {
		return 0, fmt.Errorf("%w: a message needs at least one frame", ErrInvalidMessage)
	}
	if len(frames) > MaxFramesPerMessage {
		return 0, fmt.Errorf("%w: %d frames, the most is %d", ErrInvalidMessage, len(frames), MaxFramesPerMessage)
	}
	size := 0
	for _, f := range frames {
		size += len(f)
	}
	if int64(size) > s.opts.MaxMessageSize {
		return 0, fmt.Errorf("%w: %d bytes, the limit is %d", ErrMessageTooLarge, size, s.opts.MaxMessageSize)
	}
	return size, nil
}

func (s *Engine) makeMsg(frames [][]byte) (msg, error) {
	if len(frames) == 1 && int64(len(frames[0])) <= s.opts.MaxMessageSize {
		return msg{first: frames[0], size: len(frames[0])}, nil // the common case
	}
	size, err := s.checkFrames(frames)
	if err != nil {
		return msg{}, err
	}
	m := msg{first: frames[0], size: size}
	if len(frames) > 1 {
		// Copied so the variadic slice does not escape: single-frame sends
		// then allocate nothing.
		m.rest = append([][]byte(nil), frames[1:]...)
	}
	return m, nil
}
