package socket

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/wispmq/wisp/wire"
)

// Publish-subscribe under faults: publishers that restart, connections cut
// in the middle of a burst of subscriptions, a subscriber that never reads,
// and raw peers that break the protocol or flood the publisher with
// subscriptions. A well-behaved subscriber keeps receiving throughout.

// psFastReconnect makes a subscriber redial quickly, so reconnect tests
// spend their time on the test rather than on backoff.
var psFastReconnect = WithReconnectInterval(time.Millisecond, 10*time.Millisecond)

// TestPubSubPublisherRestart: a SUB's subscriptions survive its publisher's
// restart. The SUB redials the endpoint, states what it holds then
// (including changes made while no publisher was there), the new PUB's
// WaitSubscribers returns and its messages flow.
func TestPubSubPublisherRestart(t *testing.T) {
	forEachTransport(t, func(t *testing.T, nw *network) {
		if nw.name == "conn" {
			t.Skip("a user-supplied net.Conn is not redialed: there is no endpoint for a new publisher to bind")
		}
		ctx := testContext(t)
		pub1 := newSocket(t, Pub)
		ep := nw.bind(pub1)
		sub := newSocket(t, Sub, psFastReconnect)
		for _, p := range []string{"a", "a", "b", "c"} {
			if err := sub.Subscribe([]byte(p)); err != nil {
				t.Fatalf("Subscribe(%q): got error %v, want nil", p, err)
			}
		}
		nw.connect(sub, ep)
		psWaitSubs(t, ctx, pub1, sub, 3)
		for _, m := range []string{"a1", "b1", "c1", "d1"} {
			psSend(t, ctx, pub1, m)
		}
		psExpect(t, ctx, sub, "first publisher", "a1", "b1", "c1")
		if err := pub1.Close(); err != nil {
			t.Fatalf("Close: got error %v, want nil", err)
		}

		if err := sub.Unsubscribe([]byte("c")); err != nil {
			t.Fatalf("Unsubscribe: got error %v, want nil", err)
		}
		if err := sub.Unsubscribe([]byte("a")); err != nil { // one of two: a stays
			t.Fatalf("Unsubscribe: got error %v, want nil", err)
		}
		if err := sub.Subscribe([]byte("d")); err != nil {
			t.Fatalf("Subscribe: got error %v, want nil", err)
		}

		pub2 := newSocket(t, Pub)
		nw.bindAt(pub2, ep)
		if err := pub2.WaitSubscribers(ctx, 1); err != nil {
			t.Fatalf("WaitSubscribers on the new publisher: got error %v, want nil", err)
		}
		psWaitSubs(t, ctx, pub2, sub, 3) // a, b, d: restated prefixes only add
		for _, m := range []string{"a2", "b2", "c2", "d2"} {
			psSend(t, ctx, pub2, m)
		}
		psExpect(t, ctx, sub, "new publisher", "a2", "b2", "d2")
		psWaitMsgsOut(t, ctx, pub2, 3)
	})
}

// psConnEvent reports whether e is a change of the subscriber's connection.
func psConnEvent(e Event) bool {
	return e.Kind == EventConnected || e.Kind == EventDisconnected || e.Kind == EventHandshakeFailed
}

// psDrainConnEvents takes every event already emitted by s, without
// waiting, and reports whether one changed a connection.
func psDrainConnEvents(s *Socket) bool {
	changed := false
	for range 1 << 16 {
		select {
		case e, ok := <-s.Events():
			if !ok {
				return true
			}
			changed = changed || psConnEvent(e)
		default:
			return changed
		}
	}
	return true
}

