// Package wispotel reports the counters of wisp sockets (socket.Stats) as
// OpenTelemetry metrics.
//
// It lives in a module of its own, github.com/wispmq/wisp/metrics/otel, so
// that programs which do not use OpenTelemetry do not inherit its
// dependencies through github.com/wispmq/wisp.
//
// The instruments are asynchronous (observable): one callback, registered
// with the Meter, takes a snapshot of every added socket with Stats when a
// reader collects. wispotel starts no goroutine and costs nothing between
// collections; the sockets keep their counters anyway.
//
//	m, err := wispotel.New(provider)
//	if err != nil { ... }
//	defer m.Close()
//	m.Add("jobs", pull)
//
// Every data point carries wisp.socket (the name given to Add) and
// wisp.socket.type ("PUSH", "ROUTER", ...). WithMaxPeers adds a bounded
// per-peer breakdown (wisp.peer) of the counters a socket keeps per peer;
// see there for how it stays bounded and why.
//
// The instruments (C counter, U UpDownCounter), their units and what they
// count; those marked * are the ones WithMaxPeers breaks down:
//
//	wisp.messages.received      C  {message}     * messages received from peers
//	wisp.messages.sent          C  {message}     * messages written to peers (again after a reconnect)
//	wisp.payload.received       C  By            * payload bytes of the messages received
//	wisp.payload.sent           C  By            * payload bytes of the messages written
//	wisp.messages.resent        C  {message}     * messages written again after a reconnect or handed to another peer
//	wisp.messages.dropped       C  {message}     * messages the socket dropped (per peer: PUB, XPUB subscribers' full queues)
//	wisp.messages.duplicate     C  {message}       received messages dropped because they had arrived before
//	wisp.messages.unroutable    C  {message}       replies and ROUTER messages dropped: their peer is unknown or gone
//	wisp.messages.bad_envelope  C  {message}       REQ, REP: received messages dropped for a malformed envelope
//	wisp.replies.stale          C  {message}       REQ: replies that answer no outstanding request
//	wisp.requests.retried       C  {request}       REQ: requests sent again under WithRequestRetry
//	wisp.handshakes.failed      C  {connection}    connections dropped before their handshake completed
//	wisp.protocol.errors        C  {connection}    connections dropped for bad input after the handshake
//	wisp.events.dropped         C  {event}         events lost because the socket's Events channel was full
//	wisp.messages.unacked       U  {message}     * messages sent and not yet acknowledged
//	wisp.send_queue.messages    U  {message}     * messages held for sending, the unacknowledged included
//	wisp.recv_queue.messages    U  {message}     * received messages waiting for Recv
//	wisp.recv_queue.bytes       U  By              their payload bytes (bounded by WithRecvQueueBytes)
//	wisp.messages.orphaned      U  {message}       messages of departed peers waiting for another peer
//	wisp.peers.connected        U  {peer}          peers with a connection
//
// The levels are UpDownCounters rather than Gauges because they add up:
// the queues of several sockets, or of a socket's peers, sum to a
// meaningful total, which is what a backend computes when it aggregates an
// attribute away.
//
// A closed socket keeps its final counters; Remove it when closing it.
package wispotel

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"

	"github.com/wispmq/wisp/socket"
)

// ScopeName is the instrumentation scope of the Meter that New takes from
// its MeterProvider, for an application that configures views or filters
// by scope.
const ScopeName = "github.com/wispmq/wisp/metrics/otel"

// Attribute keys on every data point, and on the per-peer ones.
const (
	// SocketKey names the socket: the name given to Add.
	SocketKey = attribute.Key("wisp.socket")
	// SocketTypeKey is the socket's type as socket.Type's String writes it
	// ("PUSH"), the spelling wisp uses everywhere else.
	SocketTypeKey = attribute.Key("wisp.socket.type")
	// PeerKey labels a peer's own series under WithMaxPeers; OtherPeers
	// labels the sum of the rest.
	PeerKey = attribute.Key("wisp.peer")
)

// OtherPeers is the wisp.peer value of the series that sums everything the
// per-peer series do not show (see WithMaxPeers).
const OtherPeers = "_other"

// Option configures New.
type Option func(*config)

type config struct {
	maxPeers  int
	peerLabel func(socket.PeerStats) string
}

