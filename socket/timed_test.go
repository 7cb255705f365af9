package socket

import (
	"context"
	"errors"
	"net"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/wispmq/wisp/wire"
	"go.uber.org/goleak"
)

// The tests in this file run in a synctest bubble: time is fake and only
// moves when every goroutine of the bubble is blocked, so a test can check
// that something happens exactly at its deadline and not a nanosecond
// before. Connections are net.Pipe or inproc links, whose blocking is
// visible to the bubble; real sockets are not.

// rawEventsNow returns the events a socket has reported and nobody read
// yet, without waiting. Call it after synctest.Wait.
func rawEventsNow(s *Socket) []Event {
	var evs []Event
	for range 1 << 16 {
		select {
		case e, ok := <-s.Events():
			if !ok {
				return evs
			}
			evs = append(evs, e)
		default:
			return evs
		}
	}
	return evs
}

// rawOfKind returns the events of kind k.
func rawOfKind(evs []Event, k EventKind) []Event {
	var out []Event
	for _, e := range evs {
		if e.Kind == k {
			out = append(out, e)
		}
	}
	return out
}

// rawDiscard reads and drops everything from nc until it fails: a peer that
// listens but says nothing. The returned channel is closed at the end.
func rawDiscard(nc net.Conn) <-chan struct{} {
	done := make(chan struct{})
	go func() {
		defer close(done)
		var b [4096]byte
		for range 1 << 30 {
			if _, err := nc.Read(b[:]); err != nil {
				return
			}
		}
	}()
	return done
}

// rawPipeHandshake completes a handshake as a raw peer of type typ over nc,
// with no deadlines (they would be timers in the bubble).
func rawPipeHandshake(t *testing.T, nc net.Conn, typ wire.SocketType) {
	t.Helper()
	g := rawGreeting(typ, false)
	if _, err := nc.Write(g.Append(nil)); err != nil {
		t.Fatalf("writing the raw greeting: %v", err)
	}
	if _, err := wire.ReadGreeting(nc); err != nil {
		t.Fatalf("reading the socket's greeting: %v", err)
	}
}

func rawMustNew(t *testing.T, typ Type, opts ...Option) *Socket {
	t.Helper()
	s, err := New(typ, opts...)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func rawMustClose(t *testing.T, s *Socket) {
	t.Helper()
	if err := s.Close(); err != nil {
		t.Errorf("Close %v: %v", s.Type(), err)
	}
}

// TestTimedHeartbeatTimeout: a peer that completes its handshake and then
// goes silent is dropped exactly when the heartbeat timeout has passed since
// it last sent anything.
func TestTimedHeartbeatTimeout(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const timeout = 3 * time.Second
		start := time.Now()
		pull := rawMustNew(t, Pull, WithHeartbeat(time.Second, timeout))
		a, b := net.Pipe()
		if err := pull.ConnectConn(a); err != nil {
			t.Fatal(err)
		}
		rawPipeHandshake(t, b, wire.Push)
		silent := rawDiscard(b) // reads the socket's PINGs, never answers
		synctest.Wait()
		if got := rawOfKind(rawEventsNow(pull), EventConnected); len(got) != 1 {
			t.Fatalf("got %d connected events, want 1", len(got))
		}

		time.Sleep(timeout - time.Nanosecond)
		synctest.Wait()
		if evs := rawEventsNow(pull); len(evs) != 0 {
			t.Fatalf("at %v: got events %v, want none before the heartbeat timeout", time.Since(start), evs)
		}

		time.Sleep(time.Nanosecond)
		synctest.Wait()
		evs := rawOfKind(rawEventsNow(pull), EventDisconnected)
		if len(evs) != 1 || !errors.Is(evs[0].Err, ErrHeartbeatTimeout) {
			t.Fatalf("at %v: got %v, want one disconnect wrapping ErrHeartbeatTimeout", time.Since(start), evs)
		}
		if st := pull.Stats(); st.ProtocolErrors != 0 || st.HandshakeFailures != 0 {
			t.Errorf("ProtocolErrors, HandshakeFailures: got %d, %d, want 0, 0 (a timeout is neither)", st.ProtocolErrors, st.HandshakeFailures)
		}
		<-silent // the socket closed its end
		b.Close()
		rawMustClose(t, pull)
	})
	goleak.VerifyNone(t)
}