// psSettle waits until pub has applied every subscription change sub made
// so far, and returns the sentinel prefix it added to held to find out.
//
// A count of prefixes at the publisher cannot tell: mid-way through a batch
// of changes it may equal the final count with a different set. Instead
// the SUB subscribes a new sentinel prefix, and the test publishes probes
// on it until one arrives. On one connection subscription changes travel
// in the order they were made, so by then every earlier change is applied.
// That holds only if the probe came over the connection the sentinel was
// queued on (a new connection states every prefix in any order), so the
// attempt is repeated while the SUB's connection changed meanwhile. A
// writer starts only after its connection's event is emitted, so every
// such event is in the channel when the probe arrives.
func psSettle(t *testing.T, ctx context.Context, pub, sub *Socket, held map[string]bool) string {
	t.Helper()
	for attempt := range 50 {
		psDrainConnEvents(sub)
		lost := sub.Stats().EventsDropped
		sentinel := fmt.Sprintf("sentinel%02d", attempt)
		if err := sub.Subscribe([]byte(sentinel)); err != nil {
			t.Fatalf("Subscribe(%q): got error %v, want nil", sentinel, err)
		}
		held[sentinel] = true
		got := make(chan error, 1)
		go func() {
			for range 1 << 20 {
				m, err := sub.Recv(ctx)
				if err != nil {
					got <- err
					return
				}
				if string(m.Bytes()) == sentinel {
					got <- nil
					return
				}
			}
			got <- errors.New("no probe among a million messages")
		}()
		var err error
		waitFor(t, ctx, "a probe on "+sentinel, func() bool {
			select {
			case err = <-got:
				return true
			default:
			}
			psSend(t, ctx, pub, sentinel)
			return false
		})
		if err != nil {
			t.Fatalf("waiting for a probe on %s: got error %v, want the probe", sentinel, err)
		}
		if !psDrainConnEvents(sub) && sub.Stats().EventsDropped == lost {
			return sentinel
		}
		t.Logf("the connection changed while settling; again")
	}
	t.Fatalf("the SUB's connection kept changing over 50 attempts to settle")
	return ""
}

// psBurst subscribes n prefixes as fast as it can, unsubscribing some
// along the way and calling cut half-way, then checks that the publisher
// holds exactly the SUB's prefixes: their number, and which messages it
// writes.
func psBurst(t *testing.T, ctx context.Context, pub, sub *Socket, cut func()) {
	t.Helper()
	const n = 5000
	held := map[string]bool{}
	prefix := func(i int) string { return fmt.Sprintf("p%05d.", i) } // none is a prefix of another
	for i := range n {
		p := prefix(i)
		if err := sub.Subscribe([]byte(p)); err != nil {
			t.Fatalf("Subscribe(%q): got error %v, want nil", p, err)
		}
		held[p] = true
		if i%5 == 4 {
			q := prefix(i - 2)
			if err := sub.Unsubscribe([]byte(q)); err != nil {
				t.Fatalf("Unsubscribe(%q): got error %v, want nil", q, err)
			}
			delete(held, q)
		}
		if i == n/2 {
			cut()
		}
	}
	last := psSettle(t, ctx, pub, sub, held)

	connected := 0
	for _, p := range pub.Stats().Peers {
		if p.Connected {
			connected++
		}
	}
	p, ok := psPeer(pub, sub)
	if connected != 1 || !ok || p.Subscriptions != len(held) {
		t.Fatalf("publisher after the burst: got %d connected peers, the SUB's with %d prefixes (found %v), want 1 peer with %d",
			connected, p.Subscriptions, ok, len(held))
	}

	// The set, not only the count: one message per prefix ever used, then
	// an end marker. Probes still in flight come first and are skipped.
	var want []string
	for i := range n {
		m := prefix(i) + "m"
		psSend(t, ctx, pub, m)
		if held[prefix(i)] {
			want = append(want, m)
		}
	}
	end := last + ".end"
	psSend(t, ctx, pub, end)
	var got []string
	for range n + 1<<10 {
		m, err := sub.Recv(ctx)
		if err != nil {
			t.Fatalf("Recv after %d messages: got error %v, want a message", len(got), err)
		}
		s := string(m.Bytes())
		if s == end {
			break
		}
		if !strings.HasPrefix(s, "sentinel") {
			got = append(got, s)
		}
	}
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Fatalf("messages after the burst: got %d (%.80q...), want %d (%.80q...)", len(got), got, len(want), want)
	}
	t.Logf("%d prefixes held after the burst", len(held))
}

