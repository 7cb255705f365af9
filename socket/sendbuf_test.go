//go:build linux

package socket

import (
	"context"
	"crypto/tls"
	"errors"
	"net"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"syscall"
	"testing"
)

// The tests in this file check WithSendBuffer and the default kernel send
// buffer of the connections a socket opens to a peer on the same host, on
// the connections themselves, at both ends. Linux reports twice the size
// that was set.

// sendBufferOf returns c's SO_SNDBUF as the kernel reports it.
func sendBufferOf(t *testing.T, c net.Conn) int {
	t.Helper()
	if tc, ok := c.(*tls.Conn); ok {
		c = tc.NetConn()
	}
	if _, ok := c.(syscall.Conn); !ok {
		// netutil.LimitListener's connection embeds the kernel's.
		if v := reflect.ValueOf(c); v.Kind() == reflect.Pointer && v.Elem().Kind() == reflect.Struct {
			if f := v.Elem().FieldByName("Conn"); f.IsValid() && f.CanInterface() {
				c, _ = f.Interface().(net.Conn)
			}
		}
	}
	sc, ok := c.(syscall.Conn)
	if !ok {
		t.Fatalf("%T: cannot reach its kernel socket", c)
	}
	raw, err := sc.SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	var n int
	var serr error
	if err := raw.Control(func(fd uintptr) {
		n, serr = syscall.GetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_SNDBUF)
	}); err != nil {
		t.Fatal(err)
	}
	if serr != nil {
		t.Fatal(serr)
	}
	return n
}

// plainSendBuffer is the SO_SNDBUF the kernel gives a tcp (loopback) or
// unix connection nobody sized.
func plainSendBuffer(t *testing.T, network string) int {
	t.Helper()
	address := "127.0.0.1:0"
	if network == "unix" {
		address = filepath.Join(t.TempDir(), "plain.sock")
	}
	c, a := streamPair(t, network, address)
	defer c.Close()
	defer a.Close()
	return sendBufferOf(t, c)
}

// sizes are the send buffers the tests set, as the kernel reports them.
var sizes = []int{2 * DefaultLocalSendBuffer, 2 * 64 << 10}

// checkSendBuffers checks the send buffer of every connection of every
// socket in socks: want, or with want 0 one the kernel sized (none the
// tests set; the kernel may have grown it since the connection began).
func checkSendBuffers(t *testing.T, want int, socks ...*Socket) {
	t.Helper()
	for _, s := range socks {
		conns := s.e.PeerConns()
		if len(conns) != 1 {
			t.Fatalf("%v: %d connections, want 1", s.Type(), len(conns))
		}
		got := sendBufferOf(t, conns[0])
		switch {
		case want != 0 && got != want:
			t.Errorf("%v: SO_SNDBUF %d, want %d", s.Type(), got, want)
		case want == 0 && (got == sizes[0] || got == sizes[1]):
			t.Errorf("%v: SO_SNDBUF %d, want the kernel's own sizing", s.Type(), got)
		}
	}
}

// connectPair binds a PULL at ep and connects a PUSH to it, and waits
// until both report the connection (after its sizing).
func connectPair(t *testing.T, ep string, pushOpts, pullOpts []Option) (push, pull *Socket) {
	t.Helper()
	return connectTypes(t, ep, Push, Pull, pushOpts, pullOpts)
}

// connectTypes binds a socket of type bindType at ep and connects one of
// connType to it, and waits until both report the connection.
func connectTypes(t *testing.T, ep string, connType, bindType Type, connOpts, bindOpts []Option) (connecting, binding *Socket) {
	t.Helper()
	ctx := testContext(t)
	binding = newSocket(t, bindType, bindOpts...)
	bound, err := binding.Bind(ep)
	if err != nil {
		t.Fatal(err)
	}
	connecting = newSocket(t, connType, connOpts...)
	if err := connecting.Connect(bound); err != nil {
		t.Fatal(err)
	}
	waitKind(t, ctx, connecting, EventConnected)
	waitKind(t, ctx, binding, EventConnected)
	return connecting, binding
}

func skipUnlessSizable(t *testing.T) {
	t.Helper()
	for _, network := range []string{"tcp", "unix"} {
		if plain := plainSendBuffer(t, network); plain == sizes[0] || plain == sizes[1] {
			t.Skipf("the kernel's own %s send buffer is %d bytes, a size these tests set", network, plain)
		}
	}
	b, err := os.ReadFile("/proc/sys/net/core/wmem_max")
	if err != nil {
		t.Skipf("cannot read the kernel's largest send buffer: %v", err)
	}
	if max, err := strconv.Atoi(strings.TrimSpace(string(b))); err != nil || max < DefaultLocalSendBuffer {
		t.Skipf("net.core.wmem_max is %s, below the sizes these tests set", strings.TrimSpace(string(b)))
	}
}

