//go:build linux

package socket

import (
	"context"
	"errors"
	"net"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
)

// The tests in this file check WithSendBuffer and the default kernel send
// buffer of connections to a peer on the same host, on the connections
// themselves: both the dialed and the accepted end.

// connRecorder keeps the connections a socket dials and accepts.
type connRecorder struct {
	mu    sync.Mutex
	conns []net.Conn
}

func (r *connRecorder) add(c net.Conn) {
	r.mu.Lock()
	r.conns = append(r.conns, c)
	r.mu.Unlock()
}

func (r *connRecorder) all() []net.Conn {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]net.Conn(nil), r.conns...)
}

func (r *connRecorder) dial(ctx context.Context, network, address string) (net.Conn, error) {
	c, err := (&net.Dialer{}).DialContext(ctx, network, address)
	if err == nil {
		r.add(c)
	}
	return c, err
}

func (r *connRecorder) listen(ctx context.Context, network, address string) (net.Listener, error) {
	l, err := (&net.ListenConfig{}).Listen(ctx, network, address)
	if err != nil {
		return nil, err
	}
	return recordingListener{l, r}, nil
}

type recordingListener struct {
	net.Listener
	r *connRecorder
}

func (l recordingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err == nil {
		l.r.add(c)
	}
	return c, err
}

// sendBufferOf returns c's SO_SNDBUF as the kernel reports it.
func sendBufferOf(t *testing.T, c net.Conn) int {
	t.Helper()
	raw, err := c.(syscall.Conn).SyscallConn()
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

// kernelSendBuffer is the SO_SNDBUF the kernel gives a fresh connection of
// network to addr that nobody sized: what "left to the kernel" must match.
func kernelSendBuffer(t *testing.T, network, address string) int {
	t.Helper()
	var l net.Listener
	var err error
	if network == "unix" {
		l, err = net.Listen("unix", filepath.Join(t.TempDir(), "k.sock"))
	} else {
		l, err = net.Listen("tcp", "127.0.0.1:0")
	}
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	c, err := net.Dial(l.Addr().Network(), l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	a, err := l.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	return sendBufferOf(t, c)
}

func TestSendBuffer(t *testing.T) {
	kernelTCP := kernelSendBuffer(t, "tcp", "")
	kernelUnix := kernelSendBuffer(t, "unix", "")
	cases := []struct {
		name string
		ipc  bool
		opts []Option
		want int // 0: what the kernel gives an unsized connection
	}{
		// Linux reports twice what was set.
		{"tcp loopback, default", false, nil, 2 * DefaultLocalSendBuffer},
		{"tcp, 64 KiB", false, []Option{WithSendBuffer(64 << 10)}, 2 * 64 << 10},
		{"tcp, left to the kernel", false, []Option{WithSendBuffer(0)}, 0},
		{"ipc, default", true, nil, 0},
		{"ipc, 64 KiB", true, []Option{WithSendBuffer(64 << 10)}, 2 * 64 << 10},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			want, kernel := tc.want, kernelTCP
			if tc.ipc {
				kernel = kernelUnix
			}
			if want == 0 {
				if kernel == 2*DefaultLocalSendBuffer || kernel == 2*64<<10 {
					t.Skipf("the kernel's own send buffer is %d bytes, which the sizes tested here would give too", kernel)
				}
				want = kernel
			}
			ctx := testContext(t)
			var r connRecorder
			opts := append([]Option{WithDialer(r.dial), WithListener(r.listen)}, tc.opts...)
			pull := newSocket(t, Pull, opts...)
			ep := "tcp://127.0.0.1:0"
			if tc.ipc {
				ep = "ipc://" + filepath.Join(t.TempDir(), "s.sock")
			}
			bound, err := pull.Bind(ep)
			if err != nil {
				t.Fatal(err)
			}
			push := newSocket(t, Push, opts...)
			if err := push.Connect(bound); err != nil {
				t.Fatal(err)
			}
			// Connected comes after the sizing.
			waitKind(t, ctx, push, EventConnected)
			waitKind(t, ctx, pull, EventConnected)
			conns := r.all()
			if len(conns) != 2 {
				t.Fatalf("recorded %d connections, want the dialed and the accepted one", len(conns))
			}
			for _, c := range conns {
				if got := sendBufferOf(t, c); got != want {
					t.Errorf("SO_SNDBUF of the connection %v -> %v: got %d, want %d", c.LocalAddr(), c.RemoteAddr(), got, want)
				}
			}
		})
	}
}

func TestWithSendBufferNegative(t *testing.T) {
	if _, err := New(Push, WithSendBuffer(-1)); !errors.Is(err, ErrInvalidOption) {
		t.Fatalf("New with WithSendBuffer(-1): got %v, want ErrInvalidOption", err)
	}
}
