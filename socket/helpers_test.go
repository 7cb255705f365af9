package socket

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/wispmq/wisp/transport/devcert"
	_ "github.com/wispmq/wisp/transport/quic" // the "quic" transport of the conformance tests
	_ "github.com/wispmq/wisp/transport/ws"   // the "ws" transport of the conformance tests
)

// testTimeout bounds every blocking call of a test, so a bug shows up as a
// failure naming the call instead of a hung package. It is a safety net,
// not a performance threshold.
const testTimeout = 30 * time.Second

// transportNames lists the transports every conformance test runs over.
// "conn" is a user-supplied net.Conn: both sockets get one end of a loopback
// TCP connection the test made, through ConnectConn. "ws" is a registered
// transport (package transport/ws), WebSocket over loopback. "quic" is
// package transport/quic over loopback UDP; its sockets get quicTLS.
var transportNames = []string{"tcp", "ipc", "inproc", "conn", "ws", "quic"}

// quicTLS is the TLS config of every socket a test over quic makes:
// QUIC always runs TLS. One throwaway CA and certificate for 127.0.0.1
// serve the whole package, so every socket trusts every other.
var quicTLS = sync.OnceValue(func() *tls.Config {
	c, err := devcert.Config("wisp socket test")
	if err != nil {
		panic(err)
	}
	return c
})

// overQUIC reports whether t is, or runs inside, the "quic" subtest of
// forEachTransport.
func overQUIC(t *testing.T) bool {
	return slices.Contains(strings.Split(t.Name(), "/")[1:], "quic")
}

// forEachTransport runs f as a parallel subtest per transport.
func forEachTransport(t *testing.T, f func(t *testing.T, nw *network)) {
	t.Helper()
	for _, name := range transportNames {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			f(t, newNetwork(t, name))
		})
	}
}

var uniq atomic.Uint64

// network hands out endpoints of one transport for one test and links
// sockets over it, so tests read the same for every transport.
type network struct {
	t    *testing.T
	name string
	dir  string // ipc: where socket files go

	// conn: what stands for a bound endpoint. bind records the binding
	// socket under a token; connect makes a connection pair and gives the
	// far end to the binder, or keeps it until something binds the token.
	mu      sync.Mutex
	binders map[string]*Socket
	pending map[string][]net.Conn
}

func newNetwork(t *testing.T, name string) *network {
	nw := &network{t: t, name: name, binders: map[string]*Socket{}, pending: map[string][]net.Conn{}}
	if name == "ipc" {
		nw.dir = t.TempDir()
	}
	t.Cleanup(func() {
		nw.mu.Lock()
		defer nw.mu.Unlock()
		for _, cs := range nw.pending {
			for _, c := range cs {
				c.Close()
			}
		}
	})
	return nw
}

// fresh returns a new endpoint to bind. For tcp it asks for port 0, so the
// endpoint to connect to is what bind returns.
func (nw *network) fresh() string {
	n := uniq.Add(1)
	switch nw.name {
	case "tcp":
		return "tcp://127.0.0.1:0"
	case "ipc":
		return "ipc://" + filepath.Join(nw.dir, "s"+strconv.FormatUint(n, 10))
	case "inproc":
		return fmt.Sprintf("inproc://%s-%d", nw.t.Name(), n)
	case "conn":
		return "conn-" + strconv.FormatUint(n, 10)
	case "ws":
		return "ws://127.0.0.1:0/wisp"
	case "quic":
		return "quic://127.0.0.1:0"
	}
	nw.t.Fatalf("got transport %q, want one of %v", nw.name, transportNames)
	return ""
}

// reserve returns an endpoint that nothing binds yet but that bindAt can
// bind later, for connecting before the peer exists. For tcp it picks a free
// port by listening on port 0 and closing the listener again.
func (nw *network) reserve() string {
	nw.t.Helper()
	if nw.name == "quic" {
		pc, err := net.ListenPacket("udp", "127.0.0.1:0")
		if err != nil {
			nw.t.Fatalf("reserving a UDP port: got error %v, want nil", err)
		}
		defer pc.Close()
		return "quic://" + pc.LocalAddr().String()
	}
	if nw.name != "tcp" && nw.name != "ws" {
		return nw.fresh()
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		nw.t.Fatalf("reserving a port: got error %v, want nil", err)
	}
	ep := "tcp://" + l.Addr().String()
	if nw.name == "ws" {
		ep = "ws://" + l.Addr().String() + "/wisp"
	}
	l.Close()
	return ep
}

