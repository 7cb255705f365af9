package quic_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"os"
	"strings"
	"testing"
	"time"

	quicgo "github.com/quic-go/quic-go"
	"go.uber.org/goleak"

	"github.com/wispmq/wisp/socket"
	"github.com/wispmq/wisp/transport"
	"github.com/wispmq/wisp/transport/devcert"
	wquic "github.com/wispmq/wisp/transport/quic"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// testTimeout is a safety net for blocking calls, not a speed threshold.
const testTimeout = 30 * time.Second

func testTLS(t testing.TB) *tls.Config {
	t.Helper()
	c, err := devcert.Config("wisp quic test")
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func newSocket(t testing.TB, typ socket.Type, opts ...socket.Option) *socket.Socket {
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
func stream(t testing.TB, ctx context.Context, push, pull *socket.Socket, n, size int) {
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
		{"quic://127.0.0.1:5555", "quic://127.0.0.1:5555"},
		{"quic://localhost:443", "quic://localhost:443"},
		{"quic://[::1]:443", "quic://[::1]:443"},
		{"quic://*:0", "quic://*:0"},
	} {
		ep, err := transport.ParseEndpoint(tc.in)
		if err != nil || ep.String() != tc.want {
			t.Errorf("ParseEndpoint(%q): got %v, %v, want %s", tc.in, ep, err, tc.want)
		}
	}
	for _, bad := range []string{"quic://nohost", "quic://:80", "quic://h:99999", "quic://h:-1", "quic://::1:80", "quic://h:80/path", "quic://a b:80"} {
		if _, err := transport.ParseEndpoint(bad); !errors.Is(err, transport.ErrInvalidEndpoint) {
			t.Errorf("ParseEndpoint(%q): got %v, want ErrInvalidEndpoint", bad, err)
		}
	}
}

// listen listens on a quic:// loopback endpoint and closes the listener
// when the test ends.
func listen(t *testing.T, cfg transport.Config) (net.Listener, transport.Endpoint) {
	t.Helper()
	ep, _ := transport.ParseEndpoint("quic://127.0.0.1:0")
	l, bound, err := transport.Listen(t.Context(), ep, cfg)
	if err != nil {
		t.Fatalf("Listen: got error %v, want nil", err)
	}
	t.Cleanup(func() { l.Close() })
	return l, bound
}

// accept accepts one connection in the background.
func accept(l net.Listener) <-chan net.Conn {
	ch := make(chan net.Conn, 1)
	go func() {
		c, err := l.Accept()
		if err != nil {
			close(ch)
			return
		}
		ch <- c
	}()
	return ch
}

// TestRoundTrip: bytes both ways over one connection, the addresses are
// the UDP ones, a read interrupted by a past deadline reads again, and
// Close on one side ends the other's Read with io.EOF.
func TestRoundTrip(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), testTimeout)
	defer cancel()
	cfg := transport.Config{TLS: testTLS(t)}
	l, ep := listen(t, cfg)
	if !strings.HasPrefix(ep.String(), "quic://127.0.0.1:") || strings.HasSuffix(ep.String(), ":0") {
		t.Fatalf("Listen: got endpoint %s, want quic://127.0.0.1:PORT", ep)
	}
	if got := transport.EndpointFromAddr(l.Addr()).String(); got != ep.String() {
		t.Errorf("listener's address: got %s, want %s", got, ep)
	}
	accepted := accept(l)
	c, err := transport.Dial(ctx, ep, cfg)
	if err != nil {
		t.Fatalf("Dial: got error %v, want nil", err)
	}
	defer c.Close()
	if _, err := c.Write([]byte("hello")); err != nil { // the stream reaches the server with its first bytes
		t.Fatal(err)
	}
	s, ok := <-accepted
	if !ok {
		t.Fatal("Accept: got an error, want the connection")
	}
	defer s.Close()
	if s.RemoteAddr().String() != c.LocalAddr().String() && !strings.HasSuffix(c.LocalAddr().String(), portOf(s.RemoteAddr())) {
		t.Errorf("addresses: server sees %v, client is %v", s.RemoteAddr(), c.LocalAddr())
	}
	buf := make([]byte, 5)
	if _, err := io.ReadFull(s, buf); err != nil || string(buf) != "hello" {
		t.Fatalf("server read: got %q, %v, want hello", buf, err)
	}

	// A read interrupted by a deadline can read again.
	s.SetReadDeadline(time.Unix(1, 0))
	if _, err := s.Read(buf); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("Read past its deadline: got %v, want a deadline error", err)
	}
	s.SetReadDeadline(time.Time{})
	if _, err := c.Write([]byte("again")); err != nil {
		t.Fatal(err)
	}
	if _, err := io.ReadFull(s, buf); err != nil || string(buf) != "again" {
		t.Fatalf("server read after the deadline: got %q, %v, want again", buf, err)
	}
	if _, err := s.Write([]byte("world")); err != nil {
		t.Fatal(err)
	}
	if _, err := io.ReadFull(c, buf); err != nil || string(buf) != "world" {
		t.Fatalf("client read: got %q, %v, want world", buf, err)
	}
	if st := tlsState(t, c); len(st.PeerCertificates) == 0 || st.NegotiatedProtocol != wquic.ALPN || st.Version != tls.VersionTLS13 {
		t.Errorf("client's TLS state: got %d certificates, ALPN %q, version %x; want the server's, %q, TLS 1.3", len(st.PeerCertificates), st.NegotiatedProtocol, st.Version, wquic.ALPN)
	}

	// The peer sees a Close at once, as EOF.
	done := make(chan error, 1)
	go func() {
		_, err := s.Read(buf)
		done <- err
	}()
	if err := c.Close(); err != nil {
		t.Fatalf("Close: got %v, want nil", err)
	}
	select {
	case err := <-done:
		if !errors.Is(err, io.EOF) {
			t.Fatalf("server Read after the client's Close: got %v, want io.EOF", err)
		}
	case <-ctx.Done():
		t.Fatal("server Read still blocked after the client's Close")
	}
	if _, err := c.Write([]byte("x")); !errors.Is(err, net.ErrClosed) {
		t.Errorf("Write after Close: got %v, want net.ErrClosed", err)
	}
}

