package wispprom

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/wispmq/wisp/socket"
)

// model is a socket's peers as its Stats would show them, driven at
// random: peers come, move messages, and go, and the socket's totals keep
// what departed peers counted, as a socket's do.
type model struct {
	rng      *rand.Rand
	peers    []socket.PeerStats
	departed socket.PeerStats // the sum of the departed peers' counters
	orphans  int
	made     int
	endpoint func(i int) string
}

func (m *model) step() {
	// Some peers go; their counts stay in the totals.
	live := m.peers[:0]
	for _, p := range m.peers {
		if m.rng.IntN(25) == 0 {
			m.departed.MsgsIn += p.MsgsIn
			m.departed.MsgsOut += p.MsgsOut
			m.departed.BytesIn += p.BytesIn
			m.departed.BytesOut += p.BytesOut
			continue
		}
		live = append(live, p)
	}
	m.peers = live
	// Some come.
	for range m.rng.IntN(4) {
		m.peers = append(m.peers, socket.PeerStats{
			Endpoint: m.endpoint(m.made),
			Session:  fmt.Sprintf("%032x", m.made),
		})
		m.made++
	}
	// Traffic, uneven: some peers are much busier than others.
	for i := range m.peers {
		p := &m.peers[i]
		if m.rng.IntN(3) == 0 {
			continue
		}
		busy := uint64(1 + i%5*m.rng.IntN(20))
		in, out := m.rng.Uint64N(busy), m.rng.Uint64N(busy)
		p.MsgsIn += in
		p.MsgsOut += out
		p.BytesIn += in * 10
		p.BytesOut += out * 3
		p.Unacked = m.rng.IntN(5)
		p.SendQueue = p.Unacked + m.rng.IntN(5)
		p.Connected = m.rng.IntN(4) != 0
	}
	m.orphans = m.rng.IntN(3)
}

// stats is the snapshot a socket would report.
func (m *model) stats() socket.Stats {
	st := socket.Stats{
		MsgsIn:    m.departed.MsgsIn,
		MsgsOut:   m.departed.MsgsOut,
		BytesIn:   m.departed.BytesIn,
		BytesOut:  m.departed.BytesOut,
		Orphans:   m.orphans,
		SendQueue: m.orphans,
		Peers:     slices.Clone(m.peers),
	}
	for _, p := range m.peers {
		st.MsgsIn += p.MsgsIn
		st.MsgsOut += p.MsgsOut
		st.BytesIn += p.BytesIn
		st.BytesOut += p.BytesOut
		st.Unacked += p.Unacked
		st.SendQueue += p.SendQueue
	}
	return st
}

// Over many scrapes of a socket whose peers come and go: there are never
// more than max series besides _other; the series add up to the socket's
// totals at every scrape; no series and not _other ever goes down; and the
// first scrape lists exactly the busiest peers.
func TestPeerBookInvariants(t *testing.T) {
	endpoints := map[string]func(int) string{
		// Every peer its own label.
		"unique": func(i int) string { return "tcp://127.0.0.1:5555" },
		// Labels shared by several peers at once, and a label that
		// outlives its peers, with WithPeerLabel(endpoint).
		"shared": func(i int) string { return fmt.Sprintf("tcp://10.0.0.%d:5555", i%7) },
	}
	labels := map[string]func(socket.PeerStats) string{
		"unique": DefaultPeerLabel,
		"shared": func(p socket.PeerStats) string { return p.Endpoint },
	}
	for name, endpoint := range endpoints {
		for _, maxPeers := range []int{1, 3, 20} {
			t.Run(fmt.Sprintf("%s/max=%d", name, maxPeers), func(t *testing.T) {
				m := &model{rng: rand.New(rand.NewPCG(1, uint64(maxPeers))), endpoint: endpoint}
				b := newPeerBook(maxPeers, labels[name])
				for range 5 {
					m.step()
				}
				st := m.stats()
				rows, _ := b.collect(&st)
				checkFirst(t, &st, rows, maxPeers, labels[name])

				prev := make(map[string]traffic)
				var prevOther traffic
				for step := range 300 {
					m.step()
					st := m.stats()
					rows, other := b.collect(&st)
					checkScrape(t, step, &st, rows, other, maxPeers)
					cur := make(map[string]traffic)
					for _, r := range rows {
						if p, ok := prev[r.label]; ok {
							for i := range p {
								if r.traffic[i] < p[i] {
									t.Fatalf("scrape %d: series %s counter %d went down from %d to %d", step, r.label, i, p[i], r.traffic[i])
								}
							}
						}
						cur[r.label] = r.traffic
					}
					for i := range other.traffic {
						if other.traffic[i] < prevOther[i] {
							t.Fatalf("scrape %d: _other counter %d went down from %d to %d", step, i, prevOther[i], other.traffic[i])
						}
					}
					prev, prevOther = cur, other.traffic
				}
			})
		}
	}
}

