package engine

import (
	"crypto/tls"
	"time"
)

// EventKind says what happened to an endpoint or connection. Package socket
// exports the same kinds, with the same values.
type EventKind uint8

// Event kinds.
const (
	EventListening EventKind = iota + 1
	EventAccepted
	EventConnected
	EventDisconnected
	EventHandshakeFailed
	EventRetrying
	EventAcceptFailed
	EventClosed
	EventDropping
	EventPeerGone
)

// Event reports a change in a socket's connections; see package socket's
// Event for what each field means.
type Event struct {
	Kind      EventKind
	Endpoint  string
	Peer      string
	Session   string
	RoutingID []byte
	UserID    string
	TLS       *tls.ConnectionState
	Err       error
	Delay     time.Duration
}
