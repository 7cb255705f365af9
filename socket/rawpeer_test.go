package socket

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/wispmq/wisp/internal/codec/wisp"
	"github.com/wispmq/wisp/wire"
)

// rawTimeout bounds every wait of the raw-peer tests. It is a safety net so
// a bug fails the test with a message instead of hanging the package, not a
// performance threshold.
const rawTimeout = 15 * time.Second

// rawPeer speaks WISP/1 byte by byte over one connection, so a test can send
// what a well-behaved socket never would.
type rawPeer struct {
	t   *testing.T
	nc  net.Conn
	buf []byte // received and not yet consumed
	dec wire.Decoder
}

// rawDial connects to a tcp:// or ipc:// endpoint returned by Bind.
func rawDial(t *testing.T, endpoint string) *rawPeer {
	t.Helper()
	network, addr, ok := strings.Cut(endpoint, "://")
	if !ok {
		t.Fatalf("rawDial(%q): got no scheme, want tcp:// or ipc://", endpoint)
	}
	switch network {
	case "tcp":
	case "ipc":
		network = "unix"
	default:
		t.Fatalf("rawDial(%q): got scheme %q, want tcp or ipc", endpoint, network)
	}
	nc, err := net.DialTimeout(network, addr, rawTimeout)
	if err != nil {
		t.Fatalf("rawDial(%q): %v", endpoint, err)
	}
	return rawOn(t, nc)
}

// rawOn wraps a connection the test already has (one end of net.Pipe, say).
func rawOn(t *testing.T, nc net.Conn) *rawPeer {
	p := &rawPeer{t: t, nc: nc}
	t.Cleanup(func() { nc.Close() })
	return p
}

// greetingOf returns the WISP/1 greeting s sends on every connection.
func greetingOf(s *Socket) []byte {
	self := s.e.Self()
	return wisp.AppendGreeting(nil, &self)
}

// wireType is the WISP/1 value of a socket type (SPEC.md section 2.4).
func wireType(t Type) wire.SocketType {
	return map[Type]wire.SocketType{
		Pair: wire.Pair, Pub: wire.Pub, Sub: wire.Sub, Req: wire.Req, Rep: wire.Rep,
		Dealer: wire.Dealer, Router: wire.Router, Pull: wire.Pull, Push: wire.Push,
		XPub: wire.XPub, XSub: wire.XSub, Bus: wire.Bus,
	}[t]
}

// rawGreeting is the greeting of a well-behaved peer of type typ.
func rawGreeting(typ wire.SocketType, acks bool) wire.Greeting {
	return wire.Greeting{
		Major:   wire.VersionMajor,
		Minor:   wire.VersionMinor,
		Type:    typ,
		Acks:    acks,
		Session: wire.NewSessionID(),
	}
}

// send writes b; a write error is returned, not fatal, because the socket
// may legitimately have hung up already.
func (p *rawPeer) send(b []byte) error {
	p.nc.SetWriteDeadline(time.Now().Add(rawTimeout))
	_, err := p.nc.Write(b)
	return err
}

// mustSend writes b and fails the test if the write fails.
func (p *rawPeer) mustSend(b []byte) {
	p.t.Helper()
	if err := p.send(b); err != nil {
		p.t.Fatalf("raw write of %d bytes: %v", len(b), err)
	}
}

func (p *rawPeer) greet(g wire.Greeting) { p.mustSend(g.Append(nil)) }

func (p *rawPeer) command(c wire.Command) { p.mustSend(c.Append(nil)) }

func (p *rawPeer) frame(more bool, payload []byte) { p.mustSend(wire.AppendFrame(nil, more, payload)) }

// fill reads at least one more byte into p.buf.
func (p *rawPeer) fill() error {
	var b [4096]byte
	p.nc.SetReadDeadline(time.Now().Add(rawTimeout))
	n, err := p.nc.Read(b[:])
	p.buf = append(p.buf, b[:n]...)
	if n > 0 {
		return nil
	}
	return err
}

// readGreeting reads the socket's greeting.
func (p *rawPeer) readGreeting() (wire.Greeting, error) {
	for range 1 << 12 { // bounded: each round reads at least one byte
		g, n, err := wire.ParseGreeting(p.buf)
		if err == nil {
			g.RoutingID = nil // it would alias buf
			p.buf = p.buf[n:]
			return g, nil
		}
		if err != io.ErrUnexpectedEOF {
			return g, err
		}
		if err := p.fill(); err != nil {
			return wire.Greeting{}, err
		}
	}
	return wire.Greeting{}, errors.New("greeting longer than any valid one")
}

