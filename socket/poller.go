package socket

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/wispmq/wisp/internal/engine"
)

// ErrNoMessage is TryRecv's answer when no socket has a message now.
var ErrNoMessage = engine.ErrNoMessage

// A Poller receives from several sockets at once, in one goroutine and
// without starting any: Recv waits until any of its sockets has a message
// (or the context ends) and returns it with its socket, taking from the
// sockets in turn so that a busy one does not starve the others. To wait
// on sockets and on channels of your own in one select, use Ready and
// TryRecv.
//
// A Poller takes a message only when asked, so nothing is acknowledged on
// the application's behalf: what it has not returned yet stays with its
// socket, and a socket's guarantees (a PULL's lossless delivery, say) are
// kept. A socket may belong to several pollers, and may still be used with
// its own Recv. A Poller is safe for concurrent use.
type Poller struct {
	mu      sync.Mutex
	polled  []polled
	next    int           // where the next scan starts
	ready   chan struct{} // capacity 1: some socket may have a message
	waiting atomic.Int32  // goroutines blocked in Recv
}

type polled struct {
	s    *Socket
	stop func()
}

// NewPoller returns a Poller of the given sockets (see Add).
func NewPoller(sockets ...*Socket) (*Poller, error) {
	p := &Poller{ready: make(chan struct{}, 1)}
	for _, s := range sockets {
		if err := p.Add(s); err != nil {
			p.Close()
			return nil, err
		}
	}
	return p, nil
}

// Add adds s to the poller. It fails with ErrNotSupported for a type that
// receives nothing (PUSH, PUB), with ErrClosed for a closed socket, and
// with ErrInvalidOption if s is already in the poller.
func (p *Poller) Add(s *Socket) error {
	if !s.e.Caps().CanRecv {
		return fmt.Errorf("%w: a Poller receives, and %v does not", ErrNotSupported, s.typ)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if slices.ContainsFunc(p.polled, func(x polled) bool { return x.s == s }) {
		return fmt.Errorf("%w: the socket is in the poller already", ErrInvalidOption)
	}
	p.polled = append(p.polled, polled{s: s, stop: s.e.Watch(p.ready)})
	p.signal() // it may have messages already
	return nil
}

// Remove takes s out of the poller; it reports whether s was in it.
func (p *Poller) Remove(s *Socket) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.removeLocked(s)
}

func (p *Poller) removeLocked(s *Socket) bool {
	i := slices.IndexFunc(p.polled, func(x polled) bool { return x.s == s })
	if i < 0 {
		return false
	}
	p.polled[i].stop()
	p.polled = slices.Delete(p.polled, i, i+1)
	if p.next > i {
		p.next--
	}
	return true
}

// Len returns how many sockets the poller holds.
func (p *Poller) Len() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.polled)
}

// Close takes every socket out of the poller (it closes none of them).
func (p *Poller) Close() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, x := range p.polled {
		x.stop()
	}
	p.polled, p.next = nil, 0
}

// Recv waits until one of the poller's sockets has a message and returns
// it, as that socket's Recv would, with the socket. It returns ctx's error
// when ctx ends first. A socket that is closed leaves the poller, and Recv
// returns it once with ErrClosed; an error of another socket's Recv is
// returned with that socket. A REQ with no request outstanding has nothing
// to receive and is passed over.
func (p *Poller) Recv(ctx context.Context) (*Socket, Message, error) {
	for {
		s, m, err := p.TryRecv()
		if err != ErrNoMessage {
			return s, m, err
		}
		p.waiting.Add(1)
		select {
		case <-p.ready:
			p.waiting.Add(-1)
		case <-ctx.Done():
			p.waiting.Add(-1)
			return nil, nil, ctx.Err()
		}
	}
}

// TryRecv is Recv without waiting: it returns ErrNoMessage when no socket
// has a message now.
func (p *Poller) TryRecv() (*Socket, Message, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	n := len(p.polled)
	for k := range n {
		i := (p.next + k) % n
		s := p.polled[i].s
		m, err := s.e.TryRecv()
		switch {
		case err == nil:
			p.next = (i + 1) % n
			if p.waiting.Load() > 0 {
				p.signal() // another Recv may take the next one
			}
			return s, Message(m), nil
		case err == ErrNoMessage, errors.Is(err, ErrState):
			continue
		case errors.Is(err, ErrClosed):
			p.removeLocked(s)
			return s, nil, err
		default:
			p.next = (i + 1) % n
			return s, nil, err
		}
	}
	return nil, nil, ErrNoMessage
}

// Ready returns a channel that receives a value when one of the poller's
// sockets may have a message: then call TryRecv until it returns
// ErrNoMessage. A value may come with nothing to take (another receiver
// took it first); one is never missed while nobody took what it announced.
// It lets a select wait on sockets and on other channels at once:
//
//	for {
//		select {
//		case <-p.Ready():
//			for {
//				s, m, err := p.TryRecv()
//				if err == socket.ErrNoMessage {
//					break
//				}
//				handle(s, m, err)
//			}
//		case line := <-lines:
//			...
//		}
//	}
func (p *Poller) Ready() <-chan struct{} { return p.ready }

// signal makes Ready (and a waiting Recv) look again.
func (p *Poller) signal() {
	select {
	case p.ready <- struct{}{}:
	default:
	}
}

// Messages returns an iterator over the messages Recv returns, for a range
// loop: each step is Recv's message and error, and the loop ends after the
// first error (ctx's, or ErrClosed once the socket is closed) or when the
// loop body breaks. Breaking leaves nothing taken: the next message stays
// with the socket.
//
//	for m, err := range s.Messages(ctx) {
//		if err != nil {
//			return err
//		}
//		...
//	}
func (s *Socket) Messages(ctx context.Context) iter.Seq2[Message, error] {
	return func(yield func(Message, error) bool) {
		for {
			m, err := s.Recv(ctx)
			if !yield(m, err) || err != nil {
				return
			}
		}
	}
}