// WithMaxPeers gives up to n peers of each socket a series of their own,
// labelled wisp.peer, for the instruments a socket counts per peer (marked
// * in the package documentation); the rest of the socket's total
// is reported under wisp.peer="_other", so a socket's series always add up
// to its total. The default, 0, reports one series per socket and no
// wisp.peer at all.
//
// It is bounded because every attribute value makes a time series that a
// backend stores and indexes: a ROUTER serving 10,000 clients, whose
// session ids change with every restart, would otherwise create series
// without limit. With n, a socket makes at most n+1 series per instrument
// however many peers it has.
//
// The n peers are those with the most traffic (messages received plus
// sent, over their lives) when their series begin. A peer keeps its series
// while the socket lists it, unless an unlisted peer has carried more than
// twice its traffic: the margin stops two similar peers from trading places
// at every collection, each trade ending one series and starting another.
//
// A peer's series counts what the peer did since the last collection that
// reported it under _other (all of it, if none did): taking what _other
// already reported back out of it would make _other go down. When a series ends (the peer is gone, or displaced) its
// counts stay in the socket's total and so move to _other. So _other only
// ever grows, and a peer's series grows for as long as it lasts; one that
// ends and later begins again starts from zero, which a backend takes for
// the counter reset it is. The levels need none of this: a peer's series
// is its current queue, and _other the rest of the socket's.
//
// The socket-wide instruments (not marked * in the package documentation)
// stay one series per socket. Between collections the breakdown keeps a
// few counters for each peer the socket has; Stats lists every peer at
// every collection anyway.
//
// Negative n is taken as 0.
func WithMaxPeers(n int) Option {
	return func(c *config) { c.maxPeers = max(n, 0) }
}

// WithPeerLabel sets the wisp.peer value of a peer under WithMaxPeers. The
// default is the peer's session id (PeerStats.Session), which is unique to
// the socket on the other end and survives its reconnects (a ZMTP peer's is
// new with each connection, as ZMTP has no sessions); before its first
// handshake a connecting endpoint's peer has none and gets its endpoint,
// else its remote address.
//
// The endpoint is not the default because a bound socket's peers all carry
// the bound endpoint: they would share one series. A socket that connects
// to a few named peers may prefer the endpoint, which also survives a
// peer's restart:
//
//	wispotel.WithPeerLabel(func(p socket.PeerStats) string { return p.Endpoint })
//
// Peers given the same label share a series; a peer labelled "" or
// "_other" counts under _other.
func WithPeerLabel(f func(socket.PeerStats) string) Option {
	return func(c *config) {
		if f != nil {
			c.peerLabel = f
		}
	}
}

// defaultPeerLabel is WithPeerLabel's default.
func defaultPeerLabel(p socket.PeerStats) string {
	switch {
	case p.Session != "":
		return p.Session
	case p.Endpoint != "":
		return p.Endpoint
	default:
		return p.Remote
	}
}

// Metrics reports a set of named sockets through one registered callback.
// Its methods are safe for concurrent use, also with collections.
type Metrics struct {
	cfg  config
	inst *instruments
	reg  metric.Registration

	mu      sync.Mutex // held through a collection, so Add and Remove wait for it
	sockets map[string]*entry
	closed  bool
}

// New creates the instruments with the Meter provider gives for ScopeName
// and registers their callback. Close unregisters it.
func New(provider metric.MeterProvider, opts ...Option) (*Metrics, error) {
	if provider == nil {
		return nil, errors.New("wispotel: nil MeterProvider")
	}
	return NewWithMeter(provider.Meter(ScopeName), opts...)
}

// NewWithMeter is New with a Meter the application made itself, for an
// instrumentation scope of its own (a name, a version, a schema URL).
func NewWithMeter(meter metric.Meter, opts ...Option) (*Metrics, error) {
	if meter == nil {
		return nil, errors.New("wispotel: nil Meter")
	}
	m := &Metrics{
		cfg:     config{peerLabel: defaultPeerLabel},
		sockets: make(map[string]*entry),
	}
	for _, o := range opts {
		o(&m.cfg)
	}
	inst, err := newInstruments(meter)
	if err != nil {
		return nil, fmt.Errorf("wispotel: %w", err)
	}
	m.inst = inst
	m.reg, err = meter.RegisterCallback(m.observe, inst.observables()...)
	if err != nil {
		return nil, fmt.Errorf("wispotel: %w", err)
	}
	return m, nil
}