// readItem reads the next frame or command. A frame's payload is copied.
func (p *rawPeer) readItem() (wire.Item, error) {
	for range 1 << 20 { // bounded: each round reads at least one byte
		it, n, err := p.dec.Decode(p.buf)
		if err == nil {
			it.Frame = append([]byte(nil), it.Frame...)
			it.Command.Data = append([]byte(nil), it.Command.Data...)
			p.buf = p.buf[n:]
			return it, nil
		}
		if err != io.ErrUnexpectedEOF {
			return it, err
		}
		if err := p.fill(); err != nil {
			return wire.Item{}, err
		}
	}
	return wire.Item{}, errors.New("frame larger than the raw peer reads")
}

// readCommand skips data frames until a command arrives.
func (p *rawPeer) readCommand() (wire.Command, error) {
	for range 1 << 20 {
		it, err := p.readItem()
		if err != nil {
			return wire.Command{}, err
		}
		if it.IsCommand {
			return it.Command, nil
		}
	}
	return wire.Command{}, errors.New("no command among a million frames")
}

// handshake sends g and reads the socket's greeting.
func (p *rawPeer) handshake(g wire.Greeting) wire.Greeting {
	p.t.Helper()
	p.greet(g)
	peer, err := p.readGreeting()
	if err != nil {
		p.t.Fatalf("reading the socket's greeting: %v", err)
	}
	return peer
}

// drain reads until the socket ends the connection and returns everything
// unread, with the error that ended it (io.EOF, or a reset when the socket
// hung up with our bytes unread). A read timeout fails the test: the
// connection was supposed to end.
func (p *rawPeer) drain() ([]byte, error) {
	p.t.Helper()
	for range 1 << 20 {
		if err := p.fill(); err != nil {
			if rawIsTimeout(err) {
				p.t.Fatalf("the socket did not end the connection within %v (%d bytes unread)", rawTimeout, len(p.buf))
			}
			return p.buf, err
		}
	}
	p.t.Fatalf("the socket sent more than a million reads' worth and did not hang up")
	return nil, nil
}

func rawIsTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// rawConnEnded reports whether err is how a peer's hang-up shows on our end.
func rawConnEnded(err error) bool {
	return errors.Is(err, io.EOF) || errors.Is(err, io.ErrClosedPipe) || errors.Is(err, net.ErrClosed) ||
		strings.Contains(err.Error(), "connection reset") || strings.Contains(err.Error(), "broken pipe")
}

// rawEvents keeps every event of a socket, drained by a goroutine that ends
// when the socket closes its Events channel.
type rawEvents struct {
	mu      sync.Mutex
	evs     []Event
	changed chan struct{} // closed and replaced on every new event
	done    chan struct{}
}

func rawWatch(s *Socket) *rawEvents {
	w := &rawEvents{changed: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(w.done)
		for e := range s.Events() {
			w.mu.Lock()
			w.evs = append(w.evs, e)
			close(w.changed)
			w.changed = make(chan struct{})
			w.mu.Unlock()
		}
	}()
	return w
}

// mark returns how many events arrived so far.
func (w *rawEvents) mark() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return len(w.evs)
}

// since returns the events after mark.
func (w *rawEvents) since(mark int) []Event {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]Event(nil), w.evs[mark:]...)
}

// waitN waits until n events after mark satisfy match and returns the last.
func (w *rawEvents) waitN(t *testing.T, mark, n int, what string, match func(Event) bool) Event {
	t.Helper()
	timeout := time.NewTimer(rawTimeout)
	defer timeout.Stop()
	seen, at := 0, mark
	var last Event
	for {
		w.mu.Lock()
		for ; at < len(w.evs); at++ {
			if match(w.evs[at]) {
				seen++
				last = w.evs[at]
			}
		}
		ch := w.changed
		w.mu.Unlock()
		if seen >= n {
			return last
		}
		select {
		case <-ch:
		case <-w.done:
			t.Fatalf("events closed after %d of %d %s", seen, n, what)
		case <-timeout.C:
			t.Fatalf("got %d %s within %v, want %d; events since: %v", seen, what, rawTimeout, n, rawTail(w.since(mark), 20))
		}
	}
}

func (w *rawEvents) wait(t *testing.T, mark int, what string, match func(Event) bool) Event {
	t.Helper()
	return w.waitN(t, mark, 1, what, match)
}

// rawTail returns the last n events, for failure messages.
func rawTail(evs []Event, n int) []Event {
	if len(evs) > n {
		return evs[len(evs)-n:]
	}
	return evs
}

// rawFailure matches a connection failure event of kind k whose reason
// wraps want.
func rawFailure(k EventKind, want error) func(Event) bool {
	return func(e Event) bool { return e.Kind == k && errors.Is(e.Err, want) }
}

// rawIsFailure reports whether e ends a connection.
func rawIsFailure(e Event) bool {
	return e.Kind == EventHandshakeFailed || e.Kind == EventDisconnected
}