// TestPubSubBurstAcrossProxyCut cuts (RST) the tcp connection between a SUB
// and its PUB in the middle of a burst of 5000 subscriptions and some
// unsubscriptions. After the SUB reconnects, the publisher holds exactly
// what the SUB holds.
func TestPubSubBurstAcrossProxyCut(t *testing.T) {
	ctx := testContext(t)
	pub := newSocket(t, Pub)
	ep, err := pub.Bind("tcp://127.0.0.1:0")
	if err != nil {
		t.Fatalf("Bind: got error %v, want nil", err)
	}
	proxy := newCutProxy(t, strings.TrimPrefix(ep, "tcp://"))
	sub := newSocket(t, Sub, psFastReconnect)
	if err := sub.Connect(proxy.endpoint()); err != nil {
		t.Fatalf("Connect: got error %v, want nil", err)
	}
	waitConnected(t, ctx, sub, 1)
	psBurst(t, ctx, pub, sub, proxy.cut)
}

// TestPubSubBurstAcrossReconnect is the same with the SUB disconnecting and
// connecting again half-way, over every transport that can redial.
func TestPubSubBurstAcrossReconnect(t *testing.T) {
	forEachTransport(t, func(t *testing.T, nw *network) {
		if nw.name == "conn" {
			t.Skip("a user-supplied net.Conn cannot be disconnected and connected again")
		}
		ctx := testContext(t)
		pub := newSocket(t, Pub)
		ep := nw.bind(pub)
		sub := newSocket(t, Sub, psFastReconnect)
		nw.connect(sub, ep)
		waitConnected(t, ctx, sub, 1)
		psBurst(t, ctx, pub, sub, func() {
			if err := sub.Disconnect(ep); err != nil {
				t.Fatalf("Disconnect: got error %v, want nil", err)
			}
			nw.connect(sub, ep)
		})
	})
}

