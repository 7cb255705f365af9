package devcert

import (
	"crypto/tls"
	"testing"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// TestConfigHandshake: two ends with one Config complete a TLS handshake
// over loopback, each trusting the other; an end with another Config's
// CA refuses the server.
func TestConfigHandshake(t *testing.T) {
	cfg, err := Config("devcert test")
	if err != nil {
		t.Fatal(err)
	}
	other, err := Config("stranger")
	if err != nil {
		t.Fatal(err)
	}
	l, err := tls.Listen("tcp", "127.0.0.1:0", cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	served := make(chan error, 2)
	go func() {
		for range 2 {
			c, err := l.Accept()
			if err != nil {
				served <- err
				return
			}
			served <- c.(*tls.Conn).Handshake()
			c.Close()
		}
	}()
	c, err := tls.Dial("tcp", l.Addr().String(), cfg)
	if err != nil {
		t.Fatalf("Dial with the same config: got %v, want a handshake", err)
	}
	if cn := c.ConnectionState().PeerCertificates[0].Subject.CommonName; cn != "devcert test" {
		t.Errorf("server certificate: got %q, want devcert test", cn)
	}
	c.Close()
	if err := <-served; err != nil {
		t.Errorf("server handshake: got %v, want nil", err)
	}
	if c, err := tls.Dial("tcp", l.Addr().String(), other); err == nil {
		c.Close()
		t.Error("Dial trusting another CA: got a handshake, want an unknown authority")
	}
	<-served
}
