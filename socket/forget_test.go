package socket

import (
	"errors"
	"testing"
	"time"
)

// TestRouterForget: a ROUTER that gives up a peer which takes nothing
// drops what it queued for it, reports the peer gone at once, and closes
// at once with nothing undelivered; a peer it still serves is untouched.
func TestRouterForget(t *testing.T) {
	ctx := testContext(t)
	router := newSocket(t, Router, WithLinger(5*time.Second))
	ep, err := router.Bind("tcp://127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	stuck := newSocket(t, Dealer, WithRoutingID([]byte("stuck")), WithRecvHWM(10))
	live := newSocket(t, Dealer, WithRoutingID([]byte("live")))
	for _, d := range []*Socket{stuck, live} {
		if err := d.Connect(ep); err != nil {
			t.Fatal(err)
		}
	}
	waitConnected(t, ctx, router, 2)
	// The stuck peer never calls Recv: nothing sent to it is acknowledged.
	for i := range 50 {
		if err := router.Send(ctx, []byte("stuck"), []byte{byte(i)}); err != nil {
			t.Fatal(err)
		}
	}
	if err := router.Send(ctx, []byte("live"), []byte("hello")); err != nil {
		t.Fatal(err)
	}
	if m, err := live.Recv(ctx); err != nil || string(m[0]) != "hello" {
		t.Fatalf("live peer: %q, %v", m, err)
	}
	waitFor(t, ctx, "the stuck peer's messages to go out", func() bool {
		ps, err := router.Peer([]byte("stuck"))
		return err == nil && ps.SendQueue == 50
	})

	n, err := router.Forget([]byte("stuck"))
	if err != nil || n != 50 {
		t.Fatalf("Forget: got %d, %v; want 50 dropped", n, err)
	}
	ev, _ := waitEvent(t, ctx, router, "the stuck peer gone", func(e Event) bool {
		return e.Kind == EventPeerGone && string(e.RoutingID) == "stuck"
	})
	t.Logf("%v", ev)
	if st := router.Stats(); st.Drops != 50 {
		t.Fatalf("after Forget: Drops %d, want 50", st.Drops)
	}
	if _, err := router.Peer([]byte("stuck")); !errors.Is(err, ErrUnroutable) {
		t.Fatalf("Peer of the forgotten id: got %v, want ErrUnroutable", err)
	}
	if _, err := router.Forget([]byte("nobody")); !errors.Is(err, ErrUnroutable) {
		t.Fatalf("Forget of an unknown id: got %v, want ErrUnroutable", err)
	}
	if _, err := live.Forget([]byte("x")); !errors.Is(err, ErrNotSupported) {
		t.Fatalf("Forget on a DEALER: got %v, want ErrNotSupported", err)
	}
	// The live peer is still served.
	if err := router.Send(ctx, []byte("live"), []byte("still")); err != nil {
		t.Fatal(err)
	}
	if m, err := live.Recv(ctx); err != nil || string(m[0]) != "still" {
		t.Fatalf("live peer after Forget: %q, %v", m, err)
	}
	if err := router.Close(); err != nil {
		t.Fatalf("Close after Forget: got %v, want nil: nothing is left undelivered", err)
	}
}
