// Package wispprom exports the counters of wisp sockets (socket.Stats) as
// Prometheus metrics.
//
// It lives in a module of its own, github.com/wispmq/wisp/metrics/prometheus,
// so that programs that do not use Prometheus do not get its dependencies
// through wisp.
//
// A Collector reports any number of sockets, each under a name of the
// program's choosing:
//
//	c := wispprom.NewCollector()
//	c.Add("jobs", pull)
//	prometheus.MustRegister(c)
//
// Collect reads each socket's Stats when Prometheus scrapes, so the numbers
// are as fresh as the scrape and nothing runs between scrapes: no goroutine,
// no timer.
//
// # Metrics
//
// Every series has the labels socket (the name given to Add) and type (the
// socket type in lower case: "push", "router").
//
// Counters, one series per socket:
//
//	wisp_messages_received_total      messages received from peers
//	wisp_messages_sent_total          messages written to peers
//	wisp_received_bytes_total         payload bytes of the messages received
//	wisp_sent_bytes_total             payload bytes of the messages written
//	wisp_resent_messages_total        messages written again after a reconnect or handed to another peer
//	wisp_duplicate_messages_total     received messages dropped because they had arrived before
//	wisp_dropped_messages_total       messages dropped by the socket
//	wisp_unroutable_messages_total    replies and ROUTER messages dropped because their peer is unknown or gone
//	wisp_stale_replies_total          REQ: replies dropped because they answer no outstanding request
//	wisp_bad_envelopes_total          REQ, REP: messages dropped because their envelope is malformed
//	wisp_request_retries_total        REQ: requests sent again under WithRequestRetry
//	wisp_handshake_failures_total     connections dropped before their handshake completed
//	wisp_protocol_errors_total        connections dropped for bad input after the handshake
//	wisp_events_dropped_total         events lost because the Events channel was full
//
// Gauges, one series per socket:
//
//	wisp_unacked_messages             messages sent but not yet acknowledged
//	wisp_send_queue_messages          messages held for sending, unacknowledged and orphaned ones included
//	wisp_receive_queue_messages       received messages waiting for Recv
//	wisp_receive_queue_bytes          their payload bytes (bounded by WithRecvQueueBytes)
//	wisp_orphaned_messages            messages of departed peers waiting for another peer
//	wisp_connected_peers              peers with a connection now
//	wisp_known_peers                  peers the socket keeps: connected, recently disconnected, or endpoints it connects
//
// Per peer, with the extra label peer (see WithMaxPeers):
//
//	wisp_peer_messages_received_total counter
//	wisp_peer_messages_sent_total     counter
//	wisp_peer_received_bytes_total    counter
//	wisp_peer_sent_bytes_total        counter
//	wisp_peer_unacked_messages        gauge
//	wisp_peer_send_queue_messages     gauge
//	wisp_peer_connected               gauge: 1 or 0; for peer="_other", how many of the rest are connected
//
// # Peers
//
// A ROUTER or a bound PULL can have thousands of peers, and a series per
// peer would make every scrape as large, and every departed peer a series
// that the time-series database keeps. So a socket gets per-peer series for
// at most WithMaxPeers of its peers (20 by default), the ones that moved
// the most messages (received plus sent), and one more series,
// peer="_other", for everything else. The bound holds per scrape: at most
// n+1 series per per-peer metric and socket, however many peers there are.
//
// The per-peer series of a socket and its _other series add up to the
// socket's own series (wisp_peer_messages_received_total to
// wisp_messages_received_total, wisp_peer_unacked_messages to
// wisp_unacked_messages, wisp_peer_connected to wisp_connected_peers, and so
// on) at every scrape; the gauges exactly, the counters exactly once the
// messages in flight during the scrape are counted (Stats reads the
// socket's counters and its peers' one after the other, not at one
// instant). _other is that total minus the listed peers: the
// peers that did not make the list, the departed peers whose traffic the
// socket's totals still hold, and, for wisp_peer_send_queue_messages, the
// orphaned messages that belong to no peer.
//
// Counters stay counters: no series ever decreases, which rate and increase
// rely on. That is why a peer's series counts what the peer did while it had
// the series, not its lifetime total from Stats: a peer that climbs into the
// list later starts its series at 0, because its earlier traffic is already
// in _other and taking it out would make _other fall. (At a Collector's
// first scrape of a socket there is no earlier _other, so the listed peers
// start at their lifetime totals.) When a listed peer leaves, or gives its
// place to a busier one, what its series counted returns to _other, which
// keeps the sum right but shows in _other's increase for that scrape. To
// keep that rare, a listed peer keeps its place while it stays, unless a
// peer with more than twice its traffic wants it; so the list is exactly
// the busiest peers at the first scrape, and close to them afterwards.
//
// The peer label is, by default, the endpoint the peer was reached through
// and its session id, as "tcp://10.0.0.7:5555#5f0c...". Neither alone
// would do: on a bound socket every accepted peer has the socket's own
// listening endpoint, and the session id alone does not say where a peer
// is. The session id is the peer socket's, the same across its reconnects
// over WISP/1, so a peer keeps its series when its connection drops and
// comes back. See DefaultPeerLabel for the details, and WithPeerLabel to
// label peers another way (by the UserID a CURVE handshake proved, say).
// Peers that share a label share its series.
package wispprom
