package socket

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"math/big"
	"net"
	"strings"
	"testing"
	"time"
)

// testCA is a throwaway certificate authority for one test.
type testCA struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
	pool *x509.CertPool
}

var serial = big.NewInt(1)

func newTestCA(t *testing.T, name string) *testCA {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial.Add(serial, big.NewInt(1)),
		Subject:               pkix.Name{CommonName: name},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	return &testCA{cert: cert, key: key, pool: pool}
}

// issue makes a leaf certificate for 127.0.0.1, usable by a server or a
// client.
func (ca *testCA) issue(t *testing.T, name string) tls.Certificate {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial.Add(serial, big.NewInt(1)),
		Subject:      pkix.Name{CommonName: name},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1)},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}

// tlsPush makes a PUSH that dials with TLS, presenting certs. It presents
// the first one even when the server asks for another CA's, as a client
// with the wrong certificate would.
func tlsPush(t *testing.T, ca *testCA, certs []tls.Certificate) *Socket {
	cfg := &tls.Config{RootCAs: ca.pool, MinVersion: tls.VersionTLS13}
	if len(certs) > 0 {
		cfg.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return &certs[0], nil }
	}
	d := &tls.Dialer{Config: cfg}
	return newSocket(t, Push, WithDialer(d.DialContext),
		WithReconnectInterval(time.Millisecond, 50*time.Millisecond))
}

// TestTLSMutualAuth runs PUSH/PULL over TLS with client certificates: a
// client with a certificate from the right CA is served, clients without
// one or with a stranger's are refused with the TLS reason, and refusing
// them does not disturb the good client.
func TestTLSMutualAuth(t *testing.T) {
	const n = 1000
	ctx := testContext(t)
	ca := newTestCA(t, "wisp test CA")
	serverCfg := &tls.Config{
		Certificates: []tls.Certificate{ca.issue(t, "pull")},
		ClientCAs:    ca.pool,
		ClientAuth:   tls.RequireAndVerifyClientCert,
		MinVersion:   tls.VersionTLS13,
	}
	pull := newSocket(t, Pull, WithListener(func(ctx context.Context, network, address string) (net.Listener, error) {
		var lc net.ListenConfig
		l, err := lc.Listen(ctx, network, address)
		if err != nil {
			return nil, err
		}
		return tls.NewListener(l, serverCfg), nil
	}))
	ep, err := pull.Bind("tcp://127.0.0.1:0")
	if err != nil {
		t.Fatalf("Bind: got error %v, want nil", err)
	}

	good := tlsPush(t, ca, []tls.Certificate{ca.issue(t, "good push")})
	if err := good.Connect(ep); err != nil {
		t.Fatalf("Connect: got error %v, want nil", err)
	}
	sent := sendAll(ctx, good, 0, n/2)
	for i, m := range recvN(t, ctx, pull, n/2) {
		if got := number(t, m); got != i {
			t.Fatalf("message %d: got %d, want %d", i, got, i)
		}
	}
	wait(t, sent)
	waitKind(t, ctx, pull, EventConnected)

	stranger := newTestCA(t, "someone else's CA")
	for _, bad := range []struct {
		name   string
		certs  []tls.Certificate
		reason func(error) bool
	}{
		{"no certificate", nil, func(err error) bool { return isTLSReason(err, "certificate") }},
		{"stranger's certificate", []tls.Certificate{stranger.issue(t, "bad push")}, func(err error) bool {
			var verr *tls.CertificateVerificationError
			return errors.As(err, &verr)
		}},
	} {
		push := tlsPush(t, ca, bad.certs)
		if err := push.Connect(ep); err != nil {
			t.Fatalf("%s: Connect: got error %v, want nil", bad.name, err)
		}
		// The PULL reports the refusal with the TLS reason. (Earlier
		// refusals of the previous client may come first.)
		e, _ := waitEvent(t, ctx, pull, bad.name+" refused with its TLS reason", func(e Event) bool {
			return (e.Kind == EventHandshakeFailed || e.Kind == EventDisconnected) && bad.reason(e.Err)
		})
		t.Logf("%s: %v", bad.name, e)
		if err := push.Close(); err != nil {
			t.Errorf("%s: Close: got error %v, want nil", bad.name, err)
		}
	}
	if st := pull.Stats(); st.HandshakeFailures < 2 {
		t.Errorf("got HandshakeFailures %d, want at least 2", st.HandshakeFailures)
	}

	sent = sendAll(ctx, good, n/2, n/2)
	for i, m := range recvN(t, ctx, pull, n/2) {
		if got := number(t, m); got != n/2+i {
			t.Fatalf("message %d: got %d, want %d", n/2+i, got, n/2+i)
		}
	}
	wait(t, sent)
	if err := good.Flush(ctx); err != nil {
		t.Fatalf("Flush: got error %v, want nil", err)
	}
	st := pull.Stats()
	connected := 0
	for _, p := range st.Peers {
		if p.Connected {
			connected++
			if p.Session != good.Session() {
				t.Errorf("got connected peer %s, want only the good client %s", p.Session, good.Session())
			}
		}
	}
	if connected != 1 {
		t.Errorf("got %d connected peers, want 1: %+v", connected, st.Peers)
	}
}

// isTLSReason reports whether err is a TLS failure that mentions word, for
// reasons the tls package returns as plain errors ("tls: client didn't
// provide a certificate").
func isTLSReason(err error, word string) bool {
	if err == nil {
		return false
	}
	if s := err.Error(); strings.HasPrefix(s, "tls: ") && strings.Contains(s, word) {
		return true
	}
	switch u := err.(type) {
	case interface{ Unwrap() error }:
		return isTLSReason(u.Unwrap(), word)
	case interface{ Unwrap() []error }:
		for _, e := range u.Unwrap() {
			if isTLSReason(e, word) {
				return true
			}
		}
	}
	return false
}
