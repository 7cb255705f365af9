package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"time"
)

// The identities the certs subcommand writes, each as NAME.pem (the
// certificate) and NAME-key.pem (its private key). ca.pem is the authority
// both sides trust. The stranger's certificate is signed by another
// authority, whose key is thrown away: it is well formed but trusted by
// no one here.
const (
	caFile   = "ca.pem"
	server   = "server"
	client   = "client"
	stranger = "stranger"
)

// validFor is how long the throwaway certificates last.
const validFor = 24 * time.Hour

// writeCerts makes a throwaway CA, a server and a client certificate signed
// by it, and a stranger's certificate signed by another CA, and writes them
// to dir. It returns the files written.
func writeCerts(dir string) ([]string, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	ca, err := newCA("wisp example CA")
	if err != nil {
		return nil, err
	}
	other, err := newCA("stranger's CA")
	if err != nil {
		return nil, err
	}
	files := []string{filepath.Join(dir, caFile)}
	if err := writePEM(files[0], "CERTIFICATE", ca.cert.Raw, 0o644); err != nil {
		return nil, err
	}
	for _, id := range []struct {
		name string
		ca   *authority
	}{{server, ca}, {client, ca}, {stranger, other}} {
		der, key, err := id.ca.issue("wisp example " + id.name)
		if err != nil {
			return nil, err
		}
		keyDER, err := x509.MarshalPKCS8PrivateKey(key)
		if err != nil {
			return nil, err
		}
		cert, keyFile := filepath.Join(dir, id.name+".pem"), filepath.Join(dir, id.name+"-key.pem")
		if err := writePEM(cert, "CERTIFICATE", der, 0o644); err != nil {
			return nil, err
		}
		if err := writePEM(keyFile, "PRIVATE KEY", keyDER, 0o600); err != nil {
			return nil, err
		}
		files = append(files, cert, keyFile)
	}
	return files, nil
}

// authority is a certificate authority that lives only while writeCerts
// runs.
type authority struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
}

func newCA(name string) (*authority, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serialNumber(),
		Subject:               pkix.Name{CommonName: name},
		NotBefore:             time.Now().Add(-time.Minute), // some slack for clock skew
		NotAfter:              time.Now().Add(validFor),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, err
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, err
	}
	return &authority{cert: cert, key: key}, nil
}

// issue signs a certificate for name that serves as a server certificate
// for 127.0.0.1, ::1 and localhost, and as a client certificate.
func (a *authority) issue(name string) ([]byte, *ecdsa.PrivateKey, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber: serialNumber(),
		Subject:      pkix.Name{CommonName: name},
		NotBefore:    time.Now().Add(-time.Minute),
		NotAfter:     time.Now().Add(validFor),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback},
		DNSNames:     []string{"localhost"},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, a.cert, &key.PublicKey, a.key)
	return der, key, err
}

func serialNumber() *big.Int {
	n, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		panic(err) // crypto/rand does not fail on supported systems
	}
	return n
}

func writePEM(path, typ string, der []byte, mode os.FileMode) error {
	return os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), mode)
}

// loadPool reads the CA certificate from dir.
func loadPool(dir string) (*x509.CertPool, error) {
	b, err := os.ReadFile(filepath.Join(dir, caFile))
	if err != nil {
		return nil, fmt.Errorf("%w (run the certs subcommand first)", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(b) {
		return nil, errors.New("no certificate in " + filepath.Join(dir, caFile))
	}
	return pool, nil
}

// loadIdentity reads NAME.pem and NAME-key.pem from dir.
func loadIdentity(dir, name string) (tls.Certificate, error) {
	c, err := tls.LoadX509KeyPair(filepath.Join(dir, name+".pem"), filepath.Join(dir, name+"-key.pem"))
	if err != nil {
		return c, fmt.Errorf("%w (run the certs subcommand first)", err)
	}
	return c, nil
}
