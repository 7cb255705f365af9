package socket

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/wispmq/wisp/wire"
)

// Conformance of PUB, SUB, XPUB and XSUB over every transport: what a
// subscription means, where filtering happens, how subscriptions are
// counted and reported. Publisher-side state (Stats().Peers[i].
// Subscriptions, MsgsOut) is checked directly, so a test sees that a
// publisher stopped writing, not only that a subscriber stopped receiving.

// psSub makes a SUB with the given prefixes, connected to ep.
func psSub(t *testing.T, nw *network, ep string, prefixes ...string) *Socket {
	t.Helper()
	s := newSocket(t, Sub)
	for _, p := range prefixes {
		if err := s.Subscribe([]byte(p)); err != nil {
			t.Fatalf("Subscribe(%q): got error %v, want nil", p, err)
		}
	}
	nw.connect(s, ep)
	return s
}

// psPeer returns the publisher's stats of the connected peer whose session
// is sub's, and whether there is one.
func psPeer(pub, sub *Socket) (PeerStats, bool) {
	for _, p := range pub.Stats().Peers {
		if p.Connected && p.Session == sub.Session() {
			return p, true
		}
	}
	return PeerStats{}, false
}

// psWaitSubs waits until the publisher holds exactly n prefixes for sub.
// Only call it where the count can no longer pass through n on its way
// elsewhere (the subscriber only adds, or only cancels, from here on).
func psWaitSubs(t *testing.T, ctx context.Context, pub, sub *Socket, n int) {
	t.Helper()
	waitFor(t, ctx, fmt.Sprintf("the publisher to hold %d prefixes for %s", n, sub.Session()), func() bool {
		p, ok := psPeer(pub, sub)
		return ok && p.Subscriptions == n
	})
}

// psSend publishes one message and fails the test on error.
func psSend(t *testing.T, ctx context.Context, pub *Socket, frames ...string) {
	t.Helper()
	fs := make([][]byte, len(frames))
	for i, f := range frames {
		fs[i] = []byte(f)
	}
	if err := pub.Send(ctx, fs...); err != nil {
		t.Fatalf("Send %q: got error %v, want nil", frames, err)
	}
}

// psExpect receives len(want) messages and checks each one's first frame.
func psExpect(t *testing.T, ctx context.Context, s *Socket, what string, want ...string) {
	t.Helper()
	for i, m := range recvN(t, ctx, s, len(want)) {
		if string(m.Bytes()) != want[i] {
			t.Fatalf("%s: message %d: got %q, want %q", what, i, m.Bytes(), want[i])
		}
	}
}

// psWaitMsgsOut waits until the publisher wrote at least want messages and
// then checks that it wrote exactly want. Callers make the last message
// they count one that a subscriber has received: a message queued before it
// was written in the same batch or an earlier one, so it is counted by then.
func psWaitMsgsOut(t *testing.T, ctx context.Context, pub *Socket, want uint64) {
	t.Helper()
	waitFor(t, ctx, fmt.Sprintf("publisher MsgsOut %d", want), func() bool { return pub.Stats().MsgsOut >= want })
	if got := pub.Stats().MsgsOut; got != want {
		t.Fatalf("publisher MsgsOut: got %d, want %d", got, want)
	}
}

// TestPubSubEmptyPrefixMatchesAll: the empty prefix takes every message,
// including one whose first frame is empty, with every frame.
func TestPubSubEmptyPrefixMatchesAll(t *testing.T) {
	forEachTransport(t, func(t *testing.T, nw *network) {
		ctx := testContext(t)
		pub := newSocket(t, Pub)
		ep := nw.bind(pub)
		sub := psSub(t, nw, ep, "")
		if err := pub.WaitSubscribers(ctx, 1); err != nil {
			t.Fatalf("WaitSubscribers: got error %v, want nil", err)
		}
		psSend(t, ctx, pub, "a", "body")
		psSend(t, ctx, pub, "", "empty topic")
		psSend(t, ctx, pub, "\x00\xff")
		want := []Message{{[]byte("a"), []byte("body")}, {{}, []byte("empty topic")}, {[]byte("\x00\xff")}}
		for i, m := range recvN(t, ctx, sub, len(want)) {
			if len(m) != len(want[i]) {
				t.Fatalf("message %d: got %q, want %q", i, m, want[i])
			}
			for j := range m {
				if !bytes.Equal(m[j], want[i][j]) {
					t.Fatalf("message %d: got %q, want %q", i, m, want[i])
				}
			}
		}
		psWaitMsgsOut(t, ctx, pub, 3)
	})
}

