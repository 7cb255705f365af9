package transport

import (
	"context"
	"errors"
	"net"
	"strconv"
	"testing"
)

func TestTCPPortZeroReportsRealPort(t *testing.T) {
	l, bound := mustListen(t, "tcp://127.0.0.1:0", Config{})
	port := l.Addr().(*net.TCPAddr).Port
	want := "tcp://127.0.0.1:" + strconv.Itoa(port)
	if got := bound.String(); got != want {
		t.Fatalf("bound endpoint: got %q, want %q", got, want)
	}
	exchange(t, l, dialer(bound, Config{}))
}

func TestTCPIPv6(t *testing.T) {
	if !haveIPv6() {
		t.Skip("no IPv6 loopback")
	}
	l, bound := mustListen(t, "tcp://[::1]:0", Config{})
	want := "tcp://[::1]:" + strconv.Itoa(l.Addr().(*net.TCPAddr).Port)
	if got := bound.String(); got != want {
		t.Fatalf("bound endpoint: got %q, want %q", got, want)
	}
	exchange(t, l, dialer(bound, Config{}))
}

func TestTCPAllInterfaces(t *testing.T) {
	l, bound := mustListen(t, "tcp://*:0", Config{})
	port := strconv.Itoa(l.Addr().(*net.TCPAddr).Port)
	if got, want := bound.String(), "tcp://*:"+port; got != want {
		t.Fatalf("bound endpoint: got %q, want %q", got, want)
	}
	if !l.Addr().(*net.TCPAddr).IP.IsUnspecified() {
		t.Fatalf("listener address: got %v, want an unspecified IP", l.Addr())
	}
	hosts := []string{"127.0.0.1"}
	if haveIPv6() {
		hosts = append(hosts, "[::1]")
	}
	for _, h := range hosts {
		exchange(t, l, dialer(mustParse(t, "tcp://"+h+":"+port), Config{}))
	}
}

func TestTCPAddressInUse(t *testing.T) {
	_, bound := mustListen(t, "tcp://127.0.0.1:0", Config{})
	l, _, err := Listen(t.Context(), bound, Config{})
	if err == nil {
		l.Close()
	}
	if !errors.Is(err, ErrAddressInUse) {
		t.Fatalf("second Listen(%s): got %v, want ErrAddressInUse", bound, err)
	}
}

func TestHandBuiltEndpoint(t *testing.T) {
	// "*" written into Address by hand means the same as the parsed form.
	l, got, err := Listen(t.Context(), Endpoint{Scheme: "tcp", Address: "*:0"}, Config{})
	if err != nil {
		t.Fatalf("Listen(*:0): got error %v, want nil", err)
	}
	defer l.Close()
	if got.Address[0] != ':' {
		t.Fatalf("bound endpoint: got %+v, want the all-interfaces form", got)
	}
	if _, _, err := Listen(t.Context(), Endpoint{Scheme: "tcp", Address: "nope"}, Config{}); !errors.Is(err, ErrInvalidEndpoint) {
		t.Fatalf("Listen(bad hand-built endpoint): got %v, want ErrInvalidEndpoint", err)
	}
}

func TestDialRefusesUndialable(t *testing.T) {
	for _, s := range []string{"tcp://*:5555", "tcp://127.0.0.1:0"} {
		if c, err := Dial(t.Context(), mustParse(t, s), Config{}); !errors.Is(err, ErrInvalidEndpoint) {
			if c != nil {
				c.Close()
			}
			t.Errorf("Dial(%s): got %v, want ErrInvalidEndpoint", s, err)
		}
	}
}

func TestInprocUnsupported(t *testing.T) {
	ep := mustParse(t, "inproc://x")
	if _, _, err := Listen(t.Context(), ep, Config{}); !errors.Is(err, ErrUnsupported) {
		t.Errorf("Listen(%s): got %v, want ErrUnsupported", ep, err)
	}
	if _, err := Dial(t.Context(), ep, Config{}); !errors.Is(err, ErrUnsupported) {
		t.Errorf("Dial(%s): got %v, want ErrUnsupported", ep, err)
	}
}

func TestListenCanceledContext(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if _, _, err := Listen(ctx, mustParse(t, "tcp://127.0.0.1:0"), Config{}); !errors.Is(err, context.Canceled) {
		t.Fatalf("Listen with canceled context: got %v, want context.Canceled", err)
	}
}

func TestSetBuffers(t *testing.T) {
	l, bound := mustListen(t, "tcp://127.0.0.1:0", Config{})
	s := exchange(t, l, dialer(bound, Config{}))
	if err := SetBuffers(s, 64<<10); err != nil {
		t.Errorf("SetBuffers(tcp, 64KiB): got %v, want nil", err)
	}
	if err := SetBuffers(s, 0); err != nil {
		t.Errorf("SetBuffers(tcp, 0): got %v, want nil", err)
	}
	a, b := net.Pipe()
	defer a.Close()
	defer b.Close()
	if err := SetBuffers(a, 64<<10); err != nil {
		t.Errorf("SetBuffers(pipe): got %v, want nil", err)
	}
	ul, uep := mustListen(t, "ipc://"+t.TempDir()+"/b.sock", Config{})
	us := exchange(t, ul, dialer(uep, Config{}))
	if err := SetBuffers(us, 64<<10); err != nil {
		t.Errorf("SetBuffers(unix): got %v, want nil", err)
	}
}
