package wispprom

import (
	"cmp"
	"slices"

	"github.com/wispmq/wisp/socket"
)

// traffic holds the per-peer counters, in the order of peerCounterDescs.
type traffic [numTraffic]uint64

const (
	msgsIn = iota
	msgsOut
	bytesIn
	bytesOut
	numTraffic
)

func trafficOf(p *socket.PeerStats) traffic {
	return traffic{p.MsgsIn, p.MsgsOut, p.BytesIn, p.BytesOut}
}

func socketTraffic(st *socket.Stats) traffic {
	return traffic{st.MsgsIn, st.MsgsOut, st.BytesIn, st.BytesOut}
}

func (t *traffic) add(u traffic) {
	for i := range t {
		t[i] += u[i]
	}
}

// levels holds the per-peer gauges, in the order of peerGaugeDescs.
type levels [numLevels]int

const (
	unacked = iota
	sendQueue
	connected
	numLevels
)

func levelsOf(p *socket.PeerStats) levels {
	c := 0
	if p.Connected {
		c = 1
	}
	return levels{p.Unacked, p.SendQueue, c}
}

func (l *levels) add(m levels) {
	for i := range l {
		l[i] += m[i]
	}
}

// peerRow is what one peer series, or _other, reports at one scrape.
type peerRow struct {
	label   string
	traffic traffic
	levels  levels
}

// group is the peers of one snapshot that share a label.
type group struct {
	label  string
	score  uint64 // messages received plus sent over the peers' lives: the ranking
	peers  []int  // indexes in Stats.Peers
	levels levels
}

// listed is a label that has series of its own.
type listed struct {
	acc  traffic            // counted since the series began
	prev map[string]traffic // each of its peers' counters at the previous scrape, by identity
}

// peerBook keeps, for one socket, which peers have series of their own and
// what those series have counted, so that the series can follow the rules
// in the package documentation: at most max of them plus _other; no series
// ever decreases; and the series add up to the socket's totals.
//
// Reporting each listed peer's lifetime counters would be simpler, but a
// peer entering the list would then take its history out of _other, and
// _other would fall, which rate reads as a counter reset.
type peerBook struct {
	max     int // WithMaxPeers
	label   func(socket.PeerStats) string
	started bool               // a scrape has been answered
	listed  map[string]*listed // by label
	other   traffic            // _other's counters as last reported
}

func newPeerBook(maxPeers int, label func(socket.PeerStats) string) *peerBook {
	return &peerBook{max: maxPeers, label: label, listed: make(map[string]*listed)}
}

// identity tells one peer apart from the others in a snapshot and follows
// it from one scrape to the next: its session id, which it keeps across
// reconnects. Only a connecting endpoint's peer before its first handshake
// has none, and it has exchanged no message yet.
func identity(p *socket.PeerStats) string {
	if p.Session != "" {
		return "s" + p.Session
	}
	return "e" + p.Endpoint + "\x00" + p.Remote
}

