package engine

import (
	"context"
	"errors"
	"slices"
	"sync/atomic"

	"github.com/wispmq/wisp/internal/lockorder"
)

// Watching: a poller waiting on several sockets registers a channel with
// each, and learns through it, without blocking anyone, that a socket may
// have something for Recv. Signalling takes no lock (the list is copied on
// every change), so a delivery costs one atomic load when nobody watches.

// watchers are the channels watching a socket.
type watchers struct {
	mu   lockorder.Mutex // guards list; signallers load cur instead
	list []chan struct{}
	cur  atomic.Pointer[[]chan struct{}]
}

// Watch makes ch receive a value (when it has room: give it capacity 1)
// whenever the socket may have something new for Recv, and when it
// closes. The returned function stops it.
func (s *Engine) Watch(ch chan struct{}) (stop func()) {
	w := &s.watch
	w.mu.Lock()
	w.list = append(slices.Clip(w.list), ch)
	list := w.list
	w.cur.Store(&list)
	w.mu.Unlock()
	return func() {
		w.mu.Lock()
		defer w.mu.Unlock()
		if i := slices.Index(w.list, ch); i >= 0 {
			w.list = slices.Delete(slices.Clone(w.list), i, i+1)
			list := w.list
			w.cur.Store(&list)
		}
	}
}

// NotifyReadable tells the socket's watchers that Recv may have something
// new. The inbox calls it on every delivery; a behaviour whose Recv
// returns what the inbox does not hold (XPUB's subscriptions) calls it
// too.
func (s *Engine) NotifyReadable() {
	list := s.watch.cur.Load()
	if list == nil {
		return
	}
	for _, ch := range *list {
		select {
		case ch <- struct{}{}:
		default:
		}
	}
}

// ErrNoMessage is TryRecv's answer when nothing is there to receive now.
var ErrNoMessage = errors.New("wisp: no message to receive now")

// noWait is a context that has ended with ErrNoMessage as its cause: a
// Recv given it returns what is already there and never waits.
var noWait = func() context.Context {
	ctx, cancel := context.WithCancelCause(context.Background())
	cancel(ErrNoMessage)
	return ctx
}()

// TryRecv is Recv without waiting: it returns what the socket has now, or
// ErrNoMessage. It reads no connection itself.
func (s *Engine) TryRecv() (Message, error) {
	m, err := s.b.Recv(noWait)
	if err != nil && errors.Is(err, context.Canceled) {
		return nil, ErrNoMessage
	}
	return m, err
}

// Polling reports whether ctx is TryRecv's: a Recv that returns for want
// of a message has not given up waiting for one (REQ keeps retrying).
func Polling(ctx context.Context) bool { return ctx == noWait }
