package socket

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strconv"
	"testing"
	"time"
)

// numbered returns messages from..from+n-1, each its number and a second
// frame of the number's square, so that both frames of every message are
// checked at the far end.
func numbered(from, n int) []Message {
	msgs := make([]Message, n)
	for i := range msgs {
		k := from + i
		msgs[i] = Message{[]byte(strconv.Itoa(k)), []byte(strconv.Itoa(k * k))}
	}
	return msgs
}

// checkNumbered fails unless m is numbered's message k.
func checkNumbered(t *testing.T, m Message, k int) {
	t.Helper()
	want := Message{[]byte(strconv.Itoa(k)), []byte(strconv.Itoa(k * k))}
	if len(m) != 2 || !bytes.Equal(m[0], want[0]) || !bytes.Equal(m[1], want[1]) {
		t.Fatalf("message %d: got %q, want %q", k, m, want)
	}
}

// TestSendManyRecvMany moves numbered two-frame messages from SendMany to
// RecvMany in batches of uneven sizes, over every transport, and checks
// that each arrives once, whole and in order.
func TestSendManyRecvMany(t *testing.T) {
	forEachTransport(t, func(t *testing.T, nw *network) {
		ctx := testContext(t)
		// A small high-water mark, so that SendMany also waits for room
		// in the middle of its batches.
		push, pull := newPair(t, nw, WithSendHWM(64))
		const total = 5000
		sent := make(chan error, 1)
		go func() {
			for from, size := 0, 1; from < total; from, size = from+size, size%97+1 {
				size = min(size, total-from)
				n, err := push.SendMany(ctx, numbered(from, size))
				if err != nil || n != size {
					sent <- fmt.Errorf("SendMany(%d messages from %d): got %d, %v, want %d, nil", size, from, n, err, size)
					return
				}
			}
			sent <- push.Flush(ctx)
		}()
		dst := make([]Message, 37)
		batches := 0
		for next := 0; next < total; batches++ {
			n, err := pull.RecvMany(ctx, dst)
			if err != nil {
				ps, qs := push.Stats(), pull.Stats()
				t.Fatalf("RecvMany after %d messages: got error %v, want nil; push %+v; pull %+v", next, err, ps, qs)
			}
			if n < 1 || n > len(dst) {
				t.Fatalf("RecvMany: got %d messages, want 1 to %d", n, len(dst))
			}
			for _, m := range dst[:n] {
				checkNumbered(t, m, next)
				next++
			}
		}
		if err := <-sent; err != nil {
			t.Fatal(err)
		}
		// Some calls must have found more than one message waiting.
		if batches >= total {
			t.Errorf("got %d messages in %d RecvMany calls, want some calls to return more than one", total, batches)
		}
		t.Logf("%d messages in %d RecvMany calls", total, batches)
	})
}

// TestRecvManyFairQueues checks that a batch takes from the peers in turn,
// as successive Recv calls would, when all of them have messages queued.
func TestRecvManyFairQueues(t *testing.T) {
	ctx := testContext(t)
	nw := newNetwork(t, "tcp")
	pull := newSocket(t, Pull)
	ep := nw.bind(pull)
	const peers, each = 3, 20
	for p := range peers {
		push := newSocket(t, Push)
		nw.connect(push, ep)
		msgs := make([]Message, each)
		for i := range msgs {
			msgs[i] = Message{[]byte{byte(p)}, []byte(strconv.Itoa(i))}
		}
		if n, err := push.SendMany(ctx, msgs); err != nil || n != each {
			t.Fatalf("SendMany of peer %d: got %d, %v, want %d, nil", p, n, err, each)
		}
	}
	waitFor(t, ctx, "every message queued", func() bool { return pull.Stats().RecvQueue == peers*each })
	dst := make([]Message, peers*each)
	got := 0
	for got < len(dst) {
		n, err := pull.RecvMany(ctx, dst[got:])
		if err != nil {
			t.Fatalf("RecvMany: got error %v, want nil", err)
		}
		got += n
	}
	// Each round of peers messages has one from every peer, and each
	// peer's messages come in the order it sent them.
	next := make([]int, peers)
	for i := 0; i < len(dst); i += peers {
		seen := map[byte]bool{}
		for _, m := range dst[i : i+peers] {
			p := m[0][0]
			if seen[p] {
				t.Fatalf("round %d: got peer %d twice in %q, want one message from each peer", i/peers, p, dst[i:i+peers])
			}
			seen[p] = true
			if string(m[1]) != strconv.Itoa(next[p]) {
				t.Fatalf("peer %d: got message %q, want %d", p, m[1], next[p])
			}
			next[p]++
		}
	}
}

