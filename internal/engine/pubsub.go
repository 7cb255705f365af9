package engine

import (
	"context"
	"fmt"

	"github.com/wispmq/wisp/patterns"
)

// Publish-subscribe (wire/SPEC.md section 4.3). Subscribers tell each
// publisher which prefixes they want with SUBSCRIBE and CANCEL commands;
// the publisher keeps every peer's prefixes in one trie and sends a message
// only to the peers with a prefix its first frame starts with. Subscription
// state is not data: it is never queued behind messages or dropped at a
// high-water mark, and a subscriber states it in full on every connection.

// maxSubCommandsPerWrite bounds the subscription commands one write
// carries, so a burst of thousands goes out in a few writes of bounded
// size.
const maxSubCommandsPerWrite = 1024

// Subscription message markers for XPUB and XSUB: the first byte of a
// subscription message, followed by the prefix.
const (
	// SubscriptionCancel marks an unsubscribe message.
	SubscriptionCancel byte = 0
	// SubscriptionAdd marks a subscribe message.
	SubscriptionAdd byte = 1
)

// subscriber is the subscription state of a SUB or XSUB socket. Guarded by
// Engine.mu.
type subscriber struct {
	count map[string]int // how many Subscribe calls hold each prefix
	trie  patterns.Trie[struct{}]
}

// publisher is the subscription state of a PUB or XPUB socket. Guarded by
// Engine.mu.
type publisher struct {
	trie    patterns.Trie[*Peer]
	gen     uint64  // bumped per message, to send it once per peer
	scratch []*Peer // the matches of the message being sent

	// XPUB: prefixes whose state (anyone subscribed or not) may differ
	// from what Recv last told the application, oldest first.
	notes   []string
	noted   map[string]bool
	told    map[string]bool // prefixes the application was told are subscribed
	noteOff int             // notes[:noteOff] are consumed
}

func (s *Engine) isPublisher() bool { return s.typ == Pub || s.typ == XPub }

// canSend and canRecv report whether Send and Recv apply to the type: XSUB
// sends subscriptions and XPUB receives them without queues of data.
func (s *Engine) canSend() bool      { return s.sends || s.typ == XSub }
func (s *Engine) canRecv() bool      { return s.receives || s.typ == XPub }
func (s *Engine) isSubscriber() bool { return s.typ == Sub || s.typ == XSub }

// Subscribe makes a SUB socket receive the messages whose first frame
// starts with prefix; the empty prefix means every message. Subscriptions
// count: a prefix subscribed twice needs two Unsubscribe calls. The
// subscription goes to every connected publisher at once and to every
// publisher that connects later, and is stated again after each reconnect.
// A publisher learns of it a round trip later: see WaitSubscribers for how
// a publisher can wait for its subscribers.
func (s *Engine) Subscribe(prefix []byte) error {
	if s.typ != Sub {
		return fmt.Errorf("%w: Subscribe on %v (XSUB subscribes by sending)", ErrNotSupported, s.typ)
	}
	return s.subscribe(prefix, true)
}

// Unsubscribe undoes one Subscribe of prefix. It returns an error wrapping
// ErrNotSubscribed if prefix is not subscribed.
func (s *Engine) Unsubscribe(prefix []byte) error {
	if s.typ != Sub {
		return fmt.Errorf("%w: Unsubscribe on %v (XSUB unsubscribes by sending)", ErrNotSupported, s.typ)
	}
	return s.subscribe(prefix, false)
}