// TestPubSubSubscriptionsCount: a prefix subscribed twice needs two
// Unsubscribes. After the first, messages keep coming and the publisher
// still holds the prefix; after the second, the publisher drops it and
// stops writing those messages at all.
func TestPubSubSubscriptionsCount(t *testing.T) {
	forEachTransport(t, func(t *testing.T, nw *network) {
		ctx := testContext(t)
		pub := newSocket(t, Pub)
		ep := nw.bind(pub)
		sub := psSub(t, nw, ep, "a", "a", "m")
		psWaitSubs(t, ctx, pub, sub, 2)
		psSend(t, ctx, pub, "a1")
		psExpect(t, ctx, sub, "both held", "a1")

		if err := sub.Unsubscribe([]byte("a")); err != nil {
			t.Fatalf("first Unsubscribe: got error %v, want nil", err)
		}
		psSend(t, ctx, pub, "a2")
		psExpect(t, ctx, sub, "after one of two Unsubscribes", "a2")
		if p, _ := psPeer(pub, sub); p.Subscriptions != 2 {
			t.Fatalf("publisher prefixes after one of two Unsubscribes: got %d, want 2", p.Subscriptions)
		}

		if err := sub.Unsubscribe([]byte("a")); err != nil {
			t.Fatalf("second Unsubscribe: got error %v, want nil", err)
		}
		psWaitSubs(t, ctx, pub, sub, 1)
		psWaitMsgsOut(t, ctx, pub, 2) // a1 and a2
		for i := range 10 {
			psSend(t, ctx, pub, fmt.Sprintf("a%d", 3+i))
		}
		psSend(t, ctx, pub, "m1")
		psExpect(t, ctx, sub, "after both Unsubscribes", "m1")
		psWaitMsgsOut(t, ctx, pub, 3) // m1 only

		if err := sub.Unsubscribe([]byte("a")); !errors.Is(err, ErrNotSubscribed) {
			t.Fatalf("third Unsubscribe: got %v, want ErrNotSubscribed", err)
		}
		if err := sub.Unsubscribe(nil); !errors.Is(err, ErrNotSubscribed) {
			t.Fatalf("Unsubscribe of the empty prefix never subscribed: got %v, want ErrNotSubscribed", err)
		}
	})
}

// TestPubSubOverlappingPrefixes: a message that several of a subscriber's
// prefixes match arrives once, and is written once.
func TestPubSubOverlappingPrefixes(t *testing.T) {
	forEachTransport(t, func(t *testing.T, nw *network) {
		ctx := testContext(t)
		pub := newSocket(t, Pub)
		ep := nw.bind(pub)
		sub := psSub(t, nw, ep, "", "w", "we", "weather", "weather.paris")
		psWaitSubs(t, ctx, pub, sub, 5)
		var want []string
		for i := range 50 {
			topic := []string{"weather.paris", "weather", "w", "x"}[i%4]
			msg := fmt.Sprintf("%s %d", topic, i)
			psSend(t, ctx, pub, msg)
			want = append(want, msg)
		}
		psExpect(t, ctx, sub, "overlapping prefixes", want...)
		psWaitMsgsOut(t, ctx, pub, 50)
		if p, _ := psPeer(pub, sub); p.MsgsOut != 50 {
			t.Fatalf("peer MsgsOut: got %d, want 50", p.MsgsOut)
		}
	})
}

