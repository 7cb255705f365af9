package socket_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/wispmq/wisp/socket"
)

// BenchmarkReqRep measures one request-reply round trip between a REQ and
// an echoing REP, in one process.
func BenchmarkReqRep(b *testing.B) {
	for _, tr := range []string{"tcp", "ipc", "inproc"} {
		for _, size := range []int{16, 4096} {
			b.Run(fmt.Sprintf("%s/%dB", tr, size), func(b *testing.B) {
				ctx := context.Background()
				rep, err := socket.New(socket.Rep)
				if err != nil {
					b.Fatal(err)
				}
				req, err := socket.New(socket.Req)
				if err != nil {
					b.Fatal(err)
				}
				ep, err := rep.Bind(benchEndpoint(b, tr))
				if err != nil {
					b.Fatal(err)
				}
				if err := req.Connect(ep); err != nil {
					b.Fatal(err)
				}
				sctx, stop := context.WithCancel(ctx)
				done := make(chan struct{})
				go func() {
					defer close(done)
					for {
						m, err := rep.Recv(sctx)
						if err != nil {
							return
						}
						if rep.Send(sctx, m...) != nil {
							return
						}
					}
				}()
				payload := make([]byte, size)
				roundTrip := func() {
					if err := req.Send(ctx, payload); err != nil {
						b.Fatal(err)
					}
					if _, err := req.Recv(ctx); err != nil {
						b.Fatal(err)
					}
				}
				roundTrip() // connect
				b.SetBytes(int64(2 * size))
				b.ReportAllocs()
				b.ResetTimer()
				for b.Loop() {
					roundTrip()
				}
				b.StopTimer()
				stop()
				<-done
				req.Close()
				rep.Close()
			})
		}
	}
}
