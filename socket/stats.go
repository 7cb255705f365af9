package socket

import (
	"crypto/tls"

	"github.com/wispmq/wisp/internal/engine"
)

// Stats is a snapshot of a socket's counters. It encodes to JSON with
// snake_case names (routing ids in base64, as encoding/json writes bytes),
// so expvar can publish it as it is (see the Example).
type Stats struct {
	MsgsIn            uint64      `json:"msgs_in"`            // messages received from peers
	MsgsOut           uint64      `json:"msgs_out"`           // messages written to peers
	BytesIn           uint64      `json:"bytes_in"`           // payload bytes of the messages received
	BytesOut          uint64      `json:"bytes_out"`          // payload bytes of the messages written
	Resends           uint64      `json:"resends"`            // messages written again after a reconnect or handed to another peer
	Duplicates        uint64      `json:"duplicates"`         // received messages dropped because they had arrived before
	Drops             uint64      `json:"drops"`              // messages dropped by the socket (none for PUSH/PULL with acks on)
	Unroutable        uint64      `json:"unroutable"`         // replies, ROUTER messages and BUS copies dropped because their peer is unknown or gone
	StaleReplies      uint64      `json:"stale_replies"`      // REQ: replies dropped because they answer no outstanding request (late or duplicate)
	BadEnvelopes      uint64      `json:"bad_envelopes"`      // REQ, REP: received messages dropped because their envelope is malformed
	Retries           uint64      `json:"retries"`            // REQ: requests sent again under WithRequestRetry
	Unacked           int         `json:"unacked"`            // messages sent but not yet acknowledged, over all peers
	SendQueue         int         `json:"send_queue"`         // messages held for sending, over all peers (includes Unacked)
	RecvQueue         int         `json:"recv_queue"`         // received messages waiting for Recv
	RecvQueueBytes    int64       `json:"recv_queue_bytes"`   // their payload bytes (bounded by WithRecvQueueBytes)
	Orphans           int         `json:"orphans"`            // messages of departed peers waiting for another peer
	HandshakeFailures uint64      `json:"handshake_failures"` // connections dropped before their handshake completed
	ProtocolErrors    uint64      `json:"protocol_errors"`    // connections dropped for bad input after the handshake
	EventsDropped     uint64      `json:"events_dropped"`     // events lost because the Events channel was full
	Spooled           int         `json:"spooled"`            // WithSpool: messages in the spool not yet acknowledged
	SpoolBytes        int64       `json:"spool_bytes"`        // WithSpool: their payload bytes
	SpoolFileBytes    int64       `json:"spool_file_bytes"`   // WithSpool: bytes of the spool's files, which WithSpoolLimit bounds
	Peers             []PeerStats `json:"peers,omitempty"`
}

// PeerStats are the counters of one peer: a connected or recently
// disconnected socket on the other end, or an endpoint this socket connects.
// A socket that sends and receives lists each peer once, with both
// directions' counters.
type PeerStats struct {
	Endpoint  string `json:"endpoint"`   // the endpoint it was reached through, if any
	Remote    string `json:"remote"`     // remote network address of the current connection
	Session   string `json:"session"`    // the peer socket's session id, once known
	RoutingID []byte `json:"routing_id"` // ROUTER: the id that addresses this peer in Send
	UserID    string `json:"user_id"`    // who the peer proved to be in a PLAIN or CURVE handshake (see WithSecurity)
	// TLS is the TLS state of the peer's connection (the certificates it
	// presented, the version, the cipher suite) when it runs over TLS.
	TLS           *tls.ConnectionState `json:"-"`
	Connected     bool                 `json:"connected"`
	MsgsIn        uint64               `json:"msgs_in"`
	MsgsOut       uint64               `json:"msgs_out"`
	BytesIn       uint64               `json:"bytes_in"`
	BytesOut      uint64               `json:"bytes_out"`
	Resends       uint64               `json:"resends"`
	Unacked       int                  `json:"unacked"`
	SendQueue     int                  `json:"send_queue"`
	RecvQueue     int                  `json:"recv_queue"`
	Drops         uint64               `json:"drops"`         // PUB, XPUB: messages for this peer dropped because its queue was full
	Subscriptions int                  `json:"subscriptions"` // PUB, XPUB: prefixes this peer subscribes to
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
		RecvQueueBytes:    e.RecvQueueBytes,
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
