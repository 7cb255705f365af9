package engine

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"sync"
	"syscall"
	"time"

	"golang.org/x/net/netutil"

	"github.com/wispmq/wisp/patterns"
	"github.com/wispmq/wisp/transport"
)

// binding is one bound endpoint: a listener and its accept loop, or an
// inproc name.
type binding struct {
	s        *Engine
	endpoint string // the endpoint actually bound
	asked    string // the endpoint as the application gave it
	l        net.Listener
	inproc   string
	closed   bool          // guarded by Engine.mu
	stop     chan struct{} // closed by close: ends the accept loop's pauses
	done     chan struct{}
}

// dialer is one connected endpoint: it dials, serves the connection, and
// dials again with backoff until Disconnect or Close.
type dialer struct {
	s        *Engine
	endpoint string
	ep       transport.Endpoint
	ctx      context.Context
	cancel   context.CancelFunc
	peer     *Peer // guarded by Engine.mu; where messages for this endpoint queue
	done     chan struct{}

	again       chan struct{} // capacity 1: dial again at once (redial)
	attemptMu   sync.Mutex
	abandonDial context.CancelCauseFunc // ends the connect in progress, or nil
}

func (s *Engine) transportConfig() transport.Config {
	return transport.Config{
		ReusePort: s.opts.ReusePort,
		LocalAddr: s.opts.LocalAddr,
		Dial:      s.opts.Dial,
		Listen:    s.opts.Listen,
		TLS:       s.opts.TLS,
	}
}

// Bind is the socket's Bind (see package socket): it binds endpoint and
// returns the endpoint actually bound.
func (s *Engine) Bind(endpoint string) (string, error) {
	ep, err := transport.ParseEndpoint(endpoint)
	if err != nil {
		return "", err
	}
	if s.stateNow() != stateOpen {
		return "", ErrClosed
	}
	if ep.Scheme == transport.SchemeInproc {
		return s.bindInproc(endpoint, ep.Address)
	}
	s.mu.Lock()
	_, mine := s.binds[endpoint] // as Bind returned it: port 0 asks for a new port each time
	s.mu.Unlock()
	if mine {
		// Said before the system would say "address in use", which is
		// about someone else.
		return "", fmt.Errorf("%w: %s", ErrEndpointInUse, endpoint)
	}
	cfg := s.transportConfig()
	fromHere := s.opts.DialFromBind && isTCP(ep)
	if fromHere {
		cfg.ReusePort = true // the dials will bind this port too
	}
	if ep.Scheme == transport.SchemeIPC {
		cfg.ReusePort, cfg.LocalAddr = false, "" // tcp-only settings
	}
	l, real, err := transport.Listen(s.ctx, ep, cfg)
	if err != nil {
		if s.stateNow() == stateClosed {
			return "", ErrClosed
		}
		return "", err
	}
	bound, err := s.serveListener(l, endpoint, real.String(), s.opts.Listen == nil && isTCP(ep))
	if err == nil && fromHere {
		s.mu.Lock()
		if s.dialFrom == "" {
			s.dialFrom, s.dialFromEndpoint = real.Address, bound
		}
		s.mu.Unlock()
	}
	return bound, err
}

// BindListener serves a listener the application opened; the socket owns
// it from then on.
func (s *Engine) BindListener(l net.Listener) (string, error) {
	ep := transport.EndpointFromAddr(l.Addr()).String()
	return s.serveListener(l, ep, ep, false)
}

