package wispprom

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/wispmq/wisp/socket"
)

// The labels of every series, and the one per-peer series add.
var (
	socketLabels = []string{"socket", "type"}
	peerLabels   = []string{"socket", "type", "peer"}
)

// socketMetric is one per-socket series: its descriptor, its kind, and where
// its value comes from. The tables below are the single list of what the
// package exports, so Describe and Collect cannot disagree.
type socketMetric struct {
	desc  *prometheus.Desc
	kind  prometheus.ValueType
	value func(*socket.Stats) float64
}

func counter(name, help string, v func(*socket.Stats) uint64) socketMetric {
	return socketMetric{
		desc:  prometheus.NewDesc(name, help, socketLabels, nil),
		kind:  prometheus.CounterValue,
		value: func(st *socket.Stats) float64 { return float64(v(st)) },
	}
}

func gauge(name, help string, v func(*socket.Stats) int) socketMetric {
	return socketMetric{
		desc:  prometheus.NewDesc(name, help, socketLabels, nil),
		kind:  prometheus.GaugeValue,
		value: func(st *socket.Stats) float64 { return float64(v(st)) },
	}
}

var socketMetrics = []socketMetric{
	counter("wisp_messages_received_total", "Messages received from peers.",
		func(st *socket.Stats) uint64 { return st.MsgsIn }),
	counter("wisp_messages_sent_total", "Messages written to peers.",
		func(st *socket.Stats) uint64 { return st.MsgsOut }),
	counter("wisp_received_bytes_total", "Payload bytes of the messages received from peers.",
		func(st *socket.Stats) uint64 { return st.BytesIn }),
	counter("wisp_sent_bytes_total", "Payload bytes of the messages written to peers.",
		func(st *socket.Stats) uint64 { return st.BytesOut }),
	counter("wisp_resent_messages_total", "Messages written again after a reconnect or handed to another peer.",
		func(st *socket.Stats) uint64 { return st.Resends }),
	counter("wisp_duplicate_messages_total", "Received messages dropped because they had arrived before.",
		func(st *socket.Stats) uint64 { return st.Duplicates }),
	counter("wisp_dropped_messages_total", "Messages dropped by the socket.",
		func(st *socket.Stats) uint64 { return st.Drops }),
	counter("wisp_unroutable_messages_total", "Replies and ROUTER messages dropped because their peer is unknown or gone.",
		func(st *socket.Stats) uint64 { return st.Unroutable }),
	counter("wisp_stale_replies_total", "REQ: replies dropped because they answer no outstanding request.",
		func(st *socket.Stats) uint64 { return st.StaleReplies }),
	counter("wisp_bad_envelopes_total", "REQ, REP: received messages dropped because their envelope is malformed.",
		func(st *socket.Stats) uint64 { return st.BadEnvelopes }),
	counter("wisp_request_retries_total", "REQ: requests sent again under WithRequestRetry.",
		func(st *socket.Stats) uint64 { return st.Retries }),
	counter("wisp_handshake_failures_total", "Connections dropped before their handshake completed.",
		func(st *socket.Stats) uint64 { return st.HandshakeFailures }),
	counter("wisp_protocol_errors_total", "Connections dropped for bad input after the handshake.",
		func(st *socket.Stats) uint64 { return st.ProtocolErrors }),
	counter("wisp_events_dropped_total", "Socket events lost because the Events channel was full.",
		func(st *socket.Stats) uint64 { return st.EventsDropped }),

	gauge("wisp_unacked_messages", "Messages sent but not yet acknowledged, over all peers.",
		func(st *socket.Stats) int { return st.Unacked }),
	gauge("wisp_send_queue_messages", "Messages held for sending, over all peers, unacknowledged and orphaned ones included.",
		func(st *socket.Stats) int { return st.SendQueue }),
	gauge("wisp_receive_queue_messages", "Received messages waiting for Recv.",
		func(st *socket.Stats) int { return st.RecvQueue }),
	gauge("wisp_receive_queue_bytes", "Payload bytes of the received messages waiting for Recv (bounded by WithRecvQueueBytes).",
		func(st *socket.Stats) int { return int(st.RecvQueueBytes) }),
	gauge("wisp_orphaned_messages", "Messages of departed peers waiting for another peer.",
		func(st *socket.Stats) int { return st.Orphans }),
	gauge("wisp_connected_peers", "Peers with a connection now.",
		connectedPeers),
	gauge("wisp_known_peers", "Peers the socket keeps: connected, recently disconnected, or endpoints it connects.",
		func(st *socket.Stats) int { return len(st.Peers) }),
}

func connectedPeers(st *socket.Stats) int {
	n := 0
	for i := range st.Peers {
		if st.Peers[i].Connected {
			n++
		}
	}
	return n
}

// The per-peer series, in the order of the fields of traffic and levels
// (peers.go), which hold their values.
var (
	peerCounterDescs = [numTraffic]*prometheus.Desc{
		prometheus.NewDesc("wisp_peer_messages_received_total",
			"Messages received from the peer while it had this series; peer=\"_other\": the rest of the socket's total.", peerLabels, nil),
		prometheus.NewDesc("wisp_peer_messages_sent_total",
			"Messages written to the peer while it had this series; peer=\"_other\": the rest of the socket's total.", peerLabels, nil),
		prometheus.NewDesc("wisp_peer_received_bytes_total",
			"Payload bytes received from the peer while it had this series; peer=\"_other\": the rest of the socket's total.", peerLabels, nil),
		prometheus.NewDesc("wisp_peer_sent_bytes_total",
			"Payload bytes written to the peer while it had this series; peer=\"_other\": the rest of the socket's total.", peerLabels, nil),
	}
	peerGaugeDescs = [numLevels]*prometheus.Desc{
		prometheus.NewDesc("wisp_peer_unacked_messages",
			"Messages sent to the peer but not yet acknowledged; peer=\"_other\": the rest of the socket's total.", peerLabels, nil),
		prometheus.NewDesc("wisp_peer_send_queue_messages",
			"Messages held for sending to the peer, unacknowledged ones included; peer=\"_other\": the rest of the socket's total, orphaned messages included.", peerLabels, nil),
		prometheus.NewDesc("wisp_peer_connected",
			"1 if the peer has a connection now, else 0; peer=\"_other\": how many of the rest have one.", peerLabels, nil),
	}
)
