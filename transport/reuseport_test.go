package transport

import (
	"context"
	"errors"
	"net"
	"testing"
)

func TestReusePortTwoListeners(t *testing.T) {
	cfg := Config{ReusePort: true}
	l1, bound := mustListen(t, "tcp://127.0.0.1:0", cfg)
	l2, bound2 := mustListen(t, bound.String(), cfg)
	if bound2 != bound {
		t.Fatalf("second bound endpoint: got %s, want %s", bound2, bound)
	}
	if p1, p2 := l1.Addr().(*net.TCPAddr).Port, l2.Addr().(*net.TCPAddr).Port; p1 != p2 {
		t.Fatalf("ports: got %d and %d, want equal", p1, p2)
	}
}

func TestReusePortDialFromBoundPort(t *testing.T) {
	cfg := Config{ReusePort: true}
	_, a := mustListen(t, "tcp://127.0.0.1:0", cfg)
	lb, b := mustListen(t, "tcp://127.0.0.1:0", cfg)

	// Dial b from a's listening port, as a peer-to-peer mesh does.
	dcfg := Config{ReusePort: true, LocalAddr: a.Address}
	s := exchange(t, lb, dialer(b, dcfg))
	if got, want := s.RemoteAddr().String(), a.Address; got != want {
		t.Fatalf("server sees peer: got %s, want %s", got, want)
	}
}

func TestLocalAddrInUseWithoutReusePort(t *testing.T) {
	_, a := mustListen(t, "tcp://127.0.0.1:0", Config{})
	_, b := mustListen(t, "tcp://127.0.0.1:0", Config{})
	c, err := Dial(t.Context(), b, Config{LocalAddr: a.Address})
	if err == nil {
		c.Close()
	}
	if !errors.Is(err, ErrAddressInUse) {
		t.Fatalf("Dial from a bound port without ReusePort: got %v, want ErrAddressInUse", err)
	}
}

func TestLocalAddrAnyPort(t *testing.T) {
	l, b := mustListen(t, "tcp://127.0.0.1:0", Config{})
	s := exchange(t, l, dialer(b, Config{LocalAddr: "127.0.0.1:0"}))
	if ip := s.RemoteAddr().(*net.TCPAddr).IP; !ip.Equal(net.IPv4(127, 0, 0, 1)) {
		t.Fatalf("peer IP: got %v, want 127.0.0.1", ip)
	}
}

func TestConfigErrors(t *testing.T) {
	_, b := mustListen(t, "tcp://127.0.0.1:0", Config{})
	customDial := func(ctx context.Context, nw, addr string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, nw, addr)
	}
	customListen := func(ctx context.Context, nw, addr string) (net.Listener, error) {
		var lc net.ListenConfig
		return lc.Listen(ctx, nw, addr)
	}
	dials := []struct {
		name string
		cfg  Config
	}{
		{"LocalAddr without port", Config{LocalAddr: "127.0.0.1"}},
		{"LocalAddr host name", Config{LocalAddr: "localhost:0"}},
		{"LocalAddr bad port", Config{LocalAddr: "127.0.0.1:x"}},
		{"ReusePort with custom Dial", Config{ReusePort: true, Dial: customDial}},
		{"LocalAddr with custom Dial", Config{LocalAddr: "127.0.0.1:0", Dial: customDial}},
	}
	for _, tt := range dials {
		c, err := Dial(t.Context(), b, tt.cfg)
		if err == nil {
			c.Close()
		}
		if !errors.Is(err, ErrInvalidConfig) {
			t.Errorf("Dial with %s: got %v, want ErrInvalidConfig", tt.name, err)
		}
	}
	l, _, err := Listen(t.Context(), mustParse(t, "tcp://127.0.0.1:0"), Config{ReusePort: true, Listen: customListen})
	if err == nil {
		l.Close()
	}
	if !errors.Is(err, ErrInvalidConfig) {
		t.Errorf("Listen with ReusePort and custom Listen: got %v, want ErrInvalidConfig", err)
	}
}

func TestLocalAddrAllInterfaces(t *testing.T) {
	l, b := mustListen(t, "tcp://127.0.0.1:0", Config{})
	for _, la := range []string{"*:0", ":0"} {
		exchange(t, l, dialer(b, Config{LocalAddr: la}))
	}
}