func portOf(a net.Addr) string {
	_, p, _ := net.SplitHostPort(a.String())
	return ":" + p
}

func tlsState(t *testing.T, c net.Conn) tls.ConnectionState {
	t.Helper()
	cs, ok := c.(interface{ ConnectionState() tls.ConnectionState })
	if !ok {
		t.Fatalf("%T has no ConnectionState", c)
	}
	return cs.ConnectionState()
}

// TestCloseDuringRead: Close while a Read is blocked ends it with
// net.ErrClosed.
func TestCloseDuringRead(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), testTimeout)
	defer cancel()
	cfg := transport.Config{TLS: testTLS(t)}
	l, ep := listen(t, cfg)
	accepted := accept(l)
	c, err := transport.Dial(ctx, ep, cfg)
	if err != nil {
		t.Fatal(err)
	}
	c.Write([]byte{1})
	s := <-accepted
	defer s.Close()
	done := make(chan error, 1)
	go func() {
		_, err := c.Read(make([]byte, 1))
		done <- err
	}()
	c.Close()
	if err := <-done; !errors.Is(err, net.ErrClosed) {
		t.Fatalf("Read during Close: got %v, want net.ErrClosed", err)
	}
}

// TestCloseDuringWrite: Close while a Write waits for flow control (the
// peer reads nothing) ends it with net.ErrClosed.
func TestCloseDuringWrite(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), testTimeout)
	defer cancel()
	cfg := transport.Config{TLS: testTLS(t)}
	l, ep := listen(t, cfg)
	accepted := accept(l)
	c, err := transport.Dial(ctx, ep, cfg)
	if err != nil {
		t.Fatal(err)
	}
	c.Write([]byte{1})
	s := <-accepted
	defer s.Close()
	done := make(chan error, 1)
	go func() {
		_, err := c.Write(make([]byte, 64<<20)) // far beyond any flow control window
		done <- err
	}()
	time.Sleep(50 * time.Millisecond) // let the Write block
	c.Close()
	select {
	case err := <-done:
		if !errors.Is(err, net.ErrClosed) {
			t.Fatalf("Write during Close: got %v, want net.ErrClosed", err)
		}
	case <-ctx.Done():
		t.Fatal("Write still blocked after Close")
	}
}

