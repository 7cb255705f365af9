package socket_test

import (
	"context"
	"fmt"
	"path/filepath"
	"runtime"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/wispmq/wisp/socket"
)

// benchInprocSeq keeps inproc names unique across benchmark runs.
var benchInprocSeq atomic.Int64

// benchEndpoint returns an endpoint to bind for transport tr.
func benchEndpoint(tb testing.TB, tr string) string {
	switch tr {
	case "tcp":
		return "tcp://127.0.0.1:0"
	case "ipc":
		return "ipc://" + filepath.Join(tb.TempDir(), "pull.sock")
	case "inproc":
		return "inproc://bench-" + strconv.FormatInt(benchInprocSeq.Add(1), 10)
	}
	tb.Fatalf("transport: got %q, want tcp, ipc or inproc", tr)
	return ""
}

// newPushPull returns a connected PUSH -> PULL pair over transport tr. The
// pair is closed when the test ends.
func newPushPull(tb testing.TB, tr string, opts ...socket.Option) (push, pull *socket.Socket) {
	tb.Helper()
	pull, err := socket.New(socket.Pull, opts...)
	if err != nil {
		tb.Fatal(err)
	}
	push, err = socket.New(socket.Push, opts...)
	if err != nil {
		pull.Close()
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		if err := push.Close(); err != nil {
			tb.Errorf("closing PUSH: got %v, want nil", err)
		}
		if err := pull.Close(); err != nil {
			tb.Errorf("closing PULL: got %v, want nil", err)
		}
	})
	ep, err := pull.Bind(benchEndpoint(tb, tr))
	if err != nil {
		tb.Fatal(err)
	}
	if err := push.Connect(ep); err != nil {
		tb.Fatal(err)
	}
	return push, pull
}

// pumpPushPull sends n messages of payload from a goroutine, receives them
// here, and waits until every one is acknowledged.
func pumpPushPull(tb testing.TB, ctx context.Context, push, pull *socket.Socket, payload []byte, n int) {
	tb.Helper()
	pumpReleasing(tb, ctx, push, pull, payload, n, false)
}

// pumpReleasing is pumpPushPull, releasing every received message when
// release is set (Message.Release).
func pumpReleasing(tb testing.TB, ctx context.Context, push, pull *socket.Socket, payload []byte, n int, release bool) {
	tb.Helper()
	sent := make(chan error, 1)
	go func() {
		for i := range n {
			if err := push.Send(ctx, payload); err != nil {
				sent <- fmt.Errorf("send %d: %w", i, err)
				return
			}
		}
		sent <- push.Flush(ctx)
	}()
	for i := range n {
		m, err := pull.Recv(ctx)
		if err != nil {
			tb.Fatalf("recv %d: got %v, want a message", i, err)
		}
		if m.Size() != len(payload) {
			tb.Fatalf("recv %d: got %d bytes, want %d", i, m.Size(), len(payload))
		}
		if release {
			m.Release()
		}
	}
	if err := <-sent; err != nil {
		tb.Fatalf("sender: got %v, want nil", err)
	}
}

// pumpFunc moves n messages of payload from push to pull and returns once
// every one is acknowledged.
type pumpFunc func(tb testing.TB, ctx context.Context, push, pull *socket.Socket, payload []byte, n int)

// benchPump times pump moving b.N messages of size bytes over the pair,
// after warm untimed ones that connect it and fill its buffers.
func benchPump(b *testing.B, push, pull *socket.Socket, size, warm int, pump pumpFunc) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	payload := make([]byte, size)
	pump(b, ctx, push, pull, payload, warm)
	b.SetBytes(int64(size))
	b.ReportAllocs()
	b.ResetTimer()
	pump(b, ctx, push, pull, payload, b.N)
	b.StopTimer()
}

