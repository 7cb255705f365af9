package socket

import "github.com/wispmq/wisp/internal/engine"

// Stats is a snapshot of a socket's counters.
type Stats struct {
	MsgsIn, MsgsOut   uint64 // messages received from / written to peers
	BytesIn, BytesOut uint64 // payload bytes of those messages
	Resends           uint64 // messages written again after a reconnect or handed to another peer
	Duplicates        uint64 // received messages dropped because they had arrived before
	Drops             uint64 // messages dropped by the socket (none for PUSH/PULL with acks on)
	Unroutable        uint64 // replies and ROUTER messages dropped because their peer is unknown or gone
	StaleReplies      uint64 // REQ: replies dropped because they answer no outstanding request (late or duplicate)
	BadEnvelopes      uint64 // REQ, REP: received messages dropped because their envelope is malformed
	Retries           uint64 // REQ: requests sent again under WithRequestRetry
	Unacked           int    // messages sent but not yet acknowledged, over all peers
	SendQueue         int    // messages held for sending, over all peers (includes Unacked)
	RecvQueue         int    // received messages waiting for Recv
	Orphans           int    // messages of departed peers waiting for another peer
	HandshakeFailures uint64 // connections dropped before their handshake completed
	ProtocolErrors    uint64 // connections dropped for bad input after the handshake
	EventsDropped     uint64 // events lost because the Events channel was full
	Peers             []PeerStats
}

// PeerStats are the counters of one peer: a connected or recently
// disconnected socket on the other end, or an endpoint this socket connects.
// A socket that sends and receives lists each peer once, with both
// directions' counters.
type PeerStats struct {
	Endpoint      string // the endpoint it was reached through, if any
	Remote        string // remote network address of the current connection
	Session       string // the peer socket's session id, once known
	RoutingID     []byte // ROUTER: the id that addresses this peer in Send
	UserID        string // who the peer proved to be in a PLAIN or CURVE handshake (see WithSecurity)
	Connected     bool
	MsgsIn        uint64
	MsgsOut       uint64
	BytesIn       uint64
	BytesOut      uint64
	Resends       uint64
	Unacked       int
	SendQueue     int
	RecvQueue     int
	Drops         uint64 // PUB, XPUB: messages for this peer dropped because its queue was full
	Subscriptions int    // PUB, XPUB: prefixes this peer subscribes to
}

// statsOf converts the engine's snapshot; EventsDropped is the socket's own.
func statsOf(e engine.Stats) Stats {
	st := Stats{
		MsgsIn:            e.MsgsIn,
		MsgsOut:           e.MsgsOut,
		BytesIn:           e.BytesIn,
		BytesOut:          e.BytesOut,
		Resends:           e.Resends,
		Duplicates:        e.Duplicates,
		Drops:             e.Drops,
		Unroutable:        e.Unroutable,
		StaleReplies:      e.StaleReplies,
		BadEnvelopes:      e.BadEnvelopes,
		Retries:           e.Retries,
		Unacked:           e.Unacked,
		SendQueue:         e.SendQueue,
		RecvQueue:         e.RecvQueue,
		Orphans:           e.Orphans,
		HandshakeFailures: e.HandshakeFailures,
		ProtocolErrors:    e.ProtocolErrors,
	}
	if len(e.Peers) > 0 {
		st.Peers = make([]PeerStats, len(e.Peers))
		for i, p := range e.Peers {
			st.Peers[i] = PeerStats(p)
		}
	}
	return st
}