// bind binds s to a fresh endpoint and returns the endpoint to connect to.
func (nw *network) bind(s *Socket) string {
	nw.t.Helper()
	return nw.bindAt(s, nw.fresh())
}

// bindAt binds s to ep and returns the endpoint to connect to.
func (nw *network) bindAt(s *Socket, ep string) string {
	nw.t.Helper()
	if nw.name == "conn" {
		nw.mu.Lock()
		defer nw.mu.Unlock()
		if nw.binders[ep] != nil {
			nw.t.Fatalf("bind %s: bound twice, want once", ep)
		}
		nw.binders[ep] = s
		for _, c := range nw.pending[ep] {
			if err := s.ConnectConn(c); err != nil {
				nw.t.Fatalf("ConnectConn: got error %v, want nil", err)
			}
		}
		delete(nw.pending, ep)
		return ep
	}
	real, err := s.Bind(ep)
	if err != nil {
		nw.t.Fatalf("Bind(%q): got error %v, want nil", ep, err)
	}
	return real
}

// connect connects s to an endpoint that bind returned or reserve made.
func (nw *network) connect(s *Socket, ep string) {
	nw.t.Helper()
	if nw.name != "conn" {
		if err := s.Connect(ep); err != nil {
			nw.t.Fatalf("Connect(%q): got error %v, want nil", ep, err)
		}
		return
	}
	a, b := tcpPair(nw.t)
	if err := s.ConnectConn(a); err != nil {
		nw.t.Fatalf("ConnectConn: got error %v, want nil", err)
	}
	nw.mu.Lock()
	defer nw.mu.Unlock()
	if binder := nw.binders[ep]; binder != nil {
		if err := binder.ConnectConn(b); err != nil {
			nw.t.Fatalf("ConnectConn: got error %v, want nil", err)
		}
		return
	}
	nw.pending[ep] = append(nw.pending[ep], b)
}

// tcpPair returns the two ends of a loopback TCP connection. Unlike
// net.Pipe it buffers, as the sockets' own connections do.
func tcpPair(t *testing.T) (net.Conn, net.Conn) {
	t.Helper()
	return streamPair(t, "tcp", "127.0.0.1:0")
}

// streamPair is tcpPair for any stream network ("tcp", "unix") and
// address to listen at: the dialed end, then the accepted one.
func streamPair(t *testing.T, network, address string) (net.Conn, net.Conn) {
	t.Helper()
	l, err := net.Listen(network, address)
	if err != nil {
		t.Fatalf("listen: got error %v, want nil", err)
	}
	defer l.Close()
	type result struct {
		c   net.Conn
		err error
	}
	ch := make(chan result, 1)
	go func() {
		c, err := l.Accept()
		ch <- result{c, err}
	}()
	a, err := net.Dial(network, l.Addr().String())
	if err != nil {
		t.Fatalf("dial: got error %v, want nil", err)
	}
	r := <-ch
	if r.err != nil {
		a.Close()
		t.Fatalf("accept: got error %v, want nil", r.err)
	}
	return a, r.c
}

