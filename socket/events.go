package socket

import (
	"crypto/tls"
	"fmt"
	"time"

	"github.com/wispmq/wisp/internal/engine"
)

// EventKind says what happened to a socket's endpoint or connection.
type EventKind uint8

// Event kinds, in roughly the order a connection goes through them.
const (
	// EventListening: a Bind succeeded; Endpoint is the bound endpoint.
	EventListening EventKind = iota + 1
	// EventAccepted: a listener accepted a connection; the handshake follows.
	EventAccepted
	// EventConnected: a connection completed its handshake and carries
	// messages. Peer and Session say who is on the other end.
	EventConnected
	// EventDisconnected: a connection ended; Err says why.
	EventDisconnected
	// EventHandshakeFailed: a connection was dropped before or during its
	// handshake; Err says why (bad magic, version, incompatible type,
	// timeout...).
	EventHandshakeFailed
	// EventRetrying: a connecting endpoint will dial again after Delay; Err
	// is the reason the last attempt failed, if it failed.
	EventRetrying
	// EventAcceptFailed: a listener's Accept failed; it retries after Delay
	// unless the listener is gone.
	EventAcceptFailed
	// EventClosed: the socket is closed. It is the last event; the channel
	// is closed after it.
	EventClosed
	// EventDropping: a PUB or XPUB socket began dropping messages for a
	// subscriber whose queue is full (Session, Peer and Endpoint say which).
	// It is reported again only after a message for that subscriber got
	// through; Stats counts every dropped message per peer.
	EventDropping
	// EventPeerGone: a peer that disconnected did not come back within the
	// resume timeout (WithResumeTimeout): what the socket still held for
	// the peer went to other peers or, for addressed messages (ROUTER,
	// REP), was dropped, and once the application has taken everything the
	// peer sent, the socket forgets it (it leaves Stats.Peers).
	EventPeerGone
)

var eventNames = [...]string{
	EventListening:       "listening",
	EventAccepted:        "accepted",
	EventConnected:       "connected",
	EventDisconnected:    "disconnected",
	EventHandshakeFailed: "handshake-failed",
	EventRetrying:        "retrying",
	EventAcceptFailed:    "accept-failed",
	EventClosed:          "closed",
	EventPeerGone:        "peer-gone",
	EventDropping:        "dropping",
}

// String returns the kind's name, such as "connected".
func (k EventKind) String() string {
	if int(k) < len(eventNames) && eventNames[k] != "" {
		return eventNames[k]
	}
	return fmt.Sprintf("EventKind(%d)", uint8(k))
}

// An Event reports a change in a socket's connections, for monitoring and
// logging. Events are delivered on the channel returned by Socket.Events.
type Event struct {
	Kind     EventKind
	Endpoint string // the bound or connected endpoint it concerns, if any
	Peer     string // the remote network address, if known
	Session  string // the peer socket's session id (hex), once known
	// RoutingID is, on a ROUTER, the id that addresses the peer in Send
	// (its stated routing id, else its session id's bytes); on a BUS, the
	// member's session id's bytes, which Forget takes.
	RoutingID []byte
	// UserID is who the peer proved to be in a PLAIN or CURVE handshake
	// (see WithSecurity), on EventConnected and EventDisconnected.
	UserID string
	// TLS is, on EventConnected and EventDisconnected, the TLS state of a
	// connection that runs over TLS: the certificates the peer presented.
	TLS   *tls.ConnectionState
	Err   error         // the reason, for failures and disconnects
	Delay time.Duration // for EventRetrying and EventAcceptFailed
}

// String formats the event for a log line: kind, endpoint, peer, session,
// delay and reason, those that are set.
func (e Event) String() string {
	s := e.Kind.String()
	if e.Endpoint != "" {
		s += " " + e.Endpoint
	}
	if e.Peer != "" {
		s += " peer=" + e.Peer
	}
	if e.Session != "" {
		s += " session=" + e.Session
	}
	if e.UserID != "" {
		s += " user=" + e.UserID
	}
	if e.Delay > 0 {
		s += " delay=" + e.Delay.String()
	}
	if e.Err != nil {
		s += ": " + e.Err.Error()
	}
	return s
}

// eventOf converts an engine event for the Events channel. The kinds have
// the same values on both sides (TestEventKindsMatchTheEngine).
func eventOf(e engine.Event) Event {
	return Event{
		Kind:      EventKind(e.Kind),
		Endpoint:  e.Endpoint,
		Peer:      e.Peer,
		Session:   e.Session,
		RoutingID: e.RoutingID,
		UserID:    e.UserID,
		TLS:       e.TLS,
		Err:       e.Err,
		Delay:     e.Delay,
	}
}
