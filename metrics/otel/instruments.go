package wispotel

import (
	"errors"
	"math"

	"go.opentelemetry.io/otel/metric"

	"github.com/wispmq/wisp/socket"
)

// The instruments are tables, so that the package documentation, the
// registration and the observation cannot disagree on which Stats field an
// instrument reports. Names follow OpenTelemetry's semantic-convention
// style: a wisp. namespace, dots between levels, UCUM units with
// annotations in braces.

// peerCounter is a counter a socket keeps per peer as well, so WithMaxPeers
// can break it down.
type peerCounter struct {
	name, unit, desc string
	total            func(*socket.Stats) uint64
	peer             func(*socket.PeerStats) uint64
}

var peerCounters = [...]peerCounter{
	{"wisp.messages.received", "{message}", "Messages received from peers.",
		func(s *socket.Stats) uint64 { return s.MsgsIn }, func(p *socket.PeerStats) uint64 { return p.MsgsIn }},
	{"wisp.messages.sent", "{message}", "Messages written to peers; a message written again after a reconnect counts again.",
		func(s *socket.Stats) uint64 { return s.MsgsOut }, func(p *socket.PeerStats) uint64 { return p.MsgsOut }},
	{"wisp.payload.received", "By", "Payload bytes of the messages received from peers.",
		func(s *socket.Stats) uint64 { return s.BytesIn }, func(p *socket.PeerStats) uint64 { return p.BytesIn }},
	{"wisp.payload.sent", "By", "Payload bytes of the messages written to peers.",
		func(s *socket.Stats) uint64 { return s.BytesOut }, func(p *socket.PeerStats) uint64 { return p.BytesOut }},
	{"wisp.messages.resent", "{message}", "Messages written again after a reconnect or handed to another peer.",
		func(s *socket.Stats) uint64 { return s.Resends }, func(p *socket.PeerStats) uint64 { return p.Resends }},
	{"wisp.messages.dropped", "{message}", "Messages the socket dropped; per peer, those of PUB and XPUB subscribers whose queue was full.",
		func(s *socket.Stats) uint64 { return s.Drops }, func(p *socket.PeerStats) uint64 { return p.Drops }},
}

// Indexes into peerCounters that the per-peer ranking uses.
const (
	pcMsgsIn  = 0
	pcMsgsOut = 1
)

// peerLevel is a level (a queue length) a socket keeps per peer as well.
type peerLevel struct {
	name, unit, desc string
	total            func(*socket.Stats) int
	peer             func(*socket.PeerStats) int
}

var peerLevels = [...]peerLevel{
	{"wisp.messages.unacked", "{message}", "Messages sent to peers and not yet acknowledged.",
		func(s *socket.Stats) int { return s.Unacked }, func(p *socket.PeerStats) int { return p.Unacked }},
	{"wisp.send_queue.messages", "{message}", "Messages held for sending, unacknowledged ones included.",
		func(s *socket.Stats) int { return s.SendQueue }, func(p *socket.PeerStats) int { return p.SendQueue }},
	{"wisp.recv_queue.messages", "{message}", "Received messages waiting for Recv.",
		func(s *socket.Stats) int { return s.RecvQueue }, func(p *socket.PeerStats) int { return p.RecvQueue }},
}

// socketCounter is a counter a socket keeps only in total.
type socketCounter struct {
	name, unit, desc string
	total            func(*socket.Stats) uint64
}