func TestSendBuffer(t *testing.T) {
	skipUnlessSizable(t)
	ipc := func() string { return "ipc://" + filepath.Join(t.TempDir(), "s.sock") }
	tcp := func() string { return "tcp://127.0.0.1:0" }
	cases := []struct {
		name string
		ep   func() string
		opts []Option
		want int // 0: the kernel's sizing
	}{
		{"tcp loopback, default", tcp, nil, 2 * DefaultLocalSendBuffer},
		{"tcp, 64 KiB", tcp, []Option{WithSendBuffer(64 << 10)}, 2 * 64 << 10},
		{"tcp, left to the kernel", tcp, []Option{WithSendBuffer(0)}, 0},
		// LimitListener's connections hide the kernel's: sized beneath it.
		{"tcp, WithMaxConnections", tcp, []Option{WithMaxConnections(4)}, 2 * DefaultLocalSendBuffer},
		{"tcp, WithMaxConnections, 64 KiB", tcp, []Option{WithMaxConnections(4), WithSendBuffer(64 << 10)}, 2 * 64 << 10},
		{"ipc, default", ipc, nil, 0},
		{"ipc, 64 KiB", ipc, []Option{WithSendBuffer(64 << 10)}, 2 * 64 << 10},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			push, pull := connectPair(t, tc.ep(), tc.opts, tc.opts)
			checkSendBuffers(t, tc.want, push, pull)
		})
	}
}

// TestSendBufferFanOut: a PUB (or BUS) writes each message to every
// peer, so it is the busier end and its connections keep the kernel's
// sizing, whose transmit work its peers' reads then share; its SUBs' are
// sized as usual, and WithSendBuffer applies to the PUB too.
func TestSendBufferFanOut(t *testing.T) {
	skipUnlessSizable(t)
	sub, pub := connectTypes(t, "tcp://127.0.0.1:0", Sub, Pub, nil, nil)
	checkSendBuffers(t, 0, pub)
	checkSendBuffers(t, 2*DefaultLocalSendBuffer, sub)
	a, b := connectTypes(t, "tcp://127.0.0.1:0", Bus, Bus, nil, nil)
	checkSendBuffers(t, 0, a, b)
	_, pub = connectTypes(t, "tcp://127.0.0.1:0", Sub, Pub, nil, []Option{WithSendBuffer(64 << 10)})
	checkSendBuffers(t, 2*64<<10, pub)
}

// TestSendBufferTLS: tls:// runs over a tcp connection the socket opened,
// and is sized as tcp is.
func TestSendBufferTLS(t *testing.T) {
	skipUnlessSizable(t)
	ca := newTestCA(t, "wisp test CA")
	server := &tls.Config{Certificates: []tls.Certificate{ca.issue(t, "pull")}, MinVersion: tls.VersionTLS13}
	client := &tls.Config{RootCAs: ca.pool, MinVersion: tls.VersionTLS13}
	push, pull := connectPair(t, "tls://127.0.0.1:0", []Option{WithTLS(client)}, []Option{WithTLS(server)})
	checkSendBuffers(t, 2*DefaultLocalSendBuffer, push, pull)
}

// TestSendBufferApplicationConns: connections the application opens keep
// the kernel's sizing (it may have sized them itself, or dialed a proxy
// on this host that leads elsewhere) unless WithSendBuffer asks.
func TestSendBufferApplicationConns(t *testing.T) {
	skipUnlessSizable(t)
	dial := func(ctx context.Context, network, address string) (net.Conn, error) {
		return (&net.Dialer{}).DialContext(ctx, network, address)
	}
	listen := func(ctx context.Context, network, address string) (net.Listener, error) {
		return (&net.ListenConfig{}).Listen(ctx, network, address)
	}
	t.Run("WithDialer and WithListener", func(t *testing.T) {
		push, pull := connectPair(t, "tcp://127.0.0.1:0", []Option{WithDialer(dial)}, []Option{WithListener(listen)})
		checkSendBuffers(t, 0, push, pull)
	})
	for _, tc := range []struct {
		name string
		opts []Option
		want int
	}{
		{"ConnectConn and BindListener", nil, 0},
		{"ConnectConn and BindListener, 64 KiB", []Option{WithSendBuffer(64 << 10)}, 2 * 64 << 10},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := testContext(t)
			l, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { l.Close() }) // the socket owns it once bound
			pull := newSocket(t, Pull, tc.opts...)
			if _, err := pull.BindListener(l); err != nil {
				t.Fatal(err)
			}
			nc, err := net.Dial("tcp", l.Addr().String())
			if err != nil {
				t.Fatal(err)
			}
			push := newSocket(t, Push, tc.opts...)
			if err := push.ConnectConn(nc); err != nil {
				t.Fatal(err)
			}
			waitKind(t, ctx, push, EventConnected)
			waitKind(t, ctx, pull, EventConnected)
			checkSendBuffers(t, tc.want, push, pull)
		})
	}
}

func TestWithSendBufferNegative(t *testing.T) {
	if _, err := New(Push, WithSendBuffer(-1)); !errors.Is(err, ErrInvalidOption) {
		t.Fatalf("New with WithSendBuffer(-1): got %v, want ErrInvalidOption", err)
	}
}