// TestRecvManyRouter checks that a ROUTER's batch carries each sender's
// routing id in front, so that the replies find their way back.
func TestRecvManyRouter(t *testing.T) {
	forEachTransport(t, func(t *testing.T, nw *network) {
		ctx := testContext(t)
		router := newSocket(t, Router)
		ep := nw.bind(router)
		const dealers, each = 3, 50
		ds := make([]*Socket, dealers)
		payload := func(d, i int) string { return fmt.Sprintf("%d-%d", d, i) }
		for d := range ds {
			ds[d] = newSocket(t, Dealer, WithRoutingID([]byte("dealer-"+strconv.Itoa(d))))
			nw.connect(ds[d], ep)
			msgs := make([]Message, each)
			for i := range msgs {
				msgs[i] = Message{[]byte(payload(d, i))}
			}
			if n, err := ds[d].SendMany(ctx, msgs); err != nil || n != each {
				t.Fatalf("dealer %d SendMany: got %d, %v, want %d, nil", d, n, err, each)
			}
		}
		waitFor(t, ctx, "every request queued", func() bool { return router.Stats().RecvQueue == dealers*each })
		dst := make([]Message, 200) // more than a ROUTER's batch
		for got := 0; got < dealers*each; {
			n, err := router.RecvMany(ctx, dst)
			if err != nil {
				t.Fatalf("RecvMany: got error %v, want nil", err)
			}
			if want := min(64, dealers*each-got); n != want {
				t.Fatalf("RecvMany with %d queued: got %d messages, want %d (a ROUTER's batch is at most 64)", dealers*each-got, n, want)
			}
			// Echo each request to its sender, the routing id in front.
			for _, m := range dst[:n] {
				if len(m) != 2 || string(m[0]) != "dealer-"+string(m[1][:bytes.IndexByte(m[1], '-')]) {
					t.Fatalf("got %q, want the routing id of the dealer the request names, then the request", m)
				}
			}
			if k, err := router.SendMany(ctx, dst[:n]); err != nil || k != n {
				t.Fatalf("ROUTER SendMany: got %d, %v, want %d, nil", k, err, n)
			}
			got += n
		}
		for d, s := range ds {
			for i, m := range recvN(t, ctx, s, each) {
				if len(m) != 1 || string(m[0]) != payload(d, i) {
					t.Fatalf("dealer %d reply %d: got %q, want %q", d, i, m, payload(d, i))
				}
			}
		}
	})
}

// TestRecvManySubFilters checks that a SUB's batch, and what Recv
// returns, hold only what it still subscribes to: messages queued before an
// Unsubscribe are dropped.
func TestRecvManySubFilters(t *testing.T) {
	t.Run("RecvMany", func(t *testing.T) {
		testSubFiltersQueued(t, func(ctx context.Context, sub *Socket, dst []Message) (int, error) {
			return sub.RecvMany(ctx, dst)
		})
	})
	t.Run("Recv", func(t *testing.T) {
		testSubFiltersQueued(t, func(ctx context.Context, sub *Socket, dst []Message) (int, error) {
			m, err := sub.Recv(ctx)
			if err != nil {
				return 0, err
			}
			dst[0] = m
			return 1, nil
		})
	})
}

