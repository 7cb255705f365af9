package socket_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/wispmq/wisp/socket"
)

// BenchmarkPoller measures what receiving through a Poller costs next to
// a socket's own Recv and next to the hand-written alternative, a
// goroutine per socket pumping Recv into a channel: PUSH to PULL streams
// of 16-byte messages, spread over 1 or 4 PULL sockets, received by one
// goroutine.
//
//	go test -run '^$' -bench BenchmarkPoller -benchmem ./socket
func BenchmarkPoller(b *testing.B) {
	for _, tr := range []string{"inproc", "tcp"} {
		for _, sockets := range []int{1, 4} {
			for _, via := range []string{"Recv", "Poller", "Pump"} {
				if via == "Recv" && sockets > 1 {
					continue // one goroutine cannot Recv from four sockets at once
				}
				b.Run(fmt.Sprintf("%s/sockets=%d/%s", tr, sockets, via), func(b *testing.B) {
					benchPoller(b, tr, sockets, via)
				})
			}
		}
	}
}

func benchPoller(b *testing.B, tr string, sockets int, via string) {
	ctx := context.Background()
	payload := make([]byte, 16)
	pulls := make([]*socket.Socket, sockets)
	pushes := make([]*socket.Socket, sockets)
	for i := range sockets {
		pushes[i], pulls[i] = newPushPull(b, tr)
	}
	p, err := socket.NewPoller(pulls...)
	if err != nil {
		b.Fatal(err)
	}
	defer p.Close()
	pumped := make(chan socket.Message)
	if via == "Pump" {
		pctx, stop := context.WithCancel(ctx)
		defer stop()
		for _, pull := range pulls {
			go func() {
				for {
					m, err := pull.Recv(pctx)
					if err != nil {
						return
					}
					select {
					case pumped <- m:
					case <-pctx.Done():
						return
					}
				}
			}()
		}
	}
	b.ReportAllocs()
	b.SetBytes(int64(len(payload)))
	b.ResetTimer()
	sent := make(chan error, sockets)
	for i, push := range pushes {
		n := b.N / sockets
		if i < b.N%sockets {
			n++
		}
		go func() {
			for range n {
				if err := push.Send(ctx, payload); err != nil {
					sent <- err
					return
				}
			}
			sent <- push.Flush(ctx)
		}()
	}
	for range b.N {
		var err error
		switch via {
		case "Poller":
			_, _, err = p.Recv(ctx)
		case "Pump":
			<-pumped
		default:
			_, err = pulls[0].Recv(ctx)
		}
		if err != nil {
			b.Fatal(err)
		}
	}
	for range sockets {
		if err := <-sent; err != nil {
			b.Fatal(err)
		}
	}
}
