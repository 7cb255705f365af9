package transport_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/wispmq/wisp/socket"
	"github.com/wispmq/wisp/transport"
)

// relabeled is a user's transport for the test: tcp under another scheme,
// so that the registry, not tcp's own code, must route the endpoints.
type relabeled struct{ scheme string }

func (r relabeled) ParseAddress(a string) (string, error) {
	if _, _, err := net.SplitHostPort(a); err != nil {
		return "", err
	}
	return a, nil
}

func (r relabeled) Listen(ctx context.Context, ep transport.Endpoint, cfg transport.Config) (net.Listener, transport.Endpoint, error) {
	l, real, err := transport.Listen(ctx, transport.Endpoint{Scheme: transport.SchemeTCP, Address: ep.Address}, cfg)
	return l, transport.Endpoint{Scheme: r.scheme, Address: real.Address}, err
}

func (r relabeled) Dial(ctx context.Context, ep transport.Endpoint, cfg transport.Config) (net.Conn, error) {
	return transport.Dial(ctx, transport.Endpoint{Scheme: transport.SchemeTCP, Address: ep.Address}, cfg)
}

var schemes atomic.Int32

// newScheme returns a scheme no test registered yet in this process.
func newScheme() string { return fmt.Sprintf("x-test%d", schemes.Add(1)) }

// TestRegisterUserTransport: a registered scheme parses, and sockets bind,
// connect and move messages over it.
func TestRegisterUserTransport(t *testing.T) {
	scheme := newScheme() // registrations last as long as the process
	if err := transport.Register(scheme, relabeled{scheme}); err != nil {
		t.Fatalf("Register: got error %v, want nil", err)
	}
	if ep, err := transport.ParseEndpoint(scheme + "://127.0.0.1:9"); err != nil || ep.Scheme != scheme {
		t.Fatalf("ParseEndpoint: got %v, %v, want the registered scheme", ep, err)
	}
	if _, err := transport.ParseEndpoint(scheme + "://nonsense"); !errors.Is(err, transport.ErrInvalidEndpoint) {
		t.Fatalf("ParseEndpoint of a bad address: got %v, want ErrInvalidEndpoint", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	pull, _ := socket.New(socket.Pull)
	defer pull.Close()
	ep, err := pull.Bind(scheme + "://127.0.0.1:0")
	if err != nil || !strings.HasPrefix(ep, scheme+"://127.0.0.1:") {
		t.Fatalf("Bind: got %q, %v, want an x-relabeled endpoint", ep, err)
	}
	push, _ := socket.New(socket.Push)
	defer push.Close()
	if err := push.Connect(ep); err != nil {
		t.Fatalf("Connect: got error %v, want nil", err)
	}
	if err := push.Send(ctx, []byte("over a user's transport")); err != nil {
		t.Fatal(err)
	}
	if m, err := pull.Recv(ctx); err != nil || string(m.Bytes()) != "over a user's transport" {
		t.Fatalf("Recv: got %q, %v", m, err)
	}
}

func TestRegisterRefuses(t *testing.T) {
	for _, tc := range []struct {
		scheme string
		t      transport.Transport
	}{
		{"tcp", relabeled{}}, {"inproc", relabeled{}}, {"", relabeled{}}, {"Upper", relabeled{}},
		{"1abc", relabeled{}}, {"a b", relabeled{}}, {"x-nil", nil},
	} {
		if err := transport.Register(tc.scheme, tc.t); !errors.Is(err, transport.ErrInvalidConfig) {
			t.Errorf("Register(%q): got %v, want ErrInvalidConfig", tc.scheme, err)
		}
	}
	twice := newScheme()
	if err := transport.Register(twice, relabeled{}); err != nil {
		t.Fatal(err)
	}
	if err := transport.Register(twice, relabeled{}); !errors.Is(err, transport.ErrInvalidConfig) {
		t.Errorf("second Register: got %v, want ErrInvalidConfig", err)
	}
	if _, err := transport.ParseEndpoint("nope://x"); !errors.Is(err, transport.ErrUnsupported) || !strings.Contains(err.Error(), twice) {
		t.Errorf("unknown scheme: got %v, want ErrUnsupported naming the registered schemes", err)
	}
}

// TestSplitHostPort: registered transports check host:port as tcp:// does.
func TestSplitHostPort(t *testing.T) {
	for in, want := range map[string][2]string{
		"127.0.0.1:5555": {"127.0.0.1", "5555"},
		"[::1]:80":       {"::1", "80"},
		"*:0":            {"*", "0"},
		"example.org:1":  {"example.org", "1"},
	} {
		h, p, err := transport.SplitHostPort(in)
		if err != nil || h != want[0] || p != want[1] {
			t.Errorf("SplitHostPort(%q): got %q, %q, %v; want %q, %q", in, h, p, err, want[0], want[1])
		}
	}
	for _, bad := range []string{"", "nohost", ":80", "h:99999", "::1:80", "a b:80", "[::1]80"} {
		if _, _, err := transport.SplitHostPort(bad); err == nil {
			t.Errorf("SplitHostPort(%q): got nil error, want one", bad)
		}
	}
}
