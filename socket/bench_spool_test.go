package socket_test

import (
	"context"
	"testing"
	"time"

	"github.com/wispmq/wisp/socket"
)

// BenchmarkSpoolPushPull measures PUSH -> PULL over tcp loopback with the
// sender spooling under each sync policy, and without a spool, in one
// process. A spooled Send writes a record (one write system call) before it
// returns, and under SpoolSyncAlways waits for fdatasync too, which is
// what a single sending goroutine pays per message.
func BenchmarkSpoolPushPull(b *testing.B) {
	for _, bc := range []struct {
		name   string
		policy *socket.SpoolSync
	}{
		{"nospool", nil},
		{"none", &socket.SpoolSyncNone},
		{"every100ms", ptr(socket.SpoolSyncEvery(100 * time.Millisecond))},
		{"always", &socket.SpoolSyncAlways},
	} {
		b.Run(bc.name, func(b *testing.B) {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
			defer cancel()
			var opts []socket.Option
			if bc.policy != nil {
				opts = append(opts, socket.WithSpool(b.TempDir()), socket.WithSpoolSync(*bc.policy))
			}
			pull, err := socket.New(socket.Pull)
			if err != nil {
				b.Fatal(err)
			}
			push, err := socket.New(socket.Push, opts...)
			if err != nil {
				pull.Close()
				b.Fatal(err)
			}
			b.Cleanup(func() {
				if err := push.Close(); err != nil {
					b.Errorf("closing PUSH: got %v, want nil", err)
				}
				pull.Close()
			})
			ep, err := pull.Bind("tcp://127.0.0.1:0")
			if err != nil {
				b.Fatal(err)
			}
			if err := push.Connect(ep); err != nil {
				b.Fatal(err)
			}
			payload := make([]byte, 16)
			pumpPushPull(b, ctx, push, pull, payload, 100) // connect and warm up
			b.SetBytes(int64(len(payload)))
			b.ReportAllocs()
			b.ResetTimer()
			pumpPushPull(b, ctx, push, pull, payload, b.N)
			b.StopTimer()
		})
	}
}

func ptr[T any](v T) *T { return &v }