// BenchmarkPushPull measures one PUSH sending b.N messages to one PULL in
// the same process, sender and receiver in separate goroutines. The shared
// payload is never modified, so reusing it is safe (Send keeps a reference
// until the message is acknowledged).
func BenchmarkPushPull(b *testing.B) {
	for _, tr := range []string{"inproc", "tcp", "ipc"} {
		b.Run(tr, func(b *testing.B) {
			for _, size := range []int{16, 256, 4096, 65536} {
				b.Run(strconv.Itoa(size), func(b *testing.B) {
					push, pull := newPushPull(b, tr)
					benchPump(b, push, pull, size, 1000, pumpPushPull)
				})
			}
		})
	}
}

// BenchmarkPushPullChecksum is BenchmarkPushPull's tcp case with frame
// checksums on and off, side by side, for what WithChecksum costs.
func BenchmarkPushPullChecksum(b *testing.B) {
	for _, size := range []int{16, 256, 4096, 65536} {
		for _, on := range []bool{false, true} {
			b.Run(fmt.Sprintf("%d/checksum=%v", size, on), func(b *testing.B) {
				push, pull := newPushPull(b, "tcp", socket.WithChecksum(on))
				benchPump(b, push, pull, size, 1000, pumpPushPull)
			})
		}
	}
}

// BenchmarkPushPullRelease is BenchmarkPushPull's large messages over
// streams, with the receiver releasing each message (Message.Release) and
// without, for what giving the memory back saves.
func BenchmarkPushPullRelease(b *testing.B) {
	for _, tr := range []string{"tcp", "ipc"} {
		for _, size := range []int{16 << 10, 64 << 10, 1 << 20} {
			for _, release := range []bool{false, true} {
				b.Run(fmt.Sprintf("%s/%d/release=%v", tr, size, release), func(b *testing.B) {
					push, pull := newPushPull(b, tr)
					benchPump(b, push, pull, size, 100, func(tb testing.TB, ctx context.Context, push, pull *socket.Socket, payload []byte, n int) {
						pumpReleasing(tb, ctx, push, pull, payload, n, release)
					})
				})
			}
		}
	}
}

// BenchmarkPushPullMany is BenchmarkPushPull with SendMany and RecvMany
// moving batches of up to 64 messages, beside the same pair moving them
// one at a time (batch=1), for what a batch saves per message.
func BenchmarkPushPullMany(b *testing.B) {
	for _, tr := range []string{"inproc", "tcp", "ipc"} {
		for _, size := range []int{16, 256, 4096} {
			for _, batch := range []int{1, 64} {
				b.Run(fmt.Sprintf("%s/%d/batch=%d", tr, size, batch), func(b *testing.B) {
					push, pull := newPushPull(b, tr)
					benchPump(b, push, pull, size, 1000, func(tb testing.TB, ctx context.Context, push, pull *socket.Socket, payload []byte, n int) {
						pumpMany(tb, ctx, push, pull, payload, n, batch)
					})
				})
			}
		}
	}
}

// pumpMany sends n messages of payload with SendMany, batch at a time,
// from a goroutine, and receives them here with RecvMany into batch
// slots; batch 1 uses Send and Recv. It waits until every message is
// acknowledged.
func pumpMany(tb testing.TB, ctx context.Context, push, pull *socket.Socket, payload []byte, n, batch int) {
	tb.Helper()
	if batch == 1 {
		pumpPushPull(tb, ctx, push, pull, payload, n)
		return
	}
	sent := make(chan error, 1)
	go func() {
		msgs := make([]socket.Message, batch)
		for i := range msgs {
			msgs[i] = socket.Message{payload}
		}
		for i := 0; i < n; i += batch {
			k := min(batch, n-i)
			if got, err := push.SendMany(ctx, msgs[:k]); err != nil {
				sent <- fmt.Errorf("SendMany at %d: sent %d of %d: %w", i, got, k, err)
				return
			}
		}
		sent <- push.Flush(ctx)
	}()
	dst := make([]socket.Message, batch)
	for got := 0; got < n; {
		k, err := pull.RecvMany(ctx, dst)
		if err != nil {
			tb.Fatalf("RecvMany after %d: got %v, want messages", got, err)
		}
		for _, m := range dst[:k] {
			if m.Size() != len(payload) {
				tb.Fatalf("message %d: got %d bytes, want %d", got, m.Size(), len(payload))
			}
		}
		got += k
	}
	if err := <-sent; err != nil {
		tb.Fatalf("sender: got %v, want nil", err)
	}
}

