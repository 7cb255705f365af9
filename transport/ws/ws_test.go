package ws_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/binary"
	"errors"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/wispmq/wisp/socket"
	"github.com/wispmq/wisp/transport"
	"github.com/wispmq/wisp/transport/devcert"
	"github.com/wispmq/wisp/transport/ws"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func newSocket(t *testing.T, typ socket.Type, opts ...socket.Option) *socket.Socket {
	t.Helper()
	s, err := socket.New(typ, opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// stream sends n numbered messages of size bytes from push to pull and
// checks they arrive once, in order.
func stream(t *testing.T, ctx context.Context, push, pull *socket.Socket, n, size int) {
	t.Helper()
	go func() {
		for i := range n {
			b := make([]byte, size)
			binary.BigEndian.PutUint64(b, uint64(i))
			if push.Send(ctx, b) != nil {
				return
			}
		}
	}()
	for i := range n {
		m, err := pull.Recv(ctx)
		if err != nil {
			t.Fatalf("Recv %d: got error %v, want nil", i, err)
		}
		if b := m.Bytes(); len(b) != size || binary.BigEndian.Uint64(b) != uint64(i) {
			t.Fatalf("message %d: got %d bytes numbered %d, want %d bytes numbered %d", i, len(b), binary.BigEndian.Uint64(b), size, i)
		}
	}
}

func TestParseEndpoint(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"ws://127.0.0.1:5555/wisp", "ws://127.0.0.1:5555/wisp"},
		{"ws://localhost:80", "ws://localhost:80/"},
		{"wss://[::1]:443/a/b", "wss://[::1]:443/a/b"},
		{"ws://*:0/x", "ws://*:0/x"},
	} {
		ep, err := transport.ParseEndpoint(tc.in)
		if err != nil || ep.String() != tc.want {
			t.Errorf("ParseEndpoint(%q): got %v, %v, want %s", tc.in, ep, err, tc.want)
		}
	}
	for _, bad := range []string{"ws://nohost", "ws://:80/x", "ws://h:99999/", "ws://h:80/a b", "ws://h:80/?q", "ws://a b:80/", "ws://::1:80/"} {
		if _, err := transport.ParseEndpoint(bad); err == nil {
			t.Errorf("ParseEndpoint(%q): got nil error, want one", bad)
		}
	}
}

// TestPushPull: a PUSH and a PULL over ws://, small messages and ones
// larger than a WebSocket library's default message limit.
func TestPushPull(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	pull := newSocket(t, socket.Pull)
	ep, err := pull.Bind("ws://127.0.0.1:0/wisp")
	if err != nil {
		t.Fatalf("Bind: got error %v, want nil", err)
	}
	push := newSocket(t, socket.Push)
	if err := push.Connect(ep); err != nil {
		t.Fatalf("Connect(%s): got error %v, want nil", ep, err)
	}
	stream(t, ctx, push, pull, 10000, 16)
	stream(t, ctx, push, pull, 20, 1<<20)
}

// TestListenerOnExistingServer: wisp at a path of an HTTP server the
// application runs, next to its other routes.
func TestListenerOnExistingServer(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	tl, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/health", func(w http.ResponseWriter, _ *http.Request) { w.Write([]byte("ok")) })
	wl := ws.NewListener(nil)
	mux.Handle("/wisp", wl)
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go srv.Serve(tl)
	t.Cleanup(func() { srv.Close() })

	rep := newSocket(t, socket.Rep)
	if _, err := rep.BindListener(wl); err != nil {
		t.Fatalf("BindListener: got error %v, want nil", err)
	}
	req := newSocket(t, socket.Req)
	if err := req.Connect("ws://" + tl.Addr().String() + "/wisp"); err != nil {
		t.Fatal(err)
	}
	go func() {
		for {
			m, err := rep.Recv(ctx)
			if err != nil || rep.Send(ctx, append([]byte("re:"), m.Bytes()...)) != nil {
				return
			}
		}
	}()
	for i := range 100 {
		if err := req.Send(ctx, []byte("q")); err != nil {
			t.Fatalf("Send %d: %v", i, err)
		}
		m, err := req.Recv(ctx)
		if err != nil || string(m.Bytes()) != "re:q" {
			t.Fatalf("reply %d: got %q, %v, want re:q", i, m, err)
		}
	}
	resp, err := http.Get("http://" + tl.Addr().String() + "/health")
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("the server's other route: got %v, %v, want 200", resp, err)
	}
	resp.Body.Close()
}