// rawStream is a well-behaved PUSH and PULL pair streaming numbered
// messages the whole time a test runs; at the end every number must have
// arrived exactly once (and in order, when a single PUSH feeds a single
// PULL).
type rawStream struct {
	t       *testing.T
	push    *Socket
	pull    *Socket
	ordered bool

	ctx       context.Context
	cancel    context.CancelFunc
	stop      chan struct{}
	sendDone  chan struct{}
	recvDone  chan struct{}
	sent      atomic.Uint64
	sendErr   error
	recvErr   error
	received  atomic.Uint64
	seen      []bool // receiver only, then read after recvDone
	notifyMu  sync.Mutex
	notifyAt  uint64
	notify    chan struct{}
	nextCheck atomic.Uint64 // received count at which the receiver takes notifyMu
}

// rawStart starts streaming from push to pull, which must be connected or
// connecting.
func rawStart(t *testing.T, push, pull *Socket, ordered bool) *rawStream {
	st := &rawStream{
		t: t, push: push, pull: pull, ordered: ordered,
		stop:     make(chan struct{}),
		sendDone: make(chan struct{}),
		recvDone: make(chan struct{}),
	}
	st.nextCheck.Store(^uint64(0))
	st.ctx, st.cancel = context.WithCancel(context.Background())
	go st.sendLoop()
	go st.recvLoop()
	return st
}

func (st *rawStream) sendLoop() {
	defer close(st.sendDone)
	for i := uint64(0); i < 1<<40; i++ {
		select {
		case <-st.stop:
			return
		default:
		}
		var b [8]byte
		binary.BigEndian.PutUint64(b[:], i)
		if err := st.push.Send(st.ctx, b[:]); err != nil {
			st.sendErr = err
			return
		}
		st.sent.Store(i + 1)
	}
}

func (st *rawStream) recvLoop() {
	defer close(st.recvDone)
	for next := uint64(0); next < 1<<40; next++ {
		m, err := st.pull.Recv(st.ctx)
		if err != nil {
			if st.ctx.Err() == nil {
				st.recvErr = err
			}
			return
		}
		if len(m) != 1 || len(m[0]) != 8 {
			st.recvErr = fmt.Errorf("message %d: got %q, want one 8-byte frame from the good peer", next, m)
			return
		}
		v := binary.BigEndian.Uint64(m[0])
		if st.ordered && v != next {
			st.recvErr = fmt.Errorf("got message %d, want %d (exactly once, in order)", v, next)
			return
		}
		for uint64(len(st.seen)) <= v {
			st.seen = append(st.seen, false)
		}
		if st.seen[v] {
			st.recvErr = fmt.Errorf("got message %d twice, want once", v)
			return
		}
		st.seen[v] = true
		n := st.received.Add(1)
		if n >= st.nextCheck.Load() {
			st.notifyMu.Lock()
			if st.notify != nil && n >= st.notifyAt {
				close(st.notify)
				st.notify = nil
				st.nextCheck.Store(^uint64(0))
			}
			st.notifyMu.Unlock()
		}
	}
}

// progress waits until the receiver has taken n more messages than now.
func (st *rawStream) progress(t *testing.T, n uint64) {
	t.Helper()
	ch := make(chan struct{})
	st.notifyMu.Lock()
	st.notifyAt = st.received.Load() + n
	st.notify = ch
	st.nextCheck.Store(st.notifyAt)
	st.notifyMu.Unlock()
	if st.received.Load() >= st.notifyAt {
		return
	}
	select {
	case <-ch:
	case <-st.recvDone:
		t.Fatalf("the good receiver stopped: %v", st.recvErr)
	case <-st.sendDone:
		t.Fatalf("the good sender stopped: %v", st.sendErr)
	case <-time.After(rawTimeout):
		t.Fatalf("the good stream took %d messages in %v, want %d more", st.received.Load()-(st.notifyAt-n), rawTimeout, n)
	}
}

// finish stops sending, waits until everything sent was taken, and checks
// that every message arrived exactly once.
func (st *rawStream) finish(t *testing.T) {
	t.Helper()
	close(st.stop)
	<-st.sendDone
	if st.sendErr != nil {
		t.Errorf("good sender: %v", st.sendErr)
	}
	ctx, cancel := context.WithTimeout(context.Background(), rawTimeout)
	defer cancel()
	// Flush returns once every message was acknowledged, that is taken by
	// the receiver's Recv.
	if err := st.push.Flush(ctx); err != nil {
		t.Errorf("Flush: %v", err)
	}
	st.cancel()
	<-st.recvDone
	if st.recvErr != nil {
		t.Errorf("good receiver: %v", st.recvErr)
	}
	sent, got := st.sent.Load(), st.received.Load()
	if got != sent {
		t.Errorf("good stream: got %d messages, want %d", got, sent)
	}
	for i, ok := range st.seen {
		if !ok {
			t.Errorf("good stream: message %d missing", i)
			break
		}
	}
	t.Logf("good stream: %d messages", sent)
}
