package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/wispmq/wisp/socket"
)

// repWorker connects a REP socket to ep and answers each request with
// answer until ctx ends; it reports every request it receives on got.
func repWorker(t *testing.T, ctx context.Context, ep string, got chan<- socket.Message, answer func(socket.Message) [][]byte) {
	rep, err := socket.New(socket.Rep)
	if err != nil {
		t.Fatal(err)
	}
	if err := rep.Connect(ep); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			req, err := rep.Recv(ctx)
			if err != nil {
				return
			}
			if got != nil {
				got <- req
			}
			if a := answer(req); a != nil {
				rep.Send(ctx, a...)
			}
		}
	}()
	t.Cleanup(func() { <-done; rep.Close() })
}

// waitConnected waits for a worker to connect to g.
func waitConnected(t *testing.T, ctx context.Context, g *Gateway) {
	t.Helper()
	for {
		select {
		case e := <-g.Events():
			if e.Kind == socket.EventConnected {
				return
			}
		case <-ctx.Done():
			t.Fatal("no worker connected")
		}
	}
}

// TestGatewayInProcess serves concurrent requests through the Gateway
// handler to a worker goroutine, then closes everything.
func TestGatewayInProcess(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	g, ep, err := NewGateway("tcp://127.0.0.1:0", 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()
	srv := httptest.NewServer(g)
	defer srv.Close()

	wctx, stop := context.WithCancel(ctx)
	defer stop()
	repWorker(t, wctx, ep, nil, func(req socket.Message) [][]byte {
		return [][]byte{[]byte("201"), []byte(fmt.Sprintf("%s %s %s", req[0], req[1], req[2]))}
	})
	waitConnected(t, ctx, g)

	var wg sync.WaitGroup
	for i := range 20 {
		wg.Go(func() {
			resp, err := srv.Client().Post(fmt.Sprintf("%s/p/%d", srv.URL, i), "text/plain", strings.NewReader(fmt.Sprint("body", i)))
			if err != nil {
				t.Error(err)
				return
			}
			defer resp.Body.Close()
			b, _ := io.ReadAll(resp.Body)
			if want := fmt.Sprintf("POST /p/%d body%d", i, i); resp.StatusCode != 201 || string(b) != want {
				t.Errorf("got %d %q, want 201 %q", resp.StatusCode, b, want)
			}
		})
	}
	wg.Wait()
}

// TestGatewayCloseAnswersWaiting closes the gateway while a request waits
// for a worker that never replies: the handler answers 503 at once.
func TestGatewayCloseAnswersWaiting(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	g, ep, err := NewGateway("tcp://127.0.0.1:0", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(g)
	defer srv.Close()
	got := make(chan socket.Message, 1)
	wctx, stop := context.WithCancel(ctx)
	defer stop()
	repWorker(t, wctx, ep, got, func(socket.Message) [][]byte { return nil })
	waitConnected(t, ctx, g)

	type result struct {
		status int
		body   string
		err    error
	}
	res := make(chan result, 1)
	go func() {
		resp, err := srv.Client().Get(srv.URL + "/wait")
		if err != nil {
			res <- result{err: err}
			return
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		res <- result{resp.StatusCode, string(b), err}
	}()
	select {
	case <-got: // the request is at the worker, and its handler waits
	case <-ctx.Done():
		t.Fatal("the request never reached the worker")
	}
	if err := g.Close(); err != nil {
		t.Fatal(err)
	}
	if r := <-res; r.err != nil || r.status != http.StatusServiceUnavailable || r.body != "gateway closing\n" {
		t.Fatalf("got %d %q (err %v), want 503 \"gateway closing\\n\"", r.status, r.body, r.err)
	}
}