// TestTimedHeartbeatTimeoutAfterBurst: the same, when the peer's last
// bytes came in a burst big enough to make the reader take a larger buffer,
// which the heart takes back by interrupting the idle read. The interrupted
// read must not restart the peer's silence.
func TestTimedHeartbeatTimeoutAfterBurst(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const timeout = 3 * time.Second
		pull := rawMustNew(t, Pull, WithHeartbeat(time.Second, timeout))
		a, b := net.Pipe()
		if err := pull.ConnectConn(a); err != nil {
			t.Fatal(err)
		}
		rawPipeHandshake(t, b, wire.Push)
		silent := rawDiscard(b)
		var burst []byte
		for len(burst) < 1024 {
			burst = wire.Command{ID: wire.CmdPing, Data: []byte("0123456789abcdef")}.Append(burst)
		}
		if _, err := b.Write(burst); err != nil {
			t.Fatal(err)
		}
		last := time.Now()
		synctest.Wait()

		time.Sleep(timeout - time.Nanosecond)
		synctest.Wait()
		if evs := rawOfKind(rawEventsNow(pull), EventDisconnected); len(evs) != 0 {
			t.Fatalf("%v after the burst: got %v, want no disconnect before the heartbeat timeout", time.Since(last), evs)
		}
		time.Sleep(time.Nanosecond)
		synctest.Wait()
		evs := rawOfKind(rawEventsNow(pull), EventDisconnected)
		if len(evs) != 1 || !errors.Is(evs[0].Err, ErrHeartbeatTimeout) {
			t.Fatalf("%v after the burst: got %v, want one disconnect wrapping ErrHeartbeatTimeout", time.Since(last), evs)
		}
		<-silent
		b.Close()
		rawMustClose(t, pull)
	})
	goleak.VerifyNone(t)
}

// TestTimedHeartbeatKeepsIdleAlive: two sockets that exchange no message
// for ten minutes stay connected, because their PINGs count as life.
func TestTimedHeartbeatKeepsIdleAlive(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		hb := WithHeartbeat(time.Second, 3*time.Second)
		push := rawMustNew(t, Push, hb)
		pull := rawMustNew(t, Pull, hb)
		a, b := net.Pipe()
		if err := pull.ConnectConn(a); err != nil {
			t.Fatal(err)
		}
		if err := push.ConnectConn(b); err != nil {
			t.Fatal(err)
		}
		synctest.Wait()
		for _, s := range []*Socket{push, pull} {
			if got := rawOfKind(rawEventsNow(s), EventConnected); len(got) != 1 {
				t.Fatalf("%v: got %d connected events, want 1", s.Type(), len(got))
			}
		}

		time.Sleep(10 * time.Minute)
		synctest.Wait()
		for _, s := range []*Socket{push, pull} {
			if evs := rawEventsNow(s); len(evs) != 0 {
				t.Errorf("%v: got events %v after 10 idle minutes, want none", s.Type(), evs)
			}
		}

		ctx := context.Background()
		if err := push.Send(ctx, []byte("still there")); err != nil {
			t.Fatal(err)
		}
		m, err := pull.Recv(ctx)
		if err != nil || string(m.Bytes()) != "still there" {
			t.Fatalf("Recv: got %q, %v, want \"still there\"", m, err)
		}
		rawMustClose(t, push)
		rawMustClose(t, pull)
	})
	goleak.VerifyNone(t)
}

// TestTimedHandshakeTimeout: a peer that sends half a greeting and stalls
// is dropped exactly at the handshake timeout.
func TestTimedHandshakeTimeout(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const timeout = 2 * time.Second
		start := time.Now()
		pull := rawMustNew(t, Pull, WithHandshakeTimeout(timeout))
		a, b := net.Pipe()
		if err := pull.ConnectConn(a); err != nil {
			t.Fatal(err)
		}
		g := rawGreeting(wire.Push, false)
		if _, err := b.Write(g.Append(nil)[:13]); err != nil {
			t.Fatal(err)
		}
		// Not reading the socket's greeting either: its write stalls too.
		time.Sleep(timeout - time.Nanosecond)
		synctest.Wait()
		if evs := rawEventsNow(pull); len(evs) != 0 {
			t.Fatalf("at %v: got events %v, want none before the handshake timeout", time.Since(start), evs)
		}
		time.Sleep(time.Nanosecond)
		synctest.Wait()
		evs := rawEventsNow(pull)
		if len(evs) != 1 || evs[0].Kind != EventHandshakeFailed || !errors.Is(evs[0].Err, ErrHandshakeTimeout) {
			t.Fatalf("at %v: got %v, want one handshake failure wrapping ErrHandshakeTimeout", time.Since(start), evs)
		}
		if st := pull.Stats(); st.HandshakeFailures != 1 {
			t.Errorf("HandshakeFailures: got %d, want 1", st.HandshakeFailures)
		}
		b.Close()
		rawMustClose(t, pull)
	})
	goleak.VerifyNone(t)
}