// subscribe changes the count of prefix and, when the prefix appears or
// disappears, queues the command for every connection.
func (s *Engine) subscribe(prefix []byte, add bool) error {
	if len(prefix) > MaxPrefixLen {
		return fmt.Errorf("%w: a prefix of %d bytes; the most is %d", ErrInvalidMessage, len(prefix), MaxPrefixLen)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closing {
		return ErrClosed
	}
	sub := &s.sub
	key := string(prefix)
	n := sub.count[key]
	if add {
		sub.count[key] = n + 1
		if n > 0 {
			return nil
		}
		sub.trie.Add(prefix, struct{}{})
	} else {
		switch n {
		case 0:
			return fmt.Errorf("%w: %q", ErrNotSubscribed, prefix)
		case 1:
			delete(sub.count, key)
			sub.trie.Remove(prefix, struct{}{})
		default:
			sub.count[key] = n - 1
			return nil
		}
	}
	for _, p := range s.peers {
		if c := p.conn.Load(); c != nil {
			c.queueSubLocked(key, add)
		}
	}
	return nil
}

// queueSubLocked records that the peer must be told prefix is (add) or is
// no longer subscribed, and wakes the writer. A later change of the same
// prefix replaces an earlier one not yet written. Callers hold s.mu.
func (c *conn) queueSubLocked(prefix string, add bool) {
	if c.subPending == nil {
		c.subPending = make(map[string]bool)
	}
	if _, queued := c.subPending[prefix]; !queued {
		c.subOrder = append(c.subOrder, prefix)
	}
	c.subPending[prefix] = add
	c.subsDirty.Store(true)
	c.signal()
}

// attachSubscriberLocked queues every current subscription for a new
// connection: subscriptions are stated in full on every connection.
// Callers hold s.mu.
func (s *Engine) attachSubscriberLocked(c *conn) {
	for prefix := range s.sub.count {
		c.queueSubLocked(prefix, true)
	}
}

// takeSubCommands appends the subscription commands waiting for the
// connection to cmds, at most maxSubCommandsPerWrite of them.
func (c *conn) takeSubCommands(cmds []Command) []Command {
	s := c.s
	s.mu.Lock()
	defer s.mu.Unlock()
	n := min(len(c.subOrder), maxSubCommandsPerWrite)
	for _, prefix := range c.subOrder[:n] {
		kind := CmdCancel
		if c.subPending[prefix] {
			kind = CmdSubscribe
		}
		delete(c.subPending, prefix)
		cmds = append(cmds, Command{Kind: kind, Data: []byte(prefix)})
	}
	clear(c.subOrder[:n])
	c.subOrder = c.subOrder[n:]
	if len(c.subOrder) == 0 {
		c.subOrder = nil
		c.subsDirty.Store(false)
	}
	return cmds
}

// wanted reports whether a SUB socket still subscribes to a message that
// arrived: a publisher sends what matched when it sent, and an Unsubscribe
// may have happened since.
func (s *Engine) wanted(m Message) bool {
	var topic []byte
	if len(m) > 0 {
		topic = m[0]
	}
	s.mu.Lock()
	ok := s.sub.trie.Matches(topic)
	s.mu.Unlock()
	return ok
}

// sendSubscription is Send on an XSUB socket: a message [1, prefix...]
// subscribes and [0, prefix...] unsubscribes.
func (s *Engine) sendSubscription(frames [][]byte) error {
	if len(frames) != 1 || len(frames[0]) == 0 || frames[0][0] > SubscriptionAdd {
		return fmt.Errorf("%w: XSUB sends only subscriptions: one frame, 1 or 0 then the prefix", ErrInvalidMessage)
	}
	return s.subscribe(frames[0][1:], frames[0][0] == SubscriptionAdd)
}

// publish is Send on a PUB or XPUB socket. It never blocks: a subscriber
// whose queue is full misses the message, which is counted, and everyone
// else gets it. WithNoDrop makes it wait for room instead.
func (s *Engine) publish(ctx context.Context, frames [][]byte) error {
	m, err := s.makeMsg(frames)
	if err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closing {
		return ErrClosed
	}
	pub := &s.pub
	pub.gen++
	matches := pub.trie.AppendMatches(pub.scratch[:0], m.first)
	var full []*Peer // WithNoDrop: peers to wait for
	for _, p := range matches {
		if p.mark == pub.gen || p.conn.Load() == nil {
			continue
		}
		p.mark = pub.gen
		switch {
		case p.room(m.size):
			p.push(m)
			p.conn.Load().wakeLocked()
			p.dropping = false
		case s.opts.NoDrop:
			full = append(full, p)
		default:
			s.dropFor(p)
		}
	}
	clear(matches) // keep no pipe alive through the scratch slice
	pub.scratch = matches[:0]
	for len(full) > 0 {
		if !s.waitRoomLocked(ctx.Done()) || s.closing {
			for _, p := range full {
				s.dropFor(p)
			}
			if s.closing {
				return ErrClosed
			}
			return ctx.Err()
		}
		waiting := full[:0]
		for _, p := range full {
			switch {
			case p.conn.Load() == nil: // gone meanwhile: its queue was dropped too
			case p.room(m.size):
				p.push(m)
				p.conn.Load().wakeLocked()
			default:
				waiting = append(waiting, p)
			}
		}
		full = waiting
	}
	return nil
}

// dropFor counts a message p's full queue could not take. Callers hold
// s.mu.
func (s *Engine) dropFor(p *Peer) {
	p.drops.Add(1)
	s.stats.drops.Add(1)
	if !p.dropping && p.conn.Load() != nil {
		p.dropping = true
		s.emit(Event{Kind: EventDropping, Endpoint: p.conn.Load().endpoint, Peer: p.conn.Load().remote, Session: p.session.String()})
	}
}

// handleSubscription applies a SUBSCRIBE or CANCEL from a subscriber.
func (s *Engine) handleSubscription(c *conn, cmd Command) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	p := c.p
	if p == nil || p.conn.Load() != c {
		return nil // the connection is being replaced
	}
	key := string(cmd.Data)
	if cmd.Kind == CmdSubscribe {
		if _, ok := p.subs[key]; ok {
			return nil
		}
		if len(p.subs) >= s.opts.MaxSubscriptions {
			return protocolErrorf("more than %d subscriptions", s.opts.MaxSubscriptions)
		}
		if p.subs == nil {
			p.subs = make(map[string]struct{})
		}
		p.subs[key] = struct{}{}
		s.pub.trie.Add(cmd.Data, p)
	} else {
		if _, ok := p.subs[key]; !ok {
			return nil
		}
		delete(p.subs, key)
		s.pub.trie.Remove(cmd.Data, p)
	}
	if s.typ == XPub {
		s.noteLocked(key)
	}
	s.broadcastRoomLocked() // WaitSubscribers and XPUB's Recv
	return nil
}

