package socket

import (
	"runtime"
	"testing"
)

// TestTakenMessagesAreCollectable: once the application has taken
// messages and dropped them, nothing of the socket keeps them alive: 64
// messages of 1 MiB, received and dropped, leave the heap about as it was.
// (A receiving connection once carved every message's frame list from a
// shared list of 256 entries, which kept up to 256 taken payloads
// reachable.)
func TestTakenMessagesAreCollectable(t *testing.T) {
	for _, transport := range []string{"tcp", "inproc"} {
		t.Run(transport, func(t *testing.T) {
			ctx := testContext(t)
			nw := newNetwork(t, transport)
			push, pull := newPair(t, nw, WithMaxMessageSize(2<<20))
			const n, size = 64, 1 << 20
			// Warm up, so that buffers the connection keeps anyway are
			// counted before the measurement.
			if err := push.Send(ctx, make([]byte, size)); err != nil {
				t.Fatal(err)
			}
			if _, err := pull.Recv(ctx); err != nil {
				t.Fatal(err)
			}
			if err := push.Flush(ctx); err != nil {
				t.Fatal(err)
			}
			runtime.GC()
			var before runtime.MemStats
			runtime.ReadMemStats(&before)
			for range n {
				// Each Send gets its own payload: the sender does not
				// reuse what it gave away.
				if err := push.Send(ctx, make([]byte, size)); err != nil {
					t.Fatal(err)
				}
				m, err := pull.Recv(ctx)
				if err != nil {
					t.Fatal(err)
				}
				if len(m) != 1 || len(m[0]) != size {
					t.Fatalf("got %d frames", len(m))
				}
			}
			if err := push.Flush(ctx); err != nil { // acknowledged: the sender lets go too
				t.Fatal(err)
			}
			runtime.GC()
			var after runtime.MemStats
			runtime.ReadMemStats(&after)
			if grown := int64(after.HeapAlloc) - int64(before.HeapAlloc); grown > 8*size {
				t.Fatalf("%d MiB of %d taken and dropped 1 MiB messages stay on the heap", grown>>20, n)
			}
		})
	}
}
