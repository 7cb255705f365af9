package socket

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"
)

// busyPair returns a REP and a REQ connected over transport, both polling
// for up to poll before they sleep.
func busyPair(t *testing.T, transport string, poll time.Duration) (rep, req *Socket) {
	t.Helper()
	nw := newNetwork(t, transport)
	rep = newSocket(t, Rep, WithBusyPoll(poll))
	ep := nw.bind(rep)
	req = newSocket(t, Req, WithBusyPoll(poll))
	if err := req.Connect(ep); err != nil {
		t.Fatal(err)
	}
	if err := rep.WaitPeers(testContext(t), 1); err != nil {
		t.Fatal(err)
	}
	return rep, req
}

// echo answers every request on rep with itself until Recv fails, and
// then sends that error on done.
func echo(ctx context.Context, rep *Socket, done chan<- error) {
	for {
		m, err := rep.Recv(ctx)
		if err == nil {
			err = rep.Send(ctx, m...)
		}
		if err != nil {
			done <- err
			return
		}
	}
}

// TestBusyPollRoundTrips: REQ and REP that poll exchange numbered
// requests and replies over tcp and ipc, each reply the one asked for, in
// order, and both sides' reads were found by polling.
func TestBusyPollRoundTrips(t *testing.T) {
	for _, tr := range []string{"tcp", "ipc"} {
		t.Run(tr, func(t *testing.T) {
			ctx := testContext(t)
			// Long enough that a reply on loopback comes within it even
			// on a busy machine.
			rep, req := busyPair(t, tr, 50*time.Millisecond)
			done := make(chan error, 1)
			go echo(ctx, rep, done)
			const rounds = 300
			for i := range rounds {
				want := fmt.Sprintf("request %d", i)
				if err := req.Send(ctx, []byte(want)); err != nil {
					t.Fatal(err)
				}
				m, err := req.Recv(ctx)
				if err != nil {
					t.Fatalf("round trip %d: %v", i, err)
				}
				if got := string(m.Bytes()); got != want {
					t.Fatalf("round trip %d: got reply %q, want %q", i, got, want)
				}
			}
			for name, s := range map[string]*Socket{"REQ": req, "REP": rep} {
				if n := s.e.PolledReads(); n == 0 {
					t.Errorf("%s: polling found data for %d reads, want some of %d round trips", name, n, rounds)
				}
			}
			noHeartbeatTimeouts(t, rep)
			noHeartbeatTimeouts(t, req)
			req.Close()
			rep.Close()
			if err := <-done; !errors.Is(err, ErrClosed) {
				t.Fatalf("REP Recv after Close: got %v, want ErrClosed", err)
			}
		})
	}
}

// TestBusyPollRecvEndsWithContext: a Recv polling for a reply that never
// comes returns its context's error when the context ends, not when the
// polling would have; and the connection lives on.
func TestBusyPollRecvEndsWithContext(t *testing.T) {
	ctx := testContext(t)
	rep, req := busyPair(t, "tcp", time.Second)
	if err := req.Send(ctx, []byte("no answer")); err != nil {
		t.Fatal(err)
	}
	if m, err := rep.Recv(ctx); err != nil || string(m.Bytes()) != "no answer" {
		t.Fatalf("REP Recv: got %q, %v, want the request", m.Bytes(), err)
	}
	start := time.Now()
	rctx, cancel := context.WithTimeout(ctx, 20*time.Millisecond)
	defer cancel()
	_, err := req.Recv(rctx)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("REQ Recv: got %v, want context.DeadlineExceeded", err)
	}
	// The poll lasts a second: a Recv that noticed its context only then
	// took that long.
	if took := time.Since(start); took >= 900*time.Millisecond {
		t.Fatalf("REQ Recv returned after %v, want it to stop polling when its context ended", took)
	}
	if err := rep.Send(ctx, []byte("late")); err != nil {
		t.Fatal(err)
	}
	if m, err := req.Recv(ctx); err != nil || string(m.Bytes()) != "late" {
		t.Fatalf("REQ Recv after the timeout: got %q, %v, want the late reply", m.Bytes(), err)
	}
	noHeartbeatTimeouts(t, req)
}

// TestBusyPollPeerCloses: the REP closes while the REQ polls for its
// reply; the REQ sees the connection end (the end of the stream, not a
// heartbeat timeout) and its Recv goes on waiting until its context ends.
func TestBusyPollPeerCloses(t *testing.T) {
	ctx := testContext(t)
	rep, req := busyPair(t, "tcp", time.Second)
	if err := req.Send(ctx, []byte("ping")); err != nil {
		t.Fatal(err)
	}
	if _, err := rep.Recv(ctx); err != nil {
		t.Fatal(err)
	}
	rctx, cancel := context.WithCancel(ctx)
	recvErr := make(chan error, 1)
	go func() {
		_, err := req.Recv(rctx)
		recvErr <- err
	}()
	waitFor(t, ctx, "the REQ to read directly", req.e.ReadingDirectly)
	rep.Close()
	for {
		select {
		case e := <-req.Events():
			if e.Kind != EventDisconnected {
				continue
			}
			if errors.Is(e.Err, ErrHeartbeatTimeout) {
				t.Fatalf("got %v, want the end of the stream", e)
			}
			cancel()
			if err := <-recvErr; !errors.Is(err, context.Canceled) {
				t.Fatalf("REQ Recv: got %v, want context.Canceled", err)
			}
			return
		case err := <-recvErr:
			t.Fatalf("REQ Recv returned %v before its context ended", err)
		case <-ctx.Done():
			t.Fatal("the REQ never saw its connection end")
		}
	}
}

func TestWithBusyPollRefusesBadDurations(t *testing.T) {
	for _, d := range []time.Duration{-time.Microsecond, time.Second + 1} {
		if _, err := New(Req, WithBusyPoll(d)); !errors.Is(err, ErrInvalidOption) {
			t.Errorf("WithBusyPoll(%v): got %v, want ErrInvalidOption", d, err)
		}
	}
	for _, d := range []time.Duration{0, time.Second} {
		s, err := New(Req, WithBusyPoll(d))
		if err != nil {
			t.Fatalf("WithBusyPoll(%v): got %v, want nil", d, err)
		}
		s.Close()
	}
}