// serveListener serves l as the binding of endpoint; opened says the
// socket opened l itself, not the application.
func (s *Engine) serveListener(l net.Listener, asked, endpoint string, opened bool) (string, error) {
	// Sized beneath LimitListener, whose connections hide the kernel's.
	l = sizingListener{Listener: l, s: s, opened: opened}
	if s.opts.MaxConns > 0 {
		l = netutil.LimitListener(l, s.opts.MaxConns)
	}
	b := &binding{s: s, endpoint: endpoint, asked: asked, l: l, stop: make(chan struct{}), done: make(chan struct{})}
	s.mu.Lock()
	if s.state != stateOpen {
		s.mu.Unlock()
		l.Close()
		return "", ErrClosed
	}
	if s.binds[endpoint] != nil {
		s.mu.Unlock()
		l.Close()
		return "", fmt.Errorf("%w: %s", ErrEndpointInUse, endpoint)
	}
	s.binds[endpoint] = b
	s.wg.Add(1)
	s.mu.Unlock()
	s.emit(Event{Kind: EventListening, Endpoint: endpoint})
	go b.acceptLoop()
	return endpoint, nil
}

func (b *binding) acceptLoop() {
	s := b.s
	defer s.wg.Done()
	defer close(b.done)
	// Accept errors other than a closed listener (out of file descriptors,
	// say) are retried with a growing pause instead of spinning.
	bo := patterns.Backoff{Initial: 5 * time.Millisecond, Max: time.Second}
	for {
		nc, err := b.l.Accept()
		if err != nil {
			s.mu.Lock()
			closed := b.closed || s.state == stateClosed
			s.mu.Unlock()
			if closed || errors.Is(err, net.ErrClosed) {
				return
			}
			delay := bo.Next(rand.Float64())
			s.emit(Event{Kind: EventAcceptFailed, Endpoint: b.endpoint, Err: err, Delay: delay})
			t := time.NewTimer(delay)
			select {
			case <-t.C:
			case <-b.stop:
				t.Stop()
				return
			case <-s.ctx.Done():
				t.Stop()
				return
			}
			continue
		}
		bo.Reset()
		c := s.newConn(b.endpoint)
		c.nc, c.binding, c.remote = nc, b, nc.RemoteAddr().String()
		if !s.track(c) {
			nc.Close()
			return
		}
		s.emit(Event{Kind: EventAccepted, Endpoint: b.endpoint, Peer: c.remote})
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			s.serveAccepted(c)
		}()
	}
}

// close stops accepting and ends the connections accepted through b.
func (b *binding) close() {
	s := b.s
	s.mu.Lock()
	if b.closed {
		s.mu.Unlock()
		return
	}
	b.closed = true
	if s.binds[b.endpoint] == b {
		delete(s.binds, b.endpoint)
	}
	var conns []*conn
	for c := range s.conns {
		if c.binding == b {
			conns = append(conns, c)
		}
	}
	s.mu.Unlock()
	if b.l != nil {
		close(b.stop)
		b.l.Close()
		<-b.done
	} else {
		unregisterInproc(b)
	}
	for _, c := range conns {
		c.close(fmt.Errorf("%w: endpoint %s unbound", ErrClosed, b.endpoint))
	}
}

// Unbind stops accepting on an endpoint given to Bind (as given, or as Bind
// returned it) and closes the connections accepted through it.
func (s *Engine) Unbind(endpoint string) error {
	s.mu.Lock()
	b := s.binds[endpoint]
	if b == nil {
		for _, x := range s.binds {
			if x.asked == endpoint {
				b = x
				break
			}
		}
	}
	s.mu.Unlock()
	if b == nil {
		return fmt.Errorf("%w: %s", ErrUnknownEndpoint, endpoint)
	}
	s.mu.Lock()
	if s.dialFromEndpoint == b.endpoint {
		// The port may go to someone else now: dial from an ephemeral
		// one until the next tcp binding.
		s.dialFrom, s.dialFromEndpoint = "", ""
	}
	s.mu.Unlock()
	b.close()
	return nil
}

// isTCP reports whether ep runs over a TCP socket this package opens.
func isTCP(ep transport.Endpoint) bool {
	return ep.Scheme == transport.SchemeTCP || ep.Scheme == transport.SchemeTLS
}