// TestNeedsTLS: without a TLS config Listen and Dial fail at once, with
// ErrInvalidConfig and a message saying what to supply; with a config
// capped below TLS 1.3 too.
func TestNeedsTLS(t *testing.T) {
	ep, _ := transport.ParseEndpoint("quic://127.0.0.1:0")
	if _, _, err := transport.Listen(t.Context(), ep, transport.Config{}); !errors.Is(err, transport.ErrInvalidConfig) || !strings.Contains(err.Error(), "WithTLS") {
		t.Errorf("Listen without TLS: got %v, want ErrInvalidConfig naming WithTLS", err)
	}
	dep, _ := transport.ParseEndpoint("quic://127.0.0.1:9")
	if _, err := transport.Dial(t.Context(), dep, transport.Config{}); !errors.Is(err, transport.ErrInvalidConfig) || !strings.Contains(err.Error(), "TLS 1.3") {
		t.Errorf("Dial without TLS: got %v, want ErrInvalidConfig naming TLS 1.3", err)
	}
	old := &tls.Config{MaxVersion: tls.VersionTLS12}
	if _, err := transport.Dial(t.Context(), dep, transport.Config{TLS: old}); !errors.Is(err, transport.ErrInvalidConfig) {
		t.Errorf("Dial with TLS 1.2 at most: got %v, want ErrInvalidConfig", err)
	}
	// A stream dialer cannot carry QUIC: refused, not bypassed.
	dial := func(context.Context, string, string) (net.Conn, error) { return nil, errors.New("not called") }
	if _, err := transport.Dial(t.Context(), dep, transport.Config{TLS: testTLS(t), Dial: dial}); !errors.Is(err, transport.ErrInvalidConfig) {
		t.Errorf("Dial with a custom dialer: got %v, want ErrInvalidConfig", err)
	}
	// A socket reports it when it tries.
	s := newSocket(t, socket.Push)
	if err := s.Connect("quic://127.0.0.1:9"); err != nil {
		t.Fatal(err)
	}
	for e := range s.Events() {
		if e.Kind == socket.EventRetrying {
			if !errors.Is(e.Err, transport.ErrInvalidConfig) {
				t.Fatalf("quic:// without WithTLS: got %v, want ErrInvalidConfig", e.Err)
			}
			break
		}
	}
	if _, err := newSocket(t, socket.Pull).Bind("quic://127.0.0.1:0"); !errors.Is(err, transport.ErrInvalidConfig) {
		t.Errorf("Bind quic:// without WithTLS: got %v, want ErrInvalidConfig", err)
	}
}

// TestALPNMismatch: a QUIC client of another protocol fails its
// handshake, and the listener hands nothing out.
func TestALPNMismatch(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), testTimeout)
	defer cancel()
	cfg := transport.Config{TLS: testTLS(t)}
	l, ep := listen(t, cfg)
	accepted := accept(l)
	other := cfg.TLS.Clone()
	other.NextProtos = []string{"h3"}
	other.ServerName = "127.0.0.1"
	_, port, _ := net.SplitHostPort(ep.Address)
	qc, err := quicgo.DialAddr(ctx, "127.0.0.1:"+port, other, nil)
	if err == nil {
		qc.CloseWithError(0, "")
		t.Fatal("a client stating ALPN h3: got connected, want the handshake refused")
	}
	var te *quicgo.TransportError
	if !errors.As(err, &te) || !strings.Contains(err.Error(), "application protocol") {
		t.Errorf("a client stating ALPN h3: got %v, want a TLS no_application_protocol error", err)
	}
	l.Close()
	if c, ok := <-accepted; ok {
		c.Close()
		t.Fatal("the listener handed out a connection of another protocol")
	}
}

// TestUntrusted: a client that does not trust the server's certificate
// never connects.
func TestUntrusted(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), testTimeout)
	defer cancel()
	_, ep := listen(t, transport.Config{TLS: testTLS(t)})
	_, err := transport.Dial(ctx, ep, transport.Config{TLS: testTLS(t)}) // another CA
	var unknown x509.UnknownAuthorityError
	if !errors.As(err, &unknown) {
		t.Fatalf("Dial with another CA: got %v, want x509.UnknownAuthorityError", err)
	}
}

// TestDialCancelled: a Dial to a peer that never answers ends with its
// context, not with QUIC's handshake timeout.
func TestDialCancelled(t *testing.T) {
	hole, err := net.ListenPacket("udp", "127.0.0.1:0") // takes packets, answers none
	if err != nil {
		t.Fatal(err)
	}
	defer hole.Close()
	ep, _ := transport.ParseEndpoint("quic://" + hole.LocalAddr().String())
	ctx, cancel := context.WithCancel(t.Context())
	time.AfterFunc(50*time.Millisecond, cancel)
	_, err = transport.Dial(ctx, ep, transport.Config{TLS: testTLS(t)})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("Dial cancelled: got %v, want context.Canceled", err)
	}
	// Already cancelled: fails without trying.
	if _, err := transport.Dial(ctx, ep, transport.Config{TLS: testTLS(t)}); !errors.Is(err, context.Canceled) {
		t.Fatalf("Dial with a cancelled context: got %v, want context.Canceled", err)
	}
}

