package socket

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"testing"
	"time"
)

// pollerPulls makes n PULL sockets over nw, each fed by its own PUSH, and
// returns them with their pushers.
func pollerPulls(t *testing.T, nw *network, n int) (pulls, pushes []*Socket) {
	t.Helper()
	for range n {
		push, pull := newPair(t, nw)
		pulls = append(pulls, pull)
		pushes = append(pushes, push)
	}
	return pulls, pushes
}

// TestPollerReceivesEverything: a Poller over sockets of every transport
// returns every message once, each socket's in order, and takes from the
// sockets in turn.
func TestPollerReceivesEverything(t *testing.T) {
	forEachTransport(t, func(t *testing.T, nw *network) {
		ctx := testContext(t)
		const per = 1000
		pulls, pushes := pollerPulls(t, nw, 3)
		p, err := NewPoller(pulls...)
		if err != nil {
			t.Fatal(err)
		}
		defer p.Close()
		for _, push := range pushes {
			wait(t, sendAll(ctx, push, 0, per))
		}
		// Wait until every socket has messages queued, so that turns show.
		waitFor(t, ctx, "messages queued at every PULL", func() bool {
			for _, s := range pulls {
				if s.Stats().RecvQueue == 0 {
					return false
				}
			}
			return true
		})
		next := map[*Socket]int{}
		var order []*Socket
		for range 3 * per {
			s, m, err := p.Recv(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if n := number(t, m); n != next[s] {
				t.Fatalf("socket %p: got %d, want %d", s, n, next[s])
			}
			next[s]++
			if len(order) < 3 {
				order = append(order, s)
			}
		}
		if order[0] == order[1] || order[1] == order[2] || order[0] == order[2] {
			t.Fatalf("the first three messages came from %p %p %p: want one from each socket", order[0], order[1], order[2])
		}
		if _, _, err := p.TryRecv(); err != ErrNoMessage {
			t.Fatalf("TryRecv with nothing queued: got %v, want ErrNoMessage", err)
		}
	})
}

// TestPollerTakesOnlyWhatItReturns: what a Poller has not returned stays
// with its socket, unacknowledged: the sender's Flush waits for it, and the
// socket's own Recv gets it next, in order.
func TestPollerTakesOnlyWhatItReturns(t *testing.T) {
	ctx := testContext(t)
	nw := newNetwork(t, "tcp")
	push, pull := newPair(t, nw)
	wait(t, sendAll(ctx, push, 0, 10))
	p, err := NewPoller(pull)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 5 {
		_, m, err := p.Recv(ctx)
		if err != nil || number(t, m) != i {
			t.Fatalf("Poller.Recv %d: %q, %v", i, m, err)
		}
	}
	p.Close()
	short, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
	defer cancel()
	if err := push.Flush(short); !errors.Is(err, ErrUndelivered) {
		t.Fatalf("Flush with 5 messages not taken: got %v, want ErrUndelivered", err)
	}
	for i := 5; i < 10; i++ {
		m, err := pull.Recv(ctx)
		if err != nil || number(t, m) != i {
			t.Fatalf("Recv after the poller: %q, %v; want %d", m, err, i)
		}
	}
	if err := push.Flush(ctx); err != nil {
		t.Fatalf("Flush once all were taken: %v", err)
	}
}

// TestPollerReadyInSelect: Ready and TryRecv wait on sockets and on a
// channel of the application's in one select.
func TestPollerReadyInSelect(t *testing.T) {
	ctx := testContext(t)
	nw := newNetwork(t, "inproc")
	pulls, pushes := pollerPulls(t, nw, 2)
	p, err := NewPoller(pulls...)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	lines := make(chan string)
	go func() {
		for i := range 50 {
			pushes[i%2].Send(ctx, []byte(strconv.Itoa(i)))
			if i%10 == 0 {
				lines <- "line"
			}
		}
		close(lines)
	}()
	got, gotLines := 0, 0
	for got < 50 || lines != nil {
		select {
		case <-p.Ready():
			for {
				_, _, err := p.TryRecv()
				if err == ErrNoMessage {
					break
				}
				if err != nil {
					t.Fatal(err)
				}
				got++
			}
		case _, ok := <-lines:
			if !ok {
				lines = nil
				continue
			}
			gotLines++
		case <-ctx.Done():
			t.Fatalf("got %d messages and %d lines, want 50 and 5", got, gotLines)
		}
	}
	if gotLines != 5 {
		t.Fatalf("got %d lines, want 5", gotLines)
	}
}

// TestPollerConcurrentRecv: goroutines sharing a Poller get every message
// exactly once, and none waits while a message is there.
func TestPollerConcurrentRecv(t *testing.T) {
	ctx := testContext(t)
	nw := newNetwork(t, "inproc")
	pulls, pushes := pollerPulls(t, nw, 3)
	p, err := NewPoller(pulls...)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	const per = 2000
	var mu sync.Mutex
	seen := map[string]bool{}
	var wg sync.WaitGroup
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				s, m, err := p.Recv(ctx)
				if err != nil {
					return
				}
				key := fmt.Sprintf("%p/%s", s, m[0])
				mu.Lock()
				if seen[key] {
					t.Errorf("%s received twice", key)
				}
				seen[key] = true
				done := len(seen) == 3*per
				mu.Unlock()
				if done {
					return
				}
			}
		}()
	}
	for _, push := range pushes {
		wait(t, sendAll(ctx, push, 0, per))
	}
	waitFor(t, ctx, "every message", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(seen) == 3*per
	})
	for _, push := range pushes {
		push.Close() // the other receivers' Recv return with the test's end
	}
	for _, s := range pulls {
		s.Close()
	}
	wg.Wait()
}

