package socket

import (
	"crypto/rand"
	"fmt"

	"golang.org/x/crypto/curve25519"

	zmtpcodec "github.com/wispmq/wisp/internal/codec/zmtp"
	"github.com/wispmq/wisp/wire/z85"
	"github.com/wispmq/wisp/wire/zmtp"
)

// Security is a ZMTP security mechanism and the socket's side of it: NULL
// (none, the default), PLAIN (RFC 24: a user name and password, sent in
// the clear) or CURVE (RFC 26, CurveZMQ: the server proves its key, the
// client proves its own, and every frame is encrypted and authenticated).
// Make one with PlainClient, PlainServer, CurveClient or CurveServer and
// give it to WithSecurity. Which side is the server does not depend on who
// binds and who connects.
type Security struct {
	sec zmtpcodec.Security
	err error // a bad key, reported by WithSecurity
}

// Authenticator decides, on a PLAIN or CURVE server, whether a client
// may connect, as a ZAP handler does for libzmq: it gets the client's
// address and credentials and returns the user id the client is known by
// from then on (empty for the default: the PLAIN user name or the CURVE
// public key), or an error to refuse it. The error's text is the reason in
// the server's EventHandshakeFailed; the client is told only ZAP's status
// 400, which libzmq reports as an authentication failure. It runs on the
// connection's handshake goroutine; ctx ends with the handshake timeout.
type Authenticator = zmtpcodec.Authenticator

// AuthRequest is what an Authenticator is asked about: the domain (see
// Security.WithDomain), the client's address, the mechanism, and its
// credentials (PLAIN's user name and password, CURVE's public key in Z85).
type AuthRequest = zmtpcodec.AuthRequest

// PlainClient is PLAIN's client side, presenting username and password
// (each at most 255 bytes).
func PlainClient(username, password string) Security {
	s := Security{sec: zmtpcodec.Security{Mechanism: zmtp.MechanismPlain, Username: username, Password: password}}
	if len(username) > 255 || len(password) > 255 {
		s.err = fmt.Errorf("PLAIN user name and password are at most 255 bytes each")
	}
	return s
}

// PlainServer is PLAIN's server side: auth checks each client's user name
// and password, and is required, since PLAIN without it would let anyone
// in.
func PlainServer(auth Authenticator) Security {
	return Security{sec: zmtpcodec.Security{Mechanism: zmtp.MechanismPlain, Server: true, Authenticate: auth}}
}

// CurveClient is CURVE's client side: serverKey is the public key of the
// server it trusts, publicKey and secretKey its own keypair, all three
// Z85-encoded (40 characters, as NewCurveKeypair returns them and as
// libzmq and pyzmq write them). Connecting to a server with another key
// fails with ErrAuth.
func CurveClient(serverKey, publicKey, secretKey string) Security {
	s := Security{sec: zmtpcodec.Security{Mechanism: zmtp.MechanismCurve}}
	s.sec.ServerKey, s.err = parseKey("server", serverKey, s.err)
	s.sec.PublicKey, s.err = parseKey("public", publicKey, s.err)
	s.sec.SecretKey, s.err = parseKey("secret", secretKey, s.err)
	return s
}

// CurveServer is CURVE's server side with its Z85-encoded secret key (its
// public key is derived from it). auth, if not nil, decides which clients
// may connect, by their public key; without one, every client that knows
// the server's public key is served (encrypted all the same).
func CurveServer(secretKey string, auth Authenticator) Security {
	s := Security{sec: zmtpcodec.Security{Mechanism: zmtp.MechanismCurve, Server: true, Authenticate: auth}}
	s.sec.SecretKey, s.err = parseKey("secret", secretKey, nil)
	if s.err == nil {
		s.sec.PublicKey, s.err = zmtpcodec.PublicKeyOf(s.sec.SecretKey)
	}
	return s
}

// WithDomain sets the domain an Authenticator is told (ZAP's domain), for
// one authenticator serving several sockets.
func (s Security) WithDomain(domain string) Security {
	s.sec.Domain = domain
	return s
}

// Mechanism returns the mechanism's name: "NULL", "PLAIN" or "CURVE".
func (s Security) Mechanism() string {
	if s.sec.Mechanism == "" {
		return zmtp.MechanismNull
	}
	return s.sec.Mechanism
}

// WithSecurity sets a ZMTP socket's security mechanism; it needs
// WithProtocol(ZMTP). Peers must use the same mechanism, one of them as
// its server. The user id a server's authenticator gives a client is in
// the client's events and PeerStats (Event.UserID, PeerStats.UserID) and,
// on a ROUTER, available for each message through Socket.Peer.
func WithSecurity(s Security) Option {
	return func(o *options) error {
		if s.err != nil {
			return invalid("WithSecurity", s.Mechanism(), s.err.Error())
		}
		if err := s.sec.Check(); err != nil {
			return invalid("WithSecurity", s.Mechanism(), err.Error())
		}
		sec := s.sec
		o.security = &sec
		return nil
	}
}

// parseKey decodes a Z85 CURVE key, unless an earlier key already failed.
func parseKey(which, key string, err error) ([32]byte, error) {
	if err != nil {
		return [32]byte{}, err
	}
	b, err := z85.Decode(key)
	if err != nil || len(b) != 32 {
		return [32]byte{}, fmt.Errorf("the CURVE %s key is not 40 characters of Z85", which)
	}
	return [32]byte(b), nil
}

// NewCurveKeypair makes a CURVE keypair, both keys Z85-encoded (40
// characters), as libzmq's zmq_curve_keypair does.
func NewCurveKeypair() (publicKey, secretKey string, err error) {
	var sk [32]byte
	if _, err := rand.Read(sk[:]); err != nil {
		return "", "", err
	}
	pk, err := curve25519.X25519(sk[:], curve25519.Basepoint)
	if err != nil {
		return "", "", err
	}
	publicKey, _ = z85.Encode(pk)
	secretKey, _ = z85.Encode(sk[:])
	return publicKey, secretKey, nil
}

// CurvePublicKey returns the Z85 public key of a Z85 secret key.
func CurvePublicKey(secretKey string) (string, error) {
	sk, err := parseKey("secret", secretKey, nil)
	if err != nil {
		return "", fmt.Errorf("%w: %w", ErrInvalidOption, err)
	}
	pk, err := zmtpcodec.PublicKeyOf(sk)
	if err != nil {
		return "", err
	}
	return z85.Encode(pk[:])
}
