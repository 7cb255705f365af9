package socket

import (
	"context"
	"errors"
	"net"
	"strconv"
	"sync"
	"testing"
	"time"
)

// TestReusePortTwoBindersOnePort binds two PULL sockets to one TCP port and
// checks that everything a PUSH sends arrives at one of them.
func TestReusePortTwoBindersOnePort(t *testing.T) {
	ctx := testContext(t)
	a := newSocket(t, Pull, WithReusePort(true))
	b := newSocket(t, Pull, WithReusePort(true))
	ep, err := a.Bind("tcp://127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.Bind(ep); err != nil {
		t.Fatalf("second Bind(%s) with WithReusePort: got %v, want nil", ep, err)
	}
	push := newSocket(t, Push)
	if err := push.Connect(ep); err != nil {
		t.Fatal(err)
	}
	const n = 200
	sent := sendAll(ctx, push, 0, n)
	got := make(chan int, n)
	rctx, stop := context.WithCancel(ctx)
	var wg sync.WaitGroup
	for _, s := range []*Socket{a, b} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				m, err := s.Recv(rctx)
				if err != nil {
					return
				}
				v, _ := strconv.Atoi(string(m.Bytes()))
				got <- v
			}
		}()
	}
	seen := make([]bool, n)
	for range n {
		select {
		case v := <-got:
			if v < 0 || v >= n || seen[v] {
				t.Fatalf("got message %d twice or out of range", v)
			}
			seen[v] = true
		case <-ctx.Done():
			t.Fatalf("received fewer than %d messages over both binders", n)
		}
	}
	stop()
	wg.Wait()
	wait(t, sent)
	if err := push.Flush(ctx); err != nil {
		t.Fatalf("Flush: got %v, want nil", err)
	}
}

// TestReusePortDialFromBoundPort has a PUSH bind a port and dial from that
// same port, as peer-to-peer meshes do, and checks the peer sees that port.
func TestReusePortDialFromBoundPort(t *testing.T) {
	ctx := testContext(t)
	pull := newSocket(t, Pull)
	ep, err := pull.Bind("tcp://127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0") // only to find a free port
	if err != nil {
		t.Fatal(err)
	}
	own := l.Addr().String()
	l.Close()
	push := newSocket(t, Push, WithReusePort(true), WithLocalAddr(own))
	if _, err := push.Bind("tcp://" + own); err != nil {
		t.Fatalf("Bind(%s): got %v, want nil", own, err)
	}
	if err := push.Connect(ep); err != nil {
		t.Fatal(err)
	}
	e := waitKind(t, ctx, pull, EventConnected)
	if e.Peer != own {
		t.Fatalf("peer address: got %s, want the PUSH's bound %s", e.Peer, own)
	}
	wait(t, sendAll(ctx, push, 0, 10))
	for i, m := range recvN(t, ctx, pull, 10) {
		if got := number(t, m); got != i {
			t.Fatalf("got %d, want %d", got, i)
		}
	}
}

// TestMaxConnections serves one connection at a time: a second PUSH is not
// accepted (its handshake times out) until the first one leaves.
func TestMaxConnections(t *testing.T) {
	ctx := testContext(t)
	pull := newSocket(t, Pull, WithMaxConnections(1))
	ep, err := pull.Bind("tcp://127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	first := newSocket(t, Push)
	if err := first.Connect(ep); err != nil {
		t.Fatal(err)
	}
	waitKind(t, ctx, pull, EventConnected)
	second := newSocket(t, Push, WithHandshakeTimeout(time.Second), WithReconnectInterval(10*time.Millisecond, 50*time.Millisecond))
	if err := second.Connect(ep); err != nil {
		t.Fatal(err)
	}
	e, _ := waitEvent(t, ctx, second, "connected or handshake failed", func(e Event) bool {
		return e.Kind == EventConnected || e.Kind == EventHandshakeFailed
	})
	if e.Kind != EventHandshakeFailed || !errors.Is(e.Err, ErrHandshakeTimeout) {
		t.Fatalf("second PUSH while the first is served: got %v, want a handshake timeout", e)
	}
	wait(t, sendAll(ctx, second, 0, 1))
	if err := first.Close(); err != nil {
		t.Fatal(err)
	}
	if got := number(t, recvN(t, ctx, pull, 1)[0]); got != 0 {
		t.Fatalf("got %d, want 0 from the second PUSH", got)
	}
}