// collect accounts for one snapshot of the socket and returns the rows to
// report: the listed peers, sorted by label, and _other.
func (b *peerBook) collect(st *socket.Stats) (rows []peerRow, other peerRow) {
	groups := b.group(st)
	chosen := b.choose(groups)

	// Advance the listed series by what their peers did since the previous
	// scrape, counted per peer so that peers sharing a label, and a peer
	// replaced by another under the same label, are counted right.
	next := make(map[string]*listed, len(chosen))
	var sum traffic
	var sumLevels levels
	rows = make([]peerRow, 0, len(chosen)+1)
	for _, g := range chosen {
		raw := make(map[string]traffic, len(g.peers))
		for _, i := range g.peers {
			p := &st.Peers[i]
			id := identity(p)
			t := raw[id]
			t.add(trafficOf(p))
			raw[id] = t
		}
		l := b.listed[g.label]
		if l == nil {
			l = &listed{}
			if !b.started {
				// Nothing was reported before, so the series can start at
				// the peers' lifetime counters without making _other fall.
				for _, t := range raw {
					l.acc.add(t)
				}
			} // else start at 0: its history is in _other already
		} else {
			for id, t := range raw {
				if p, ok := l.prev[id]; ok {
					for i := range t {
						if t[i] >= p[i] {
							t[i] -= p[i]
						} // else a new peer under an old identity: all of it is new
					}
				}
				l.acc.add(t)
			}
		}
		l.prev = raw
		next[g.label] = l
		sum.add(l.acc)
		sumLevels.add(g.levels)
		rows = append(rows, peerRow{label: g.label, traffic: l.acc, levels: g.levels})
	}
	b.listed = next // labels no longer listed hand their counts back to _other
	b.started = true
	slices.SortFunc(rows, func(x, y peerRow) int { return cmp.Compare(x.label, y.label) })

	// _other is the rest of the socket's totals. Stats reads the totals and
	// the peers' counters one after the other, not at one instant, so while
	// messages flow the rest can come out short by a few messages; keeping
	// _other at its previous value until the totals catch up keeps it a
	// counter.
	total := socketTraffic(st)
	for i := range total {
		rest := uint64(0)
		if total[i] > sum[i] {
			rest = total[i] - sum[i]
		}
		b.other[i] = max(b.other[i], rest)
	}
	other = peerRow{label: OtherPeers, traffic: b.other}
	// The levels come from one snapshot of the peers, taken together with
	// the socket's Unacked and SendQueue, so they subtract exactly.
	other.levels = levels{st.Unacked, st.SendQueue, connectedPeers(st)}
	for i := range other.levels {
		other.levels[i] = max(other.levels[i]-sumLevels[i], 0)
	}
	return rows, other
}

// group sorts the snapshot's peers by label. Peers with no label, or one
// that claims _other's, count in _other only. It keeps just indexes: of a
// socket's thousands of peers only the few listed need more.
func (b *peerBook) group(st *socket.Stats) map[string]*group {
	groups := make(map[string]*group)
	for i := range st.Peers {
		p := &st.Peers[i]
		label := cleanLabel(b.label(*p))
		if label == "" || label == OtherPeers {
			continue
		}
		g := groups[label]
		if g == nil {
			g = &group{label: label}
			groups[label] = g
		}
		g.peers = append(g.peers, i)
		g.score += p.MsgsIn + p.MsgsOut
		g.levels.add(levelsOf(p))
	}
	return groups
}

// choose picks the labels that get series: those listed before that are
// still there keep their place, free places go to the busiest of the rest,
// and one of the rest displaces a listed label only with more than twice
// its traffic. Without that margin two peers of about the same traffic
// would swap places scrape after scrape, and every swap ends one series
// (its counts fall back to _other) and starts another.
func (b *peerBook) choose(groups map[string]*group) []*group {
	if b.max <= 0 {
		return nil
	}
	var kept, rest []*group
	for label, g := range groups {
		if b.listed[label] != nil {
			kept = append(kept, g)
		} else {
			rest = append(rest, g)
		}
	}
	// Busiest first; the label breaks ties, so that the choice depends on
	// the traffic only, never on map order.
	busiest := func(x, y *group) int {
		if c := cmp.Compare(y.score, x.score); c != 0 {
			return c
		}
		return cmp.Compare(x.label, y.label)
	}
	slices.SortFunc(kept, busiest)
	slices.SortFunc(rest, busiest)
	if len(kept) > b.max { // WithMaxPeers cannot change, but stay safe
		kept = kept[:b.max]
	}
	// Fill the free places.
	n := min(b.max-len(kept), len(rest))
	kept = append(kept, rest[:n]...)
	rest = rest[n:]
	slices.SortFunc(kept, busiest)
	// Then let much busier peers displace the quietest listed ones: rest is
	// busiest first and kept quietest last, so the first that fails ends it.
	for i := len(kept) - 1; i >= 0 && len(rest) > 0; i-- {
		challenger, holder := rest[0].score, kept[i].score
		if challenger <= holder || challenger-holder <= holder { // not more than twice as busy
			break
		}
		kept[i], rest = rest[0], rest[1:]
	}
	return kept
}
