package socktype

import (
	"context"

	"github.com/wispmq/wisp/internal/engine"
	"github.com/wispmq/wisp/patterns"
)

// Publish-subscribe (wire/SPEC.md section 4.3). Subscribers tell each
// publisher which prefixes they want with SUBSCRIBE and CANCEL commands;
// the publisher keeps every peer's prefixes in one trie and sends a message
// only to the peers with a prefix its first frame starts with. Subscription
// state is not data: it is never queued behind messages or dropped at a
// high-water mark, and a subscriber states it in full on every connection.

// pub is PUB and XPUB. Publication is at most once: a subscriber whose
// queue is full misses the message (counted, EventDropping), unless
// WithNoDrop makes Send wait. XPUB's Recv reports subscription changes.
// Every field is guarded by the engine's lock.
type pub struct {
	e       *engine.Engine
	xpub    bool
	trie    patterns.Trie[*subscription]
	gen     uint64          // bumped per message, to send it once per peer
	scratch []*subscription // the matches of the message being sent

	// XPUB: prefixes whose state (anyone subscribed or not) may differ
	// from what Recv last told the application, oldest first.
	notes   []string
	noted   map[string]bool
	told    map[string]bool // prefixes the application was told are subscribed
	noteOff int             // notes[:noteOff] are consumed
}

// subscription is a publisher's view of one peer: its prefixes, and where
// publication to it stands. It is the peer's Ext.
type subscription struct {
	p        *engine.Peer
	prefixes map[string]struct{}
	mark     uint64 // the last message sent to it, to send each once
	dropping bool   // the last message for it found its queue full
}

func newPub(e *engine.Engine) engine.Behavior  { return &pub{e: e} }
func newXPub(e *engine.Engine) engine.Behavior { return &pub{e: e, xpub: true} }

func (b *pub) Caps() engine.Caps {
	return engine.Caps{
		Peers:     []engine.Type{engine.Sub, engine.XSub},
		SendsData: true, NoAcks: true, Addressed: true, FansOut: true,
		CanSend: true, CanRecv: b.xpub, // XPUB's Recv reports subscriptions
	}
}

func (b *pub) AdmitLocked(*engine.PeerInfo) error { return nil }
func (b *pub) GoneLocked(*engine.Peer)            {}
func (b *pub) CloseLocked()                       {}

// RehomeLocked: what was queued for one subscriber is not for another.
func (b *pub) RehomeLocked(*engine.Peer, *engine.PeerInfo) bool { return false }

func (b *pub) AttachedLocked(p *engine.Peer, _ bool) {
	if p.Ext == nil {
		p.Ext = &subscription{p: p}
	}
}

// DetachedLocked forgets a departed peer's prefixes and the messages queued
// for it: a publisher's messages are at most once, and the peer states its
// subscriptions again when it returns.
func (b *pub) DetachedLocked(p *engine.Peer) {
	s := p.Ext.(*subscription)
	for key := range s.prefixes {
		b.trie.Remove([]byte(key), s)
		b.noteLocked(key)
	}
	s.prefixes, s.dropping = nil, false
	if n := b.e.DropHeldLocked(p); n > 0 {
		p.CountDrops(n)
	}
	b.e.BroadcastLocked()
}

// CommandLocked applies a SUBSCRIBE or CANCEL from a subscriber.
func (b *pub) CommandLocked(p *engine.Peer, cmd engine.Command) error {
	s := p.Ext.(*subscription)
	key := string(cmd.Data)
	switch cmd.Kind {
	case engine.CmdSubscribe:
		if _, ok := s.prefixes[key]; ok {
			return nil
		}
		if limit := b.e.Options().MaxSubscriptions; len(s.prefixes) >= limit {
			return engine.ProtocolErrorf("more than %d subscriptions", limit)
		}
		if s.prefixes == nil {
			s.prefixes = make(map[string]struct{})
		}
		s.prefixes[key] = struct{}{}
		b.trie.Add(cmd.Data, s)
	case engine.CmdCancel:
		if _, ok := s.prefixes[key]; !ok {
			return nil
		}
		delete(s.prefixes, key)
		b.trie.Remove(cmd.Data, s)
	default:
		return engine.UnexpectedCommand(b.e.Type(), cmd)
	}
	b.noteLocked(key)
	b.e.BroadcastLocked() // WaitSubscribers and XPUB's Recv
	return nil
}

// PeerStatsLocked reports how many prefixes the peer subscribes to.
func (b *pub) PeerStatsLocked(p *engine.Peer, ps *engine.PeerStats) {
	if s, ok := p.Ext.(*subscription); ok {
		ps.Subscriptions = len(s.prefixes)
	}
}

