package transport

import (
	"context"
	"io"
	"net"
	"testing"
)

// accept accepts one connection on l in a goroutine. The channel is
// buffered so the goroutine ends even if nobody reads it; closing l (done in
// cleanup by the callers) ends a pending Accept.
func accept(l net.Listener) <-chan acceptResult {
	ch := make(chan acceptResult, 1)
	go func() {
		c, err := l.Accept()
		ch <- acceptResult{c, err}
	}()
	return ch
}

type acceptResult struct {
	c   net.Conn
	err error
}

// exchange dials with dial, accepts on l, sends "ping" one way and "pong"
// back, and returns the server side of the connection (closed at cleanup).
func exchange(t *testing.T, l net.Listener, dial func(context.Context) (net.Conn, error)) net.Conn {
	t.Helper()
	ch := accept(l)
	c, err := dial(t.Context())
	if err != nil {
		t.Fatalf("dial: got error %v, want nil", err)
	}
	t.Cleanup(func() { c.Close() })
	r := <-ch
	if r.err != nil {
		t.Fatalf("accept: got error %v, want nil", r.err)
	}
	s := r.c
	t.Cleanup(func() { s.Close() })
	pingPong(t, c, s)
	return s
}

// pingPong sends "ping" from c to s and "pong" back. Four bytes fit in any
// socket buffer, so neither write waits for the other side.
func pingPong(t *testing.T, c, s net.Conn) {
	t.Helper()
	buf := make([]byte, 4)
	if _, err := c.Write([]byte("ping")); err != nil {
		t.Fatalf("client write: got error %v, want nil", err)
	}
	if _, err := io.ReadFull(s, buf); err != nil || string(buf) != "ping" {
		t.Fatalf("server read: got %q, %v, want \"ping\", nil", buf, err)
	}
	if _, err := s.Write([]byte("pong")); err != nil {
		t.Fatalf("server write: got error %v, want nil", err)
	}
	if _, err := io.ReadFull(c, buf); err != nil || string(buf) != "pong" {
		t.Fatalf("client read: got %q, %v, want \"pong\", nil", buf, err)
	}
}

func mustParse(t *testing.T, s string) Endpoint {
	t.Helper()
	ep, err := ParseEndpoint(s)
	if err != nil {
		t.Fatalf("ParseEndpoint(%q): got error %v, want nil", s, err)
	}
	return ep
}

// mustListen listens on s with cfg and closes the listener at cleanup.
func mustListen(t *testing.T, s string, cfg Config) (net.Listener, Endpoint) {
	t.Helper()
	l, bound, err := Listen(t.Context(), mustParse(t, s), cfg)
	if err != nil {
		t.Fatalf("Listen(%s): got error %v, want nil", s, err)
	}
	t.Cleanup(func() { l.Close() })
	return l, bound
}

func dialer(ep Endpoint, cfg Config) func(context.Context) (net.Conn, error) {
	return func(ctx context.Context) (net.Conn, error) { return Dial(ctx, ep, cfg) }
}

// haveIPv6 reports whether the loopback has IPv6.
func haveIPv6() bool {
	l, err := net.Listen("tcp6", "[::1]:0")
	if err != nil {
		return false
	}
	l.Close()
	return true
}