func testSubFiltersQueued(t *testing.T, recv func(context.Context, *Socket, []Message) (int, error)) {
	ctx := testContext(t)
	nw := newNetwork(t, "tcp")
	pub := newSocket(t, Pub, WithNoDrop(true))
	sub := newSocket(t, Sub)
	ep := nw.bind(pub)
	if err := sub.Subscribe([]byte("a")); err != nil {
		t.Fatal(err)
	}
	if err := sub.Subscribe([]byte("b")); err != nil {
		t.Fatal(err)
	}
	nw.connect(sub, ep)
	waitFor(t, ctx, "both subscriptions at the publisher", func() bool {
		ps := pub.Stats().Peers
		return len(ps) == 1 && ps[0].Subscriptions == 2
	})
	const each = 30
	msgs := make([]Message, 0, 2*each+11)
	for i := range each {
		msgs = append(msgs, Message{[]byte("a"), []byte(strconv.Itoa(i))}, Message{[]byte("b"), []byte(strconv.Itoa(i))})
	}
	// Then batches of nothing but b, which RecvMany must look past.
	for range 10 {
		msgs = append(msgs, Message{[]byte("b"), []byte("late")})
	}
	msgs = append(msgs, Message{[]byte("a"), []byte(strconv.Itoa(each))})
	if n, err := pub.SendMany(ctx, msgs); err != nil || n != len(msgs) {
		t.Fatalf("PUB SendMany: got %d, %v, want %d, nil", n, err, len(msgs))
	}
	waitFor(t, ctx, "every message queued at the SUB", func() bool { return sub.Stats().RecvQueue == len(msgs) })
	if err := sub.Unsubscribe([]byte("b")); err != nil {
		t.Fatal(err)
	}
	if n, err := sub.RecvMany(ctx, nil); n != 0 || err != nil {
		t.Fatalf("SUB RecvMany(nil): got %d, %v, want 0, nil at once", n, err)
	}
	dst := make([]Message, 7)
	for next := 0; next <= each; {
		n, err := recv(ctx, sub, dst)
		if err != nil {
			t.Fatalf("receiving: got error %v, want nil", err)
		}
		for _, m := range dst[:n] {
			if string(m[0]) != "a" || string(m[1]) != strconv.Itoa(next) {
				t.Fatalf("got %q, want [a %d]", m, next)
			}
			next++
		}
	}
	if q := sub.Stats().RecvQueue; q != 0 {
		t.Fatalf("after the last a: got %d messages queued, want 0 (the b messages dropped)", q)
	}
}

// TestSendManyStops checks where a batch stops: at an invalid message, and
// when ctx ends while no peer has room. What came before was sent.
func TestSendManyStops(t *testing.T) {
	t.Run("invalid message", func(t *testing.T) {
		ctx := testContext(t)
		push, pull := newPair(t, newNetwork(t, "tcp"))
		msgs := append(numbered(0, 2), Message{}, Message{[]byte("never")})
		n, err := push.SendMany(ctx, msgs)
		if n != 2 || !errors.Is(err, ErrInvalidMessage) {
			t.Fatalf("SendMany with an empty third message: got %d, %v, want 2 and ErrInvalidMessage", n, err)
		}
		for i, m := range recvN(t, ctx, pull, 2) {
			checkNumbered(t, m, i)
		}
		if err := push.Flush(ctx); err != nil {
			t.Fatal(err)
		}
		if out := push.Stats().MsgsOut; out != 2 {
			t.Fatalf("messages sent: got %d, want 2 (none after the invalid one)", out)
		}
	})
	t.Run("no room", func(t *testing.T) {
		// A peer that never connects holds up to the high-water mark.
		push := newSocket(t, Push, WithSendHWM(4))
		if err := push.Connect(newNetwork(t, "tcp").reserve()); err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(testContext(t), 50*time.Millisecond)
		defer cancel()
		n, err := push.SendMany(ctx, numbered(0, 10))
		if n != 4 || !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("SendMany of 10 with room for 4: got %d, %v, want 4 and context.DeadlineExceeded", n, err)
		}
	})
	t.Run("closed while waiting", func(t *testing.T) {
		ctx := testContext(t)
		push := newSocket(t, Push, WithSendHWM(4), WithLinger(0))
		if err := push.Connect(newNetwork(t, "tcp").reserve()); err != nil {
			t.Fatal(err)
		}
		type result struct {
			n   int
			err error
		}
		done := make(chan result, 1)
		go func() {
			n, err := push.SendMany(ctx, numbered(0, 10))
			done <- result{n, err}
		}()
		waitFor(t, ctx, "four messages queued", func() bool { return push.Stats().SendQueue == 4 })
		push.Close()
		if r := <-done; r.n != 4 || !isClosed(r.err) {
			t.Fatalf("SendMany of 10 with room for 4, then Close: got %d, %v, want 4 and ErrClosed", r.n, r.err)
		}
	})
}

// TestRecvManyDeferredAck checks that under WithDeferredAck a batch leaves
// only its last message unacknowledged until the next call.
func TestRecvManyDeferredAck(t *testing.T) {
	ctx := testContext(t)
	push, pull := newPairOpts(t, newNetwork(t, "tcp"), nil, []Option{WithDeferredAck(true)})
	if n, err := push.SendMany(ctx, numbered(0, 5)); err != nil || n != 5 {
		t.Fatalf("SendMany: got %d, %v, want 5, nil", n, err)
	}
	waitFor(t, ctx, "every message queued", func() bool { return pull.Stats().RecvQueue == 5 })
	dst := make([]Message, 10)
	if n, err := pull.RecvMany(ctx, dst); err != nil || n != 5 {
		t.Fatalf("RecvMany: got %d, %v, want 5, nil", n, err)
	}
	waitFor(t, ctx, "the first four acknowledged", func() bool { return push.Stats().Unacked == 1 })
	if err := pull.Ack(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, ctx, "the last acknowledged", func() bool { return push.Stats().Unacked == 0 })
}