// TestPubSubLocalFilter: messages that arrived before an Unsubscribe and
// wait in the SUB's queue are not delivered after it; an XSUB, which does
// not filter, delivers them.
func TestPubSubLocalFilter(t *testing.T) {
	forEachTransport(t, func(t *testing.T, nw *network) {
		ctx := testContext(t)
		pub := newSocket(t, Pub)
		ep := nw.bind(pub)
		sub := psSub(t, nw, ep, "a", "b")
		xsub := newSocket(t, XSub)
		for _, p := range []string{"a", "b"} {
			if err := xsub.Send(ctx, append([]byte{SubscriptionAdd}, p...)); err != nil {
				t.Fatalf("XSUB Send subscribe %q: got error %v, want nil", p, err)
			}
		}
		nw.connect(xsub, ep)
		psWaitSubs(t, ctx, pub, sub, 2)
		psWaitSubs(t, ctx, pub, xsub, 2)
		for _, m := range []string{"a1", "a2", "b1"} {
			psSend(t, ctx, pub, m)
		}
		waitFor(t, ctx, "3 messages queued at the SUB and the XSUB", func() bool {
			return sub.Stats().RecvQueue == 3 && xsub.Stats().RecvQueue == 3
		})
		if err := sub.Unsubscribe([]byte("a")); err != nil {
			t.Fatalf("Unsubscribe: got error %v, want nil", err)
		}
		if err := xsub.Send(ctx, []byte{SubscriptionCancel, 'a'}); err != nil {
			t.Fatalf("XSUB Send cancel: got error %v, want nil", err)
		}
		psExpect(t, ctx, sub, "SUB after Unsubscribe", "b1")
		psExpect(t, ctx, xsub, "XSUB after cancel", "a1", "a2", "b1")
		if st := sub.Stats(); st.RecvQueue != 0 {
			t.Fatalf("SUB RecvQueue: got %d, want 0 (filtered messages are gone)", st.RecvQueue)
		}
	})
}

// TestPubSubNoSubscriptionNoMessages: a SUB that subscribed to nothing is
// connected but gets nothing written to it.
func TestPubSubNoSubscriptionNoMessages(t *testing.T) {
	forEachTransport(t, func(t *testing.T, nw *network) {
		ctx := testContext(t)
		pub := newSocket(t, Pub)
		ep := nw.bind(pub)
		none := psSub(t, nw, ep)
		all := psSub(t, nw, ep, "")
		waitConnected(t, ctx, pub, 2)
		if err := pub.WaitSubscribers(ctx, 1); err != nil {
			t.Fatalf("WaitSubscribers: got error %v, want nil", err)
		}
		for i := range 20 {
			psSend(t, ctx, pub, fmt.Sprint(i))
		}
		recvN(t, ctx, all, 20)
		psWaitMsgsOut(t, ctx, pub, 20)
		p, ok := psPeer(pub, none)
		if !ok || p.MsgsOut != 0 || p.Subscriptions != 0 {
			t.Fatalf("publisher's peer without subscriptions: got %+v (found %v), want connected, MsgsOut 0, Subscriptions 0", p, ok)
		}
		if st := none.Stats(); st.MsgsIn != 0 {
			t.Fatalf("SUB without subscriptions: got MsgsIn %d, want 0", st.MsgsIn)
		}
	})
}

// psForStreams runs f as a parallel subtest over the stream transports a
// raw peer can dial.
func psForStreams(t *testing.T, f func(t *testing.T, nw *network)) {
	t.Helper()
	for _, name := range []string{"tcp", "ipc"} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			f(t, newNetwork(t, name))
		})
	}
}

// psReadCommand reads the next SUBSCRIBE or CANCEL a raw publisher gets,
// skipping heartbeats.
func psReadCommand(t *testing.T, p *rawPeer) wire.Command {
	t.Helper()
	for range 1 << 10 {
		c, err := p.readCommand()
		if err != nil {
			t.Fatalf("raw publisher: reading a command: got error %v, want a command", err)
		}
		if c.ID == wire.CmdSubscribe || c.ID == wire.CmdCancel {
			return c
		}
	}
	t.Fatalf("raw publisher: got 1024 heartbeats, want a subscription")
	return wire.Command{}
}

// psWantCommand checks the next subscription command on the wire.
func psWantCommand(t *testing.T, p *rawPeer, id wire.CommandID, prefix string) {
	t.Helper()
	if c := psReadCommand(t, p); c.ID != id || string(c.Data) != prefix {
		t.Fatalf("on the wire: got %v %q, want %v %q", c.ID, c.Data, id, prefix)
	}
}

