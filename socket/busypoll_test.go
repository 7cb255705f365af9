package socket

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"testing"
	"time"
)

// busyPair returns a REP and a REQ connected over transport, both polling
// for up to poll before they sleep, and both with opts.
func busyPair(t *testing.T, transport string, poll time.Duration, opts ...Option) (rep, req *Socket) {
	t.Helper()
	nw := newNetwork(t, transport)
	rep = newSocket(t, Rep, append([]Option{WithBusyPoll(poll)}, opts...)...)
	ep := nw.bind(rep)
	req = newSocket(t, Req, append([]Option{WithBusyPoll(poll)}, opts...)...)
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
// order, and both sides' reads were found by polling. Once the REP takes
// longer than the heartbeat timeout to answer: the PINGs and PONGs that
// keep the connection alive meanwhile are read by polling Recvs.
func TestBusyPollRoundTrips(t *testing.T) {
	for _, tr := range []string{"tcp", "ipc"} {
		t.Run(tr, func(t *testing.T) {
			ctx := testContext(t)
			// A poll long enough that a reply on loopback comes within it
			// even on a busy machine; a heartbeat whose timeout the slow
			// answer outlasts.
			const slowAnswer = 300 * time.Millisecond
			rep, req := busyPair(t, tr, 50*time.Millisecond, WithHeartbeat(10*time.Millisecond, slowAnswer/2))
			done := make(chan error, 1)
			go func() {
				for i := 0; ; i++ {
					m, err := rep.Recv(ctx)
					if err == nil && i == 150 {
						time.Sleep(slowAnswer)
					}
					if err == nil {
						err = rep.Send(ctx, m...)
					}
					if err != nil {
						done <- err
						return
					}
				}
			}()
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

// pollEndlessly makes s's Recvs poll for a day, past what WithBusyPoll
// allows: only data, the end of the stream or an interrupt ends such a
// poll, so a test whose poll misses one hangs until its context ends
// instead of passing late. Call it before s's first Recv.
func pollEndlessly(s *Socket) { s.e.Options().BusyPoll = 24 * time.Hour }

// TestBusyPollRecvEndsWithContext: a Recv polling for a reply that never
// comes returns its context's error when the context ends, not when the
// polling would have; and the connection lives on.
func TestBusyPollRecvEndsWithContext(t *testing.T) {
	ctx := testContext(t)
	rep, req := busyPair(t, "tcp", time.Second)
	pollEndlessly(req)
	if err := req.Send(ctx, []byte("no answer")); err != nil {
		t.Fatal(err)
	}
	if m, err := rep.Recv(ctx); err != nil || string(m.Bytes()) != "no answer" {
		t.Fatalf("REP Recv: got %q, %v, want the request", m.Bytes(), err)
	}
	rctx, cancel := context.WithCancel(ctx)
	defer cancel()
	recvErr := make(chan error, 1)
	go func() {
		_, err := req.Recv(rctx)
		recvErr <- err
	}()
	waitFor(t, ctx, "the REQ to poll", req.e.ReadingDirectly)
	cancel()
	select {
	case err := <-recvErr:
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("REQ Recv: got %v, want context.Canceled", err)
		}
	case <-ctx.Done():
		t.Fatal("REQ Recv went on polling after its context ended")
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
// No heartbeats: a failed PING would end the connection too, and hide a
// poll that missed the end of the stream.
func TestBusyPollPeerCloses(t *testing.T) {
	ctx := testContext(t)
	rep, req := busyPair(t, "tcp", time.Second, WithHeartbeat(0, 0))
	pollEndlessly(req)
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
			t.Fatal("the REQ never saw its connection end: its poll missed the end of the stream")
		}
	}
}

// TestBusyPollNeedsASpareProcessor: with GOMAXPROCS=1 a polling Recv
// would keep the only processor from the goroutines the network wakes (a
// REP in the same process, here), so nothing polls and round trips go on
// as without the option.
func TestBusyPollNeedsASpareProcessor(t *testing.T) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(1))
	ctx := testContext(t)
	nw := newNetwork(t, "tcp")
	rep := newSocket(t, Rep)
	ep := nw.bind(rep)
	req := newSocket(t, Req, WithBusyPoll(time.Second))
	if err := req.Connect(ep); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go echo(ctx, rep, done)
	for i := range 20 {
		if err := req.Send(ctx, []byte("x")); err != nil {
			t.Fatal(err)
		}
		if _, err := req.Recv(ctx); err != nil {
			t.Fatalf("round trip %d: %v", i, err)
		}
	}
	if n := req.e.PolledReads(); n != 0 {
		t.Errorf("REQ: polling found data for %d reads, want none with one processor", n)
	}
	req.Close()
	rep.Close()
	<-done
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