// Connect dials endpoint in the background, and again after every failure
// or lost connection, with jittered backoff.
func (s *Engine) Connect(endpoint string) error {
	ep, err := transport.ParseEndpoint(endpoint)
	if err != nil {
		return err
	}
	if ep.Scheme == transport.SchemeTLS && s.opts.TLS == nil {
		return fmt.Errorf("%w: %s needs a TLS config (WithTLS)", transport.ErrInvalidConfig, endpoint)
	}
	if ep.Scheme == transport.SchemeTCP || ep.Scheme == transport.SchemeTLS {
		// Fail now rather than retrying forever in the background.
		host, port, _ := net.SplitHostPort(ep.Address)
		if host == "" || port == "0" {
			return fmt.Errorf("%w %q: Connect needs a host and a port, not * or 0", transport.ErrInvalidEndpoint, endpoint)
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.state != stateOpen {
		return ErrClosed
	}
	if s.dialers[endpoint] != nil {
		return fmt.Errorf("%w: %s", ErrEndpointInUse, endpoint)
	}
	d := &dialer{s: s, endpoint: endpoint, ep: ep, done: make(chan struct{}), again: make(chan struct{}, 1)}
	d.ctx, d.cancel = context.WithCancel(s.ctx)
	if s.caps.SendsData {
		d.peer = s.newPeerLocked(d)
		s.broadcastRoomLocked() // a Send blocked for want of any peer may queue here
	}
	s.dialers[endpoint] = d
	s.wg.Add(1)
	go d.run()
	return nil
}

// ConnectConn serves a connection the application already has; it is not
// redialed when it ends.
func (s *Engine) ConnectConn(nc net.Conn) error {
	s.sizeSendBuffer(nc, false)
	c := s.newConn(transport.EndpointFromAddr(nc.RemoteAddr()).String())
	c.nc, c.remote = nc, nc.RemoteAddr().String()
	s.mu.Lock()
	if s.state != stateOpen {
		s.mu.Unlock()
		nc.Close()
		return ErrClosed
	}
	s.conns[c] = struct{}{}
	s.wg.Add(1)
	s.mu.Unlock()
	go func() {
		defer s.wg.Done()
		s.serveStream(c, nil)
	}()
	return nil
}

// Disconnect stops connecting to an endpoint given to Connect and closes its
// connection. Messages it still held go to other peers after the resume
// timeout, unless the same peer returns through another endpoint first.
func (s *Engine) Disconnect(endpoint string) error {
	s.mu.Lock()
	d := s.dialers[endpoint]
	if d != nil {
		delete(s.dialers, endpoint)
	}
	s.mu.Unlock()
	if d == nil {
		return fmt.Errorf("%w: %s", ErrUnknownEndpoint, endpoint)
	}
	d.cancel()
	<-d.done
	s.mu.Lock()
	if p := d.peer; p != nil && p.dialer == d {
		p.dialer = nil
		if p.conn.Load() == nil {
			if p.ledger.Len() == 0 && !p.hasSession {
				s.removePeerLocked(p)
			} else {
				p.armExpiry()
			}
		}
	}
	s.mu.Unlock()
	return nil
}

func (d *dialer) run() {
	s := d.s
	defer s.wg.Done()
	defer close(d.done)
	bo := patterns.Backoff{Initial: s.opts.Reconnect, Max: s.opts.ReconnectMax}
	for {
		err := d.once(&bo)
		if d.ctx.Err() != nil {
			return
		}
		if dup := (*duplicateError)(nil); errors.As(err, &dup) && dup.winner != nil {
			// The peer is connected through another connection, which
			// stays (two sockets that connect to each other keep one):
			// dialing again before it ends would be refused again, every
			// backoff interval, for as long as it lasts.
			select {
			case <-dup.winner.done:
				bo.Reset()
				continue
			case <-d.ctx.Done():
				return
			}
		}
		if s.opts.DialFromBind && errors.Is(err, syscall.EADDRNOTAVAIL) {
			// From our bound port to this endpoint there already is a
			// connection: the peer dialed us.
			d.handOverIfConnected()
		}
		select {
		case <-d.again:
			s.emit(Event{Kind: EventRetrying, Endpoint: d.endpoint, Err: err})
			continue
		default:
		}
		delay := bo.Next(rand.Float64())
		s.emit(Event{Kind: EventRetrying, Endpoint: d.endpoint, Err: err, Delay: delay})
		t := time.NewTimer(delay)
		select {
		case <-t.C:
		case <-d.again:
			t.Stop()
		case <-d.ctx.Done():
			t.Stop()
			return
		}
	}
}

// once makes one connection attempt and serves the connection until it ends.
func (d *dialer) once(bo *patterns.Backoff) error {
	s := d.s
	if d.ep.Scheme == transport.SchemeInproc {
		return s.connectInproc(d, bo)
	}
	cfg := s.transportConfig()
	if s.opts.DialFromBind && isTCP(d.ep) {
		s.mu.Lock()
		cfg.ReusePort, cfg.LocalAddr = true, s.dialFrom
		s.mu.Unlock()
	}
	if d.ep.Scheme == transport.SchemeIPC {
		cfg.ReusePort, cfg.LocalAddr = false, ""
	}
	// A dial into a black hole would otherwise wait for the OS's timeout.
	actx, abandon := context.WithCancelCause(d.ctx)
	dctx, cancel := context.WithTimeout(actx, s.opts.HandshakeTimeout)
	d.attemptMu.Lock()
	d.abandonDial = abandon
	d.attemptMu.Unlock()
	nc, err := transport.Dial(dctx, d.ep, cfg)
	d.attemptMu.Lock()
	d.abandonDial = nil
	d.attemptMu.Unlock()
	cancel()
	if cause := context.Cause(actx); err != nil && errors.Is(cause, errDialAgain) {
		err = cause
	}
	abandon(nil)
	if err != nil {
		return err
	}
	s.sizeSendBuffer(nc, s.opts.Dial == nil && isTCP(d.ep))
	c := s.newConn(d.endpoint)
	c.nc, c.dialer, c.remote = nc, d, nc.RemoteAddr().String()
	if !s.track(c) {
		nc.Close()
		return ErrClosed
	}
	// Disconnect must be able to end a connection that is mid-handshake.
	stop := context.AfterFunc(d.ctx, func() { c.close(context.Canceled) })
	defer stop()
	return s.serveStream(c, bo)
}

// handOverIfConnected gives what is queued for d's endpoint to the peer
// connected from that endpoint's address, if there is one (see
// handOverLocked).
func (d *dialer) handOverIfConnected() {
	s := d.s
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, p := range s.peers {
		if c := p.conn.Load(); c != nil && c.remote == d.ep.Address {
			s.handOverLocked(d.peer)
			return
		}
	}
}

// errDialAgain is why a connection attempt was abandoned by redial.
var errDialAgain = errors.New("wisp: connection attempt abandoned to dial again at once")

// redial has d dial again at once: it abandons a connect in progress (the
// kernel resends a lost SYN only after a second, then three, then seven)
// and skips the wait before the next attempt.
func (d *dialer) redial() {
	select {
	case d.again <- struct{}{}:
	default:
	}
	d.attemptMu.Lock()
	if d.abandonDial != nil {
		d.abandonDial(errDialAgain)
	}
	d.attemptMu.Unlock()
}

// RedialLocked has every connecting endpoint without a connection dial
// again at once (see dialer.redial): a behaviour waiting for an answer
// does not wait out the kernel's or the reconnect interval's backoff.
// Callers hold the lock.
func (s *Engine) RedialLocked() {
	s.mu.AssertHeld()
	for _, d := range s.dialers {
		if d.peer != nil && !d.peer.Connected() && d.ep.Scheme != transport.SchemeInproc {
			d.redial()
		}
	}
}

// track registers a new connection so Close can end it. It fails once the
// socket has finished lingering.
func (s *Engine) track(c *conn) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.state == stateClosed {
		return false
	}
	s.conns[c] = struct{}{}
	return true
}

// serveStream runs a stream connection from handshake to end: it is the
// connection's reader, and it starts and waits for the writer. bo, for
// dialed connections, is reset once the handshake succeeds.
func (s *Engine) serveStream(c *conn, bo *patterns.Backoff) error {
	if err := s.admit(c); err != nil {
		return err
	}
	return s.runStream(c, bo)
}

// serveAccepted runs an accepted connection: its handshake here, and the
// rest of its life in a goroutine of its own, started after it. A
// goroutine's stack keeps the size the deepest call it made grew it to,
// the handshake's: an idle connection's reader, parked in a read, would
// hold 8 KiB of stack for it, twice its heap, with a hundred thousand
// peers in a socket. The new goroutine starts small and grows only as
// far as reading takes it.
func (s *Engine) serveAccepted(c *conn) {
	if s.admit(c) != nil {
		return
	}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		s.runStream(c, nil)
	}()
}