// TestPubSubSubscriptionsOnTheWire: what SUB and XSUB put on the wire. A
// subscription made before the connection is stated when it opens; after
// that a SUBSCRIBE goes out when a prefix's count goes from 0 to 1 and a
// CANCEL when it returns to 0, nothing in between. An XSUB's [1, p] and
// [0, p] are those same commands.
func TestPubSubSubscriptionsOnTheWire(t *testing.T) {
	psForStreams(t, func(t *testing.T, nw *network) {
		for _, typ := range []Type{Sub, XSub} {
			t.Run(typ.String(), func(t *testing.T) {
				ctx := testContext(t)
				s := newSocket(t, typ)
				change := func(prefix string, add bool) {
					t.Helper()
					var err error
					switch {
					case typ == XSub && add:
						err = s.Send(ctx, append([]byte{SubscriptionAdd}, prefix...))
					case typ == XSub:
						err = s.Send(ctx, append([]byte{SubscriptionCancel}, prefix...))
					case add:
						err = s.Subscribe([]byte(prefix))
					default:
						err = s.Unsubscribe([]byte(prefix))
					}
					if err != nil {
						t.Fatalf("%v subscription change %q (add %v): got error %v, want nil", typ, prefix, add, err)
					}
				}
				change("early", true)
				ep := nw.bind(s)
				p := rawDial(t, ep)
				p.handshake(rawGreeting(wire.Pub, false))
				psWantCommand(t, p, wire.CmdSubscribe, "early")
				// From here on the socket's connection is attached, so
				// changes go out in the order they are made.
				waitConnected(t, ctx, s, 1)
				// Each change is read before the next, since a change not yet
				// written is replaced by a later one of the same prefix. A
				// change that must put nothing on the wire is followed by
				// one of another prefix, which must then come next.
				change("x", true)
				psWantCommand(t, p, wire.CmdSubscribe, "x")
				change("x", true) // counted, not sent
				change("", true)
				psWantCommand(t, p, wire.CmdSubscribe, "")
				change("x", false) // one of two: not sent
				change("", false)
				psWantCommand(t, p, wire.CmdCancel, "")
				change("x", false)
				psWantCommand(t, p, wire.CmdCancel, "x")
				change("y", true)
				psWantCommand(t, p, wire.CmdSubscribe, "y")
			})
		}
	})
}

// TestPubSubInvalidSubscriptions: what Subscribe and XSUB's Send refuse.
func TestPubSubInvalidSubscriptions(t *testing.T) {
	ctx := testContext(t)
	sub := newSocket(t, Sub)
	xsub := newSocket(t, XSub)
	long := bytes.Repeat([]byte("p"), wire.MaxPrefixLen)
	if err := sub.Subscribe(long); err != nil {
		t.Fatalf("Subscribe of a %d-byte prefix: got error %v, want nil", len(long), err)
	}
	if err := sub.Subscribe(append(long, 'p')); !errors.Is(err, ErrInvalidMessage) {
		t.Fatalf("Subscribe of a %d-byte prefix: got %v, want ErrInvalidMessage", len(long)+1, err)
	}
	if err := sub.Unsubscribe(append(long, 'p')); !errors.Is(err, ErrInvalidMessage) {
		t.Fatalf("Unsubscribe of a %d-byte prefix: got %v, want ErrInvalidMessage", len(long)+1, err)
	}
	if err := xsub.Send(ctx, append([]byte{SubscriptionAdd}, long...)); err != nil {
		t.Fatalf("XSUB Send of a %d-byte prefix: got error %v, want nil", len(long), err)
	}
	if err := xsub.Send(ctx, []byte{SubscriptionAdd}); err != nil {
		t.Fatalf("XSUB Send [1] (the empty prefix): got error %v, want nil", err)
	}
	bad := map[string][][]byte{
		"no frames":             nil,
		"an empty frame":        {{}},
		"marker 2":              {{2, 'a'}},
		"marker 0xff":           {{0xff}},
		"two frames":            {{SubscriptionAdd, 'a'}, []byte("b")},
		"an empty second frame": {{SubscriptionAdd, 'a'}, {}},
		"a prefix too long":     {append([]byte{SubscriptionAdd}, append(long, 'p')...)},
	}
	for name, frames := range bad {
		if err := xsub.Send(ctx, frames...); !errors.Is(err, ErrInvalidMessage) {
			t.Errorf("XSUB Send of %s: got %v, want ErrInvalidMessage", name, err)
		}
	}
	if err := xsub.Send(ctx, []byte{SubscriptionCancel, 'z'}); !errors.Is(err, ErrNotSubscribed) {
		t.Errorf("XSUB Send cancel of a prefix not held: got %v, want ErrNotSubscribed", err)
	}

	sub.Close()
	if err := sub.Subscribe([]byte("a")); !isClosed(err) {
		t.Errorf("Subscribe after Close: got %v, want ErrClosed", err)
	}
	xsub.Close()
	if err := xsub.Send(ctx, []byte{SubscriptionAdd, 'a'}); !isClosed(err) {
		t.Errorf("XSUB Send after Close: got %v, want ErrClosed", err)
	}
	pub := newSocket(t, Pub)
	pub.Close()
	if err := pub.Send(ctx, []byte("a")); !isClosed(err) {
		t.Errorf("PUB Send after Close: got %v, want ErrClosed", err)
	}
	if err := pub.WaitSubscribers(ctx, 1); !isClosed(err) {
		t.Errorf("WaitSubscribers after Close: got %v, want ErrClosed", err)
	}
}

