package engine

import (
	"errors"
	"fmt"
	"net"
)

// Sentinel errors. Package socket exports each of them under the same name;
// every error the engine returns wraps one of them (or a context error).
var (
	// ErrClosed is returned by operations on a closed socket. It matches
	// net.ErrClosed too, so code written for net.Conn keeps working.
	ErrClosed error = closedError{}
	// ErrUndelivered is returned by Close and Flush when messages were not
	// acknowledged in time. The error text carries the number.
	ErrUndelivered = errors.New("wisp: messages not acknowledged")
	// ErrInvalidOption reports an option value out of range; the error text
	// names the option.
	ErrInvalidOption = errors.New("wisp: invalid option")
	// ErrUnsupportedType is returned by New for a socket type this version of
	// wisp does not implement yet.
	ErrUnsupportedType = errors.New("wisp: unsupported socket type")
	// ErrNotSupported is returned for an operation the socket type does not
	// have, such as Send on a PULL socket.
	ErrNotSupported = errors.New("wisp: operation not supported by socket type")
	// ErrMessageTooLarge is returned by Send for a message larger than the
	// socket's maximum message size.
	ErrMessageTooLarge = errors.New("wisp: message too large")
	// ErrInvalidMessage is returned by Send for an empty message (no frames)
	// or one with more frames than the protocol allows.
	ErrInvalidMessage = errors.New("wisp: invalid message")
	// ErrEndpointInUse is returned by Bind or Connect for an endpoint this
	// socket already binds (as given, or as Bind returned it) or connects.
	// An address that another socket or process holds is ErrAddressInUse.
	ErrEndpointInUse = errors.New("wisp: endpoint already in use by this socket")
	// ErrUnknownEndpoint is returned by Unbind or Disconnect for an endpoint the
	// socket does not have.
	ErrUnknownEndpoint = errors.New("wisp: unknown endpoint")
	// ErrIncompatiblePeer is the reason given when a peer's socket type cannot
	// talk to this socket's (PUSH to PUSH, say) or, on a ZMTP socket, when
	// the peer speaks another protocol or a ZMTP version before 3.0.
	ErrIncompatiblePeer = errors.New("wisp: incompatible peer")
	// ErrHandshakeTimeout is the reason given when a peer did not complete its
	// greeting within the handshake timeout.
	ErrHandshakeTimeout = errors.New("wisp: handshake timed out")
	// ErrHeartbeatTimeout is the reason given when a peer sent nothing for
	// longer than the heartbeat timeout.
	ErrHeartbeatTimeout = errors.New("wisp: peer heartbeat timed out")
	// ErrDuplicateConnection is the reason given when a second connection
	// between the same two sockets is refused.
	ErrDuplicateConnection = errors.New("wisp: duplicate connection to the same peer")
	// ErrProtocol is the reason given when a peer broke WISP/1 after the
	// handshake: a malformed or oversized frame, a command out of place, an
	// ACK for a message never sent. The wire package's sentinel (such as
	// wire.ErrFrameTooLarge) matches too where one applies.
	ErrProtocol = errors.New("wisp: protocol error")
	// ErrPeerError is the reason given when the peer closed the connection
	// with an ERROR command; the error text carries the peer's reason.
	ErrPeerError = errors.New("wisp: peer reported an error")
	// ErrState is returned for a call the socket's pattern does not allow
	// at this point: a second Send on a REQ socket before its reply, Recv on
	// a REQ socket with no request outstanding, or Send on a REP socket with
	// no request to answer. The socket stays usable.
	ErrState = errors.New("wisp: operation not allowed in the socket's current state")
	// ErrNoPeer is returned by Send on a socket made WithFailFast when no
	// peer is connected.
	ErrNoPeer = errors.New("wisp: no connected peer")
	// ErrUnroutable is returned by Send on a ROUTER socket made
	// WithRouterMandatory when no peer has the message's routing id.
	ErrUnroutable = errors.New("wisp: no peer with this routing id")
	// ErrDuplicateRoutingID is the reason a ROUTER refuses a peer that
	// states a routing id another connected peer already has.
	ErrDuplicateRoutingID = errors.New("wisp: routing id already in use by another peer")
	// ErrAlreadyPaired is the reason a PAIR socket refuses a second peer
	// while it has one.
	ErrAlreadyPaired = errors.New("wisp: PAIR socket already has a peer")
	// ErrNotSubscribed is returned by Unsubscribe for a prefix the socket
	// does not subscribe to.
	ErrNotSubscribed = errors.New("wisp: not subscribed to this prefix")
	// ErrAuth is the reason a security handshake failed: the peer's
	// credentials were refused, or ours were.
	ErrAuth = errors.New("wisp: authentication failed")
	// ErrTLSHandshake is the reason a connection's TLS handshake failed
	// (WithTLS, or a TLS connection the application brought); the TLS
	// error is wrapped too.
	ErrTLSHandshake = errors.New("wisp: TLS handshake failed")
)

type closedError struct{}

func (closedError) Error() string { return "wisp: socket closed" }

// Is makes errors.Is(err, net.ErrClosed) true for ErrClosed.
func (closedError) Is(target error) bool { return target == net.ErrClosed }

// undelivered reports n messages that were not acknowledged in time.
func undelivered(n int) error {
	return fmt.Errorf("%w: %d", ErrUndelivered, n)
}
