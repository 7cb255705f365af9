// Package devcert makes throwaway TLS certificates in memory, for tests,
// examples, benchmarks and development with the transports that need TLS
// (quic://, tls://, wss://): a certificate authority made fresh each
// time, and leaf certificates it signs for the loopback addresses.
// Nothing it makes is written to disk or trusted beyond the configs it
// returns.
//
// It is not for production: there, a binding socket presents a
// certificate chain a real CA (or your own PKI) issued for its host name
// (tls.LoadX509KeyPair), and a connecting socket trusts that CA
// (tls.Config.RootCAs); for mutual TLS each side also presents its own and
// the binding side sets ClientCAs and ClientAuth. See transport/quic.
package devcert

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"fmt"
	"math/big"
	"net"
	"time"
)

// validity is how long a certificate is valid, from an hour ago (for
// clocks that differ a little) on.
const validity = 24 * time.Hour

// CA is a certificate authority that exists for one process.
type CA struct {
	// Pool trusts this CA and nothing else.
	Pool *x509.CertPool
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
}

// NewCA makes a certificate authority named name.
func NewCA(name string) (*CA, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("devcert: CA key: %w", err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial(),
		Subject:               pkix.Name{CommonName: name},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(validity),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, fmt.Errorf("devcert: CA certificate: %w", err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, fmt.Errorf("devcert: CA certificate: %w", err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	return &CA{Pool: pool, cert: cert, key: key}, nil
}

// Issue makes a certificate with common name name, for localhost,
// 127.0.0.1 and ::1, usable by a server and by a client.
func (ca *CA) Issue(name string) (tls.Certificate, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("devcert: key: %w", err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial(),
		Subject:      pkix.Name{CommonName: name},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(validity),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
		DNSNames:     []string{"localhost"},
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("devcert: certificate %s: %w", name, err)
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("devcert: certificate %s: %w", name, err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}, nil
}

// Config returns a TLS config for both roles on loopback: a new CA and a
// certificate it issued named name, which a server presents, and RootCAs
// trusting only that CA, which a client checks its server against. Every
// socket given the same config trusts every other.
func Config(name string) (*tls.Config, error) {
	ca, err := NewCA(name + " CA")
	if err != nil {
		return nil, err
	}
	cert, err := ca.Issue(name)
	if err != nil {
		return nil, err
	}
	return &tls.Config{Certificates: []tls.Certificate{cert}, RootCAs: ca.Pool, MinVersion: tls.VersionTLS13}, nil
}

// serial is a random 127-bit serial number, as RFC 5280 asks for
// unpredictable ones.
func serial() *big.Int {
	n, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		panic(err) // crypto/rand does not fail on supported platforms
	}
	return n
}
