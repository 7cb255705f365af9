package transport

import (
	"context"
	"crypto/tls"
	"errors"
	"net"
	"path/filepath"
	"testing"
)

// tlsConfig plugs TLS into Config through its Listen and Dial hooks.
func tlsConfig(server, client *tls.Config) Config {
	return Config{
		Listen: func(ctx context.Context, network, address string) (net.Listener, error) {
			var lc net.ListenConfig
			l, err := lc.Listen(ctx, network, address)
			if err != nil {
				return nil, err
			}
			return tls.NewListener(l, server), nil
		},
		Dial: func(ctx context.Context, network, address string) (net.Conn, error) {
			d := tls.Dialer{Config: client}
			return d.DialContext(ctx, network, address)
		},
	}
}

// acceptTLS accepts one connection and runs the server handshake in a
// goroutine, since the client's Dial waits for it.
func acceptTLS(ctx context.Context, l net.Listener) <-chan acceptResult {
	ch := make(chan acceptResult, 1)
	go func() {
		c, err := l.Accept()
		if err == nil {
			err = c.(*tls.Conn).HandshakeContext(ctx)
		}
		ch <- acceptResult{c, err}
	}()
	return ch
}

func TestTLSMutual(t *testing.T) {
	pki := newTestPKI(t)
	cfg := tlsConfig(pki.serverConfig(), pki.clientConfig(true))
	endpoints := []string{"tcp://127.0.0.1:0", "ipc://" + filepath.Join(t.TempDir(), "tls.sock")}
	if haveIPv6() {
		endpoints = append(endpoints, "tcp://[::1]:0")
	}
	for _, s := range endpoints {
		t.Run(s, func(t *testing.T) {
			l, bound := mustListen(t, s, cfg)
			ch := acceptTLS(t.Context(), l)
			c, err := Dial(t.Context(), bound, cfg)
			if err != nil {
				t.Fatalf("Dial(%s): got error %v, want nil", bound, err)
			}
			defer c.Close()
			r := <-ch
			if r.c != nil {
				defer r.c.Close()
			}
			if r.err != nil {
				t.Fatalf("server handshake: got error %v, want nil", r.err)
			}
			pingPong(t, c, r.c)

			peers := r.c.(*tls.Conn).ConnectionState().PeerCertificates
			if len(peers) == 0 || peers[0].Subject.CommonName != "wisp-client" {
				t.Fatalf("server sees client certificates %v, want CN wisp-client", peers)
			}
			peers = c.(*tls.Conn).ConnectionState().PeerCertificates
			if len(peers) == 0 || peers[0].Subject.CommonName != "wisp-server" {
				t.Fatalf("client sees server certificates %v, want CN wisp-server", peers)
			}
			if err := SetBuffers(c, 64<<10); err != nil {
				t.Fatalf("SetBuffers through *tls.Conn: got %v, want nil", err)
			}
		})
	}
}

func TestTLSClientWithoutCertRefused(t *testing.T) {
	pki := newTestPKI(t)
	srv := tlsConfig(pki.serverConfig(), nil)
	l, bound := mustListen(t, "tcp://127.0.0.1:0", srv)
	ch := acceptTLS(t.Context(), l)

	cli := tlsConfig(nil, pki.clientConfig(false))
	c, dialErr := Dial(t.Context(), bound, cli)
	r := <-ch
	if r.c != nil {
		defer r.c.Close()
	}
	if r.err == nil {
		t.Fatalf("server handshake with a client without certificate: got nil, want an error")
	}
	t.Logf("server refused: %v", r.err)
	if dialErr != nil {
		return // refused during the client's handshake: fine
	}
	defer c.Close()
	// With TLS 1.3 the client finishes its side first and learns of the
	// refusal from the server's alert on its first read.
	if _, err := c.Read(make([]byte, 1)); err == nil {
		t.Fatalf("client read after refusal: got nil, want an error")
	}
}

// TestConfigTLS: on tls:// endpoints, Config.TLS makes Listen's
// connections TLS servers and Dial's TLS clients checking the endpoint's
// host, with the handshake left to the caller; tcp:// and ipc:// stay
// plain, and tls:// without a config is refused.
func TestConfigTLS(t *testing.T) {
	pki := newTestPKI(t)
	client := pki.clientConfig(true)
	client.ServerName = "" // Dial names the endpoint's host
	l, bound := mustListen(t, "tls://127.0.0.1:0", Config{TLS: pki.serverConfig()})
	if bound.Scheme != SchemeTLS {
		t.Fatalf("Listen returned %s, want a tls:// endpoint", bound)
	}
	ch := acceptTLS(t.Context(), l)
	c, err := Dial(t.Context(), bound, Config{TLS: client, ReusePort: true})
	if err != nil {
		t.Fatalf("Dial: %v", err)
	}
	defer c.Close()
	tc, ok := c.(*tls.Conn)
	if !ok {
		t.Fatalf("Dial with Config.TLS returned a %T, want *tls.Conn", c)
	}
	// Without a ServerName the client could not verify the server at
	// all ("either ServerName or InsecureSkipVerify must be specified"):
	// that it does proves Dial named the host (an IP, which SNI leaves out).
	if err := tc.HandshakeContext(t.Context()); err != nil {
		t.Fatalf("client handshake against 127.0.0.1: %v", err)
	}
	r := <-ch
	if r.err != nil {
		t.Fatalf("server handshake: %v", r.err)
	}
	defer r.c.Close()
	pingPong(t, c, r.c)

	if _, err := Dial(t.Context(), bound, Config{}); !errors.Is(err, ErrInvalidConfig) {
		t.Fatalf("Dial tls:// without a TLS config: got %v, want ErrInvalidConfig", err)
	}
	tcpL, tcpEP := mustListen(t, "tcp://127.0.0.1:0", Config{TLS: pki.serverConfig()})
	if _, isTLS := tcpL.(interface{ ConnectionState() tls.ConnectionState }); isTLS {
		t.Fatal("a tcp:// listener got TLS")
	}
	pc, err := Dial(t.Context(), tcpEP, Config{TLS: client})
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	if _, isTLS := pc.(*tls.Conn); isTLS {
		t.Fatal("a tcp:// connection got TLS")
	}
	ipcL, ipcEP := mustListen(t, "ipc://"+filepath.Join(t.TempDir(), "plain.sock"), Config{TLS: pki.serverConfig()})
	if _, isTLS := ipcL.(interface{ ConnectionState() tls.ConnectionState }); isTLS {
		t.Fatal("an ipc listener got TLS")
	}
	ic, err := Dial(t.Context(), ipcEP, Config{TLS: client})
	if err != nil {
		t.Fatal(err)
	}
	defer ic.Close()
	if _, isTLS := ic.(*tls.Conn); isTLS {
		t.Fatal("an ipc connection got TLS")
	}
}
