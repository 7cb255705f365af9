package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// writePKI writes, in dir, a CA (ca.pem) and two certificates it signed,
// for 127.0.0.1: server.pem/server.key and client.pem/client.key.
func writePKI(t *testing.T, dir string) {
	t.Helper()
	write := func(name, typ string, der []byte) {
		if err := os.WriteFile(filepath.Join(dir, name), pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	caKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	caTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "wispcat test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, _ := x509.ParseCertificate(caDER)
	write("ca.pem", "CERTIFICATE", caDER)
	for i, name := range []string{"server", "client"} {
		key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		tmpl := &x509.Certificate{
			SerialNumber: big.NewInt(int64(2 + i)), Subject: pkix.Name{CommonName: name},
			NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
			KeyUsage:    x509.KeyUsageDigitalSignature,
			ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
			IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)},
		}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
		if err != nil {
			t.Fatal(err)
		}
		write(name+".pem", "CERTIFICATE", der)
		kder, _ := x509.MarshalECPrivateKey(key)
		write(name+".key", "EC PRIVATE KEY", kder)
	}
}

// TestE2ETLS: mutual TLS from the command line, with JSON output: a push
// presenting a certificate from the CA is served, one without is refused
// with the TLS reason in the puller's events.
func TestE2ETLS(t *testing.T) {
	dir := t.TempDir()
	writePKI(t, dir)
	f := func(name string) string { return filepath.Join(dir, name) }
	pull := start(t, nil, "-type", "pull", "-bind", "tls://127.0.0.1:0", "-count", "2", "-timeout", "20s", "-v", "-format", "json",
		"-tls-cert", f("server.pem"), "-tls-key", f("server.key"), "-tls-ca", f("ca.pem"))
	ep := boundEndpoint(t, pull, "tls://127.0.0.1:0")

	stranger := start(t, strings.NewReader("nope\n"), "-type", "push", "-connect", ep, "-timeout", "2s", "-tls-ca", f("ca.pem"))
	stranger.wait()
	push := start(t, strings.NewReader("hello\nworld\n"), "-type", "push", "-connect", ep, "-timeout", "20s",
		"-tls-cert", f("client.pem"), "-tls-key", f("client.key"), "-tls-ca", f("ca.pem"))
	if status, _ := push.wait(); status != 0 {
		t.Fatalf("push: status %d, stderr %s", status, push.stderr.String())
	}
	status, got := pull.wait()
	if status != 0 {
		t.Fatalf("pull: status %d, stderr %s", status, pull.stderr.String())
	}
	want := []string{`{"frames":["hello"],"encoding":"utf8"}`, `{"frames":["world"],"encoding":"utf8"}`}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("pull printed %q, want %q", got, want)
	}
	if log := pull.stderr.String(); !strings.Contains(log, "handshake-failed") || !strings.Contains(log, "TLS handshake failed") {
		t.Fatalf("the puller's events do not report the client without a certificate:\n%s", log)
	}
}

// TestE2EQUIC: 100,000 lines from a push to a pull over quic://, in
// order, with mutual TLS from the -tls flags (QUIC needs them).
func TestE2EQUIC(t *testing.T) {
	dir := t.TempDir()
	writePKI(t, dir)
	f := func(name string) string { return filepath.Join(dir, name) }
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ep := "quic://" + pc.LocalAddr().String()
	pc.Close()
	const n = 100000
	input, want := numbered(n)
	pull := start(t, nil, "-type", "pull", "-bind", ep, "-count", strconv.Itoa(n), "-timeout", "60s",
		"-tls-cert", f("server.pem"), "-tls-key", f("server.key"), "-tls-ca", f("ca.pem"))
	// More lines than start buffers: take them as they come.
	lines := make(chan []string, 1)
	go func() {
		var got []string
		for l := range pull.lines {
			got = append(got, strings.TrimSuffix(l, "\n"))
		}
		lines <- got
	}()
	push := start(t, strings.NewReader(input), "-type", "push", "-connect", ep, "-timeout", "60s",
		"-tls-cert", f("client.pem"), "-tls-key", f("client.key"), "-tls-ca", f("ca.pem"))
	if status, _ := push.wait(); status != 0 {
		t.Errorf("push: got status %d (stderr %q), want 0", status, push.stderr.String())
	}
	got := <-lines // all of stdout: the pull has ended
	status, _ := pull.wait()
	if status != 0 || strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("pull: got status %d and %d lines (stderr %q), want 0 and %d in order", status, len(got), pull.stderr.String(), n)
	}

	// Without the -tls flags a quic:// endpoint is refused at once.
	bare := start(t, nil, "-type", "pull", "-bind", ep)
	if status, _ := bare.wait(); status == 0 || !strings.Contains(bare.stderr.String(), "quic://") {
		t.Errorf("quic:// without -tls flags: got status %d, stderr %q; want a usage error naming quic://", status, bare.stderr.String())
	}
}
