package socket

import (
	"context"
	"errors"
	"testing"
	"time"
)

// TestDeferredAck checks WithDeferredAck: a message a receiver took but
// did not finish (no next Recv, no Ack) before it closed goes to another
// receiver; one it acknowledged with Ack does not.
func TestDeferredAck(t *testing.T) {
	forEachTransport(t, func(t *testing.T, nw *network) {
		if nw.name == "conn" {
			t.Skip("needs a second receiver on the same endpoint")
		}
		ctx := testContext(t)
		push := newSocket(t, Push, WithResumeTimeout(50*time.Millisecond))
		ep := nw.bind(push)
		first := newSocket(t, Pull, WithDeferredAck(true))
		nw.connect(first, ep)
		waitConnected(t, ctx, push, 1)
		for _, body := range []string{"one", "two"} {
			if err := push.Send(ctx, []byte(body)); err != nil {
				t.Fatal(err)
			}
		}
		if m := recvN(t, ctx, first, 1)[0]; string(m.Bytes()) != "one" {
			t.Fatalf("first Recv: got %q, want one", m.Bytes())
		}
		// "one" is acknowledged by the next Recv; "two" stays pending.
		if m := recvN(t, ctx, first, 1)[0]; string(m.Bytes()) != "two" {
			t.Fatalf("second Recv: got %q, want two", m.Bytes())
		}
		waitFor(t, ctx, "the PUSH to release the acknowledged message", func() bool { return push.Stats().Unacked == 1 })
		if err := first.Close(); err != nil {
			t.Fatal(err)
		}
		second := newSocket(t, Pull, WithDeferredAck(true))
		nw.connect(second, ep)
		if m := recvN(t, ctx, second, 1)[0]; string(m.Bytes()) != "two" {
			t.Fatalf("the second receiver: got %q, want two, which the first never finished", m.Bytes())
		}
		if err := second.Ack(); err != nil {
			t.Fatal(err)
		}
		if err := push.Flush(ctx); err != nil {
			t.Fatalf("Flush after Ack: got %v, want nil", err)
		}
	})
}

// TestWaitPeers checks that WaitPeers returns once n peers are connected,
// on a sending and on a receiving socket.
func TestWaitPeers(t *testing.T) {
	forEachTransport(t, func(t *testing.T, nw *network) {
		if nw.name == "conn" {
			t.Skip("needs several peers on one endpoint")
		}
		ctx := testContext(t)
		push := newSocket(t, Push)
		ep := nw.bind(push)
		pulls := make([]*Socket, 3)
		for i := range pulls {
			pulls[i] = newSocket(t, Pull)
			nw.connect(pulls[i], ep)
		}
		if err := push.WaitPeers(ctx, 3); err != nil {
			t.Fatal(err)
		}
		if n := len(push.Stats().Peers); n < 3 {
			t.Fatalf("peers after WaitPeers(3): got %d, want at least 3", n)
		}
		for _, p := range pulls {
			if err := p.WaitPeers(ctx, 1); err != nil {
				t.Fatal(err)
			}
		}
		push.Close()
		if err := push.WaitPeers(ctx, 1); err != ErrClosed {
			t.Fatalf("WaitPeers after Close: got %v, want ErrClosed", err)
		}
	})
}

// TestPeerStatsOncePerPeer checks that a socket that sends and receives
// lists each peer once, with both directions' counters, and that a
// ROUTER's entry carries the routing id Send takes.
func TestPeerStatsOncePerPeer(t *testing.T) {
	ctx := testContext(t)
	router := newSocket(t, Router)
	ep, err := router.Bind("tcp://127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dealer := newSocket(t, Dealer, WithRoutingID([]byte("d1")))
	if err := dealer.Connect(ep); err != nil {
		t.Fatal(err)
	}
	if err := dealer.Send(ctx, []byte("ping")); err != nil {
		t.Fatal(err)
	}
	m := recvN(t, ctx, router, 1)[0]
	if err := router.Send(ctx, m[0], []byte("pong")); err != nil {
		t.Fatal(err)
	}
	recvN(t, ctx, dealer, 1)
	waitFor(t, ctx, "the ROUTER to count its write", func() bool { return router.Stats().MsgsOut == 1 })
	peers := router.Stats().Peers
	if len(peers) != 1 {
		t.Fatalf("ROUTER peers: got %d entries %+v, want 1", len(peers), peers)
	}
	if p := peers[0]; p.MsgsIn != 1 || p.MsgsOut != 1 || string(p.RoutingID) != "d1" || p.Session != dealer.Session() {
		t.Fatalf("ROUTER peer: got %+v, want MsgsIn 1, MsgsOut 1, RoutingID d1, the DEALER's session", p)
	}
}

// TestRouterEventsNamePeers checks that a ROUTER's connection events carry
// the routing id Send takes, and that a peer that does not come back
// within the resume timeout is reported gone.
func TestRouterEventsNamePeers(t *testing.T) {
	forEachTransport(t, func(t *testing.T, nw *network) {
		ctx := testContext(t)
		router := newSocket(t, Router, WithResumeTimeout(20*time.Millisecond))
		ep := nw.bind(router)
		dealer := newSocket(t, Dealer, WithRoutingID([]byte("w1")))
		nw.connect(dealer, ep)
		if e := waitKind(t, ctx, router, EventConnected); string(e.RoutingID) != "w1" {
			t.Fatalf("EventConnected: got routing id %q, want w1", e.RoutingID)
		}
		dealer.Close()
		if e := waitKind(t, ctx, router, EventDisconnected); string(e.RoutingID) != "w1" {
			t.Fatalf("EventDisconnected: got routing id %q, want w1", e.RoutingID)
		}
		if e := waitKind(t, ctx, router, EventPeerGone); string(e.RoutingID) != "w1" || e.Session != dealer.Session() {
			t.Fatalf("EventPeerGone: got %+v, want routing id w1 and the DEALER's session", e)
		}
	})
}

// TestDeferredAckOnWaitingRecv checks that a Recv that has to wait still
// acknowledges the message returned before it.
func TestDeferredAckOnWaitingRecv(t *testing.T) {
	ctx := testContext(t)
	push := newSocket(t, Push)
	ep, err := push.Bind("tcp://127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	pull := newSocket(t, Pull, WithDeferredAck(true))
	if err := pull.Connect(ep); err != nil {
		t.Fatal(err)
	}
	if err := push.Send(ctx, []byte("only")); err != nil {
		t.Fatal(err)
	}
	recvN(t, ctx, pull, 1)
	wctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() {
		_, err := pull.Recv(wctx)
		done <- err
	}()
	if err := push.Flush(ctx); err != nil {
		t.Fatalf("Flush while the receiver waits for its next message: got %v, want nil", err)
	}
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("the waiting Recv: got %v, want context.Canceled", err)
	}
}