// admit runs a stream connection's handshake and makes it its peer's
// connection, reporting EventHandshakeFailed when either fails.
func (s *Engine) admit(c *conn) error {
	if err := c.handshake(); err != nil {
		c.close(err)
		s.forget(c)
		s.handshakeFail.Add(1)
		s.emit(Event{Kind: EventHandshakeFailed, Endpoint: c.endpoint, Peer: c.remote, Err: err})
		return err
	}
	err := s.attach(c)
	if dup := (*duplicateError)(nil); errors.As(err, &dup) && dup.old != nil {
		t := time.NewTimer(duplicateGrace)
		select {
		case <-dup.old.done:
			err = s.attach(c)
		case <-t.C:
		case <-c.done:
		}
		t.Stop()
	}
	if err != nil {
		c.refuse(err)
		c.close(err)
		s.forget(c)
		s.handshakeFail.Add(1)
		s.emit(Event{Kind: EventHandshakeFailed, Endpoint: c.endpoint, Peer: c.remote, Session: c.info.Session.String(), Err: err})
		return err
	}
	return nil
}

// runStream runs an admitted stream connection to its end: it is the
// connection's reader, and it starts and waits for the writer. bo, for
// dialed connections, is reset now that the handshake succeeded.
func (s *Engine) runStream(c *conn, bo *patterns.Backoff) error {
	var backoff patterns.Backoff
	if bo != nil {
		backoff = *bo
		bo.Reset()
	}
	s.emit(Event{Kind: EventConnected, Endpoint: c.endpoint, Peer: c.remote, Session: c.info.Session.String(), RoutingID: s.routingIDOf(c), UserID: c.info.UserID, TLS: c.info.TLS})
	c.beginWriting()
	beats.add(c)
	err := c.readLoop()
	beats.remove(c)
	if pe := (*protocolError)(nil); errors.As(err, &pe) && !c.closing() {
		// Let the writer tell the peer why before the connection closes.
		c.nc.SetWriteDeadline(time.Now().Add(errorWriteTimeout))
		c.fatal.Store(&err)
		c.signal()
		<-c.writerDone
	}
	c.close(err)
	c.stopWriter()
	if bo != nil && errors.Is(c.closeErr, ErrPeerError) {
		// The peer refused us after the handshake (a routing id in use, a
		// PAIR that has a peer): keep backing off rather than redialing
		// every initial interval forever.
		*bo = backoff
	}
	return s.ended(c)
}

