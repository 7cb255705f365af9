package socket

import (
	"github.com/wispmq/wisp/internal/engine"
	"github.com/wispmq/wisp/internal/spool"
	"github.com/wispmq/wisp/transport"
	"github.com/wispmq/wisp/wire"
)

// Sentinel errors. Errors returned by this package wrap one of these (or a
// context error) so callers can test them with errors.Is. They are the
// engine's own values, so errors from any layer match.
var (
	// ErrClosed is returned by operations on a closed socket. It matches
	// net.ErrClosed too, so code written for net.Conn keeps working.
	ErrClosed = engine.ErrClosed
	// ErrUndelivered is returned by Close and Flush when messages were not
	// acknowledged in time. The error text carries the number.
	ErrUndelivered = engine.ErrUndelivered
	// ErrInvalidOption reports an option value out of range; the error text
	// names the option.
	ErrInvalidOption = engine.ErrInvalidOption
	// ErrUnsupportedType is returned by New for a socket type this version of
	// wisp does not implement yet.
	ErrUnsupportedType = engine.ErrUnsupportedType
	// ErrNotSupported is returned for an operation the socket type does not
	// have, such as Send on a PULL socket.
	ErrNotSupported = engine.ErrNotSupported
	// ErrMessageTooLarge is returned by Send for a message larger than the
	// socket's maximum message size.
	ErrMessageTooLarge = engine.ErrMessageTooLarge
	// ErrInvalidMessage is returned by Send for an empty message (no frames)
	// or one with more frames than the protocol allows.
	ErrInvalidMessage = engine.ErrInvalidMessage
	// ErrEndpointInUse is returned by Bind or Connect for an endpoint this
	// socket already binds (as given, or as Bind returned it) or connects.
	// An address that another socket or process holds is ErrAddressInUse.
	ErrEndpointInUse = engine.ErrEndpointInUse
	// ErrAddressInUse is returned by Bind for a tcp address or ipc path
	// (or inproc name) that another socket or process holds.
	ErrAddressInUse = transport.ErrAddressInUse
	// ErrInvalidEndpoint is returned by Bind and Connect for a malformed
	// endpoint, or one that cannot be used as asked (connecting to port 0
	// or to the all-interfaces host).
	ErrInvalidEndpoint = transport.ErrInvalidEndpoint
	// ErrUnknownEndpoint is returned by Unbind or Disconnect for an endpoint the
	// socket does not have.
	ErrUnknownEndpoint = engine.ErrUnknownEndpoint
	// ErrIncompatiblePeer is the reason given when a peer's socket type cannot
	// talk to this socket's (PUSH to PUSH, say), when the socket asks for
	// checksums (WithChecksum) and the peer speaks WISP/1.0, or, on a ZMTP
	// socket, when the peer speaks another protocol or a ZMTP version
	// before 3.0.
	ErrIncompatiblePeer = engine.ErrIncompatiblePeer
	// ErrHandshakeTimeout is the reason given when a peer did not complete its
	// greeting within the handshake timeout.
	ErrHandshakeTimeout = engine.ErrHandshakeTimeout
	// ErrHeartbeatTimeout is the reason given when a peer sent nothing for
	// longer than the heartbeat timeout.
	ErrHeartbeatTimeout = engine.ErrHeartbeatTimeout
	// ErrDuplicateConnection is the reason given when a second connection
	// between the same two sockets is refused.
	ErrDuplicateConnection = engine.ErrDuplicateConnection
	// ErrProtocol is the reason given when a peer broke WISP/1 after the
	// handshake: a malformed or oversized frame, a command out of place, an
	// ACK for a message never sent. The wire package's sentinel (such as
	// wire.ErrFrameTooLarge) matches too where one applies.
	ErrProtocol = engine.ErrProtocol
	// ErrChecksum is the reason given when a message or command arrived
	// with a frame checksum that does not match (WithChecksum): its bytes
	// were changed on the way. ErrProtocol matches too.
	ErrChecksum = wire.ErrChecksum
	// ErrPeerError is the reason given when the peer closed the connection
	// with an ERROR command; the error text carries the peer's reason.
	ErrPeerError = engine.ErrPeerError
	// ErrState is returned for a call the socket's pattern does not allow
	// at this point: a second Send on a REQ socket before its reply, Recv on
	// a REQ socket with no request outstanding, or Send on a REP socket with
	// no request to answer. The socket stays usable.
	ErrState = engine.ErrState
	// ErrNoPeer is returned by Send on a socket made WithFailFast when no
	// peer is connected.
	ErrNoPeer = engine.ErrNoPeer
	// ErrUnroutable is returned by Send on a ROUTER socket made
	// WithRouterMandatory when no peer has the message's routing id.
	ErrUnroutable = engine.ErrUnroutable
	// ErrDuplicateRoutingID is the reason a ROUTER refuses a peer that
	// states a routing id another connected peer already has.
	ErrDuplicateRoutingID = engine.ErrDuplicateRoutingID
	// ErrAlreadyPaired is the reason a PAIR socket refuses a second peer
	// while it has one.
	ErrAlreadyPaired = engine.ErrAlreadyPaired
	// ErrNotSubscribed is returned by Unsubscribe for a prefix the socket
	// does not subscribe to.
	ErrNotSubscribed = engine.ErrNotSubscribed
	// ErrAuth is the reason a ZMTP security handshake failed: the peer's
	// credentials were refused, or ours were (see WithSecurity).
	ErrAuth = engine.ErrAuth
	// ErrTLSHandshake is the reason a connection's TLS handshake failed
	// (see WithTLS); the TLS error itself is wrapped too, so that
	// errors.As finds a *tls.CertificateVerificationError, say.
	ErrTLSHandshake = engine.ErrTLSHandshake
	// ErrSpoolFull is returned by Send on a spooling PUSH whose spool
	// stayed full until Send's context ended (see WithSpoolLimit); the
	// error wraps the context's error too.
	ErrSpoolFull = spool.ErrFull
	// ErrSpoolCorrupt is returned by New when a record of the spool's log
	// is damaged other than by a torn last write (see WithSpool); the
	// error names the file and the offset.
	ErrSpoolCorrupt = spool.ErrCorrupt
	// ErrSpoolLocked is returned by New when another socket, in this
	// process or another, has the spool's directory open.
	ErrSpoolLocked = spool.ErrLocked
)