// TestPollerSocketTypes: what Add takes, and what each kind of socket
// gives a Poller: a closed socket leaves it with ErrClosed once, an idle
// REQ is passed over and a waiting one keeps retrying, an XPUB reports
// subscriptions.
func TestPollerSocketTypes(t *testing.T) {
	ctx := testContext(t)
	push := newSocket(t, Push)
	p, err := NewPoller()
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	if err := p.Add(push); !errors.Is(err, ErrNotSupported) {
		t.Fatalf("Add(PUSH): got %v, want ErrNotSupported", err)
	}

	req := newSocket(t, Req, WithRequestRetry(20*time.Millisecond), WithLinger(0))
	rep := newSocket(t, Rep, WithLinger(0))
	ep, err := rep.Bind("inproc://poller-req")
	if err != nil {
		t.Fatal(err)
	}
	if err := req.Connect(ep); err != nil {
		t.Fatal(err)
	}
	if err := p.Add(req); err != nil {
		t.Fatal(err)
	}
	if err := p.Add(req); !errors.Is(err, ErrInvalidOption) {
		t.Fatalf("Add twice: got %v, want ErrInvalidOption", err)
	}
	if _, _, err := p.TryRecv(); err != ErrNoMessage {
		t.Fatalf("an idle REQ: got %v, want ErrNoMessage", err)
	}
	if err := req.Send(ctx, []byte("q")); err != nil {
		t.Fatal(err)
	}
	if _, err := rep.Recv(ctx); err != nil {
		t.Fatal(err)
	}
	// The REQ waits; a Poller looking at it must not pause its retries.
	for range 20 {
		p.TryRecv()
		time.Sleep(5 * time.Millisecond)
	}
	waitFor(t, ctx, "the REQ's retries", func() bool { return req.Stats().Retries > 0 })
	if err := rep.Send(ctx, []byte("a")); err != nil {
		t.Fatal(err)
	}
	if s, m, err := p.Recv(ctx); err != nil || s != req || string(m[0]) != "a" {
		t.Fatalf("the reply: got %p %q %v", s, m, err)
	}

	xpub := newSocket(t, XPub)
	if _, err := xpub.Bind("inproc://poller-xpub"); err != nil {
		t.Fatal(err)
	}
	if err := p.Add(xpub); err != nil {
		t.Fatal(err)
	}
	sub := newSocket(t, Sub)
	sub.Subscribe([]byte("topic"))
	if err := sub.Connect("inproc://poller-xpub"); err != nil {
		t.Fatal(err)
	}
	if s, m, err := p.Recv(ctx); err != nil || s != xpub || string(m[0]) != "\x01topic" {
		t.Fatalf("the subscription: got %p %q %v", s, m, err)
	}

	xpub.Close()
	if s, _, err := p.Recv(ctx); s != xpub || !errors.Is(err, ErrClosed) {
		t.Fatalf("a closed socket: got %p, %v; want it with ErrClosed", s, err)
	}
	if p.Len() != 1 {
		t.Fatalf("the closed socket stays in the poller (%d sockets)", p.Len())
	}
	if p.Remove(xpub) || !p.Remove(req) || p.Len() != 0 {
		t.Fatal("Remove")
	}
}

// TestMessagesIterator: a range loop over Messages gets every message, and
// breaking out of it takes nothing more.
func TestMessagesIterator(t *testing.T) {
	ctx := testContext(t)
	nw := newNetwork(t, "inproc")
	push, pull := newPair(t, nw, WithLinger(0)) // what the PULL leaves is not waited for
	wait(t, sendAll(ctx, push, 0, 10))
	i := 0
	for m, err := range pull.Messages(ctx) {
		if err != nil {
			t.Fatal(err)
		}
		if number(t, m) != i {
			t.Fatalf("got %q, want %d", m, i)
		}
		i++
		if i == 4 {
			break
		}
	}
	if m, err := pull.Recv(ctx); err != nil || number(t, m) != 4 {
		t.Fatalf("after break: %q, %v; want 4", m, err)
	}
	pull.Close()
	var last error
	for _, err := range pull.Messages(ctx) {
		last = err
	}
	if !errors.Is(last, ErrClosed) {
		t.Fatalf("a closed socket's loop ended with %v, want ErrClosed", last)
	}
}
