package socket

import (
	"bytes"
	"context"
	"errors"
	"testing"
	"time"
)

// TestQueuedMessageTooLargeForThePeer: a message queued before its
// receiver connected, larger than that receiver accepts, neither wedges
// the socket nor makes it redial in a loop: it waits aside, reported
// undelivered by Flush, while later messages flow, and goes to the first
// receiver that accepts it.
func TestQueuedMessageTooLargeForThePeer(t *testing.T) {
	for _, transport := range []string{"tcp", "ipc"} {
		t.Run(transport, func(t *testing.T) {
			ctx := testContext(t)
			nw := newNetwork(t, transport)
			small := newSocket(t, Pull, WithMaxMessageSize(1<<20))
			ep := nw.reserve()
			push := newSocket(t, Push, WithMaxMessageSize(8<<20), WithLinger(0), WithReconnectInterval(10*time.Millisecond, 50*time.Millisecond))
			nw.connect(push, ep)
			big := bytes.Repeat([]byte("b"), 2<<20)
			if err := push.Send(ctx, big); err != nil {
				t.Fatal(err)
			}
			if err := push.Send(ctx, []byte("after")); err != nil {
				t.Fatal(err)
			}
			nw.bindAt(small, ep)
			m, err := small.Recv(ctx)
			if err != nil || string(m[0]) != "after" {
				t.Fatalf("the small receiver got %q, %v; want the message after the large one", m, err)
			}
			if err := push.Send(ctx, []byte("still")); err != nil {
				t.Fatal(err)
			}
			if m, err := small.Recv(ctx); err != nil || string(m[0]) != "still" {
				t.Fatalf("Send after: got %q, %v", m, err)
			}
			short, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
			defer cancel()
			if err := push.Flush(short); !errors.Is(err, ErrUndelivered) {
				t.Fatalf("Flush: got %v, want ErrUndelivered for the message no receiver accepts", err)
			}
			if st := small.Stats(); st.ProtocolErrors != 0 {
				t.Fatalf("the receiver ended %d connections on frames too large", st.ProtocolErrors)
			}
			if n := countEvents(push, EventConnected); n != 1 {
				t.Fatalf("the PUSH connected %d times, want once: it must not redial in a loop", n)
			}
			// A receiver that accepts it gets it.
			large := newSocket(t, Pull, WithMaxMessageSize(4<<20))
			nw.connect(push, nw.bind(large))
			m, err = large.Recv(ctx)
			if err != nil || !bytes.Equal(m[0], big) {
				t.Fatalf("the large receiver got %d bytes, %v; want the 2 MiB message", len(m[0]), err)
			}
			if err := push.Flush(ctx); err != nil {
				t.Fatalf("Flush once delivered: %v", err)
			}
		})
	}
}