// TestTimedReconnectBackoff: a PUSH connecting to an inproc name nobody
// binds retries after jittered delays that double up to the maximum, never
// early; once the name is bound it connects at its next attempt.
func TestTimedReconnectBackoff(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const initial, maxDelay = 100 * time.Millisecond, time.Second
		ep := "inproc://timed-backoff"
		push := rawMustNew(t, Push, WithReconnectInterval(initial, maxDelay))
		if err := push.Connect(ep); err != nil {
			t.Fatal(err)
		}
		base := initial
		var delays []time.Duration
		var last time.Duration
		for attempt := range 10 {
			synctest.Wait()
			evs := rawEventsNow(push)
			if len(evs) != 1 || evs[0].Kind != EventRetrying || evs[0].Err == nil {
				t.Fatalf("attempt %d: got %v, want one retrying event with the dial error", attempt, evs)
			}
			d := evs[0].Delay
			delays = append(delays, d)
			// Jitter scales the doubling base by [0.5, 1).
			if d < base/2 || d >= base || d < initial/2 || d > maxDelay {
				t.Errorf("attempt %d: got delay %v, want in [%v, %v) and within [%v, %v]", attempt, d, base/2, base, initial/2, maxDelay)
			}
			if base < maxDelay && d <= last {
				t.Errorf("attempt %d: got delay %v after %v, want it to grow until the maximum", attempt, d, last)
			}
			last = d
			base = min(2*base, maxDelay)

			time.Sleep(d - time.Nanosecond)
			synctest.Wait()
			if evs := rawEventsNow(push); len(evs) != 0 {
				t.Fatalf("attempt %d: got %v a nanosecond before the delay ended, want nothing", attempt, evs)
			}
			time.Sleep(time.Nanosecond)
		}
		t.Logf("delays: %v", delays)

		// The dialer now waits out its eleventh delay; bind during it.
		synctest.Wait()
		evs := rawEventsNow(push)
		if len(evs) != 1 || evs[0].Kind != EventRetrying {
			t.Fatalf("got %v, want one retrying event", evs)
		}
		pull := rawMustNew(t, Pull)
		if _, err := pull.Bind(ep); err != nil {
			t.Fatal(err)
		}
		time.Sleep(evs[0].Delay)
		synctest.Wait()
		if got := rawOfKind(rawEventsNow(push), EventConnected); len(got) != 1 {
			t.Fatalf("got %d connected events at the next attempt, want 1", len(got))
		}
		ctx := context.Background()
		if err := push.Send(ctx, []byte("connected")); err != nil {
			t.Fatal(err)
		}
		if m, err := pull.Recv(ctx); err != nil || string(m.Bytes()) != "connected" {
			t.Fatalf("Recv: got %q, %v, want \"connected\"", m, err)
		}
		rawMustClose(t, push)
		rawMustClose(t, pull)
	})
	goleak.VerifyNone(t)
}

// rawLinkedPair binds a PULL at an inproc name and connects a PUSH to it.
func rawLinkedPair(t *testing.T, name string, pushOpts ...Option) (push, pull *Socket) {
	t.Helper()
	pull = rawMustNew(t, Pull)
	ep, err := pull.Bind("inproc://" + name)
	if err != nil {
		t.Fatal(err)
	}
	push = rawMustNew(t, Push, pushOpts...)
	if err := push.Connect(ep); err != nil {
		t.Fatal(err)
	}
	synctest.Wait()
	if got := rawOfKind(rawEventsNow(push), EventConnected); len(got) != 1 {
		t.Fatalf("got %d connected events, want 1", len(got))
	}
	return push, pull
}

