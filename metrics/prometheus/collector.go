package wispprom

import (
	"cmp"
	"slices"
	"strings"
	"sync"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/wispmq/wisp/socket"
)

// OtherPeers is the peer label of the series that holds, for each per-peer
// metric, the rest of a socket's total: everything the peers with series
// of their own do not account for (see WithMaxPeers).
const OtherPeers = "_other"

// DefaultMaxPeers is how many peers of each socket get series of their own
// unless WithMaxPeers says otherwise: enough to see the busiest peers of a
// broker, few enough that a socket with thousands of peers costs a scrape
// no more than a few dozen series.
const DefaultMaxPeers = 20

// Option configures a Collector; pass options to NewCollector.
type Option func(*config)

type config struct {
	maxPeers  int
	peerLabel func(socket.PeerStats) string
}

// WithMaxPeers gives at most n peers of each socket series of their own,
// the ones that moved the most messages, and reports the rest of the
// socket's totals under peer="_other" (the package documentation says how
// the peers are chosen and why). The default is DefaultMaxPeers. With n
// of 0 or less there are no per-peer series at all, not even _other: the
// per-socket series already hold the totals.
func WithMaxPeers(n int) Option {
	return func(c *config) { c.maxPeers = max(n, 0) }
}

// WithPeerLabel labels peers with f instead of DefaultPeerLabel. f must
// give a peer the same label for as long as it is the same peer, or its
// series restarts under the new label; peers that f gives the same label
// share one series, and a peer it gives "" or "_other" counts in _other.
// f runs during Collect, for every peer of every socket, so it should be
// cheap.
func WithPeerLabel(f func(socket.PeerStats) string) Option {
	return func(c *config) { c.peerLabel = f }
}

// DefaultPeerLabel is the peer label used unless WithPeerLabel says
// otherwise: the peer's endpoint and session id joined by "#"
// ("tcp://10.0.0.7:5555#5f0c..."), or whichever of the two the peer has,
// or else its remote address.
//
// The endpoint alone would not tell peers apart: a peer that connected to
// this socket has this socket's listening endpoint, the same for all of
// them. The session id does, and stays the same while the peer socket
// lives, across its reconnects (over WISP/1; ZMTP has no sessions, so a
// ZMTP peer gets a new id, and a new series, with each connection). The endpoint is there so that a person can
// read where the peer is, on the socket that connects to it; a connecting
// endpoint's peer has no session id until its first handshake, and no
// traffic either.
func DefaultPeerLabel(p socket.PeerStats) string {
	switch {
	case p.Endpoint != "" && p.Session != "":
		return p.Endpoint + "#" + p.Session
	case p.Session != "":
		return p.Session
	case p.Endpoint != "":
		return p.Endpoint
	default:
		return p.Remote
	}
}

// A Collector is a prometheus.Collector that reports wisp sockets: the
// metrics listed in the package documentation, labelled with each socket's
// name and type. Register it with a prometheus.Registerer and add sockets
// to it, before or after registering. A Collector is safe for concurrent
// use; one Collector per registry is enough for any number of sockets, and
// a second one with the same metrics would be refused by the registry.
type Collector struct {
	cfg config

	// mu is held through a whole Collect, so that two scrapes at once do
	// not interleave their updates of a socket's peer accounting, and so
	// that Remove, once it returns, is not undone by a scrape in flight.
	mu      sync.Mutex
	sockets map[string]*entry
}

// entry is one socket added to a Collector.
type entry struct {
	s      *socket.Socket
	labels []string // socket, type
	peers  *peerBook
}

var _ prometheus.Collector = (*Collector)(nil)

// NewCollector returns a Collector with no sockets.
func NewCollector(opts ...Option) *Collector {
	cfg := config{maxPeers: DefaultMaxPeers, peerLabel: DefaultPeerLabel}
	for _, o := range opts {
		o(&cfg)
	}
	if cfg.peerLabel == nil {
		cfg.peerLabel = DefaultPeerLabel
	}
	return &Collector{cfg: cfg, sockets: make(map[string]*entry)}
}

// Add reports s under the socket label name, from the next scrape on. A
// socket added again under a name it had already replaces the earlier one,
// and its per-peer series start afresh. The same socket can be added under
// several names. Add panics if s is nil.
//
// A closed socket keeps reporting its last counters until it is removed:
// Remove it when it is closed, or its series stay in every scrape.
func (c *Collector) Add(name string, s *socket.Socket) {
	if s == nil {
		panic("wispprom: Add of a nil socket")
	}
	e := &entry{
		s:      s,
		labels: []string{cleanLabel(name), strings.ToLower(s.Type().String())},
		peers:  newPeerBook(c.cfg.maxPeers, c.cfg.peerLabel),
	}
	c.mu.Lock()
	c.sockets[name] = e
	c.mu.Unlock()
}

// Remove stops reporting the socket added under name; from the next scrape
// on its series are gone. Removing a name that is not there does nothing.
func (c *Collector) Remove(name string) {
	c.mu.Lock()
	delete(c.sockets, name)
	c.mu.Unlock()
}

// Describe sends the descriptors of every metric a Collector can report,
// whatever sockets it has, so that a registry can check them once at
// registration.
func (c *Collector) Describe(ch chan<- *prometheus.Desc) {
	for i := range socketMetrics {
		ch <- socketMetrics[i].desc
	}
	for _, d := range peerCounterDescs {
		ch <- d
	}
	for _, d := range peerGaugeDescs {
		ch <- d
	}
}

// Collect reads every socket's Stats and sends its metrics. It is called
// by the registry at each scrape.
func (c *Collector) Collect(ch chan<- prometheus.Metric) {
	c.mu.Lock()
	defer c.mu.Unlock()
	// In name order, so that the peer accounting of each socket advances
	// the same way whatever the map order; the registry sorts the output.
	names := make([]string, 0, len(c.sockets))
	for name := range c.sockets {
		names = append(names, name)
	}
	slices.SortFunc(names, cmp.Compare[string])
	for _, name := range names {
		c.sockets[name].collect(ch, c.cfg.maxPeers > 0)
	}
}

func (e *entry) collect(ch chan<- prometheus.Metric, perPeer bool) {
	st := e.s.Stats()
	for i := range socketMetrics {
		m := &socketMetrics[i]
		ch <- prometheus.MustNewConstMetric(m.desc, m.kind, m.value(&st), e.labels...)
	}
	if !perPeer {
		return
	}
	rows, other := e.peers.collect(&st)
	for _, r := range append(rows, other) {
		labels := append(e.labels[:len(e.labels):len(e.labels)], r.label)
		for i, d := range peerCounterDescs {
			ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(r.traffic[i]), labels...)
		}
		for i, d := range peerGaugeDescs {
			ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, float64(r.levels[i]), labels...)
		}
	}
}

// cleanLabel makes s a valid label value: Prometheus takes only UTF-8, and
// MustNewConstMetric would panic on anything else.
func cleanLabel(s string) string { return strings.ToValidUTF8(s, "\uFFFD") }
