package engine

import (
	"context"
	"fmt"
)

// Send is the socket's Send: the frames become one message, which the
// behaviour sends. Only the slice of frames is copied, and only for more
// than one frame: the behaviour is behind an interface, so whatever it is
// given escapes, and a single-frame Send then allocates nothing.
func (s *Engine) Send(ctx context.Context, frames [][]byte) error {
	if err := s.checkSend(frames); err != nil {
		return err
	}
	return s.b.Send(ctx, ownMsg(frames))
}

// ownMsg is frames as a Msg with a frame list of its own, so that the
// caller may reuse frames; the frames themselves are not copied.
func ownMsg(frames [][]byte) Msg {
	m := Msg{First: frames[0]}
	if len(frames) > 1 {
		m.Rest = append([][]byte(nil), frames[1:]...)
	}
	return m
}

// SendMany is Send for a batch of messages, in order: under one lock for
// the batch where the type allows it (ManySender), one message at a time
// otherwise. It returns how many messages it queued; on an error,
// msgs[n] is the one that failed and those after it were not sent.
func (s *Engine) SendMany(ctx context.Context, msgs []Message) (int, error) {
	if !s.caps.CanSend {
		return 0, NotSupported(s.typ, "Send")
	}
	if ms, ok := s.b.(ManySender); ok {
		return ms.SendMany(ctx, msgs)
	}
	for i, m := range msgs {
		if err := s.Send(ctx, m); err != nil {
			return i, err
		}
	}
	return len(msgs), nil
}

// SendOwned is Send for a frame list the caller hands over and never
// touches again (Proxy forwarding what Recv returned): the message keeps
// the list itself instead of a copy.
// It is not Send with a flag: Send must never store the caller's list, or
// escape analysis would put every Send's variadic slice on the heap.
func (s *Engine) SendOwned(ctx context.Context, frames [][]byte) error {
	if err := s.checkSend(frames); err != nil {
		return err
	}
	m := Msg{First: frames[0]}
	if len(frames) > 1 {
		m.Rest = frames[1:]
	}
	return s.b.Send(ctx, m)
}

// checkSend refuses a Send the socket cannot make.
func (s *Engine) checkSend(frames [][]byte) error {
	if !s.caps.CanSend {
		return NotSupported(s.typ, "Send")
	}
	if len(frames) == 0 {
		return fmt.Errorf("%w: a message needs at least one frame", ErrInvalidMessage)
	}
	return nil
}

