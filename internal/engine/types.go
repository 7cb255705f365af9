package engine

import (
	"crypto/rand"
	"encoding/hex"
	"strconv"
)

// Type is a socket type in the engine's own numbering. A Protocol maps it
// to what its wire carries; the engine never looks at it except to name it
// and to find a type's behaviour.
type Type uint8

// The socket types. Their values are the engine's, not any protocol's.
const (
	Pair Type = iota
	Pub
	Sub
	Req
	Rep
	Dealer
	Router
	Pull
	Push
	XPub
	XSub
	Bus
	numTypes
)

var typeNames = [numTypes]string{
	Pair: "PAIR", Pub: "PUB", Sub: "SUB", Req: "REQ", Rep: "REP",
	Dealer: "DEALER", Router: "ROUTER", Pull: "PULL", Push: "PUSH",
	XPub: "XPUB", XSub: "XSUB", Bus: "BUS",
}

// String returns the upper-case name ("PUSH"), or "SocketType(42)" for a
// value that names no type.
func (t Type) String() string {
	if t.Valid() {
		return typeNames[t]
	}
	return "SocketType(" + strconv.Itoa(int(t)) + ")"
}

// Valid reports whether t names a socket type.
func (t Type) Valid() bool { return t < numTypes }

// SessionID identifies one socket for its whole life: a receiver uses it to
// recognise a sender that reconnects, a sender to recognise that the socket
// behind an endpoint was replaced.
type SessionID [16]byte

// NewSessionID returns a random session id from crypto/rand.
func NewSessionID() SessionID {
	var s SessionID
	rand.Read(s[:]) // never fails, per crypto/rand's documentation
	return s
}

// String returns the id as 32 lower-case hex digits.
func (s SessionID) String() string { return hex.EncodeToString(s[:]) }