// ended detaches a finished connection and reports why it ended.
func (s *Engine) ended(c *conn) error {
	s.detach(c)
	err := c.closeErr
	var pe *protocolError
	if errors.As(err, &pe) {
		s.protocolErr.Add(1)
	}
	s.emit(Event{Kind: EventDisconnected, Endpoint: c.endpoint, Peer: c.remote, Session: c.info.Session.String(), RoutingID: s.routingIDOf(c), UserID: c.info.UserID, TLS: c.info.TLS, Err: err})
	return err
}

func (s *Engine) forget(c *conn) {
	s.mu.Lock()
	delete(s.conns, c)
	s.mu.Unlock()
}

// attach makes a handshaken connection the peer session's connection.
func (s *Engine) attach(c *conn) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.state == stateClosed {
		return ErrClosed
	}
	if c.binding != nil && c.binding.closed {
		return fmt.Errorf("%w: endpoint %s unbound", ErrClosed, c.binding.endpoint)
	}
	if c.dialer != nil && c.dialer.ctx.Err() != nil {
		return fmt.Errorf("%w: endpoint %s disconnected", ErrClosed, c.endpoint)
	}
	sess := c.info.Session
	if err := s.b.AdmitLocked(&c.info); err != nil {
		return err
	}
	if p := s.bySession[sess]; p != nil && p.conn.Load() != nil && p.conn.Load().closing() {
		// Closed (a probe below found it dead), its reader not yet done.
		s.detachLocked(p.conn.Load())
	}
	if p := s.bySession[sess]; p != nil && p.conn.Load() != nil {
		old := p.conn.Load()
		// Two connections between the same sockets (each connecting to the
		// other, say). Both ends keep the one dialed by the smaller session
		// id, so they agree without talking.
		if !s.prefer(c, old) {
			dup := &duplicateError{sess: sess, winner: old}
			if c.dialer == nil && old.dialer == nil && old.link == nil && !old.info.NoHeartbeats {
				// The peer dialed again while we hold its last connection:
				// it may have given that one up (a partition, a probe that
				// went unanswered) while we still take it for alive. A
				// PING finds out: a socket the peer closed answers with a
				// reset.
				old.pingWanted.Store(true)
				old.signal()
				dup.old = old
			}
			if c.dialer != nil {
				// The endpoint leads to a peer already connected the other
				// way: what was queued for the endpoint goes to it.
				s.handOverLocked(c.dialer.peer)
			}
			return dup
		}
		old.close(ErrDuplicateConnection)
		s.detachLocked(old)
	}
	c.setTimers()
	if s.caps.ReceivesData {
		c.ackTimer = time.AfterFunc(time.Hour, c.ackTimerFired)
		c.ackTimer.Stop()
	}
	switch c.nc.(type) {
	case *net.TCPConn, *net.UnixConn:
		// A kernel socket with room takes a small write without blocking;
		// a user's conn (net.Pipe, TLS) may block.
		c.inlineOK = true
		c.noWait = newNoWaitConn(c.nc)
	}
	s.conns[c] = struct{}{}
	s.attachPeerLocked(c)
	return nil
}

