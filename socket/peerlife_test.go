package socket

import (
	"context"
	"testing"
	"time"
)

// TestRouterEndpointAnswersAnew: a ROUTER connects to an endpoint whose
// peer stays away past the resume timeout, and another peer answers there
// next. What the ROUTER knew of the first (its routing id, its counters)
// must not pass to the second.
func TestRouterEndpointAnswersAnew(t *testing.T) {
	forEachTransport(t, func(t *testing.T, nw *network) {
		if nw.name == "conn" {
			t.Skip("needs a second peer bound at the same endpoint")
		}
		ctx := testContext(t)
		router := newSocket(t, Router, WithResumeTimeout(50*time.Millisecond), WithReconnectInterval(5*time.Millisecond, 20*time.Millisecond))
		ep := nw.reserve()
		one := newSocket(t, Dealer, WithRoutingID([]byte("one")))
		ep = nw.bindAt(one, ep)
		nw.connect(router, ep)
		rfSend(t, ctx, one, "hi")
		if m, err := router.Recv(ctx); err != nil || len(m) != 2 || string(m[0]) != "one" {
			t.Fatalf("ROUTER Recv from one: got %q, %v, want [one hi]", m, err)
		}
		oneSession := one.Session()
		if err := one.Close(); err != nil {
			t.Fatal(err)
		}
		waitEvent(t, ctx, router, "the ROUTER to forget one", func(e Event) bool {
			return e.Kind == EventPeerGone && e.Session == oneSession
		})
		two := newSocket(t, Dealer, WithRoutingID([]byte("two")))
		nw.bindAt(two, ep)
		rfSend(t, ctx, two, "hello")
		m, err := router.Recv(ctx)
		if err != nil || len(m) != 2 || string(m[0]) != "two" || string(m[1]) != "hello" {
			t.Fatalf("ROUTER Recv from two: got %q, %v, want [two hello]", m, err)
		}
		if err := router.Send(ctx, m[0], []byte("back")); err != nil {
			t.Fatalf("ROUTER Send to two: got %v, want nil", err)
		}
		rfRecvBody(t, ctx, two, "back")
		// The counters are added just after a message is queued, so they
		// may lag a Recv that took it; one's would show 2 and 7 at once.
		twoIn := func() (msgs, bytes uint64) {
			for _, p := range router.Stats().Peers {
				if p.Session == two.Session() {
					return p.MsgsIn, p.BytesIn
				}
			}
			return 0, 0
		}
		if msgs, bytes := twoIn(); msgs > 1 || bytes > 5 {
			t.Fatalf("two's PeerStats: got %d messages, %d bytes in, want at most 1 and 5 (none of one's)", msgs, bytes)
		}
		waitFor(t, ctx, "two's PeerStats to count its one message", func() bool {
			msgs, bytes := twoIn()
			return msgs == 1 && bytes == 5
		})
	})
}

// TestOversizeOrphanHoldsNothingUp: a message only a departed receiver
// could take (every connected one states a smaller maximum) waits for a
// receiver that can, without blocking the messages sent after it.
func TestOversizeOrphanHoldsNothingUp(t *testing.T) {
	forEachTransport(t, func(t *testing.T, nw *network) {
		if nw.name == "conn" {
			t.Skip("needs two receivers on one endpoint")
		}
		ctx := testContext(t)
		push := newSocket(t, Push, WithResumeTimeout(50*time.Millisecond), WithLinger(0))
		ep := nw.bind(push)
		big := newSocket(t, Pull)
		nw.connect(big, ep)
		waitConnected(t, ctx, push, 1)
		large := make([]byte, 64<<10)
		if err := push.Send(ctx, large); err != nil {
			t.Fatal(err)
		}
		waitFor(t, ctx, "the large message to reach the big PULL", func() bool { return big.Stats().RecvQueue == 1 })
		small := newSocket(t, Pull, WithMaxMessageSize(1<<10))
		nw.connect(small, ep)
		waitConnected(t, ctx, push, 2)
		if err := big.Close(); err != nil {
			t.Fatal(err)
		}
		waitFor(t, ctx, "the large message to become an orphan", func() bool { return push.Stats().Orphans == 1 })
		sctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		if err := push.Send(sctx, []byte("small")); err != nil {
			t.Fatalf("Send behind an orphan no connected receiver accepts: got %v, want nil", err)
		}
		if m := recvN(t, ctx, small, 1)[0]; string(m.Bytes()) != "small" {
			t.Fatalf("small PULL: got %q, want small", m.Bytes())
		}
		if st := push.Stats(); st.Orphans != 1 {
			t.Fatalf("orphans: got %d, want the large message still waiting", st.Orphans)
		}
	})
}

// TestPausedReceiverAcknowledges: an application that takes part of what
// arrived and then pauses has what it took acknowledged anyway (by the
// delayed ACK), not only once it asks for more.
func TestPausedReceiverAcknowledges(t *testing.T) {
	forEachTransport(t, func(t *testing.T, nw *network) {
		ctx := testContext(t)
		push, pull := newPairOpts(t, nw, []Option{WithLinger(0)}, nil)
		wait(t, sendAll(ctx, push, 0, 20))
		waitFor(t, ctx, "all 20 to arrive", func() bool { return pull.Stats().RecvQueue == 20 })
		recvN(t, ctx, pull, 5)
		waitFor(t, ctx, "the 5 taken to be acknowledged while the application pauses", func() bool {
			return push.Stats().Unacked == 15
		})
	})
}

// TestPausedReceiverForgetsGoneSender: a sender goes away while the
// application, having taken its messages, pauses: the socket still forgets
// the sender after the resume timeout, without waiting for another Recv.
func TestPausedReceiverForgetsGoneSender(t *testing.T) {
	forEachTransport(t, func(t *testing.T, nw *network) {
		ctx := testContext(t)
		push, pull := newPairOpts(t, nw, []Option{WithLinger(0)}, []Option{WithResumeTimeout(50 * time.Millisecond)})
		wait(t, sendAll(ctx, push, 0, 3))
		recvN(t, ctx, pull, 3)
		session := push.Session()
		push.Close() // its ACKs may still be on their way: linger 0 does not wait
		waitEvent(t, ctx, pull, "the PULL to forget the PUSH", func(e Event) bool {
			return e.Kind == EventPeerGone && e.Session == session
		})
		waitPeerLeft(t, ctx, pull, session)
	})
}
