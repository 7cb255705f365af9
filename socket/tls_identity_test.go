package socket

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/wispmq/wisp/transport"
)

// TestWithTLSPeerIdentity: with WithTLS, the certificate a peer presented
// is on its events, its PeerStats and, for a ROUTER's sender, Socket.Peer;
// a client that presents none, and one that does not trust the server,
// fail as a TLS handshake failure on both sides, with the TLS reason.
func TestWithTLSPeerIdentity(t *testing.T) {
	ctx := testContext(t)
	ca := newTestCA(t, "wisp test CA")
	server := &tls.Config{
		Certificates: []tls.Certificate{ca.issue(t, "router")},
		ClientCAs:    ca.pool,
		ClientAuth:   tls.RequireAndVerifyClientCert,
		MinVersion:   tls.VersionTLS13,
	}
	client := func(certs ...tls.Certificate) *tls.Config {
		return &tls.Config{RootCAs: ca.pool, Certificates: certs, MinVersion: tls.VersionTLS13}
	}
	router := newSocket(t, Router, WithTLS(server), WithEventBuffer(1024))
	ep, err := router.Bind("tls://127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	waitKind(t, ctx, router, EventListening)

	alice := newSocket(t, Dealer, WithTLS(client(ca.issue(t, "alice"))), WithRoutingID([]byte("a")))
	if err := alice.Connect(ep); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(ep, "tls://") {
		t.Fatalf("Bind returned %q, want the tls:// endpoint it is", ep)
	}
	plain, err := router.Bind("tcp://127.0.0.1:0") // the same socket, without TLS
	if err != nil {
		t.Fatal(err)
	}
	ev := waitKind(t, ctx, router, EventConnected)
	if !strings.HasPrefix(ev.Endpoint, "tls://") {
		t.Fatalf("EventConnected names endpoint %q, want tls://", ev.Endpoint)
	}
	if ev.TLS == nil || len(ev.TLS.PeerCertificates) == 0 || ev.TLS.PeerCertificates[0].Subject.CommonName != "alice" {
		t.Fatalf("EventConnected's TLS state does not name alice: %+v", ev.TLS)
	}
	if ev := waitKind(t, ctx, alice, EventConnected); ev.TLS == nil || ev.TLS.PeerCertificates[0].Subject.CommonName != "router" {
		t.Fatalf("the client's EventConnected does not name the server's certificate: %+v", ev.TLS)
	}
	if err := alice.Send(ctx, []byte("hi")); err != nil {
		t.Fatal(err)
	}
	m, err := router.Recv(ctx)
	if err != nil {
		t.Fatal(err)
	}
	ps, err := router.Peer(m[0])
	if err != nil || ps.TLS == nil || ps.TLS.PeerCertificates[0].Subject.CommonName != "alice" {
		t.Fatalf("Peer(%q): got %+v, %v; want alice's certificate", m[0], ps.TLS, err)
	}
	if st := router.Stats(); len(st.Peers) != 1 || st.Peers[0].TLS == nil {
		t.Fatalf("PeerStats has no TLS state: %+v", st.Peers)
	}

	for _, bad := range []struct {
		name   string
		cfg    *tls.Config
		client func(error) bool
		server func(error) bool
	}{
		{"no client certificate", client(),
			func(err error) bool { return errors.Is(err, ErrTLSHandshake) },
			func(err error) bool { return errors.Is(err, ErrTLSHandshake) && isTLSReason(err, "certificate") }},
		{"server not trusted", &tls.Config{RootCAs: x509.NewCertPool(), Certificates: []tls.Certificate{ca.issue(t, "bob")}, MinVersion: tls.VersionTLS13},
			func(err error) bool {
				var verr *tls.CertificateVerificationError
				return errors.Is(err, ErrTLSHandshake) && errors.As(err, &verr)
			},
			func(err error) bool { return errors.Is(err, ErrTLSHandshake) }},
	} {
		t.Run(bad.name, func(t *testing.T) {
			s := newSocket(t, Dealer, WithTLS(bad.cfg), WithReconnectInterval(time.Second, time.Second))
			if err := s.Connect(ep); err != nil {
				t.Fatal(err)
			}
			ev := waitKind(t, ctx, s, EventHandshakeFailed)
			if !bad.client(ev.Err) {
				t.Fatalf("client: got %v", ev.Err)
			}
			sev, _ := waitEvent(t, ctx, router, "the refusal", func(e Event) bool { return e.Kind == EventHandshakeFailed })
			if !bad.server(sev.Err) {
				t.Fatalf("server: got %v", sev.Err)
			}
			t.Logf("client: %v; server: %v", ev.Err, sev.Err)
		})
	}
	if _, err := New(Push, WithTLS(nil)); !errors.Is(err, ErrInvalidOption) {
		t.Fatalf("WithTLS(nil): got %v, want ErrInvalidOption", err)
	}
	// tcp:// stays plain on a socket WithTLS: a plain peer is served there.
	bob := newSocket(t, Dealer, WithRoutingID([]byte("b")))
	if err := bob.Connect(plain); err != nil {
		t.Fatal(err)
	}
	if err := bob.Send(ctx, []byte("plain")); err != nil {
		t.Fatal(err)
	}
	if m, err := router.Recv(ctx); err != nil || string(m[0]) != "b" {
		t.Fatalf("the plain endpoint: %q, %v", m, err)
	}
	if ps, err := router.Peer([]byte("b")); err != nil || ps.TLS != nil {
		t.Fatalf("a plain peer's TLS state: %+v, %v; want none", ps.TLS, err)
	}
	// A tls:// endpoint without WithTLS is refused at once.
	if err := bob.Connect(ep); !errors.Is(err, transport.ErrInvalidConfig) {
		t.Fatalf("Connect to tls:// without WithTLS: got %v, want transport.ErrInvalidConfig", err)
	}
}