var socketCounters = [...]socketCounter{
	{"wisp.messages.duplicate", "{message}", "Received messages dropped because they had arrived before.",
		func(s *socket.Stats) uint64 { return s.Duplicates }},
	{"wisp.messages.unroutable", "{message}", "Replies and ROUTER messages dropped because their peer is unknown or gone.",
		func(s *socket.Stats) uint64 { return s.Unroutable }},
	{"wisp.messages.bad_envelope", "{message}", "REQ, REP: received messages dropped because their envelope is malformed.",
		func(s *socket.Stats) uint64 { return s.BadEnvelopes }},
	{"wisp.replies.stale", "{message}", "REQ: replies dropped because they answer no outstanding request.",
		func(s *socket.Stats) uint64 { return s.StaleReplies }},
	{"wisp.requests.retried", "{request}", "REQ: requests sent again under WithRequestRetry.",
		func(s *socket.Stats) uint64 { return s.Retries }},
	{"wisp.handshakes.failed", "{connection}", "Connections dropped before their handshake completed.",
		func(s *socket.Stats) uint64 { return s.HandshakeFailures }},
	{"wisp.protocol.errors", "{connection}", "Connections dropped for bad input after the handshake.",
		func(s *socket.Stats) uint64 { return s.ProtocolErrors }},
	{"wisp.events.dropped", "{event}", "Events lost because the socket's Events channel was full.",
		func(s *socket.Stats) uint64 { return s.EventsDropped }},
}

// socketLevel is a level a socket keeps only in total.
type socketLevel struct {
	name, unit, desc string
	total            func(*socket.Stats) int
}

var socketLevels = [...]socketLevel{
	{"wisp.recv_queue.bytes", "By", "Payload bytes of the received messages waiting for Recv (bounded by WithRecvQueueBytes).",
		func(s *socket.Stats) int { return int(s.RecvQueueBytes) }},
	{"wisp.messages.orphaned", "{message}", "Messages of departed peers waiting for another peer.",
		func(s *socket.Stats) int { return s.Orphans }},
	{"wisp.peers.connected", "{peer}", "Peers with a connection.",
		func(s *socket.Stats) int {
			n := 0
			for i := range s.Peers {
				if s.Peers[i].Connected {
					n++
				}
			}
			return n
		}},
}

// instruments are the created instruments, in the order of the tables.
type instruments struct {
	peerCounters   [len(peerCounters)]metric.Int64ObservableCounter
	peerLevels     [len(peerLevels)]metric.Int64ObservableUpDownCounter
	socketCounters [len(socketCounters)]metric.Int64ObservableCounter
	socketLevels   [len(socketLevels)]metric.Int64ObservableUpDownCounter
}

func newInstruments(m metric.Meter) (*instruments, error) {
	in := new(instruments)
	var errs []error
	counter := func(name, unit, desc string) metric.Int64ObservableCounter {
		c, err := m.Int64ObservableCounter(name, metric.WithUnit(unit), metric.WithDescription(desc))
		errs = append(errs, err)
		return c
	}
	level := func(name, unit, desc string) metric.Int64ObservableUpDownCounter {
		c, err := m.Int64ObservableUpDownCounter(name, metric.WithUnit(unit), metric.WithDescription(desc))
		errs = append(errs, err)
		return c
	}
	for i, d := range peerCounters {
		in.peerCounters[i] = counter(d.name, d.unit, d.desc)
	}
	for i, d := range peerLevels {
		in.peerLevels[i] = level(d.name, d.unit, d.desc)
	}
	for i, d := range socketCounters {
		in.socketCounters[i] = counter(d.name, d.unit, d.desc)
	}
	for i, d := range socketLevels {
		in.socketLevels[i] = level(d.name, d.unit, d.desc)
	}
	// The names and units are fixed, so an error here means a Meter that
	// cannot serve these instruments: better refused at New than reported
	// around at every collection.
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return in, nil
}

// observables lists every instrument, for RegisterCallback.
func (in *instruments) observables() []metric.Observable {
	var obs []metric.Observable
	for _, c := range in.peerCounters {
		obs = append(obs, c)
	}
	for _, c := range in.peerLevels {
		obs = append(obs, c)
	}
	for _, c := range in.socketCounters {
		obs = append(obs, c)
	}
	for _, c := range in.socketLevels {
		obs = append(obs, c)
	}
	return obs
}

// i64 converts a counter for ObserveInt64, saturating instead of wrapping
// past math.MaxInt64 so that a counter never appears to go backwards.
func i64(u uint64) int64 {
	if u > math.MaxInt64 {
		return math.MaxInt64
	}
	return int64(u)
}