// Send publishes. It never blocks: a subscriber whose queue is full misses
// the message, which is counted, and everyone else gets it. WithNoDrop
// makes it wait for room instead.
func (b *pub) Send(ctx context.Context, m engine.Msg) error {
	e := b.e
	if err := e.CheckMsg(m); err != nil {
		return err
	}
	// Small messages to idle subscribers are written from this goroutine
	// once the lock is released: a broadcast to thousands of idle peers
	// starts no writer goroutine.
	var inline [8]engine.Kick
	kicks := engine.Kicks(inline[:0])
	e.Lock()
	defer func() {
		e.Unlock()
		kicks.Flush()
	}()
	if e.ClosingLocked() {
		return engine.ErrClosed
	}
	b.gen++
	matches := b.trie.AppendMatches(b.scratch[:0], m.First)
	var full []*subscription // WithNoDrop: peers to wait for
	for _, s := range matches {
		if s.mark == b.gen || !s.p.Connected() {
			continue
		}
		s.mark = b.gen
		switch {
		case s.p.Room(m.Size()):
			kicks = kicks.Add(e.QueueLocked(s.p, m))
			s.dropping = false
		case e.Options().NoDrop:
			full = append(full, s)
		default:
			b.dropFor(s)
		}
	}
	clear(matches) // keep no peer alive through the scratch slice
	b.scratch = matches[:0]
	if len(full) > 0 {
		// Waiting releases the lock for long: the writers take the
		// messages queued so far.
		kicks = kicks.Wake()
	}
	for len(full) > 0 {
		if !e.WaitLocked(ctx.Done()) || e.ClosingLocked() {
			for _, s := range full {
				b.dropFor(s)
			}
			if e.ClosingLocked() {
				return engine.ErrClosed
			}
			return ctx.Err()
		}
		waiting := full[:0]
		for _, s := range full {
			switch {
			case !s.p.Connected(): // gone meanwhile: its queue was dropped too
			case s.p.Room(m.Size()):
				e.QueueLocked(s.p, m).Wake()
			default:
				waiting = append(waiting, s)
			}
		}
		full = waiting
	}
	return nil
}

// dropFor counts a message s's full queue could not take.
func (b *pub) dropFor(s *subscription) {
	s.p.CountDrops(1)
	if !s.dropping && s.p.Connected() {
		s.dropping = true
		b.e.Emit(engine.Event{Kind: engine.EventDropping, Endpoint: s.p.Endpoint(), Peer: s.p.Remote(), Session: s.p.Session().String()})
	}
}

// noteLocked queues prefix for XPUB's Recv to compare with what the
// application was told.
func (b *pub) noteLocked(prefix string) {
	if !b.xpub {
		return
	}
	if b.noted == nil {
		b.noted, b.told = make(map[string]bool), make(map[string]bool)
	}
	if !b.noted[prefix] {
		b.noted[prefix] = true
		b.notes = append(b.notes, prefix)
	}
	b.e.NotifyReadable() // a poller's Recv may report it
}

// Recv is XPUB's: it returns [1, prefix...] when the first of its peers
// subscribes to a prefix and [0, prefix...] when the last one drops it, so
// a proxy can forward one subscription upstream for many subscribers.
// Changes that cancel out before Recv are not reported.
func (b *pub) Recv(ctx context.Context) (engine.Message, error) {
	if !b.xpub {
		return nil, engine.NotSupported(engine.Pub, "Recv")
	}
	e := b.e
	e.Lock()
	defer e.Unlock()
	for {
		if e.ClosingLocked() {
			return nil, engine.ErrClosed
		}
		for b.noteOff < len(b.notes) {
			prefix := b.notes[b.noteOff]
			b.notes[b.noteOff] = ""
			b.noteOff++
			delete(b.noted, prefix)
			if b.noteOff == len(b.notes) {
				b.notes, b.noteOff = b.notes[:0], 0
			}
			on := b.trie.Count([]byte(prefix)) > 0
			if on == b.told[prefix] {
				continue
			}
			marker := SubscriptionCancel
			if on {
				b.told[prefix] = true
				marker = SubscriptionAdd
			} else {
				delete(b.told, prefix)
			}
			return engine.Message{append([]byte{marker}, prefix...)}, nil
		}
		if !e.WaitLocked(ctx.Done()) {
			return nil, ctx.Err()
		}
	}
}

// WaitSubscribers waits until at least n connected peers have subscribed
// to something, or until ctx ends (returning its error).
func (b *pub) WaitSubscribers(ctx context.Context, n int) error {
	e := b.e
	e.Lock()
	defer e.Unlock()
	for {
		if e.ClosingLocked() {
			return engine.ErrClosed
		}
		have := 0
		for _, p := range e.PeersLocked() {
			if s, ok := p.Ext.(*subscription); ok && p.Connected() && len(s.prefixes) > 0 {
				have++
			}
		}
		if have >= n {
			return nil
		}
		if !e.WaitLocked(ctx.Done()) {
			return ctx.Err()
		}
	}
}
