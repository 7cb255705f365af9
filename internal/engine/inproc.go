package engine

import (
	"context"
	"errors"
	"fmt"
	"github.com/wispmq/wisp/internal/lockorder"

	"github.com/wispmq/wisp/patterns"
	"github.com/wispmq/wisp/transport"
)

// The process-wide table of bound inproc names.
var inprocNames = func() *inprocTable {
	t := &inprocTable{m: make(map[string]*binding)}
	t.Init(rankInprocNames, "inprocNames")
	return t
}()

type inprocTable struct {
	lockorder.Mutex
	m map[string]*binding
}

// errInprocNotBound is why a connect to an inproc name fails until some
// socket binds it; the dialer keeps retrying.
var errInprocNotBound = errors.New("wisp: no socket is bound to this inproc name")

func (s *Engine) bindInproc(endpoint, name string) (string, error) {
	b := &binding{s: s, endpoint: endpoint, asked: endpoint, inproc: name, done: make(chan struct{})}
	close(b.done) // no accept loop
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.state != stateOpen {
		return "", ErrClosed
	}
	if s.binds[endpoint] != nil {
		return "", fmt.Errorf("%w: %s", ErrEndpointInUse, endpoint)
	}
	inprocNames.Lock()
	if inprocNames.m[name] != nil {
		inprocNames.Unlock()
		return "", fmt.Errorf("%w: %s", transport.ErrAddressInUse, endpoint)
	}
	inprocNames.m[name] = b
	inprocNames.Unlock()
	s.binds[endpoint] = b
	s.emit(Event{Kind: EventListening, Endpoint: endpoint})
	return endpoint, nil
}

func unregisterInproc(b *binding) {
	inprocNames.Lock()
	if inprocNames.m[b.inproc] == b {
		delete(inprocNames.m, b.inproc)
	}
	inprocNames.Unlock()
}

// connectInproc links dialer d's socket with the socket bound to d's name
// and serves the link until it ends. Messages then move between the two
// sockets by reference, never encoded.
func (s *Engine) connectInproc(d *dialer, bo *patterns.Backoff) error {
	inprocNames.Lock()
	b := inprocNames.m[d.ep.Address]
	inprocNames.Unlock()
	if b == nil {
		return errInprocNotBound
	}
	peer := b.s
	local := s.newConn(d.endpoint)
	local.dialer, local.remote, local.info = d, d.endpoint, peer.self
	remote := peer.newConn(b.endpoint)
	remote.binding, remote.remote, remote.info = b, d.endpoint, s.self
	local.link, remote.link = remote, local
	local.ready, remote.ready = make(chan struct{}), make(chan struct{})

	if err := s.checkPeer(&local.info); err != nil {
		s.handshakeFail.Add(1)
		peer.handshakeFail.Add(1)
		peer.emit(Event{Kind: EventHandshakeFailed, Endpoint: b.endpoint, Peer: d.endpoint, Session: s.session.String(), Err: err})
		s.emit(Event{Kind: EventHandshakeFailed, Endpoint: d.endpoint, Session: peer.session.String(), Err: err})
		return err
	}
	// Attach the bound side first, under its own lock, so it cannot be
	// closing while we add to its goroutines.
	if err := peer.attachInproc(remote); err != nil {
		// Refused by the bound side's type rules (a PAIR that has a peer,
		// a routing id in use): both sides report it, as over a stream.
		if !errors.Is(err, ErrClosed) {
			s.handshakeFail.Add(1)
			peer.handshakeFail.Add(1)
			peer.emit(Event{Kind: EventHandshakeFailed, Endpoint: b.endpoint, Peer: d.endpoint, Session: s.session.String(), Err: err})
			s.emit(Event{Kind: EventHandshakeFailed, Endpoint: d.endpoint, Session: peer.session.String(), Err: err})
		}
		return err
	}
	if !s.track(local) {
		remote.close(ErrClosed)
		close(remote.ready)
		return ErrClosed
	}
	if err := s.attach(local); err != nil {
		remote.close(err)
		close(remote.ready)
		s.forget(local)
		if !errors.Is(err, ErrClosed) {
			s.handshakeFail.Add(1)
			s.emit(Event{Kind: EventHandshakeFailed, Endpoint: d.endpoint, Session: peer.session.String(), Err: err})
		}
		return err
	}
	close(local.ready)
	close(remote.ready)
	bo.Reset()
	stop := context.AfterFunc(d.ctx, func() { local.close(fmt.Errorf("%w: endpoint %s disconnected", ErrClosed, d.endpoint)) })
	defer stop()
	return s.serveInproc(local)
}

// attachInproc attaches the bound end of an inproc link and starts its
// serving goroutine, which waits for the link to be ready.
func (s *Engine) attachInproc(c *conn) error {
	s.mu.Lock()
	if s.state == stateClosed {
		s.mu.Unlock()
		return ErrClosed
	}
	s.conns[c] = struct{}{}
	s.wg.Add(1)
	s.mu.Unlock()
	if err := s.attach(c); err != nil {
		s.forget(c)
		s.wg.Done()
		return err
	}
	go func() {
		defer s.wg.Done()
		select {
		case <-c.ready:
		case <-c.done:
		}
		s.serveInproc(c)
	}()
	return nil
}

// serveInproc runs one end of an inproc link: it lets the writer start and
// waits for the link to end.
func (s *Engine) serveInproc(c *conn) error {
	if !c.closing() {
		s.emit(Event{Kind: EventConnected, Endpoint: c.endpoint, Peer: c.remote, Session: c.info.Session.String(), RoutingID: s.routingIDOf(c)})
		c.beginWriting()
		<-c.done
	}
	c.stopWriter()
	return s.ended(c)
}