// SendRoundRobin sends m to the next peer in turn that has room below the
// send high-water marks, connected peers first; it queues for a connecting
// endpoint only when no connected peer has room (PUSH, DEALER, PAIR). It
// waits for room until ctx ends or the socket closes; a socket made
// WithFailFast fails with ErrNoPeer while no peer is connected, and a
// message larger than every peer accepts fails at once.
func (s *Engine) SendRoundRobin(ctx context.Context, m Msg) error {
	size := m.Size() // walks the frames: once
	if s.overLimits(m, size) {
		return s.CheckMsg(m)
	}
	s.mu.Lock()
	for {
		p, err := s.roundRobinLocked(size)
		if err != nil {
			s.mu.Unlock()
			return err
		}
		if p != nil {
			p.pushSized(m, size)
			c := s.kickLocked(p, size)
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

// roundRobinLocked returns the peer a message of size bytes goes to next
// (PickLocked), or nil when it must wait for room, or the error that ends
// its send. Callers hold Engine.mu.
func (s *Engine) roundRobinLocked(size int) (*Peer, error) {
	if s.state != stateOpen {
		return nil, ErrClosed
	}
	if s.opts.FailFast && !s.AnyConnectedLocked() {
		return nil, ErrNoPeer
	}
	if p := s.PickLocked(size); p != nil {
		return p, nil
	}
	if limit, ok := s.largestPeerMaxLocked(); ok && uint64(size) > limit {
		return nil, fmt.Errorf("%w: %d bytes, and every peer accepts at most %d", ErrMessageTooLarge, size, limit)
	}
	return nil, nil
}

// SendRoundRobinMany is SendRoundRobin for a batch of the application's
// messages, taking the lock once for the batch rather than once per
// message: each goes to the next peer in turn with room, and when none
// has, the messages queued so far are written and it waits for room as
// SendRoundRobin does. It returns how many it queued.
func (s *Engine) SendRoundRobinMany(ctx context.Context, msgs []Message) (int, error) {
	var inline [8]Kick // the peers whose writes this goroutine makes
	kicks := Kicks(inline[:0])
	sent := 0
	var err error
	s.mu.Lock()
batch:
	for sent < len(msgs) {
		var m Msg
		var size int
		if m, size, err = s.msgOf(msgs[sent]); err != nil {
			break
		}
		for {
			var p *Peer
			if p, err = s.roundRobinLocked(size); err != nil {
				break batch
			}
			if p != nil {
				p.pushSized(m, size)
				kicks = kicks.Add(Kick{s.kickLocked(p, size)})
				sent++
				break
			}
			if len(kicks) > 0 {
				// Write what is queued before waiting for the peers to
				// take it, and look again: acknowledgements may have made
				// room while the lock was free, and would wake no one.
				s.mu.Unlock()
				kicks.Flush()
				kicks = kicks[:0]
				s.mu.Lock()
				continue
			}
			if !s.waitRoomLocked(ctx.Done()) {
				err = ctx.Err()
				break batch
			}
		}
	}
	s.mu.Unlock()
	kicks.Flush()
	return sent, err
}

// msgOf turns an application's frames into a Msg with a frame list of its
// own, checked as Send and SendRoundRobin check them, and returns its
// size.
func (s *Engine) msgOf(frames Message) (Msg, int, error) {
	if err := s.checkSend(frames); err != nil {
		return Msg{}, 0, err
	}
	m := ownMsg(frames)
	size := m.Size()
	if s.overLimits(m, size) {
		return Msg{}, 0, s.CheckMsg(m)
	}
	return m, size, nil
}

// overLimits reports whether m, of size bytes, breaks the socket's limits;
// CheckMsg then says how. Inlined, the common case costs no call.
func (s *Engine) overLimits(m Msg, size int) bool {
	return len(m.Rest) >= MaxFramesPerMessage || int64(size) > s.opts.MaxMessageSize
}

// SendToLocked queues m for the peer route returns, waiting for room below
// the high-water marks (REP, ROUTER). A message whose peer is unknown, or
// goes while Send waits, is dropped and counted as unroutable. Callers hold
// the lock; SendToLocked releases it, and writes the message itself when
// it can.
func (s *Engine) SendToLocked(ctx context.Context, m Msg, route func() *Peer) error {
	size := m.Size() // walks the frames: once
	s.mu.AssertHeld()
	for {
		if s.state != stateOpen {
			s.mu.Unlock()
			return ErrClosed
		}
		p := route()
		if p == nil {
			s.stats.Unroutable.Add(1)
			s.mu.Unlock()
			return nil
		}
		if p.peerMax != 0 && uint64(size) > p.peerMax {
			s.mu.Unlock()
			return fmt.Errorf("%w: %d bytes, and the peer accepts at most %d", ErrMessageTooLarge, size, p.peerMax)
		}
		if p.room(size) {
			s.queueAndUnlock(p, m)
			return nil
		}
		if !s.waitRoomLocked(ctx.Done()) {
			s.mu.Unlock()
			return ctx.Err()
		}
	}
}

// queueAndUnlock queues m for p, releases the lock, and then writes m
// itself when the connection is idle (see inlineFlush). Callers hold
// Engine.mu.
func (s *Engine) queueAndUnlock(p *Peer, m Msg) {
	k := s.QueueLocked(p, m)
	s.mu.Unlock()
	k.Flush()
}

// AnyConnectedLocked reports whether some peer has a connection.
func (s *Engine) AnyConnectedLocked() bool {
	s.mu.AssertHeld()
	return s.connected > 0
}

// largestPeerMaxLocked returns the largest message any peer could take, when
// every peer has stated a limit; waiting would not help a larger message.
// Callers hold Engine.mu.
func (s *Engine) largestPeerMaxLocked() (uint64, bool) {
	s.mu.AssertHeld()
	var limit uint64
	for _, p := range s.peers {
		if p.peerMax == 0 {
			return 0, false // unknown yet, or unlimited
		}
		limit = max(limit, p.peerMax)
	}
	return limit, len(s.peers) > 0
}

// PickLocked chooses the peer for the next message of size bytes:
// connected peers in turn first, then peers of endpoints still connecting.
// While messages of a departed peer wait for a connected peer that can
// take them it chooses none: a new message must not overtake them, and
// they count against the send marks until they are placed, so a peer that
// stays away cannot make the socket hold more than its marks. (One larger
// than every connected peer accepts waits for a peer that does, and holds
// nothing else up meanwhile.)
func (s *Engine) PickLocked(size int) *Peer {
	s.mu.AssertHeld()
	if s.orphans.Len() > 0 {
		s.pumpOrphansLocked()
		if s.orphans.Len() > 0 && s.placeableLocked(s.orphans.Peek().Size()) {
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

// placeableLocked reports whether a message of size bytes could go to a
// connected peer once it has room, or no peer is connected (one that
// connects may take it). Callers hold Engine.mu.
func (s *Engine) placeableLocked(size int) bool {
	if s.connected == 0 {
		return true
	}
	for _, p := range s.peers {
		if p.conn.Load() != nil && (p.peerMax == 0 || uint64(size) <= p.peerMax) {
			return true
		}
	}
	return false
}

// CheckMsg checks m against the socket's limits: at most
// MaxFramesPerMessage frames and WithMaxMessageSize bytes.
func (s *Engine) CheckMsg(m Msg) error {
	if n := 1 + len(m.Rest); n > MaxFramesPerMessage {
		return fmt.Errorf("%w: %d frames, the most is %d", ErrInvalidMessage, n, MaxFramesPerMessage)
	}
	if int64(m.Size()) > s.opts.MaxMessageSize {
		return fmt.Errorf("%w: %d bytes, the limit is %d", ErrMessageTooLarge, m.Size(), s.opts.MaxMessageSize)
	}
	return nil
}