// TestPubSubNotSupported: each operation on the types that do not have it.
func TestPubSubNotSupported(t *testing.T) {
	ctx := testContext(t)
	ops := map[string]func(s *Socket) error{
		"Subscribe":       func(s *Socket) error { return s.Subscribe([]byte("a")) },
		"Unsubscribe":     func(s *Socket) error { return s.Unsubscribe([]byte("a")) },
		"Send":            func(s *Socket) error { return s.Send(ctx, []byte("a")) },
		"Recv":            func(s *Socket) error { _, err := s.Recv(ctx); return err },
		"WaitSubscribers": func(s *Socket) error { return s.WaitSubscribers(ctx, 1) },
	}
	unsupported := map[Type][]string{
		Pub:  {"Subscribe", "Unsubscribe", "Recv"},
		XPub: {"Subscribe", "Unsubscribe"},
		Sub:  {"Send", "WaitSubscribers"},
		XSub: {"Subscribe", "Unsubscribe", "WaitSubscribers"},
		Push: {"Subscribe", "Unsubscribe", "WaitSubscribers"},
		Pull: {"Subscribe", "Unsubscribe", "WaitSubscribers"},
	}
	for typ, names := range unsupported {
		s := newSocket(t, typ)
		for _, name := range names {
			if err := ops[name](s); !errors.Is(err, ErrNotSupported) {
				t.Errorf("%s on %v: got %v, want ErrNotSupported", name, typ, err)
			}
		}
	}
}

// TestPubSubManySubscribers: eight subscribers with different prefixes on
// one publisher, and half the topics wanted by nobody. Each subscriber gets
// exactly its matches, in order; the unwanted half is never written.
func TestPubSubManySubscribers(t *testing.T) {
	const subs, topics, rounds = 8, 16, 60
	forEachTransport(t, func(t *testing.T, nw *network) {
		ctx := testContext(t)
		pub := newSocket(t, Pub)
		ep := nw.bind(pub)
		ss := make([]*Socket, subs)
		for k := range ss {
			// "t1." must not take "t10.": the dot ends each prefix.
			ss[k] = psSub(t, nw, ep, fmt.Sprintf("t%d.", k))
		}
		if err := pub.WaitSubscribers(ctx, subs); err != nil {
			t.Fatalf("WaitSubscribers: got error %v, want nil", err)
		}
		want := make([][]string, subs)
		for i := range topics * rounds {
			k := i % topics
			m := fmt.Sprintf("t%d.%d", k, i)
			psSend(t, ctx, pub, m, "body")
			if k < subs {
				want[k] = append(want[k], m)
			}
		}
		for k, s := range ss {
			psExpect(t, ctx, s, fmt.Sprintf("subscriber %d", k), want[k]...)
		}
		psWaitMsgsOut(t, ctx, pub, subs*rounds)
		for k, s := range ss {
			p, ok := psPeer(pub, s)
			if !ok || p.MsgsOut != rounds || p.Drops != 0 || p.Subscriptions != 1 {
				t.Errorf("publisher's peer %d: got %+v (found %v), want MsgsOut %d, Drops 0, Subscriptions 1", k, p, ok, rounds)
			}
		}
	})
}

// psRecvSub receives the next subscription message from an XPUB.
func psRecvSub(t *testing.T, ctx context.Context, x *Socket) string {
	t.Helper()
	m, err := x.Recv(ctx)
	if err != nil {
		t.Fatalf("XPUB Recv: got error %v, want a subscription message", err)
	}
	if len(m) != 1 || len(m[0]) == 0 {
		t.Fatalf("XPUB Recv: got %q, want one frame [marker, prefix...]", m)
	}
	return fmt.Sprintf("%d%s", m[0][0], m[0][1:])
}