// TestIdleAfterBurst: a connection that carried a burst and then stays
// idle keeps working: the engine interrupts the idle read to take its
// buffer back, which must not end a WebSocket.
func TestIdleAfterBurst(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	hb := socket.WithHeartbeat(100*time.Millisecond, 300*time.Millisecond)
	pull := newSocket(t, socket.Pull, hb)
	ep, err := pull.Bind("ws://127.0.0.1:0/wisp")
	if err != nil {
		t.Fatal(err)
	}
	push := newSocket(t, socket.Push, hb)
	if err := push.Connect(ep); err != nil {
		t.Fatal(err)
	}
	stream(t, ctx, push, pull, 100, 4096)
	time.Sleep(time.Second) // ten heartbeat intervals idle
	for {
		select {
		case e := <-pull.Events():
			if e.Kind == socket.EventDisconnected {
				t.Fatalf("PULL: got %v while idle, want the connection kept", e)
			}
			continue
		default:
		}
		break
	}
	stream(t, ctx, push, pull, 100, 4096)
}

// TestSecure: wss:// with a certificate the client trusts; a client that
// does not trust it never connects.
func TestSecure(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	ca, err := devcert.NewCA("wss test")
	if err != nil {
		t.Fatal(err)
	}
	cert, err := ca.Issue("server")
	if err != nil {
		t.Fatal(err)
	}
	pool := ca.Pool
	pull := newSocket(t, socket.Pull, socket.WithTLS(&tls.Config{Certificates: []tls.Certificate{cert}}))
	ep, err := pull.Bind("wss://127.0.0.1:0/wisp")
	if err != nil || !strings.HasPrefix(ep, "wss://127.0.0.1:") {
		t.Fatalf("Bind: got %q, %v, want a wss endpoint", ep, err)
	}
	push := newSocket(t, socket.Push, socket.WithTLS(&tls.Config{RootCAs: pool}))
	if err := push.Connect(ep); err != nil {
		t.Fatal(err)
	}
	stream(t, ctx, push, pull, 1000, 64)

	// A client that does not trust the certificate never connects.
	stranger := newSocket(t, socket.Push, socket.WithTLS(&tls.Config{}))
	if err := stranger.Connect(ep); err != nil {
		t.Fatal(err)
	}
	for e := range stranger.Events() {
		if e.Kind == socket.EventConnected {
			t.Fatalf("a client without the CA connected: %v", e)
		}
		if e.Kind == socket.EventRetrying {
			var uerr x509.UnknownAuthorityError
			if !errors.As(e.Err, &uerr) {
				t.Fatalf("untrusted server: got %v, want x509.UnknownAuthorityError", e.Err)
			}
			break
		}
	}
	// wss needs a TLS config at all.
	bare := newSocket(t, socket.Push)
	if err := bare.Connect(ep); err != nil {
		t.Fatal(err)
	}
	for e := range bare.Events() {
		if e.Kind == socket.EventRetrying {
			if !errors.Is(e.Err, transport.ErrInvalidConfig) {
				t.Fatalf("wss without a TLS config: got %v, want ErrInvalidConfig", e.Err)
			}
			break
		}
	}
}

// TestSecureTLSState: over wss:// with mutual TLS, each side's connected
// event carries the TLS state, with the certificate the other presented,
// as over tls://.
func TestSecureTLSState(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	ca, err := devcert.NewCA("wss test")
	if err != nil {
		t.Fatal(err)
	}
	serverCert, err := ca.Issue("server")
	if err != nil {
		t.Fatal(err)
	}
	clientCert, err := ca.Issue("client")
	if err != nil {
		t.Fatal(err)
	}
	pull := newSocket(t, socket.Pull, socket.WithTLS(&tls.Config{
		Certificates: []tls.Certificate{serverCert},
		ClientCAs:    ca.Pool, ClientAuth: tls.RequireAndVerifyClientCert,
	}))
	ep, err := pull.Bind("wss://127.0.0.1:0/wisp")
	if err != nil {
		t.Fatal(err)
	}
	push := newSocket(t, socket.Push, socket.WithTLS(&tls.Config{Certificates: []tls.Certificate{clientCert}, RootCAs: ca.Pool}))
	if err := push.Connect(ep); err != nil {
		t.Fatal(err)
	}
	for _, side := range []struct {
		s    *socket.Socket
		name string
		peer string
	}{{pull, "binding side", "client"}, {push, "connecting side", "server"}} {
		e := connectedEvent(t, ctx, side.s)
		if e.TLS == nil || len(e.TLS.PeerCertificates) == 0 {
			t.Fatalf("%s: connected event without the peer's certificate: %+v", side.name, e)
		}
		if got := e.TLS.PeerCertificates[0].Subject.CommonName; got != side.peer {
			t.Fatalf("%s: peer certificate %q, want %q", side.name, got, side.peer)
		}
	}
	stream(t, ctx, push, pull, 100, 16)
}

// connectedEvent waits for s's first EventConnected.
func connectedEvent(t *testing.T, ctx context.Context, s *socket.Socket) socket.Event {
	t.Helper()
	for {
		select {
		case e := <-s.Events():
			if e.Kind == socket.EventConnected {
				return e
			}
		case <-ctx.Done():
			t.Fatalf("waiting for a connected event: %v", ctx.Err())
		}
	}
}
