package socket

import "fmt"

// Protocol is the wire protocol a socket speaks on its stream connections
// (tcp, ipc, and those the application brings). Both ends must speak the
// same one. Inproc links carry no protocol.
type Protocol uint8

const (
	// WISP is WISP/1 (wire/SPEC.md), wisp's own protocol and the default:
	// receivers acknowledge what the application took, and a pipeline
	// resends across reconnects whatever was not, so nothing is lost.
	WISP Protocol = iota
	// ZMTP is ZMTP 3.1, ZeroMQ's protocol, for talking to libzmq, pyzmq,
	// JeroMQ, CZMQ or zmq4 peers (and to wisp sockets that speak it). It
	// accepts 3.0 peers too. ZMTP has no acknowledgements: across a lost
	// connection a message is delivered at most once, as in libzmq, and
	// Flush and Close's linger wait only until messages are written.
	// Everything else stays: high-water marks, reconnection, heartbeats
	// (ZMTP 3.1's PING and PONG; a PING's TTL asks the peer to wait our
	// heartbeat timeout, while the TTL a peer states is not used: our own
	// timeout applies; a 3.0 peer, which has no PING, is neither pinged
	// nor timed out), events, Stats and contexts.
	//
	// Envelopes are libzmq's: REQ sends an empty delimiter before the body
	// and takes the next reply from the peer it asked (so a late reply to
	// a request whose Recv gave up is taken for the next one's, as with
	// libzmq; under WithRequestRetry a 4-byte request id goes before the
	// delimiter, as libzmq's ZMQ_REQ_CORRELATE does, and tells them
	// apart), REP returns the envelope with its reply, and ROUTER puts the
	// peer's identity (its Identity property, set with WithRoutingID, or a
	// generated id) in front of what it receives.
	//
	// Security is chosen with WithSecurity; inproc links, which never
	// leave the process, carry neither a protocol nor security.
	ZMTP
)

// String returns the protocol's name: "wisp" or "zmtp".
func (p Protocol) String() string {
	switch p {
	case WISP:
		return "wisp"
	case ZMTP:
		return "zmtp"
	}
	return fmt.Sprintf("Protocol(%d)", uint8(p))
}

// ParseProtocol returns the protocol String names ("wisp" or "zmtp").
func ParseProtocol(name string) (Protocol, error) {
	switch name {
	case "wisp":
		return WISP, nil
	case "zmtp":
		return ZMTP, nil
	}
	return 0, fmt.Errorf("%w: unknown protocol %q, want wisp or zmtp", ErrInvalidOption, name)
}

// WithProtocol chooses the wire protocol; the default is WISP.
func WithProtocol(p Protocol) Option {
	return func(o *options) error {
		if p != WISP && p != ZMTP {
			return invalid("WithProtocol", p, "unknown protocol")
		}
		o.protocol = p
		return nil
	}
}