// TestTimedLinger: Close waits for acknowledgements up to the linger time,
// then reports how many messages were not acknowledged; it returns as soon
// as the acknowledgements arrive when they do.
func TestTimedLinger(t *testing.T) {
	const linger = 5 * time.Second
	t.Run("expires", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			push, pull := rawLinkedPair(t, "timed-linger-expires", WithLinger(linger))
			ctx := context.Background()
			for i := range 3 {
				if err := push.Send(ctx, []byte{byte(i)}); err != nil {
					t.Fatal(err)
				}
			}
			synctest.Wait() // delivered to the PULL, which takes none
			start := time.Now()
			done := make(chan error, 1)
			go func() { done <- push.Close() }()

			time.Sleep(linger - time.Nanosecond)
			synctest.Wait()
			select {
			case err := <-done:
				t.Fatalf("Close returned %v after %v, want it to linger %v", err, time.Since(start), linger)
			default:
			}
			time.Sleep(time.Nanosecond)
			synctest.Wait()
			select {
			case err := <-done:
				if !errors.Is(err, ErrUndelivered) || !strings.HasSuffix(err.Error(), ": 3") {
					t.Errorf("Close: got %v, want ErrUndelivered with a count of 3", err)
				}
			default:
				t.Fatalf("Close has not returned after the linger time %v", linger)
			}
			rawMustClose(t, pull)
		})
	})
	t.Run("acked", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			push, pull := rawLinkedPair(t, "timed-linger-acked", WithLinger(linger))
			ctx := context.Background()
			for i := range 3 {
				if err := push.Send(ctx, []byte{byte(i)}); err != nil {
					t.Fatal(err)
				}
			}
			synctest.Wait()
			start := time.Now()
			done := make(chan error, 1)
			go func() { done <- push.Close() }()
			time.Sleep(time.Second)
			for i := range 3 {
				m, err := pull.Recv(ctx)
				if err != nil || len(m.Bytes()) != 1 || m.Bytes()[0] != byte(i) {
					t.Fatalf("Recv %d: got %q, %v, want [%d]", i, m, err, i)
				}
			}
			// Waiting lets fake time run only as far as the ACK needs.
			if err := <-done; err != nil {
				t.Errorf("Close: got %v, want nil once every message is acknowledged", err)
			}
			if d := time.Since(start); d < time.Second || d >= linger {
				t.Errorf("Close returned after %v, want between 1s (the acks) and %v (the linger)", d, linger)
			}
			rawMustClose(t, pull)
		})
	})
	goleak.VerifyNone(t)
}

// TestTimedResumeTimeout: when a PULL disconnects and does not come back,
// the messages it held unacknowledged go to the other PULL exactly when the
// PUSH's resume timeout ends, each exactly once.
func TestTimedResumeTimeout(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const resume = 2 * time.Second
		const n = 10
		push := rawMustNew(t, Push, WithResumeTimeout(resume))
		ep, err := push.Bind("inproc://timed-resume")
		if err != nil {
			t.Fatal(err)
		}
		pullA, pullB := rawMustNew(t, Pull), rawMustNew(t, Pull)
		for _, p := range []*Socket{pullA, pullB} {
			if err := p.Connect(ep); err != nil {
				t.Fatal(err)
			}
		}
		synctest.Wait()
		if got := rawOfKind(rawEventsNow(push), EventConnected); len(got) != 2 {
			t.Fatalf("got %d connected events, want 2", len(got))
		}
		ctx := context.Background()
		for i := range n {
			if err := push.Send(ctx, []byte{byte(i)}); err != nil {
				t.Fatal(err)
			}
		}
		synctest.Wait()
		heldA, heldB := pullA.Stats().RecvQueue, pullB.Stats().RecvQueue
		if heldA == 0 || heldB == 0 || heldA+heldB != n {
			t.Fatalf("RecvQueue of A, B: got %d, %d, want both > 0 and %d in all", heldA, heldB, n)
		}
		got := map[byte]int{}
		take := func(s *Socket, k int) {
			t.Helper()
			for range k {
				m, err := s.Recv(ctx)
				if err != nil {
					t.Fatal(err)
				}
				got[m.Bytes()[0]]++
			}
		}
		take(pullB, heldB)
		rawMustClose(t, pullA) // takes nothing and never returns
		start := time.Now()

		time.Sleep(resume - time.Nanosecond)
		synctest.Wait()
		if q := pullB.Stats().RecvQueue; q != 0 {
			t.Fatalf("at %v: B holds %d messages, want none before the resume timeout", time.Since(start), q)
		}
		time.Sleep(time.Nanosecond)
		synctest.Wait()
		if q := pullB.Stats().RecvQueue; q != heldA {
			t.Fatalf("at %v: B holds %d messages, want A's %d", time.Since(start), q, heldA)
		}
		take(pullB, heldA)
		for i := range n {
			if got[byte(i)] != 1 {
				t.Errorf("message %d: got it %d times, want once", i, got[byte(i)])
			}
		}
		if err := push.Flush(ctx); err != nil {
			t.Errorf("Flush: %v", err)
		}
		if r := push.Stats().Resends; r < uint64(heldA) {
			t.Errorf("Resends: got %d, want at least %d", r, heldA)
		}
		rawMustClose(t, push)
		rawMustClose(t, pullB)
	})
	goleak.VerifyNone(t)
}
