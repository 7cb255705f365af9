package zmtp

import (
	"context"
	"fmt"

	"golang.org/x/crypto/curve25519"

	"github.com/wispmq/wisp/wire/zmtp"
)

// Security is one socket's ZMTP security mechanism: which one, which side
// of it the socket takes, and its credentials.
type Security struct {
	// Mechanism is zmtp.MechanismNull (the zero value's), MechanismPlain
	// or MechanismCurve.
	Mechanism string
	// Server: the socket takes the server role, whatever its direction of
	// connection: it checks credentials rather than presenting them.
	Server bool
	// Username and Password are a PLAIN client's credentials.
	Username, Password string
	// PublicKey and SecretKey are the socket's CURVE keypair; ServerKey is,
	// for a CURVE client, the public key of the server it expects.
	PublicKey, SecretKey, ServerKey [32]byte
	// Authenticate, on a server, decides whether a peer may connect. For
	// PLAIN it is required; for CURVE without one any client that knows
	// the server's key is served; for NULL without one everyone is.
	Authenticate Authenticator
	// Domain is passed to Authenticate, as ZAP's domain.
	Domain string
}

// Authenticator decides whether a peer that completed its half of a
// security handshake may connect, like a ZAP handler. It returns the user
// id the peer is known by from then on (empty for the default: the
// PLAIN user name, the Z85 CURVE public key), or an error to refuse it,
// whose text becomes the reason in the server's events; the peer is told
// only ZAP's status 400. It runs on the connection's handshake goroutine,
// and ctx ends at the handshake's deadline.
type Authenticator func(ctx context.Context, r AuthRequest) (userID string, err error)

// AuthRequest is what an Authenticator is asked about.
type AuthRequest struct {
	Domain    string // the server's Security.Domain
	Address   string // the peer's network address
	Mechanism string // "NULL", "PLAIN" or "CURVE"
	// Identity is the routing id the peer stated, if any. (PLAIN asks
	// before the peer states it, as libzmq does, so it is empty there.)
	Identity []byte
	// Username and Password: PLAIN's credentials.
	Username, Password string
	// PublicKey: CURVE's client key, Z85-encoded (40 characters).
	PublicKey string
}

// Check reports a Security that cannot work, before a socket uses it.
func (s *Security) Check() error {
	switch s.Mechanism {
	case "", zmtp.MechanismNull:
	case zmtp.MechanismPlain:
		if s.Server && s.Authenticate == nil {
			return fmt.Errorf("a PLAIN server needs an authenticator: it would take any password")
		}
	case zmtp.MechanismCurve:
		pub, err := PublicKeyOf(s.SecretKey)
		if err != nil {
			return err
		}
		if pub != s.PublicKey {
			return fmt.Errorf("the CURVE public key does not belong to the secret key")
		}
		if !s.Server && s.ServerKey == ([32]byte{}) {
			return fmt.Errorf("a CURVE client needs the server's public key")
		}
	default:
		return fmt.Errorf("unknown security mechanism %q", s.Mechanism)
	}
	return nil
}

// mechanismName is what the socket states in its greeting.
func (s *Security) mechanismName() string {
	if s.Mechanism == "" {
		return zmtp.MechanismNull
	}
	return s.Mechanism
}

// PublicKeyOf derives a CURVE public key from its secret key.
func PublicKeyOf(secret [32]byte) ([32]byte, error) {
	b, err := curve25519.X25519(secret[:], curve25519.Basepoint)
	if err != nil {
		return [32]byte{}, fmt.Errorf("bad CURVE secret key: %w", err)
	}
	return [32]byte(b), nil
}