// TestManyEdges covers what a batch call does without a batch: an empty
// one, a type that cannot, a type that takes one at a time, a closed
// socket.
func TestManyEdges(t *testing.T) {
	ctx := testContext(t)
	push, pull := newPair(t, newNetwork(t, "inproc"))
	if n, err := pull.RecvMany(ctx, nil); n != 0 || err != nil {
		t.Fatalf("RecvMany(nil): got %d, %v, want 0, nil", n, err)
	}
	if n, err := push.SendMany(ctx, nil); n != 0 || err != nil {
		t.Fatalf("SendMany(nil): got %d, %v, want 0, nil", n, err)
	}
	if _, err := push.RecvMany(ctx, make([]Message, 1)); !errors.Is(err, ErrNotSupported) {
		t.Fatalf("PUSH RecvMany: got %v, want ErrNotSupported", err)
	}
	if _, err := pull.SendMany(ctx, numbered(0, 1)); !errors.Is(err, ErrNotSupported) {
		t.Fatalf("PULL SendMany: got %v, want ErrNotSupported", err)
	}
	if _, err := newSocket(t, Pub).RecvMany(ctx, nil); !errors.Is(err, ErrNotSupported) {
		t.Fatalf("PUB RecvMany(nil): got %v, want ErrNotSupported", err)
	}
	for _, typ := range []Type{Sub, XSub, Router, Dealer, Rep} {
		if n, err := newSocket(t, typ).RecvMany(ctx, []Message{}); n != 0 || err != nil {
			t.Fatalf("%v RecvMany of an empty slice: got %d, %v, want 0, nil at once", typ, n, err)
		}
	}

	// REQ: one request per call; a second in a batch breaks the
	// alternation exactly as a second Send would.
	nw := newNetwork(t, "inproc")
	rep := newSocket(t, Rep)
	req := newSocket(t, Req)
	nw.connect(req, nw.bind(rep))
	if n, err := req.SendMany(ctx, []Message{{[]byte("q1")}, {[]byte("q2")}}); n != 1 || !errors.Is(err, ErrState) {
		t.Fatalf("REQ SendMany of two requests: got %d, %v, want 1 and ErrState", n, err)
	}
	dst := make([]Message, 4)
	if n, err := rep.RecvMany(ctx, dst); n != 1 || err != nil || string(dst[0][0]) != "q1" {
		t.Fatalf("REP RecvMany: got %d, %q, %v, want 1, [q1], nil", n, dst[:n], err)
	}
	if n, err := rep.SendMany(ctx, []Message{{[]byte("r1")}}); n != 1 || err != nil {
		t.Fatalf("REP SendMany: got %d, %v, want 1, nil", n, err)
	}
	if n, err := req.RecvMany(ctx, dst); n != 1 || err != nil || string(dst[0][0]) != "r1" {
		t.Fatalf("REQ RecvMany: got %d, %q, %v, want 1, [r1], nil", n, dst[:n], err)
	}

	pull.Close()
	if _, err := pull.RecvMany(ctx, dst); !isClosed(err) {
		t.Fatalf("RecvMany on a closed socket: got %v, want ErrClosed", err)
	}
	push.Close()
	if _, err := push.SendMany(ctx, numbered(0, 1)); !isClosed(err) {
		t.Fatalf("SendMany on a closed socket: got %v, want ErrClosed", err)
	}
}

// TestSendManySpool checks that a spooling PUSH spools a batch like single
// sends, and that it arrives.
func TestSendManySpool(t *testing.T) {
	ctx := testContext(t)
	nw := newNetwork(t, "tcp")
	pull := newSocket(t, Pull)
	push := newSocket(t, Push, WithSpool(t.TempDir()))
	nw.connect(push, nw.bind(pull))
	if n, err := push.SendMany(ctx, numbered(0, 100)); err != nil || n != 100 {
		t.Fatalf("SendMany: got %d, %v, want 100, nil", n, err)
	}
	dst := make([]Message, 16)
	for next := 0; next < 100; {
		n, err := pull.RecvMany(ctx, dst)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range dst[:n] {
			checkNumbered(t, m, next)
			next++
		}
	}
}