// newSocket makes a socket that is closed when the test ends. Over quic it
// has quicTLS unless opts bring their own TLS config.
func newSocket(t *testing.T, typ Type, opts ...Option) *Socket {
	t.Helper()
	if overQUIC(t) {
		opts = append([]Option{WithTLS(quicTLS())}, opts...)
	}
	s, err := New(typ, opts...)
	if err != nil {
		t.Fatalf("New(%v): got error %v, want nil", typ, err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// newPair makes a PULL bound on nw and a PUSH connected to it, both with
// opts, both closed when the test ends (the PULL first, so a PUSH with
// nothing outstanding closes at once).
func newPair(t *testing.T, nw *network, opts ...Option) (push, pull *Socket) {
	t.Helper()
	return newPairOpts(t, nw, opts, opts)
}

// newPairOpts is newPair with separate options for each side.
func newPairOpts(t *testing.T, nw *network, pushOpts, pullOpts []Option) (push, pull *Socket) {
	t.Helper()
	push = newSocket(t, Push, pushOpts...)
	pull = newSocket(t, Pull, pullOpts...)
	nw.connect(push, nw.bind(pull))
	return push, pull
}

// testContext returns a context that ends when the test does or after
// testTimeout.
func testContext(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), testTimeout)
	t.Cleanup(cancel)
	return ctx
}

// recvN receives n messages.
func recvN(t *testing.T, ctx context.Context, s *Socket, n int) []Message {
	t.Helper()
	out := make([]Message, 0, n)
	for i := range n {
		m, err := s.Recv(ctx)
		if err != nil {
			t.Fatalf("Recv %d of %d: got error %v, want nil", i+1, n, err)
		}
		out = append(out, m)
	}
	return out
}

// sendAll sends n numbered single-frame messages ("0", "1", ...) from its
// own goroutine and reports the first error on the returned channel, which
// is closed when it is done.
func sendAll(ctx context.Context, s *Socket, from, n int) <-chan error {
	ch := make(chan error, 1)
	go func() {
		defer close(ch)
		for i := from; i < from+n; i++ {
			if err := s.Send(ctx, []byte(strconv.Itoa(i))); err != nil {
				ch <- fmt.Errorf("Send %d: %w", i, err)
				return
			}
		}
	}()
	return ch
}

// wait reports the error from a sendAll channel.
func wait(t *testing.T, ch <-chan error) {
	t.Helper()
	if err := <-ch; err != nil {
		t.Fatal(err)
	}
}

// number parses a message sent by sendAll.
func number(t *testing.T, m Message) int {
	t.Helper()
	if len(m) != 1 {
		t.Fatalf("got %d frames, want 1", len(m))
	}
	n, err := strconv.Atoi(string(m[0]))
	if err != nil {
		t.Fatalf("got message %q, want a number", m[0])
	}
	return n
}

// waitEvent reads s's events until one satisfies match, and returns it and
// the events before it.
func waitEvent(t *testing.T, ctx context.Context, s *Socket, what string, match func(Event) bool) (Event, []Event) {
	t.Helper()
	var seen []Event
	for {
		select {
		case e, ok := <-s.Events():
			if !ok {
				t.Fatalf("waiting for %s: events channel closed after %v", what, seen)
			}
			if match(e) {
				return e, seen
			}
			seen = append(seen, e)
		case <-ctx.Done():
			t.Fatalf("waiting for %s: got %v and then %v, want the event", what, seen, ctx.Err())
		}
	}
}

// waitKind waits for an event of kind k.
func waitKind(t *testing.T, ctx context.Context, s *Socket, k EventKind) Event {
	t.Helper()
	e, _ := waitEvent(t, ctx, s, k.String(), func(e Event) bool { return e.Kind == k })
	return e
}

// waitConnected waits until s has n connected peers. It polls Stats: the
// connected events may already have been taken by the test.
func waitConnected(t *testing.T, ctx context.Context, s *Socket, n int) {
	t.Helper()
	waitFor(t, ctx, fmt.Sprintf("%d connected peers", n), func() bool {
		c := 0
		for _, p := range s.Stats().Peers {
			if p.Connected {
				c++
			}
		}
		return c >= n
	})
}

// waitFor polls cond until it holds, for states that no event or message
// announces. The loop ends with the context.
func waitFor(t *testing.T, ctx context.Context, what string, cond func() bool) {
	t.Helper()
	tick := time.NewTicker(time.Millisecond)
	defer tick.Stop()
	for !cond() {
		select {
		case <-tick.C:
		case <-ctx.Done():
			t.Fatalf("waiting for %s: got %v, want the condition to hold", what, ctx.Err())
		}
	}
}

// isClosed reports whether err is the socket's closed error, both ways it
// promises to match.
func isClosed(err error) bool {
	return errors.Is(err, ErrClosed) && errors.Is(err, net.ErrClosed)
}

// bounded runs f, which should return promptly, and fails the test if it
// has not returned when ctx ends. It then closes s, which must end whatever
// f waits for, so that no goroutine outlives the test.
func bounded(t *testing.T, ctx context.Context, s *Socket, what string, f func() error) error {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- f() }()
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
		s.Close()
		<-done
		t.Fatalf("%s: still blocked when the test context ended (%v), want it to return", what, ctx.Err())
		return nil
	}
}
