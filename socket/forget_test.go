package socket

import (
	"bytes"
	"context"
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

// TestBusForget: a BUS member that gives up a member which left for good
// (it holds copies the departed member never acknowledged) stops waiting
// for it: Send goes on with the others, and Close reports nothing
// undelivered. The member's events carry the routing id Forget takes.
func TestBusForget(t *testing.T) {
	ctx := testContext(t)
	a := newSocket(t, Bus, WithLinger(5*time.Second), WithSendHWM(20))
	ep, err := a.Bind("tcp://127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	stuck := newSocket(t, Bus, WithRecvHWM(10))
	live := newSocket(t, Bus)
	var stuckID []byte
	for _, m := range []*Socket{stuck, live} {
		if err := m.Connect(ep); err != nil {
			t.Fatal(err)
		}
		ev, _ := waitEvent(t, ctx, a, "a member connected", func(e Event) bool { return e.Kind == EventConnected })
		if len(ev.RoutingID) != 16 {
			t.Fatalf("BUS connected event: got routing id %x, want the member's 16-byte session id", ev.RoutingID)
		}
		if m == stuck {
			stuckID = ev.RoutingID
		}
	}
	// The stuck member never calls Recv: once its window and the send
	// mark are full, Send would wait for it forever.
	sent := 0
	for ; sent < 100; sent++ {
		sctx, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
		err := a.Send(sctx, []byte{byte(sent)})
		cancel()
		if err != nil {
			break
		}
		if _, err := live.Recv(ctx); err != nil {
			t.Fatal(err)
		}
	}
	if sent == 100 {
		t.Fatal("Send to a mesh with a member that takes nothing: never blocked, want it to wait for that member")
	}
	if err := stuck.Close(); err != nil && !errors.Is(err, ErrUndelivered) {
		t.Fatal(err)
	}
	n, err := a.Forget(stuckID)
	if err != nil || n == 0 {
		t.Fatalf("Forget: got %d, %v; want the stuck member's copies dropped", n, err)
	}
	waitEvent(t, ctx, a, "the stuck member gone", func(e Event) bool {
		return e.Kind == EventPeerGone && bytes.Equal(e.RoutingID, stuckID)
	})
	if err := a.Send(ctx, []byte("after")); err != nil {
		t.Fatalf("Send after Forget: got %v, want nil", err)
	}
	if m, err := live.Recv(ctx); err != nil || string(m.Bytes()) != "after" {
		t.Fatalf("live member after Forget: %q, %v", m, err)
	}
	if _, err := a.Forget(stuckID); !errors.Is(err, ErrUnroutable) {
		t.Fatalf("Forget of a forgotten member: got %v, want ErrUnroutable", err)
	}
	if err := a.Close(); err != nil {
		t.Fatalf("Close after Forget: got %v, want nil: nothing is left undelivered", err)
	}
}

// TestBusForgetUnknown: Forget on a BUS refuses ids that are no member.
func TestBusForgetUnknown(t *testing.T) {
	b := newSocket(t, Bus)
	for _, id := range [][]byte{nil, []byte("short"), make([]byte, 16)} {
		if _, err := b.Forget(id); !errors.Is(err, ErrUnroutable) {
			t.Fatalf("Forget(%x) on a BUS with no member: got %v, want ErrUnroutable", id, err)
		}
	}
}
