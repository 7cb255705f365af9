package socket_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/wispmq/wisp/socket"
)

// BenchmarkPublish measures Send on a PUB whose one subscriber holds 1 or
// 10,000 distinct prefixes, for a message that matches one of them and for
// one that matches none: filtering must not cost more with more prefixes.
// The subscriber drains over inproc in its own goroutine.
func BenchmarkPublish(b *testing.B) {
	for _, prefixes := range []int{1, 10000} {
		for _, topic := range []string{"match", "nomatch"} {
			b.Run(fmt.Sprintf("prefixes=%d/%s", prefixes, topic), func(b *testing.B) {
				ctx := context.Background()
				pub, err := socket.New(socket.Pub)
				if err != nil {
					b.Fatal(err)
				}
				sub, err := socket.New(socket.Sub)
				if err != nil {
					b.Fatal(err)
				}
				for i := range prefixes {
					if err := sub.Subscribe(fmt.Appendf(nil, "topic-%05d.", i)); err != nil {
						b.Fatal(err)
					}
				}
				ep, err := pub.Bind(benchEndpoint(b, "inproc"))
				if err != nil {
					b.Fatal(err)
				}
				if err := sub.Connect(ep); err != nil {
					b.Fatal(err)
				}
				if err := pub.WaitSubscribers(ctx, 1); err != nil {
					b.Fatal(err)
				}
				// Every prefix must have arrived before timing starts.
				deadline := time.Now().Add(30 * time.Second)
				for pub.Stats().Peers[0].Subscriptions < prefixes {
					if time.Now().After(deadline) {
						b.Fatalf("subscriptions at the publisher: got %d after 30s, want %d", pub.Stats().Peers[0].Subscriptions, prefixes)
					}
					time.Sleep(time.Millisecond)
				}
				done := make(chan struct{})
				rctx, stop := context.WithCancel(ctx)
				go func() {
					defer close(done)
					for {
						if _, err := sub.Recv(rctx); err != nil {
							return
						}
					}
				}()
				msg := []byte("topic-00000.payload")
				if topic == "nomatch" {
					msg = []byte("other-00000.payload")
				}
				b.ReportAllocs()
				b.ResetTimer()
				for b.Loop() {
					if err := pub.Send(ctx, msg); err != nil {
						b.Fatal(err)
					}
				}
				b.StopTimer()
				stop()
				<-done
				sub.Close()
				pub.Close()
			})
		}
	}
}
