package wispotel

import (
	"cmp"
	"slices"

	"go.opentelemetry.io/otel/metric"

	"github.com/wispmq/wisp/socket"
)

// counterVec holds a value of each peerCounters instrument; levelVec of
// each peerLevels one.
type (
	counterVec [len(peerCounters)]uint64
	levelVec   [len(peerLevels)]int64
)

// series is a peer label that has a series of its own.
type series struct {
	label string
	acc   counterVec // counted since the series began
	level levelVec   // this collection's levels
	opt   metric.ObserveOption
}

// candidate is a label's part of one collection.
type candidate struct {
	label string
	score uint64     // messages received plus sent, over the peers' lives: the ranking
	delta counterVec // counted since the previous collection
	level levelVec
}

// peerBook is the per-peer breakdown of one socket under WithMaxPeers. It
// turns snapshots of cumulative per-peer counters into at most max series
// plus _other such that, at every collection:
//
//   - the series and _other add up to the socket's totals;
//   - a series never decreases while it lasts, and _other never decreases.
//
// Reporting the peers' raw counters would break both: a peer entering
// the top max takes its whole history out of _other, and a departed peer's
// traffic stays in the socket's totals but leaves the peers listed. So a
// series accumulates only what its peer did while it had the series, and
// _other is the rest: the total minus the series.
type peerBook struct {
	max   int
	label func(socket.PeerStats) string

	prev, next map[string]peerNow // each peer's raw counters, by identity, at the previous and this collection
	listed     map[string]*series // the labels with a series, by label
	other      counterVec         // _other as last reported
	cands      map[string]*candidate
}

// peerNow is one peer's part of a snapshot.
type peerNow struct {
	label string
	raw   counterVec
	level levelVec
}

func newPeerBook(n int, label func(socket.PeerStats) string) *peerBook {
	return &peerBook{
		max:    n,
		label:  label,
		prev:   make(map[string]peerNow),
		next:   make(map[string]peerNow),
		listed: make(map[string]*series),
		cands:  make(map[string]*candidate),
	}
}

// identity tells a peer apart from every other at one moment, and from
// one collection to the next, whatever its label: the session id if it has
// one. A peer without one is a connecting endpoint's before its first
// handshake, which has exchanged no message yet.
func identity(p *socket.PeerStats) string {
	if p.Session != "" {
		return "s" + p.Session
	}
	return "e" + p.Endpoint + "\x00" + p.Remote
}

// collect accounts for one snapshot. It returns the series, sorted by
// label, and _other's counters and levels.
func (b *peerBook) collect(st *socket.Stats) (list []*series, otherC counterVec, otherL levelVec) {
	// Group the snapshot by identity: the counters of the previous
	// collection are subtracted per peer, not per label, so that peers
	// sharing a label, and a peer that leaves while another with its label
	// arrives, are counted right.
	clear(b.next)
	for i := range st.Peers {
		p := &st.Peers[i]
		id := identity(p)
		n, seen := b.next[id]
		if !seen {
			n.label = b.label(*p)
		}
		for j, d := range peerCounters {
			n.raw[j] += d.peer(p)
		}
		for j, d := range peerLevels {
			n.level[j] += int64(d.peer(p))
		}
		b.next[id] = n
	}

	// What each label did since the previous collection.
	clear(b.cands)
	for id, n := range b.next {
		if n.label == "" || n.label == OtherPeers {
			continue // counted in _other, by subtraction below
		}
		c := b.cands[n.label]
		if c == nil {
			c = &candidate{label: n.label}
			b.cands[n.label] = c
		}
		prev, seen := b.prev[id]
		for j := range n.raw {
			d := n.raw[j]
			if seen && d >= prev.raw[j] {
				d -= prev.raw[j]
			} // else a new peer, or a new one under an old identity: all of it is new
			c.delta[j] += d
		}
		for j := range n.level {
			c.level[j] += n.level[j]
		}
		c.score += n.raw[pcMsgsIn] + n.raw[pcMsgsOut]
	}
	b.prev, b.next = b.next, b.prev

	b.choose()

	// The series, and _other as the rest of the totals.
	var total counterVec
	for j, d := range peerCounters {
		total[j] = d.total(st)
	}
	var totalL levelVec
	for j, d := range peerLevels {
		totalL[j] = int64(d.total(st))
	}
	list = make([]*series, 0, len(b.listed))
	for _, s := range b.listed {
		c := b.cands[s.label]
		for j := range s.acc {
			s.acc[j] += c.delta[j]
			total[j] -= min(s.acc[j], total[j])
		}
		s.level = c.level
		for j := range totalL {
			totalL[j] -= s.level[j]
		}
		list = append(list, s)
	}
	slices.SortFunc(list, func(a, b *series) int { return cmp.Compare(a.label, b.label) })
	// Stats reads the socket's totals before its peers' counters, and a
	// peer's counter is raised before the socket's, so the rest can come
	// out short while messages flow, never long. Holding _other at its
	// previous value hides that until the totals catch up.
	for j := range total {
		b.other[j] = max(b.other[j], total[j])
	}
	for j := range totalL {
		totalL[j] = max(totalL[j], 0) // the levels are read at slightly different times
	}
	return list, b.other, totalL
}

// choose updates b.listed from b.cands: listed labels that are still
// present keep their series, free places go to the busiest of the others,
// and one of those displaces a listed label only with more than twice its
// traffic, so that two similar peers do not swap series at every
// collection (each swap would restart a series and move counts to
// _other).
func (b *peerBook) choose() {
	var kept, rest []*candidate
	for label := range b.listed {
		if c, ok := b.cands[label]; ok {
			kept = append(kept, c)
		} else {
			delete(b.listed, label) // gone: its counts fall to _other
		}
	}
	for label, c := range b.cands {
		if b.listed[label] == nil {
			rest = append(rest, c)
		}
	}
	// Busiest first; the label breaks ties so that the choice does not
	// depend on map order.
	busiest := func(a, b *candidate) int {
		if c := cmp.Compare(b.score, a.score); c != 0 {
			return c
		}
		return cmp.Compare(a.label, b.label)
	}
	slices.SortFunc(rest, busiest)
	slices.SortFunc(kept, func(a, b *candidate) int { return busiest(b, a) }) // quietest first

	free := min(b.max-len(kept), len(rest))
	for _, c := range rest[:free] {
		b.listed[c.label] = &series{label: c.label}
	}
	rest = rest[free:]
	for i := 0; i < len(rest) && i < len(kept); i++ {
		challenger, incumbent := rest[i].score, kept[i].score
		if challenger <= incumbent || challenger-incumbent <= incumbent {
			break
		}
		delete(b.listed, kept[i].label)
		b.listed[rest[i].label] = &series{label: rest[i].label}
	}
}