// routingIDOf is the routing id c's peer has at this socket, for events.
func (s *Engine) routingIDOf(c *conn) []byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	if c.p == nil {
		return nil
	}
	return bytes.Clone(c.p.RoutingID) // the application may change what it gets
}

// duplicateGrace is how long a second connection from a peer session waits
// for the first, probed, to fail before it is refused: a reset comes back
// within a round trip.
const duplicateGrace = time.Second

// duplicateError refuses a second connection from a session; old, when
// set, is the first connection, probed because the peer dialed both.
type duplicateError struct {
	sess   SessionID
	old    *conn
	winner *conn // the connection kept: a refused dialer waits for its end
}

func (e *duplicateError) Error() string {
	return fmt.Sprintf("%v: already connected to session %v", ErrDuplicateConnection, e.sess)
}

func (e *duplicateError) Unwrap() error { return ErrDuplicateConnection }

// prefer reports whether the new connection c should replace old.
func (s *Engine) prefer(c, old *conn) bool {
	initiator := func(x *conn) string {
		if x.dialer != nil {
			return string(s.session[:])
		}
		return string(x.info.Session[:])
	}
	a, b := initiator(c), initiator(old)
	return a < b
}

func (s *Engine) detach(c *conn) {
	s.mu.Lock()
	s.detachLocked(c)
	delete(s.conns, c)
	s.mu.Unlock()
}

func (s *Engine) detachLocked(c *conn) {
	s.detachPeerLocked(c)
}
