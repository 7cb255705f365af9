package socket

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
)

// TestProxyBroker runs many REQ clients through ROUTER|Proxy|DEALER to
// several REP workers and checks every client gets the answer to its own
// requests.
func TestProxyBroker(t *testing.T) {
	forEachTransport(t, func(t *testing.T, nw *network) {
		if nw.name == "conn" {
			t.Skip("the broker binds and connects many sockets; covered by tcp")
		}
		ctx := testContext(t)
		front := newSocket(t, Router)
		back := newSocket(t, Dealer)
		frontEP, backEP := nw.bind(front), nw.bind(back)
		pctx, stop := context.WithCancel(ctx)
		proxyDone := make(chan error, 1)
		go func() { proxyDone <- Proxy(pctx, front, back, nil) }()

		const workers, clients, requests = 3, 8, 20
		var wg sync.WaitGroup
		served := make([]int, workers)
		wctx, stopWorkers := context.WithCancel(ctx)
		for w := 0; w < workers; w++ {
			rep := newSocket(t, Rep)
			nw.connect(rep, backEP)
			wg.Add(1)
			go func() {
				defer wg.Done()
				for {
					m, err := rep.Recv(wctx)
					if err != nil {
						return
					}
					served[w]++
					if err := rep.Send(wctx, append([]byte("re:"), m[0]...)); err != nil {
						return
					}
				}
			}()
		}
		errs := make(chan error, clients)
		for c := 0; c < clients; c++ {
			req := newSocket(t, Req)
			nw.connect(req, frontEP)
			go func() {
				for i := 0; i < requests; i++ {
					body := fmt.Sprintf("c%d-%d", c, i)
					if err := req.Send(ctx, []byte(body)); err != nil {
						errs <- err
						return
					}
					m, err := req.Recv(ctx)
					if err != nil {
						errs <- fmt.Errorf("client %d request %d: %w", c, i, err)
						return
					}
					if string(m.Bytes()) != "re:"+body {
						errs <- fmt.Errorf("client %d: got reply %q, want %q", c, m.Bytes(), "re:"+body)
						return
					}
				}
				errs <- nil
			}()
		}
		for c := 0; c < clients; c++ {
			if err := <-errs; err != nil {
				t.Fatal(err)
			}
		}
		stopWorkers()
		wg.Wait()
		stop()
		if err := <-proxyDone; !errors.Is(err, context.Canceled) {
			t.Fatalf("Proxy: got %v, want context.Canceled", err)
		}
		total := 0
		for _, n := range served {
			total += n
		}
		if total != clients*requests {
			t.Fatalf("workers served %d requests (%v), want %d", total, served, clients*requests)
		}
	})
}