// Add reports s under name from the next collection on. A name already
// added is given to s instead: its counters then restart from s's, as they
// would if the process had restarted. Remove a socket when closing it, or
// it keeps reporting its final counters.
func (m *Metrics) Add(name string, s *socket.Socket) {
	if s == nil {
		// A nil socket would fail only later, inside a reader's collection.
		panic("wispotel: Add of a nil *socket.Socket")
	}
	e := newEntry(s, name)
	m.mu.Lock()
	if !m.closed {
		m.sockets[name] = e
	}
	m.mu.Unlock()
}

// Remove stops reporting the socket added under name; its series are
// missing from the next collection on. Removing a name not added does
// nothing.
func (m *Metrics) Remove(name string) {
	m.mu.Lock()
	delete(m.sockets, name)
	m.mu.Unlock()
}

// Close unregisters the callback, so that no socket is reported any more,
// and forgets the sockets; it does not close them. Later calls return nil,
// and Add after it does nothing.
func (m *Metrics) Close() error {
	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		return nil
	}
	m.closed = true
	clear(m.sockets)
	m.mu.Unlock()
	// Outside mu: the SDK runs the callbacks under a lock of its own, which
	// Unregister takes too, and observe takes mu inside it.
	if err := m.reg.Unregister(); err != nil {
		return fmt.Errorf("wispotel: %w", err)
	}
	return nil
}

// observe is the registered callback: a snapshot of every socket, reported.
// It runs once per reader per collection, possibly concurrently for two
// readers; mu serialises them, so each sees a consistent per-peer state.
func (m *Metrics) observe(_ context.Context, o metric.Observer) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, e := range m.sockets {
		e.observe(o, m.inst, &m.cfg)
	}
	return nil
}

// entry is one added socket.
type entry struct {
	s     *socket.Socket
	name  string
	typ   string
	opt   metric.ObserveOption // wisp.socket, wisp.socket.type
	other metric.ObserveOption // and wisp.peer=_other
	book  *peerBook            // under WithMaxPeers; made at the first collection
}

func newEntry(s *socket.Socket, name string) *entry {
	typ := s.Type().String()
	return &entry{
		s:     s,
		name:  name,
		typ:   typ,
		opt:   metric.WithAttributes(SocketKey.String(name), SocketTypeKey.String(typ)),
		other: metric.WithAttributes(SocketKey.String(name), SocketTypeKey.String(typ), PeerKey.String(OtherPeers)),
	}
}

// observe reports one snapshot of the socket.
func (e *entry) observe(o metric.Observer, in *instruments, cfg *config) {
	st := e.s.Stats()
	for i, d := range socketCounters {
		o.ObserveInt64(in.socketCounters[i], i64(d.total(&st)), e.opt)
	}
	for i, d := range socketLevels {
		o.ObserveInt64(in.socketLevels[i], int64(d.total(&st)), e.opt)
	}
	if cfg.maxPeers == 0 {
		for i, d := range peerCounters {
			o.ObserveInt64(in.peerCounters[i], i64(d.total(&st)), e.opt)
		}
		for i, d := range peerLevels {
			o.ObserveInt64(in.peerLevels[i], int64(d.total(&st)), e.opt)
		}
		return
	}
	if e.book == nil {
		e.book = newPeerBook(cfg.maxPeers, cfg.peerLabel)
	}
	list, otherC, otherL := e.book.collect(&st)
	for _, s := range list {
		if s.opt == nil {
			s.opt = metric.WithAttributes(SocketKey.String(e.name), SocketTypeKey.String(e.typ), PeerKey.String(s.label))
		}
		for i := range s.acc {
			o.ObserveInt64(in.peerCounters[i], i64(s.acc[i]), s.opt)
		}
		for i := range s.level {
			o.ObserveInt64(in.peerLevels[i], s.level[i], s.opt)
		}
	}
	for i := range otherC {
		o.ObserveInt64(in.peerCounters[i], i64(otherC[i]), e.other)
	}
	for i := range otherL {
		o.ObserveInt64(in.peerLevels[i], otherL[i], e.other)
	}
}
