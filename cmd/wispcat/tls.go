package main

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"os"
)

// tlsConfig makes the TLS config the -tls flags ask for. One config
// serves both roles: a bound endpoint is a TLS server that, with -tls-ca,
// requires client certificates signed by that CA; a connected one is a
// client that checks its server against -tls-ca (else the system's roots)
// and presents -tls-cert when asked.
func tlsConfig(cfg *config) (*tls.Config, error) {
	tc := &tls.Config{MinVersion: tls.VersionTLS12}
	if cfg.tlsCert != "" {
		cert, err := tls.LoadX509KeyPair(cfg.tlsCert, cfg.tlsKey)
		if err != nil {
			return nil, fmt.Errorf("-tls-cert/-tls-key: %w", err)
		}
		tc.Certificates = []tls.Certificate{cert}
	}
	if cfg.tlsCA != "" {
		pem, err := os.ReadFile(cfg.tlsCA)
		if err != nil {
			return nil, fmt.Errorf("-tls-ca: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("-tls-ca %s: no PEM certificate in it", cfg.tlsCA)
		}
		tc.RootCAs, tc.ClientCAs = pool, pool
		tc.ClientAuth = tls.RequireAndVerifyClientCert
	}
	return tc, nil
}
