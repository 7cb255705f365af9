package wire

import (
	"crypto/rand"
	"encoding/hex"
	"strconv"
)

// SocketType is the messaging pattern of a socket, sent in the greeting so
// that incompatible peers are refused.
type SocketType uint8

// Socket types and their wire values.
const (
	Pair   SocketType = 0
	Pub    SocketType = 1
	Sub    SocketType = 2
	Req    SocketType = 3
	Rep    SocketType = 4
	Dealer SocketType = 5
	Router SocketType = 6
	Pull   SocketType = 7
	Push   SocketType = 8
	XPub   SocketType = 9
	XSub   SocketType = 10
	Bus    SocketType = 11 // added within version 1.1 (SPEC.md 2.6)
)

var socketTypeNames = [...]string{
	Pair: "PAIR", Pub: "PUB", Sub: "SUB", Req: "REQ", Rep: "REP",
	Dealer: "DEALER", Router: "ROUTER", Pull: "PULL", Push: "PUSH",
	XPub: "XPUB", XSub: "XSUB", Bus: "BUS",
}

// String returns the upper-case name ("PUSH"), or "SocketType(42)" for a
// value this version does not define.
func (t SocketType) String() string {
	if t.Valid() {
		return socketTypeNames[t]
	}
	return "SocketType(" + strconv.Itoa(int(t)) + ")"
}

// Valid reports whether t is a socket type defined by WISP/1.
func (t SocketType) Valid() bool { return int(t) < len(socketTypeNames) }

// compatible[a] is a bit set of the types b that a may talk to.
var compatible = func() (m [len(socketTypeNames)]uint16) {
	pairs := [...][2]SocketType{
		{Push, Pull}, {Pub, Sub}, {Pub, XSub}, {XPub, Sub}, {XPub, XSub},
		{Req, Rep}, {Req, Router}, {Dealer, Rep}, {Dealer, Router},
		{Dealer, Dealer}, {Router, Router}, {Pair, Pair}, {Bus, Bus},
	}
	for _, p := range pairs {
		m[p[0]] |= 1 << p[1]
		m[p[1]] |= 1 << p[0]
	}
	return m
}()

// Compatible reports whether sockets of types a and b may be connected to
// each other. It is symmetric, and false if either type is not valid.
func Compatible(a, b SocketType) bool {
	return a.Valid() && b.Valid() && compatible[a]&(1<<b) != 0
}

// SessionID identifies one socket for its whole life. A receiver uses it to
// recognise a sender that reconnects (and so to resume its stream), and a
// sender to recognise that the socket behind an endpoint was replaced.
type SessionID [16]byte

// NewSessionID returns a random session id from crypto/rand.
func NewSessionID() SessionID {
	var s SessionID
	rand.Read(s[:]) // never fails, per crypto/rand's documentation
	return s
}

// String returns the id as 32 lower-case hex digits.
func (s SessionID) String() string { return hex.EncodeToString(s[:]) }
