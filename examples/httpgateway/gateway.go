package main

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/wispmq/wisp/socket"
)

// A request travels to a worker as [request id][""][method][request URI][body]
// and its reply comes back as [request id][""][status][body]: the empty
// frame ends the envelope, which a REP worker keeps and returns untouched.

// maxBody bounds the request body the gateway reads and forwards.
const maxBody = 1 << 20

// workerWindow is how many requests the gateway lets one worker hold
// before it has taken them. It is the DEALER's send high-water mark, which
// round-robin skips a worker at: a stuck worker holds that many requests
// (and the one it works on), and the rest go to the others.
const workerWindow = 8

// A Gateway is an http.Handler that hands each request to a backend worker
// over one DEALER socket and writes the worker's reply as the response.
// Every handler shares the socket; replies find their handler by request
// id.
type Gateway struct {
	d       *socket.Socket
	timeout time.Duration
	late    atomic.Uint64 // replies that came after their handler gave up

	mu      sync.Mutex
	next    uint64
	waiting map[uint64]chan socket.Message

	done chan struct{} // closed when demux has returned
}

// NewGateway binds the DEALER that workers connect to at endpoint and
// returns the Gateway and the bound endpoint. Each request gets a reply
// within timeout, the worker's or a 504.
func NewGateway(endpoint string, timeout time.Duration) (*Gateway, string, error) {
	d, err := socket.New(socket.Dealer,
		// No worker connected: answer 503 at once rather than queue.
		socket.WithFailFast(true),
		socket.WithSendHWM(workerWindow),
		// Requests a dead worker had not taken go to another worker soon
		// enough to be answered within the deadline.
		socket.WithResumeTimeout(timeout/4),
		// A gateway that stops has nobody to give late replies to.
		socket.WithLinger(0))
	if err != nil {
		return nil, "", err
	}
	ep, err := d.Bind(endpoint)
	if err != nil {
		d.Close()
		return nil, "", err
	}
	g := &Gateway{d: d, timeout: timeout, waiting: make(map[uint64]chan socket.Message), done: make(chan struct{})}
	go g.demux()
	return g, ep, nil
}

// Events returns the DEALER's connection events: workers connecting and
// going away.
func (g *Gateway) Events() <-chan socket.Event { return g.d.Events() }

// Close closes the socket; handlers still waiting answer 503.
func (g *Gateway) Close() error {
	err := g.d.Close()
	<-g.done
	if errors.Is(err, socket.ErrUndelivered) {
		err = nil // requests nobody waits for any more
	}
	return err
}

// ServeHTTP sends r to a worker and writes its reply: 503 when no worker
// is connected or all are full, 504 when no reply comes before the deadline.
func (g *Gateway) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	// The deadline covers the whole exchange; a client that hangs up ends
	// it too.
	ctx, cancel := context.WithTimeout(r.Context(), g.timeout)
	defer cancel()
	body, err := io.ReadAll(io.LimitReader(r.Body, maxBody+1))
	if err != nil {
		http.Error(w, "reading the request: "+err.Error(), http.StatusBadRequest)
		return
	}
	if len(body) > maxBody {
		http.Error(w, "request body too large", http.StatusRequestEntityTooLarge)
		return
	}

	id, reply := g.register()
	defer g.unregister(id)
	var idFrame [8]byte
	binary.BigEndian.PutUint64(idFrame[:], id)
	err = g.d.Send(ctx, idFrame[:], nil, []byte(r.Method), []byte(r.URL.RequestURI()), body)
	switch {
	case errors.Is(err, socket.ErrNoPeer):
		http.Error(w, "no backend worker connected", http.StatusServiceUnavailable)
		return
	case err != nil:
		// Every worker holds workerWindow requests until the deadline, or
		// the gateway is closing.
		http.Error(w, "backend busy: "+err.Error(), http.StatusServiceUnavailable)
		return
	}

	select {
	case m, ok := <-reply:
		if !ok {
			http.Error(w, "gateway closing", http.StatusServiceUnavailable)
			return
		}
		status, err := strconv.Atoi(string(m[2]))
		if err != nil || status < 100 || status > 999 {
			http.Error(w, fmt.Sprintf("bad status %q from worker", m[2]), http.StatusBadGateway)
			return
		}
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.WriteHeader(status)
		w.Write(m[3])
	case <-ctx.Done():
		// The worker is slow or died with the request; the request may
		// still run there, and its reply will be dropped.
		http.Error(w, fmt.Sprintf("no reply from a worker within %v", g.timeout), http.StatusGatewayTimeout)
	}
}

// register returns a new request id and the channel its reply comes on.
func (g *Gateway) register() (uint64, chan socket.Message) {
	ch := make(chan socket.Message, 1)
	g.mu.Lock()
	defer g.mu.Unlock()
	g.next++
	g.waiting[g.next] = ch
	return g.next, ch
}

func (g *Gateway) unregister(id uint64) {
	g.mu.Lock()
	defer g.mu.Unlock()
	delete(g.waiting, id)
}

// demux gives each reply to the handler waiting for it, until the socket
// closes; then it closes the channels of the handlers still waiting.
func (g *Gateway) demux() {
	defer close(g.done)
	for m, err := range g.d.Messages(context.Background()) { // ErrClosed at Close ends it
		if err != nil {
			break
		}
		if len(m) != 4 || len(m[0]) != 8 || len(m[1]) != 0 {
			continue // not a reply of ours
		}
		id := binary.BigEndian.Uint64(m[0])
		g.mu.Lock()
		ch := g.waiting[id]
		delete(g.waiting, id)
		g.mu.Unlock()
		if ch == nil {
			g.late.Add(1)
			continue
		}
		ch <- m // buffered: never blocks
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	for id, ch := range g.waiting {
		close(ch)
		delete(g.waiting, id)
	}
}