// dropSubscriptionsLocked forgets a departed peer's prefixes and the
// messages queued for it: a publisher's messages are at most once, and the
// peer states its subscriptions again when it returns. Callers hold s.mu.
func (s *Engine) dropSubscriptionsLocked(p *Peer) {
	for key := range p.subs {
		s.pub.trie.Remove([]byte(key), p)
		if s.typ == XPub {
			s.noteLocked(key)
		}
	}
	p.subs = nil
	p.dropping = false
	if n := p.ledger.Len(); n > 0 {
		p.takeAll()
		p.drops.Add(uint64(n))
		s.stats.drops.Add(uint64(n))
	}
	s.broadcastRoomLocked()
}

// noteLocked queues prefix for XPUB's Recv to compare with what the
// application was told. Callers hold s.mu.
func (s *Engine) noteLocked(prefix string) {
	pub := &s.pub
	if pub.noted == nil {
		pub.noted, pub.told = make(map[string]bool), make(map[string]bool)
	}
	if !pub.noted[prefix] {
		pub.noted[prefix] = true
		pub.notes = append(pub.notes, prefix)
	}
}

// recvSubscription is Recv on an XPUB socket: it returns [1, prefix...]
// when the first of its peers subscribes to a prefix and [0, prefix...]
// when the last one drops it, so a proxy can forward one subscription
// upstream for many subscribers. Changes that cancel out before Recv are
// not reported.
func (s *Engine) recvSubscription(ctx context.Context) (Message, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	pub := &s.pub
	for {
		if s.closing {
			return nil, ErrClosed
		}
		for pub.noteOff < len(pub.notes) {
			prefix := pub.notes[pub.noteOff]
			pub.notes[pub.noteOff] = ""
			pub.noteOff++
			delete(pub.noted, prefix)
			if pub.noteOff == len(pub.notes) {
				pub.notes, pub.noteOff = pub.notes[:0], 0
			}
			on := pub.trie.Count([]byte(prefix)) > 0
			if on == pub.told[prefix] {
				continue
			}
			marker := SubscriptionCancel
			if on {
				pub.told[prefix] = true
				marker = SubscriptionAdd
			} else {
				delete(pub.told, prefix)
			}
			return Message{append([]byte{marker}, prefix...)}, nil
		}
		if !s.waitRoomLocked(ctx.Done()) {
			return nil, ctx.Err()
		}
	}
}

// WaitSubscribers waits until at least n connected peers of a PUB or XPUB
// socket have subscribed to something, or until ctx ends (returning its
// error). A publisher that calls it before publishing loses no message to
// the time subscriptions take to arrive (ZeroMQ's "slow joiner").
func (s *Engine) WaitSubscribers(ctx context.Context, n int) error {
	if !s.isPublisher() {
		return fmt.Errorf("%w: WaitSubscribers on %v", ErrNotSupported, s.typ)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for {
		if s.closing {
			return ErrClosed
		}
		have := 0
		for _, p := range s.peers {
			if p.conn.Load() != nil && len(p.subs) > 0 {
				have++
			}
		}
		if have >= n {
			return nil
		}
		if !s.waitRoomLocked(ctx.Done()) {
			return ctx.Err()
		}
	}
}
