package zmtp

import (
	"fmt"
	"io"
)

// GreetingLen is the length of a ZMTP 3.x greeting.
const GreetingLen = 64

// The version this package speaks.
const (
	VersionMajor = 3
	VersionMinor = 1
)

// Mechanism names (the greeting's mechanism field).
const (
	MechanismNull  = "NULL"
	MechanismPlain = "PLAIN"
	MechanismCurve = "CURVE"
)

// maxMechanismLen is the size of the greeting's mechanism field.
const maxMechanismLen = 20

// Greeting is what a peer states in its first 64 bytes.
type Greeting struct {
	Major, Minor byte
	// Mechanism names the security mechanism, such as "NULL" or "CURVE".
	Mechanism string
	// AsServer: the peer takes the server role of the mechanism.
	AsServer bool
}

// Append appends g, encoded, to b: the signature, g's version, mechanism
// and role, and the filler. It panics if the mechanism name does not fit
// its 20 bytes, a programming error.
func (g Greeting) Append(b []byte) []byte {
	if len(g.Mechanism) > maxMechanismLen {
		panic(fmt.Sprintf("zmtp: mechanism name %q longer than %d bytes", g.Mechanism, maxMechanismLen))
	}
	// libzmq's padding: 0xff, 8 bytes that a ZMTP 1.0 peer reads as a
	// length of 1, 0x7f.
	b = append(b, 0xff, 0, 0, 0, 0, 0, 0, 0, 1, 0x7f, g.Major, g.Minor)
	var mech [maxMechanismLen]byte
	copy(mech[:], g.Mechanism)
	b = append(b, mech[:]...)
	server := byte(0)
	if g.AsServer {
		server = 1
	}
	b = append(b, server)
	var filler [31]byte
	return append(b, filler[:]...)
}

// CheckSignature reports whether b, the first bytes a peer sent (any
// number of them), can still be the start of a ZMTP 3.x greeting. It
// fails as soon as a byte shows otherwise, so that a peer speaking
// something else is told apart without waiting for 64 bytes.
func CheckSignature(b []byte) error {
	if len(b) > 0 && b[0] != 0xff {
		return fmt.Errorf("%w: first byte %#02x, want 0xff", ErrSignature, b[0])
	}
	if len(b) > 9 && b[9]&1 == 0 {
		return fmt.Errorf("%w: ZMTP 1.0 peer (byte 9 is %#02x)", ErrVersion, b[9])
	}
	if len(b) > 9 && b[9] != 0x7f {
		return fmt.Errorf("%w: byte 9 is %#02x, want 0x7f", ErrSignature, b[9])
	}
	if len(b) > 10 && b[10] < VersionMajor {
		// The byte is the revision: 0 for ZMTP 1.0, 1 for 2.0.
		return fmt.Errorf("%w: ZMTP %d.0, want 3.0 or later", ErrVersion, b[10]+1)
	}
	return nil
}

// ParseGreeting parses the greeting at the start of b. It returns
// io.ErrUnexpectedEOF while b is shorter than GreetingLen and still looks
// like a greeting. A version above 3.1 is accepted: the peer downgrades.
func ParseGreeting(b []byte) (Greeting, error) {
	if err := CheckSignature(b); err != nil {
		return Greeting{}, err
	}
	if len(b) < GreetingLen {
		return Greeting{}, io.ErrUnexpectedEOF
	}
	g := Greeting{Major: b[10], Minor: b[11]}
	mech := b[12 : 12+maxMechanismLen]
	n := 0
	for n < len(mech) && mech[n] != 0 {
		c := mech[n]
		if !(c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.' || c == '+') {
			return Greeting{}, fmt.Errorf("%w: mechanism name byte %#02x", ErrMalformed, c)
		}
		n++
	}
	for _, c := range mech[n:] {
		if c != 0 {
			return Greeting{}, fmt.Errorf("%w: mechanism name not padded with zeros", ErrMalformed)
		}
	}
	if n == 0 {
		return Greeting{}, fmt.Errorf("%w: empty mechanism name", ErrMalformed)
	}
	g.Mechanism = string(mech[:n])
	switch b[32] {
	case 0:
	case 1:
		g.AsServer = true
	default:
		return Greeting{}, fmt.Errorf("%w: as-server byte %#02x, want 0 or 1", ErrMalformed, b[32])
	}
	return g, nil
}