// checkFirst checks that a first scrape lists exactly the busiest labels,
// ties going to the first label in order, at their lifetime counts.
func checkFirst(t *testing.T, st *socket.Stats, rows []peerRow, maxPeers int, label func(socket.PeerStats) string) {
	t.Helper()
	score := make(map[string]uint64)
	life := make(map[string]traffic)
	for i := range st.Peers {
		p := &st.Peers[i]
		l := label(*p)
		score[l] += p.MsgsIn + p.MsgsOut
		tr := life[l]
		tr.add(trafficOf(p))
		life[l] = tr
	}
	var all []string
	for l := range score {
		all = append(all, l)
	}
	slices.SortFunc(all, func(a, b string) int {
		if score[a] != score[b] {
			if score[a] > score[b] {
				return -1
			}
			return 1
		}
		if a < b {
			return -1
		}
		return 1
	})
	want := all[:min(maxPeers, len(all))]
	slices.Sort(want)
	var got []string
	for _, r := range rows {
		got = append(got, r.label)
		if r.traffic != life[r.label] {
			t.Errorf("first scrape: %s counts %v, want its lifetime %v", r.label, r.traffic, life[r.label])
		}
	}
	if !slices.Equal(got, want) {
		t.Errorf("first scrape lists %q, want the busiest %q", got, want)
	}
}

// checkScrape checks one scrape's bound and sums.
func checkScrape(t *testing.T, step int, st *socket.Stats, rows []peerRow, other peerRow, maxPeers int) {
	t.Helper()
	if len(rows) > maxPeers {
		t.Fatalf("scrape %d: %d series, want at most %d", step, len(rows), maxPeers)
	}
	if !slices.IsSortedFunc(rows, func(a, b peerRow) int {
		if a.label < b.label {
			return -1
		}
		return 1 // and equal labels are not sorted
	}) {
		t.Fatalf("scrape %d: series not sorted, or a label twice", step)
	}
	sum, sumLevels := other.traffic, other.levels
	for _, r := range rows {
		if r.label == OtherPeers || r.label == "" {
			t.Fatalf("scrape %d: a series labelled %q", step, r.label)
		}
		sum.add(r.traffic)
		sumLevels.add(r.levels)
	}
	if want := socketTraffic(st); sum != want {
		t.Fatalf("scrape %d: counters add up to %v, want the totals %v", step, sum, want)
	}
	if want := (levels{st.Unacked, st.SendQueue, connectedPeers(st)}); sumLevels != want {
		t.Fatalf("scrape %d: gauges add up to %v, want the totals %v", step, sumLevels, want)
	}
}

// A listed peer keeps its place until another has more than twice its
// traffic; the newcomer's series starts at 0, and what the old one counted
// returns to _other.
func TestPeerBookDisplace(t *testing.T) {
	b := newPeerBook(1, DefaultPeerLabel)
	a := socket.PeerStats{Session: "a", MsgsIn: 10}
	c := socket.PeerStats{Session: "c", MsgsIn: 15}
	scrape := func() ([]peerRow, peerRow) {
		st := socket.Stats{MsgsIn: a.MsgsIn + c.MsgsIn, Peers: []socket.PeerStats{a, c}}
		return b.collect(&st)
	}
	expect := func(what string, rows []peerRow, other peerRow, label string, n, rest uint64) {
		t.Helper()
		if len(rows) != 1 || rows[0].label != label || rows[0].traffic[msgsIn] != n || other.traffic[msgsIn] != rest {
			t.Fatalf("%s: got %+v and _other %d; want %s at %d and _other %d", what, rows, other.traffic[msgsIn], label, n, rest)
		}
	}
	rows, other := scrape()
	expect("first scrape", rows, other, "c", 15, 10)

	a.MsgsIn, c.MsgsIn = 25, 20 // busier, but not twice as busy
	rows, other = scrape()
	expect("a busier", rows, other, "c", 20, 25)

	a.MsgsIn = 41 // more than twice
	rows, other = scrape()
	expect("a twice as busy", rows, other, "a", 0, 61)

	a.MsgsIn, c.MsgsIn = 46, 22
	rows, other = scrape()
	expect("after", rows, other, "a", 5, 63)
}