// psWantSub checks the next subscription message from an XPUB: "1p" for
// [1, p...], "0p" for [0, p...].
func psWantSub(t *testing.T, ctx context.Context, x *Socket, want string) {
	t.Helper()
	if got := psRecvSub(t, ctx, x); got != want {
		t.Fatalf("XPUB Recv: got %q, want %q", got, want)
	}
}

// TestXPubReportsSubscriptions: an XPUB reports a prefix when its first
// subscriber takes it and when its last one drops it (by Unsubscribe or by
// going away), and nothing for subscribers in between. Each "nothing" is
// checked by a later subscription from the same connection arriving first.
func TestXPubReportsSubscriptions(t *testing.T) {
	forEachTransport(t, func(t *testing.T, nw *network) {
		ctx := testContext(t)
		xpub := newSocket(t, XPub)
		ep := nw.bind(xpub)
		s1 := psSub(t, nw, ep)
		s2 := psSub(t, nw, ep)
		// Subscriptions made once a SUB's connection is attached travel in
		// order; ones made before would be stated in any order.
		waitConnected(t, ctx, s1, 1)
		waitConnected(t, ctx, s2, 1)
		must := func(err error) {
			t.Helper()
			if err != nil {
				t.Fatalf("got error %v, want nil", err)
			}
		}
		must(s1.Subscribe([]byte("p")))
		psWantSub(t, ctx, xpub, "1p")
		must(s1.Subscribe([]byte("p"))) // counted at the SUB: nothing on the wire
		must(s2.Subscribe([]byte("p"))) // a second subscriber of p
		must(s2.Subscribe([]byte("q")))
		psWantSub(t, ctx, xpub, "1q")

		must(s1.Unsubscribe([]byte("p")))
		must(s1.Unsubscribe([]byte("p"))) // s1 lets go; s2 still holds p
		must(s1.Subscribe([]byte("r")))
		psWantSub(t, ctx, xpub, "1r")

		must(s2.Unsubscribe([]byte("p")))
		psWantSub(t, ctx, xpub, "0p")

		// A change that cancels out before Recv is not reported. The
		// XPUB's count for s1 reaches 3 only once gone and s both arrived,
		// and then falls to 2 only by gone's cancel.
		must(s1.Subscribe([]byte("gone")))
		must(s1.Subscribe([]byte("s")))
		psWaitSubs(t, ctx, xpub, s1, 3)
		must(s1.Unsubscribe([]byte("gone")))
		psWaitSubs(t, ctx, xpub, s1, 2)
		psWantSub(t, ctx, xpub, "1s")

		must(s2.Close())
		psWantSub(t, ctx, xpub, "0q")
		must(s1.Close())
		got := []string{psRecvSub(t, ctx, xpub), psRecvSub(t, ctx, xpub)}
		if strings.Join(got, ",") != "0r,0s" && strings.Join(got, ",") != "0s,0r" {
			t.Fatalf("XPUB Recv after the last SUB closed: got %q, want 0r and 0s in any order", got)
		}
		if st := xpub.Stats(); st.ProtocolErrors != 0 {
			t.Fatalf("XPUB ProtocolErrors: got %d, want 0", st.ProtocolErrors)
		}
	})
}

// TestXPubSendsLikePub: an XPUB publishes with the same filtering as a
// PUB, while its application reads the subscriptions.
func TestXPubSendsLikePub(t *testing.T) {
	forEachTransport(t, func(t *testing.T, nw *network) {
		ctx := testContext(t)
		xpub := newSocket(t, XPub)
		ep := nw.bind(xpub)
		sub := psSub(t, nw, ep, "a")
		psWantSub(t, ctx, xpub, "1a")
		psSend(t, ctx, xpub, "b1")
		psSend(t, ctx, xpub, "a1", "x")
		m := recvN(t, ctx, sub, 1)[0]
		if len(m) != 2 || string(m[0]) != "a1" || string(m[1]) != "x" {
			t.Fatalf("SUB of an XPUB: got %q, want [a1 x]", m)
		}
		psWaitMsgsOut(t, ctx, xpub, 1)
	})
}