// TestPubSubSlowSubscriber: a SUB that never calls Recv neither blocks the
// publisher's Send nor costs a fast SUB on the same publisher any message.
//
// Deterministic by sizes, not by timing. The high-water mark is per peer
// but the same for all, so the subscribers differ in what they match: the
// fast one takes one message in a hundred (100 in all), fewer than the
// mark of 200, so its queue can never be full however slowly its reader
// runs. The slow one takes everything, 320 MiB, while all that can hold
// its messages is its queue at the publisher (200 messages, 6.4 MiB), the
// batch its writer is blocked on (at most 1 MiB on a stream, 4096 messages
// inproc), the socket buffers of a loopback connection (net.ipv4.tcp_wmem
// and tcp_rmem bound them to tens of MiB) and the SUB's queue (10, plus a
// message being read): it must drop.
func TestPubSubSlowSubscriber(t *testing.T) {
	const (
		n     = 10_000
		every = 100
		hwm   = 200
		size  = 32 << 10
	)
	forEachTransport(t, func(t *testing.T, nw *network) {
		ctx := testContext(t)
		// Linger 0: the slow peer's queue never drains, Close need not wait.
		pub := newSocket(t, Pub, WithSendHWM(hwm), WithSendHWMBytes(64<<20), WithLinger(0))
		ep := nw.bind(pub)
		slow := newSocket(t, Sub, WithRecvHWM(10))
		if err := slow.Subscribe(nil); err != nil {
			t.Fatalf("Subscribe: got error %v, want nil", err)
		}
		nw.connect(slow, ep)
		fast := psSub(t, nw, ep, "f")
		if err := pub.WaitSubscribers(ctx, 2); err != nil {
			t.Fatalf("WaitSubscribers: got error %v, want nil", err)
		}

		fastDone := make(chan error, 1)
		go func() {
			for i := 0; i < n; i += every {
				m, err := fast.Recv(ctx)
				if err != nil {
					fastDone <- fmt.Errorf("fast SUB Recv: got error %v, want message f%06d", err, i)
					return
				}
				if want := fmt.Sprintf("f%06d", i); len(m) != 2 || string(m[0]) != want || len(m[1]) != size {
					fastDone <- fmt.Errorf("fast SUB: got %q and %d more frames, want %s and its body", m.Bytes(), len(m)-1, want)
					return
				}
			}
			fastDone <- nil
		}()

		body := make([]byte, size) // shared: Send keeps it, nobody changes it
		for i := range n {
			topic := "s"
			if i%every == 0 {
				topic = "f"
			}
			if err := pub.Send(ctx, []byte(fmt.Sprintf("%s%06d", topic, i)), body); err != nil {
				t.Fatalf("Send %d: got error %v, want nil", i, err)
			}
		}
		if err := <-fastDone; err != nil {
			t.Fatal(err)
		}

		st := pub.Stats()
		sp, okS := psPeer(pub, slow)
		fp, okF := psPeer(pub, fast)
		if !okS || !okF {
			t.Fatalf("publisher peers: got %+v, want the slow and the fast SUB connected", st.Peers)
		}
		if sp.Drops == 0 || fp.Drops != 0 {
			t.Fatalf("drops: got slow %d, fast %d, want slow > 0, fast 0", sp.Drops, fp.Drops)
		}
		if st.Drops < sp.Drops {
			t.Fatalf("publisher Drops: got %d, want at least the slow peer's %d", st.Drops, sp.Drops)
		}
		t.Logf("slow peer: %d of %d messages dropped", sp.Drops, n)

		// Drops are counted, and their events emitted, inside Send: every
		// EventDropping is in the channel already, or lost to a full
		// channel. Not the first one: only the few connection events came
		// before it.
		slowEvents := 0
		for range 1 << 16 {
			var e Event
			select {
			case e = <-pub.Events():
			default:
			}
			if e.Kind == 0 {
				break
			}
			if e.Kind != EventDropping {
				continue
			}
			switch e.Session {
			case slow.Session():
				slowEvents++
			case fast.Session():
				t.Fatalf("got %v for the fast SUB, want none", e)
			default:
				t.Fatalf("got %v, want the slow SUB's session %s", e, slow.Session())
			}
		}
		if slowEvents == 0 {
			t.Fatalf("got no EventDropping for the slow SUB, want at least one")
		}
	})
}

// psRawSub dials ep as a raw SUB and returns it with its session.
func psRawSub(t *testing.T, ep string) (*rawPeer, string) {
	t.Helper()
	p := rawDial(t, ep)
	g := rawGreeting(wire.Sub, false)
	p.handshake(g)
	return p, g.Session.String()
}

// psPingPong sends PING and reads until its PONG: the socket handles what a
// connection carries in order, so everything sent before was handled.
func psPingPong(t *testing.T, p *rawPeer, ctx string) {
	t.Helper()
	p.command(wire.Command{ID: wire.CmdPing, Data: []byte(ctx)})
	for range 1 << 10 {
		c, err := p.readCommand()
		if err != nil {
			t.Fatalf("raw peer waiting for PONG %q: got error %v", ctx, err)
		}
		switch {
		case c.ID == wire.CmdPong && string(c.Data) == ctx:
			return
		case c.ID == wire.CmdError:
			t.Fatalf("raw peer waiting for PONG %q: got ERROR %q", ctx, c.Data)
		}
	}
	t.Fatalf("raw peer: no PONG %q among 1024 commands", ctx)
}

// psRawSubs returns the prefixes a publisher holds for the raw peer with
// session sess, or -1 if it is not connected.
func psRawSubs(pub *Socket, sess string) int {
	for _, p := range pub.Stats().Peers {
		if p.Connected && p.Session == sess {
			return p.Subscriptions
		}
	}
	return -1
}

