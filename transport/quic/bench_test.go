package quic_test

import (
	"context"
	"strconv"
	"testing"

	"github.com/wispmq/wisp/socket"
)

// BenchmarkPushPull measures PUSH to PULL throughput over quic:// on
// loopback, acknowledged, one message per iteration. Run with -benchmem.
func BenchmarkPushPull(b *testing.B) {
	for _, size := range []int{16, 256, 4096, 65536} {
		b.Run(strconv.Itoa(size), func(b *testing.B) {
			ctx, cancel := context.WithTimeout(context.Background(), 10*testTimeout)
			defer cancel()
			tc := testTLS(b)
			pull := newSocket(b, socket.Pull, socket.WithTLS(tc))
			ep, err := pull.Bind("quic://127.0.0.1:0")
			if err != nil {
				b.Fatal(err)
			}
			push := newSocket(b, socket.Push, socket.WithTLS(tc))
			if err := push.Connect(ep); err != nil {
				b.Fatal(err)
			}
			payload := make([]byte, size)
			b.SetBytes(int64(size))
			b.ReportAllocs()
			b.ResetTimer()
			sent := make(chan error, 1)
			go func() {
				for range b.N {
					if err := push.Send(ctx, payload); err != nil {
						sent <- err
						return
					}
				}
				sent <- push.Flush(ctx)
			}()
			for i := range b.N {
				if _, err := pull.Recv(ctx); err != nil {
					b.Fatalf("Recv %d: %v", i, err)
				}
			}
			if err := <-sent; err != nil {
				b.Fatal(err)
			}
		})
	}
}

// BenchmarkReqRep measures REQ/REP round trips of 16 bytes over quic://.
func BenchmarkReqRep(b *testing.B) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*testTimeout)
	defer cancel()
	tc := testTLS(b)
	rep := newSocket(b, socket.Rep, socket.WithTLS(tc))
	ep, err := rep.Bind("quic://127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	req := newSocket(b, socket.Req, socket.WithTLS(tc))
	if err := req.Connect(ep); err != nil {
		b.Fatal(err)
	}
	served := make(chan struct{})
	go func() {
		defer close(served)
		for {
			m, err := rep.Recv(ctx)
			if err != nil || rep.Send(ctx, m.Bytes()) != nil {
				return
			}
		}
	}()
	payload := make([]byte, 16)
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		if err := req.Send(ctx, payload); err != nil {
			b.Fatalf("Send %d: %v", i, err)
		}
		if _, err := req.Recv(ctx); err != nil {
			b.Fatalf("Recv %d: %v", i, err)
		}
	}
	b.StopTimer()
	rep.Close()
	<-served
}
