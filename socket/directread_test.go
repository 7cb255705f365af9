package socket

import (
	"context"
	"errors"
	"testing"
)

// noHeartbeatTimeouts fails the test if s reported a connection that ended
// with a heartbeat timeout: an interrupt between readers mistaken for one.
func noHeartbeatTimeouts(t *testing.T, s *Socket) {
	t.Helper()
	for {
		select {
		case e := <-s.Events():
			if e.Kind == EventDisconnected && errors.Is(e.Err, ErrHeartbeatTimeout) {
				t.Fatalf("got %v, want no heartbeat timeout on a healthy connection", e)
			}
		default:
			return
		}
	}
}

// TestDirectReadTwoRecvs: a second goroutine calls Recv on a REP with one
// tcp peer while the first reads the connection directly. It must wait,
// not take the read side away in a way that ends the connection (a
// regression: the interrupt was taken for a heartbeat timeout).
func TestDirectReadTwoRecvs(t *testing.T) {
	ctx := testContext(t)
	rep := newSocket(t, Rep)
	ep, err := rep.Bind("tcp://127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	req := newSocket(t, Req)
	if err := req.Connect(ep); err != nil {
		t.Fatal(err)
	}
	if err := rep.WaitPeers(ctx, 1); err != nil {
		t.Fatal(err)
	}
	rctx, stop := context.WithCancel(ctx)
	got := make(chan Message, 2)
	recv := func() {
		if m, err := rep.Recv(rctx); err == nil {
			got <- m
		}
	}
	go recv()
	waitFor(t, ctx, "the first Recv to read directly", rep.e.ReadingDirectly)
	go recv()
	waitFor(t, ctx, "the second Recv to wait", rep.e.RecvWaiting)
	if err := req.Send(ctx, []byte("one")); err != nil {
		t.Fatal(err)
	}
	if m := <-got; string(m.Bytes()) != "one" {
		t.Fatalf("Recv: got %q, want one", m.Bytes())
	}
	stop()
	noHeartbeatTimeouts(t, rep)
	if st := rep.Stats(); len(st.Peers) != 1 || !st.Peers[0].Connected {
		t.Fatalf("REP peers after the exchange: got %+v, want the one REQ, still connected", st.Peers)
	}
}

// TestDirectReadDuringLargeFrame: a Recv that asks for the read side while
// the serving goroutine reads a large frame's payload must wait for the
// frame, not end the connection (a regression).
func TestDirectReadDuringLargeFrame(t *testing.T) {
	ctx := testContext(t)
	rep := newSocket(t, Rep)
	ep, err := rep.Bind("tcp://127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	req := newSocket(t, Req)
	if err := req.Connect(ep); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() {
		for {
			m, err := rep.Recv(ctx)
			if err != nil {
				done <- err
				return
			}
			if err := rep.Send(ctx, []byte{byte(len(m[0]) >> 20)}); err != nil {
				done <- err
				return
			}
		}
	}()
	big := make([]byte, 4<<20)
	for i := range 20 {
		if err := req.Send(ctx, big); err != nil {
			t.Fatal(err)
		}
		if m, err := req.Recv(ctx); err != nil || len(m.Bytes()) != 1 || m.Bytes()[0] != 4 {
			t.Fatalf("round trip %d: got %v, %v, want [4]", i, m, err)
		}
	}
	noHeartbeatTimeouts(t, rep)
	req.Close()
	rep.Close()
	if err := <-done; !errors.Is(err, ErrClosed) {
		t.Fatalf("REP Recv after Close: got %v, want ErrClosed", err)
	}
}

// TestDirectReadNotWithoutAcks pipelines requests to a REP from a DEALER
// that does not ask for acknowledgements, so the REP's reader waits at its
// receive mark. A regression: a Recv that wanted to read directly waited
// for the read side while the reader, holding it, waited for Recv to drain
// the queue.
func TestDirectReadNotWithoutAcks(t *testing.T) {
	ctx := testContext(t)
	// Neither side asks for acknowledgements: with them on at the REP only,
	// its blocked Send would wait for ACKs its full reader does not read
	// (the limit noted in the WithAcks docs).
	rep := newSocket(t, Rep, WithRecvHWM(100), WithAcks(false))
	ep, err := rep.Bind("tcp://127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dealer := newSocket(t, Dealer, WithAcks(false))
	if err := dealer.Connect(ep); err != nil {
		t.Fatal(err)
	}
	go func() {
		for {
			m, err := rep.Recv(ctx)
			if err != nil {
				return
			}
			if rep.Send(ctx, m...) != nil {
				return
			}
		}
	}()
	const n = 20000
	go func() {
		for range n {
			if dealer.Send(ctx, nil, []byte("x")) != nil {
				return
			}
		}
	}()
	for i := range n {
		if _, err := dealer.Recv(ctx); err != nil {
			t.Fatalf("reply %d of %d: %v", i, n, err)
		}
	}
}