// psFlow publishes n messages on the good subscriber's prefix and checks
// that it gets them all, in order. n is below the high-water mark, so none
// can be dropped.
func psFlow(t *testing.T, ctx context.Context, pub, good *Socket, tag string, n int) {
	t.Helper()
	want := make([]string, n)
	for i := range want {
		want[i] = fmt.Sprintf("g-%s-%d", tag, i)
		psSend(t, ctx, pub, want[i])
	}
	psExpect(t, ctx, good, "the good SUB ("+tag+")", want...)
}

// psWaitProtocolError waits for a disconnect of session sess for a protocol
// error whose reason also matches want, if want is not nil.
func psWaitProtocolError(t *testing.T, w *rawEvents, mark int, sess string, want error) Event {
	t.Helper()
	return w.wait(t, mark, "disconnect for a protocol error", func(e Event) bool {
		return e.Kind == EventDisconnected && e.Session == sess && errors.Is(e.Err, ErrProtocol) &&
			(want == nil || errors.Is(e.Err, want))
	})
}

// TestPubSubBadInputFromSubscriber: a subscriber that breaks the protocol
// loses its connection with a protocol error; the publisher's other
// subscriber keeps receiving.
func TestPubSubBadInputFromSubscriber(t *testing.T) {
	cmd := func(id wire.CommandID, body []byte) []byte {
		b := wire.AppendFrameHeader(nil, wire.FlagCommand, 1+len(body))
		return append(append(b, byte(id)), body...)
	}
	long := bytes.Repeat([]byte("p"), wire.MaxPrefixLen+1)
	cases := []struct {
		name string
		in   []byte
		want error // besides ErrProtocol
	}{
		{"SUBSCRIBE with a 1024-byte prefix", cmd(wire.CmdSubscribe, long), wire.ErrFrameTooLarge},
		{"CANCEL with a 1024-byte prefix", cmd(wire.CmdCancel, long), wire.ErrFrameTooLarge},
		{"SUBSCRIBE announcing 1 MiB", append(wire.AppendFrameHeader(nil, wire.FlagCommand, 1<<20), byte(wire.CmdSubscribe)), wire.ErrFrameTooLarge},
		{"a data message", wire.AppendFrame(nil, false, []byte("g-data")), nil},
		{"a two-frame data message", wire.AppendFrame(wire.AppendFrame(nil, true, []byte("g")), false, []byte("x")), nil},
		{"ACK", wire.Command{ID: wire.CmdAck, Seq: 1}.Append(nil), nil},
		{"RESUME", wire.Command{ID: wire.CmdResume, Seq: 1}.Append(nil), nil},
		{"an unknown command", cmd(0x7f, nil), wire.ErrUnknownCommand},
	}
	psForStreams(t, func(t *testing.T, nw *network) {
		ctx := testContext(t)
		pub := newSocket(t, Pub)
		w := rawWatch(pub)
		ep := nw.bind(pub)
		good := psSub(t, nw, ep, "g")
		psWaitSubs(t, ctx, pub, good, 1)
		psFlow(t, ctx, pub, good, "start", 100)
		for i, c := range cases {
			mark := w.mark()
			p, sess := psRawSub(t, ep)
			p.command(wire.Command{ID: wire.CmdSubscribe, Data: []byte("raw")})
			psPingPong(t, p, "ok")
			if got := psRawSubs(pub, sess); got != 1 {
				t.Fatalf("%s: raw peer's prefixes before: got %d, want 1", c.name, got)
			}
			p.mustSend(c.in)
			if _, err := p.drain(); !rawConnEnded(err) {
				t.Fatalf("%s: the connection ended with %v, want EOF or a reset", c.name, err)
			}
			psWaitProtocolError(t, w, mark, sess, c.want)
			waitFor(t, ctx, "the publisher to drop the raw peer", func() bool { return psRawSubs(pub, sess) == -1 })
			if st := pub.Stats(); st.ProtocolErrors != uint64(i+1) {
				t.Fatalf("%s: ProtocolErrors: got %d, want %d", c.name, st.ProtocolErrors, i+1)
			}
			psFlow(t, ctx, pub, good, c.name, 100)
		}
	})
}