// Goroutine leaks are checked by the package's TestMain.

// TestSteadyStateAllocations checks the per-message allocations of a warmed
// PUSH -> PULL pair.
//
// testing.AllocsPerRun counts the process's mallocs, not the calling
// goroutine's, and rounds down to whole allocations per run. So
//   - Send: AllocsPerRun over Send calls, with the receiver and both
//     connection goroutines running, must be 0. Everything the other
//     goroutines allocate counts against Send too, so 0 proves Send itself
//     allocates nothing per message (one allocation per Send would make it
//     at least 1), while the receive side's batch allocations (well under
//     one per message) do not make it flaky.
//   - Recv: the whole pipeline's mallocs over 10,000 messages, sent and
//     received, divided by the messages, must be under 0.1: buffers are
//     allocated per batch, never per message. Batches are at least an
//     acknowledgement window long once the sender runs ahead, which the
//     warm-up ensures.
func TestSteadyStateAllocations(t *testing.T) {
	const (
		n           = 10_000
		maxPerMsg   = 0.1
		payloadSize = 64
	)
	for _, tr := range []string{"inproc", "tcp"} {
		t.Run(tr, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			push, pull := newPushPull(t, tr)
			payload := make([]byte, payloadSize)
			pumpPushPull(t, ctx, push, pull, payload, 3*n) // warm up queues, buffers and chunks

			t.Run("Send", func(t *testing.T) {
				received := make(chan error, 1)
				runs := n
				total := runs + 1 // AllocsPerRun calls once more to warm up
				go func() {
					for range total {
						if _, err := pull.Recv(ctx); err != nil {
							received <- err
							return
						}
					}
					received <- nil
				}()
				var sendErr error
				allocs := testing.AllocsPerRun(runs, func() {
					if err := push.Send(ctx, payload); err != nil && sendErr == nil {
						sendErr = err
					}
				})
				if err := <-received; err != nil {
					t.Fatalf("recv: got %v, want nil", err)
				}
				if sendErr != nil {
					t.Fatalf("send: got %v, want nil", sendErr)
				}
				if err := push.Flush(ctx); err != nil {
					t.Fatalf("flush: got %v, want nil", err)
				}
				if allocs != 0 {
					t.Errorf("allocations per Send (process-wide, rounded down): got %v, want 0", allocs)
				}
			})

			t.Run("Recv", func(t *testing.T) {
				var before, after runtime.MemStats
				runtime.ReadMemStats(&before)
				pumpPushPull(t, ctx, push, pull, payload, n)
				runtime.ReadMemStats(&after)
				perMsg := float64(after.Mallocs-before.Mallocs) / n
				t.Logf("%.4f allocations per message, process-wide", perMsg)
				if perMsg >= maxPerMsg {
					t.Errorf("allocations per message sent and received: got %.4f, want < %v", perMsg, maxPerMsg)
				}
			})

			// SendMany and RecvMany allocate per batch at most, as Send
			// and Recv do: their batch costs none of its own.
			t.Run("SendMany and RecvMany", func(t *testing.T) {
				pumpMany(t, ctx, push, pull, payload, n, 64) // warm up
				var before, after runtime.MemStats
				runtime.ReadMemStats(&before)
				pumpMany(t, ctx, push, pull, payload, n, 64)
				runtime.ReadMemStats(&after)
				perMsg := float64(after.Mallocs-before.Mallocs) / n
				t.Logf("%.4f allocations per message, process-wide", perMsg)
				if perMsg >= maxPerMsg {
					t.Errorf("allocations per message sent and received in batches: got %.4f, want < %v", perMsg, maxPerMsg)
				}
			})
		})
	}
}