// TestPushPull: a PUSH and a PULL over quic://, small messages and large
// ones, with each side's TLS state (the peer's certificate) on its events.
func TestPushPull(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), testTimeout)
	defer cancel()
	tc := testTLS(t)
	pull := newSocket(t, socket.Pull, socket.WithTLS(tc))
	ep, err := pull.Bind("quic://127.0.0.1:0")
	if err != nil {
		t.Fatalf("Bind: got error %v, want nil", err)
	}
	push := newSocket(t, socket.Push, socket.WithTLS(tc))
	if err := push.Connect(ep); err != nil {
		t.Fatalf("Connect(%s): got error %v, want nil", ep, err)
	}
	stream(t, ctx, push, pull, 10000, 16)
	stream(t, ctx, push, pull, 20, 1<<20)
	for e := range push.Events() {
		if e.Kind == socket.EventConnected {
			if e.TLS == nil || len(e.TLS.PeerCertificates) == 0 || e.TLS.PeerCertificates[0].Subject.CommonName != "wisp quic test" {
				t.Errorf("PUSH's EventConnected: got TLS state %+v, want the server's certificate", e.TLS)
			}
			break
		}
	}
	if st := pull.Stats(); len(st.Peers) != 1 || st.Peers[0].TLS == nil || st.Peers[0].TLS.NegotiatedProtocol != wquic.ALPN {
		t.Errorf("PULL's Stats: got %+v, want one peer with TLS state and ALPN %s", st.Peers, wquic.ALPN)
	}
}

// TestHeartbeatKeepsIdle: a connection idle for many heartbeat intervals
// stays up (QUIC's idle timeout does not fight wisp's heartbeat).
func TestHeartbeatKeepsIdle(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), testTimeout)
	defer cancel()
	tc := testTLS(t)
	hb := socket.WithHeartbeat(100*time.Millisecond, 300*time.Millisecond)
	pull := newSocket(t, socket.Pull, socket.WithTLS(tc), hb)
	ep, err := pull.Bind("quic://127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	push := newSocket(t, socket.Push, socket.WithTLS(tc), hb)
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

// TestLocalAddrAndReusePort: a Dial with LocalAddr comes from that
// address, and two Listens with ReusePort share a port.
func TestLocalAddrAndReusePort(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), testTimeout)
	defer cancel()
	tc := testTLS(t)
	l, ep := listen(t, transport.Config{TLS: tc, ReusePort: true})
	l2, ep2, err := transport.Listen(ctx, ep, transport.Config{TLS: tc, ReusePort: true})
	if err != nil {
		t.Fatalf("a second Listen on %s with ReusePort: got %v, want nil", ep, err)
	}
	l2.Close()
	if ep2 != ep {
		t.Errorf("the second Listen: got %s, want %s", ep2, ep)
	}
	if _, _, err := transport.Listen(ctx, ep, transport.Config{TLS: tc}); !errors.Is(err, transport.ErrAddressInUse) {
		t.Errorf("Listen on %s without ReusePort: got %v, want ErrAddressInUse", ep, err)
	}

	free, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	from := free.LocalAddr().String()
	free.Close()
	accepted := accept(l)
	c, err := transport.Dial(ctx, ep, transport.Config{TLS: tc, LocalAddr: from})
	if err != nil {
		t.Fatalf("Dial from %s: got %v, want nil", from, err)
	}
	defer c.Close()
	c.Write([]byte{1})
	s := <-accepted
	defer s.Close()
	if got := s.RemoteAddr().String(); got != from {
		t.Errorf("the server sees the client at %s, want %s (LocalAddr)", got, from)
	}
}

// TestMutualTLS: a server that requires client certificates serves a
// client presenting one from its CA, and sees who it is; a client without
// one never gets a working connection.
func TestMutualTLS(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), testTimeout)
	defer cancel()
	ca, err := devcert.NewCA("mtls CA")
	if err != nil {
		t.Fatal(err)
	}
	issue := func(name string) tls.Certificate {
		c, err := ca.Issue(name)
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	server := &tls.Config{Certificates: []tls.Certificate{issue("server")}, ClientCAs: ca.Pool, ClientAuth: tls.RequireAndVerifyClientCert}
	l, ep := listen(t, transport.Config{TLS: server})
	accepted := accept(l)
	c, err := transport.Dial(ctx, ep, transport.Config{TLS: &tls.Config{RootCAs: ca.Pool, Certificates: []tls.Certificate{issue("alice")}}})
	if err != nil {
		t.Fatalf("Dial with a client certificate: got %v, want nil", err)
	}
	defer c.Close()
	c.Write([]byte{1})
	s := <-accepted
	defer s.Close()
	if st := tlsState(t, s); len(st.PeerCertificates) == 0 || st.PeerCertificates[0].Subject.CommonName != "alice" {
		t.Errorf("server's view of the client: got %+v, want alice's certificate", st.PeerCertificates)
	}

	// Without a certificate: TLS 1.3 lets the client finish first, so the
	// refusal may come after Dial, as the connection's end.
	bare, err := transport.Dial(ctx, ep, transport.Config{TLS: &tls.Config{RootCAs: ca.Pool}})
	if err == nil {
		defer bare.Close()
		bare.Write([]byte{1})
		_, err = bare.Read(make([]byte, 1))
	}
	if err == nil || !strings.Contains(err.Error(), "certificate") {
		t.Fatalf("a client without a certificate: got %v, want the server's refusal naming the certificate", err)
	}
}