// TestPubSubSubscribeFlood: a subscriber sends 50,000 SUBSCRIBE and CANCEL
// commands alternating over four prefixes. The publisher holds at most
// those four for it at any time, ends with exactly what the last commands
// say, and serves the good subscriber meanwhile; an XPUB reports only the
// net change.
func TestPubSubSubscribeFlood(t *testing.T) {
	const n, chunks = 50_000, 10
	var flood []byte
	for i := range n {
		id := wire.CmdSubscribe
		if (i/4)%2 == 1 {
			id = wire.CmdCancel // the last round cancels all four
		}
		flood = wire.Command{ID: id, Data: fmt.Appendf(nil, "x%d", i%4)}.Append(flood)
	}
	for _, typ := range []Type{Pub, XPub} {
		t.Run(typ.String(), func(t *testing.T) {
			t.Parallel()
			ctx := testContext(t)
			pub := newSocket(t, typ)
			ep, err := pub.Bind("tcp://127.0.0.1:0")
			if err != nil {
				t.Fatalf("Bind: got error %v, want nil", err)
			}
			good := newSocket(t, Sub)
			if err := good.Subscribe([]byte("g")); err != nil {
				t.Fatalf("Subscribe: got error %v, want nil", err)
			}
			if err := good.Connect(ep); err != nil {
				t.Fatalf("Connect: got error %v, want nil", err)
			}
			psWaitSubs(t, ctx, pub, good, 1)
			if typ == XPub {
				psWantSub(t, ctx, pub, "1g")
			}
			p, sess := psRawSub(t, ep)
			step := len(flood) / chunks
			for k := range chunks {
				end := (k + 1) * step
				if k == chunks-1 {
					end = len(flood)
				}
				p.mustSend(flood[k*step : end])
				if got := psRawSubs(pub, sess); got > 4 {
					t.Fatalf("after %d of %d chunks: got %d prefixes held for the flooding peer, want at most 4", k+1, chunks, got)
				}
				psFlow(t, ctx, pub, good, fmt.Sprint("chunk", k), 10)
			}
			p.command(wire.Command{ID: wire.CmdSubscribe, Data: []byte("x0")})
			p.command(wire.Command{ID: wire.CmdSubscribe, Data: []byte("x1")})
			psPingPong(t, p, "flood")
			if got := psRawSubs(pub, sess); got != 2 {
				t.Fatalf("after the flood: got %d prefixes held for the flooding peer, want 2", got)
			}
			if typ == XPub {
				// x2 and x3 came and went before Recv: not reported.
				psWantSub(t, ctx, pub, "1x0")
				psWantSub(t, ctx, pub, "1x1")
				p.command(wire.Command{ID: wire.CmdSubscribe, Data: []byte("z")})
				psPingPong(t, p, "z")
				psWantSub(t, ctx, pub, "1z")
			}
			if st := pub.Stats(); st.ProtocolErrors != 0 {
				t.Fatalf("ProtocolErrors: got %d, want 0", st.ProtocolErrors)
			}
		})
	}
}