// psProxy runs Proxy(xsub, xpub) until the test ends, and checks that it
// then returns context.Canceled.
func psProxy(t *testing.T, ctx context.Context, xsub, xpub *Socket) {
	pctx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- Proxy(pctx, xsub, xpub, nil) }()
	// Registered after the sockets, so it runs before they close.
	t.Cleanup(func() {
		stop()
		if err := <-done; !errors.Is(err, context.Canceled) {
			t.Errorf("Proxy: got %v, want context.Canceled", err)
		}
	})
}

// TestXPubXSubProxyChain: PUB -> XSUB|Proxy|XPUB -> XSUB|Proxy|XPUB -> three
// SUBs, over tcp. Each hop forwards a prefix upstream once however many
// subscribers below hold it, and cancels it only when the last one lets go
// or leaves; data flows down only where a subscriber wants it.
func TestXPubXSubProxyChain(t *testing.T) {
	ctx := testContext(t)
	nw := newNetwork(t, "tcp")
	pub := newSocket(t, Pub)
	ep := nw.bind(pub)
	var xpubs []*Socket
	for range 2 {
		xsub := newSocket(t, XSub)
		xpub := newSocket(t, XPub)
		nw.connect(xsub, ep)
		ep = nw.bind(xpub)
		psProxy(t, ctx, xsub, xpub)
		xpubs = append(xpubs, xpub)
	}
	s1 := psSub(t, nw, ep, "a")
	s2 := psSub(t, nw, ep, "a")
	s3 := psSub(t, nw, ep, "b")
	upstream := func() int {
		st := pub.Stats()
		if len(st.Peers) != 1 || !st.Peers[0].Connected {
			return -1
		}
		return st.Peers[0].Subscriptions
	}
	waitFor(t, ctx, "the publisher to hold a and b", func() bool { return upstream() == 2 })
	if err := xpubs[1].WaitSubscribers(ctx, 3); err != nil {
		t.Fatalf("WaitSubscribers: got error %v, want nil", err)
	}

	var wantA, wantB []string
	for i := range 10 {
		for _, topic := range []string{"a", "b", "c"} {
			m := fmt.Sprintf("%s%d", topic, i)
			psSend(t, ctx, pub, m)
			switch topic {
			case "a":
				wantA = append(wantA, m)
			case "b":
				wantB = append(wantB, m)
			}
		}
	}
	psExpect(t, ctx, s1, "s1", wantA...)
	psExpect(t, ctx, s2, "s2", wantA...)
	psExpect(t, ctx, s3, "s3", wantB...)
	psWaitMsgsOut(t, ctx, pub, 20)

	// s1 leaves; s2 still holds a, so nothing goes upstream. Once the last
	// XPUB has dropped s1, a later subscription (s3's c) is noted after
	// s1's a and so travels after anything s1's departure caused: if that
	// were a cancel of a, the publisher would never hold a, b and c.
	if err := s1.Close(); err != nil {
		t.Fatalf("Close: got error %v, want nil", err)
	}
	waitFor(t, ctx, "the last XPUB to drop the closed SUB", func() bool {
		n := 0
		for _, p := range xpubs[1].Stats().Peers {
			if p.Connected {
				n++
			}
		}
		return n == 2
	})
	if err := s3.Subscribe([]byte("c")); err != nil {
		t.Fatalf("Subscribe: got error %v, want nil", err)
	}
	waitFor(t, ctx, "the publisher to hold a, b and c", func() bool { return upstream() == 3 })

	if err := s2.Unsubscribe([]byte("a")); err != nil {
		t.Fatalf("Unsubscribe: got error %v, want nil", err)
	}
	waitFor(t, ctx, "the publisher to drop a", func() bool { return upstream() == 2 })
	var want3 []string
	for i := range 10 {
		for _, topic := range []string{"a", "b", "c"} {
			m := fmt.Sprintf("%s%d", topic, 10+i)
			psSend(t, ctx, pub, m)
			if topic != "a" {
				want3 = append(want3, m)
			}
		}
	}
	psExpect(t, ctx, s3, "s3 after a was dropped", want3...)
	psWaitMsgsOut(t, ctx, pub, 40)
	if st := s2.Stats(); st.RecvQueue != 0 {
		t.Fatalf("s2 RecvQueue after it dropped a: got %d, want 0", st.RecvQueue)
	}
}
