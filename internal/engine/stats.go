package engine

import (
	"crypto/tls"
	"sync/atomic"
)

// Stats is a snapshot of a socket's counters; package socket's Stats says
// what each field means.
type Stats struct {
	MsgsIn, MsgsOut   uint64
	BytesIn, BytesOut uint64
	Resends           uint64
	Duplicates        uint64
	Drops             uint64
	Unroutable        uint64
	StaleReplies      uint64
	BadEnvelopes      uint64
	Retries           uint64
	Unacked           int
	SendQueue         int
	RecvQueue         int
	RecvQueueBytes    int64
	Orphans           int
	HandshakeFailures uint64
	ProtocolErrors    uint64
	Peers             []PeerStats
}

// PeerStats are one peer's counters; see package socket's PeerStats.
type PeerStats struct {
	Endpoint      string
	Remote        string
	Session       string
	RoutingID     []byte
	UserID        string
	TLS           *tls.ConnectionState
	Connected     bool
	MsgsIn        uint64
	MsgsOut       uint64
	BytesIn       uint64
	BytesOut      uint64
	Resends       uint64
	Unacked       int
	SendQueue     int
	RecvQueue     int
	Drops         uint64
	Subscriptions int
}

// counters are updated with atomics by the goroutines that move messages,
// once per batch rather than once per message.
type counters struct {
	Counters
	msgsIn, msgsOut, bytesIn, bytesOut atomic.Uint64
	resends, duplicates, drops         atomic.Uint64
}