// TestPubSubMaxSubscriptions: a subscriber may hold WithMaxSubscriptions
// prefixes (repeats and cancelled ones do not count); one more ends its
// connection with a protocol error, and only its connection.
func TestPubSubMaxSubscriptions(t *testing.T) {
	const limit = 100
	psForStreams(t, func(t *testing.T, nw *network) {
		ctx := testContext(t)
		pub := newSocket(t, Pub, WithMaxSubscriptions(limit))
		w := rawWatch(pub)
		ep := nw.bind(pub)
		good := psSub(t, nw, ep, "g")
		psWaitSubs(t, ctx, pub, good, 1)

		mark := w.mark()
		p, sess := psRawSub(t, ep)
		var b []byte
		sub := func(s string) {
			b = wire.Command{ID: wire.CmdSubscribe, Data: []byte(s)}.Append(b)
		}
		for i := range limit {
			sub(fmt.Sprintf("m%03d", i))
		}
		for i := range limit / 2 {
			sub(fmt.Sprintf("m%03d", i)) // held already
		}
		b = wire.Command{ID: wire.CmdCancel, Data: []byte("m000")}.Append(b)
		sub("new")
		p.mustSend(b)
		psPingPong(t, p, "full")
		if got := psRawSubs(pub, sess); got != limit {
			t.Fatalf("prefixes held at the limit: got %d, want %d", got, limit)
		}
		psFlow(t, ctx, pub, good, "at the limit", 50)

		p.command(wire.Command{ID: wire.CmdSubscribe, Data: []byte("one too many")})
		if _, err := p.drain(); !rawConnEnded(err) {
			t.Fatalf("the connection ended with %v, want EOF or a reset", err)
		}
		e := psWaitProtocolError(t, w, mark, sess, nil)
		if !strings.Contains(e.Err.Error(), "subscriptions") {
			t.Errorf("reason: got %q, want it to say subscriptions", e.Err)
		}
		waitFor(t, ctx, "the publisher to drop the peer", func() bool { return psRawSubs(pub, sess) == -1 })
		if st := pub.Stats(); st.ProtocolErrors != 1 {
			t.Fatalf("ProtocolErrors: got %d, want 1", st.ProtocolErrors)
		}
		psFlow(t, ctx, pub, good, "after", 50)
	})
}

// TestPubSubSubscriptionToSubscriber: SUBSCRIBE or CANCEL sent to a SUB or
// an XSUB ends that connection with a protocol error; the subscriber keeps
// receiving from its good publisher.
func TestPubSubSubscriptionToSubscriber(t *testing.T) {
	psForStreams(t, func(t *testing.T, nw *network) {
		for _, typ := range []Type{Sub, XSub} {
			t.Run(typ.String(), func(t *testing.T) {
				ctx := testContext(t)
				s := newSocket(t, typ)
				w := rawWatch(s)
				var err error
				if typ == Sub {
					err = s.Subscribe([]byte("g"))
				} else {
					err = s.Send(ctx, []byte{SubscriptionAdd, 'g'})
				}
				if err != nil {
					t.Fatalf("subscribing: got error %v, want nil", err)
				}
				ep := nw.bind(s)
				pub := newSocket(t, Pub)
				nw.connect(pub, ep)
				if err := pub.WaitSubscribers(ctx, 1); err != nil {
					t.Fatalf("WaitSubscribers: got error %v, want nil", err)
				}
				psFlow(t, ctx, pub, s, "start", 50)
				for i, id := range []wire.CommandID{wire.CmdSubscribe, wire.CmdCancel} {
					mark := w.mark()
					p := rawDial(t, ep)
					g := rawGreeting(wire.Pub, false)
					p.handshake(g)
					psWantCommand(t, p, wire.CmdSubscribe, "g")
					p.command(wire.Command{ID: id, Data: []byte("g")})
					if _, err := p.drain(); !rawConnEnded(err) {
						t.Fatalf("%v: the connection ended with %v, want EOF or a reset", id, err)
					}
					psWaitProtocolError(t, w, mark, g.Session.String(), nil)
					if st := s.Stats(); st.ProtocolErrors != uint64(i+1) {
						t.Fatalf("%v: ProtocolErrors: got %d, want %d", id, st.ProtocolErrors, i+1)
					}
					psFlow(t, ctx, pub, s, id.String(), 50)
				}
			})
		}
	})
}