// A peer that leaves its listed label to a new peer under the same label
// (a connecting endpoint whose peer restarted, labelled by endpoint) keeps
// the series growing, by all the new peer's traffic.
func TestPeerBookReplaced(t *testing.T) {
	b := newPeerBook(5, func(p socket.PeerStats) string { return p.Endpoint })
	st := socket.Stats{MsgsIn: 7, Peers: []socket.PeerStats{{Endpoint: "tcp://w:1", Session: "old", MsgsIn: 7}}}
	rows, _ := b.collect(&st)
	if rows[0].traffic[msgsIn] != 7 {
		t.Fatalf("got %d, want 7", rows[0].traffic[msgsIn])
	}
	st = socket.Stats{MsgsIn: 9, Peers: []socket.PeerStats{{Endpoint: "tcp://w:1", Session: "new", MsgsIn: 2}}}
	rows, other := b.collect(&st)
	if rows[0].traffic[msgsIn] != 9 || other.traffic[msgsIn] != 0 {
		t.Fatalf("got %d and _other %d, want 9 and 0", rows[0].traffic[msgsIn], other.traffic[msgsIn])
	}
}

// Stats reads the totals before the peers, so a snapshot taken while
// messages flow can show peers ahead of the totals; _other then holds its
// value rather than going down, and nothing wraps around below zero.
func TestPeerBookTotalsBehind(t *testing.T) {
	b := newPeerBook(1, DefaultPeerLabel)
	st := socket.Stats{MsgsIn: 10, Peers: []socket.PeerStats{{Session: "a", MsgsIn: 6}, {Session: "b", MsgsIn: 4}}}
	_, other := b.collect(&st)
	if other.traffic[msgsIn] != 4 {
		t.Fatalf("_other %d, want 4", other.traffic[msgsIn])
	}
	st = socket.Stats{MsgsIn: 10, Peers: []socket.PeerStats{{Session: "a", MsgsIn: 16}, {Session: "b", MsgsIn: 4}}}
	_, other = b.collect(&st)
	if other.traffic[msgsIn] != 4 {
		t.Fatalf("_other %d, want 4 held", other.traffic[msgsIn])
	}
}

// manyPeers is a snapshot of a socket with n peers, peer i having moved i
// messages each way.
func manyPeers(n int) socket.Stats {
	st := socket.Stats{Peers: make([]socket.PeerStats, n)}
	for i := range st.Peers {
		st.Peers[i] = socket.PeerStats{
			Endpoint:  "tcp://0.0.0.0:5555",
			Session:   fmt.Sprintf("%032x", i),
			Connected: true,
			MsgsIn:    uint64(i),
			MsgsOut:   uint64(i),
			BytesIn:   uint64(100 * i),
			BytesOut:  uint64(100 * i),
			Unacked:   i % 3,
			SendQueue: i % 5,
		}
		st.MsgsIn += uint64(i)
		st.MsgsOut += uint64(i)
		st.BytesIn += uint64(100 * i)
		st.BytesOut += uint64(100 * i)
		st.Unacked += i % 3
		st.SendQueue += i % 5
	}
	return st
}

// A socket with 10,000 peers gets DefaultMaxPeers series, the busiest
// peers', plus _other.
func TestPeerBookManyPeers(t *testing.T) {
	const n = 10000
	st := manyPeers(n)
	b := newPeerBook(DefaultMaxPeers, DefaultPeerLabel)
	rows, other := b.collect(&st)
	checkFirst(t, &st, rows, DefaultMaxPeers, DefaultPeerLabel)
	checkScrape(t, 0, &st, rows, other, DefaultMaxPeers)
	if len(rows) != DefaultMaxPeers {
		t.Fatalf("%d series, want %d", len(rows), DefaultMaxPeers)
	}
	if want := DefaultPeerLabel(st.Peers[n-1]); !slices.ContainsFunc(rows, func(r peerRow) bool { return r.label == want }) {
		t.Errorf("the busiest peer, %s, has no series", want)
	}
	if other.levels[connected] != n-DefaultMaxPeers {
		t.Errorf("_other connected %d, want %d", other.levels[connected], n-DefaultMaxPeers)
	}
}

// What a scrape of a socket with 10,000 peers costs this package, beyond
// the socket's own Stats.
func BenchmarkPeerBook10000(b *testing.B) {
	st := manyPeers(10000)
	book := newPeerBook(DefaultMaxPeers, DefaultPeerLabel)
	b.ReportAllocs()
	for b.Loop() {
		book.collect(&st)
	}
}
