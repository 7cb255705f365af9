package socket_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/wispmq/wisp/socket"
)

// BenchmarkBroker measures requests through a broker in one process: a
// ROUTER frontend and a DEALER backend joined by Proxy, 4 DEALER clients
// each keeping 100 requests in flight, and 4 REP workers echoing them, as
// bench's thr -pattern broker does across processes. b.N is the number of
// requests over all clients; each crosses the broker twice.
func BenchmarkBroker(b *testing.B) {
	const clients, workers, window = 4, 4, 100
	for _, tr := range []string{"inproc", "tcp"} {
		b.Run(tr, func(b *testing.B) {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
			defer cancel()
			front := newBenchSocket(b, socket.Router)
			back := newBenchSocket(b, socket.Dealer)
			frontEP, err := front.Bind(benchEndpoint(b, tr))
			if err != nil {
				b.Fatal(err)
			}
			backEP, err := back.Bind(benchEndpoint(b, tr))
			if err != nil {
				b.Fatal(err)
			}
			pctx, stopProxy := context.WithCancel(ctx)
			proxied := make(chan error, 1)
			go func() { proxied <- socket.Proxy(pctx, front, back, nil) }()
			defer func() {
				stopProxy()
				<-proxied
			}()

			wctx, stopWorkers := context.WithCancel(ctx)
			var served sync.WaitGroup
			for range workers {
				rep := newBenchSocket(b, socket.Rep)
				if err := rep.Connect(backEP); err != nil {
					b.Fatal(err)
				}
				served.Go(func() {
					for {
						m, err := rep.Recv(wctx)
						if err != nil || rep.Send(wctx, m...) != nil {
							return
						}
					}
				})
			}
			defer func() {
				stopWorkers()
				served.Wait()
			}()
			dealers := make([]*socket.Socket, clients)
			for i := range dealers {
				dealers[i] = newBenchSocket(b, socket.Dealer)
				if err := dealers[i].Connect(frontEP); err != nil {
					b.Fatal(err)
				}
			}
			payload := make([]byte, 16)
			run := func(n int) {
				var wg sync.WaitGroup
				errs := make(chan error, clients)
				for i, d := range dealers {
					share := n / clients
					if i < n%clients {
						share++
					}
					wg.Go(func() { errs <- brokerRequests(ctx, d, payload, share, window) })
				}
				wg.Wait()
				close(errs)
				for err := range errs {
					if err != nil {
						b.Fatal(err)
					}
				}
			}
			run(1000) // connect and warm up
			b.SetBytes(int64(len(payload)))
			b.ReportAllocs()
			b.ResetTimer()
			run(b.N)
			b.StopTimer()
		})
	}
}

// newBenchSocket makes a socket that is closed when the benchmark ends.
func newBenchSocket(b *testing.B, t socket.Type) *socket.Socket {
	b.Helper()
	s, err := socket.New(t, socket.WithLinger(0))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { s.Close() })
	return s
}

// brokerRequests makes n requests on a DEALER (a delimiter and the
// payload), keeping up to window unanswered, and checks every reply.
func brokerRequests(ctx context.Context, d *socket.Socket, payload []byte, n, window int) error {
	delim := []byte{}
	sent := 0
	for ; sent < min(n, window); sent++ {
		if err := d.Send(ctx, delim, payload); err != nil {
			return fmt.Errorf("request %d: %w", sent+1, err)
		}
	}
	for i := range n {
		m, err := d.Recv(ctx)
		if err != nil {
			return fmt.Errorf("reply %d: %w", i+1, err)
		}
		if len(m) != 2 || len(m[0]) != 0 || len(m[1]) != len(payload) {
			return fmt.Errorf("reply %d: got %d frames of %d bytes, want a delimiter and %d bytes", i+1, len(m), m.Size(), len(payload))
		}
		if sent < n {
			if err := d.Send(ctx, delim, payload); err != nil {
				return fmt.Errorf("request %d: %w", sent+1, err)
			}
			sent++
		}
	}
	return nil
}
