package socktype

import (
	"context"
	"fmt"

	"github.com/wispmq/wisp/internal/engine"
	"github.com/wispmq/wisp/patterns"
)

// sub is SUB and XSUB. A SUB subscribes with Subscribe and receives only
// what matches; an XSUB subscribes by sending [1, prefix...] and
// unsubscribes with [0, prefix...], and receives unfiltered, so that Proxy
// can join it to an XPUB. Every publisher hears every subscription, again
// in full after each reconnect. count is guarded by the engine's lock; trie
// by the receive side's lock (LockRecv), which Recv holds anyway, and is
// changed under both.
type sub struct {
	e     *engine.Engine
	xsub  bool
	count map[string]int // how many Subscribe calls hold each prefix
	trie  patterns.Trie[struct{}]
}

// Subscription message markers for XPUB and XSUB: the first byte of a
// subscription message, followed by the prefix.
const (
	SubscriptionCancel byte = 0 // unsubscribes
	SubscriptionAdd    byte = 1 // subscribes
)

func newSub(e *engine.Engine) engine.Behavior {
	return &sub{e: e, count: make(map[string]int)}
}

func newXSub(e *engine.Engine) engine.Behavior {
	return &sub{e: e, xsub: true, count: make(map[string]int)}
}

func (b *sub) Caps() engine.Caps {
	return engine.Caps{
		Peers:        []engine.Type{engine.Pub, engine.XPub},
		ReceivesData: true, CanRecv: true,
		CanSend: b.xsub, // XSUB's Send subscribes
	}
}

func (b *sub) AdmitLocked(*engine.PeerInfo) error               { return nil }
func (b *sub) DetachedLocked(*engine.Peer)                      {}
func (b *sub) GoneLocked(*engine.Peer)                          {}
func (b *sub) RehomeLocked(*engine.Peer, *engine.PeerInfo) bool { return true }
func (b *sub) CloseLocked()                                     {}

func (b *sub) CommandLocked(_ *engine.Peer, cmd engine.Command) error {
	return engine.UnexpectedCommand(b.e.Type(), cmd)
}

// AttachedLocked states every subscription to a new connection:
// subscriptions are stated in full on every connection.
func (b *sub) AttachedLocked(p *engine.Peer, _ bool) {
	for prefix := range b.count {
		b.e.QueueCommandLocked(p, engine.Command{Kind: engine.CmdSubscribe, Data: []byte(prefix)})
	}
}

// Subscribe is SUB's: see socket.Socket.Subscribe.
func (b *sub) Subscribe(prefix []byte) error {
	if b.xsub {
		return fmt.Errorf("%w: Subscribe on XSUB, which subscribes by sending", engine.ErrNotSupported)
	}
	return b.change(prefix, true)
}

// Unsubscribe is SUB's: see socket.Socket.Unsubscribe.
func (b *sub) Unsubscribe(prefix []byte) error {
	if b.xsub {
		return fmt.Errorf("%w: Unsubscribe on XSUB, which unsubscribes by sending", engine.ErrNotSupported)
	}
	return b.change(prefix, false)
}

// change changes the count of prefix and, when the prefix appears or
// disappears, tells every connected publisher.
func (b *sub) change(prefix []byte, add bool) error {
	if len(prefix) > engine.MaxPrefixLen {
		return fmt.Errorf("%w: a prefix of %d bytes; the most is %d", engine.ErrInvalidMessage, len(prefix), engine.MaxPrefixLen)
	}
	e := b.e
	e.LockRecv()
	defer e.UnlockRecv()
	e.Lock()
	defer e.Unlock()
	if e.ClosingLocked() {
		return engine.ErrClosed
	}
	key := string(prefix)
	n := b.count[key]
	kind := engine.CmdSubscribe
	if add {
		b.count[key] = n + 1
		if n > 0 {
			return nil
		}
		b.trie.Add(prefix, struct{}{})
	} else {
		switch n {
		case 0:
			return fmt.Errorf("%w: %q", engine.ErrNotSubscribed, prefix)
		case 1:
			delete(b.count, key)
			b.trie.Remove(prefix, struct{}{})
		default:
			b.count[key] = n - 1
			return nil
		}
		kind = engine.CmdCancel
	}
	for _, p := range e.PeersLocked() {
		if p.Connected() {
			e.QueueCommandLocked(p, engine.Command{Kind: kind, Data: []byte(key)})
		}
	}
	return nil
}

// Send is XSUB's: a message [1, prefix...] subscribes and [0, prefix...]
// unsubscribes.
func (b *sub) Send(_ context.Context, m engine.Msg) error {
	f := m.First
	if len(m.Rest) != 0 || len(f) == 0 || f[0] > SubscriptionAdd {
		return fmt.Errorf("%w: XSUB sends only subscriptions: one frame, 1 or 0 then the prefix", engine.ErrInvalidMessage)
	}
	return b.change(f[1:], f[0] == SubscriptionAdd)
}

// Recv returns the next message; a SUB's only if it still subscribes to
// it (the receive filter, wanted).
func (b *sub) Recv(ctx context.Context) (engine.Message, error) {
	m, _, err := b.e.Next(ctx)
	return m, err
}

// RecvFilter is SUB's: a publisher sends what matched when it sent, and
// an Unsubscribe may have happened since, so Recv looks again. XSUB
// receives unfiltered.
func (b *sub) RecvFilter() func(engine.Message) bool {
	if b.xsub {
		return nil
	}
	return b.wanted
}

// wanted is SUB's receive filter. Its caller holds the receive side's
// lock, under which the trie changes.
func (b *sub) wanted(m engine.Message) bool { return b.trie.Matches(topic(m)) }

// RecvMany is Recv for a batch.
func (b *sub) RecvMany(ctx context.Context, dst []engine.Message) (int, error) {
	return b.e.NextMany(ctx, dst, nil)
}

// topic is what a subscription matches: a message's first frame.
func topic(m engine.Message) []byte {
	if len(m) == 0 {
		return nil
	}
	return m[0]
}
