package wispotel

import (
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/wispmq/wisp/socket"
)

// sim is a socket's counters as a test drives them: peers come, send and
// receive, and go, and the totals keep what departed peers did, as a real
// socket's do.
type sim struct {
	peers  map[string]*socket.PeerStats // by session
	totals socket.Stats
}

func newSim() *sim { return &sim{peers: map[string]*socket.PeerStats{}} }

func (s *sim) traffic(session string, in, out uint64) {
	p := s.peers[session]
	if p == nil {
		p = &socket.PeerStats{Session: session, Connected: true}
		s.peers[session] = p
	}
	p.MsgsIn += in
	p.MsgsOut += out
	p.BytesIn += 10 * in
	p.BytesOut += 10 * out
	s.totals.MsgsIn += in
	s.totals.MsgsOut += out
	s.totals.BytesIn += 10 * in
	s.totals.BytesOut += 10 * out
}

func (s *sim) queue(session string, n int) {
	p := s.peers[session]
	p.SendQueue += n
	s.totals.SendQueue += n
}

func (s *sim) leave(session string) {
	if p := s.peers[session]; p != nil {
		// What a departed peer held waits for another: still in SendQueue.
		s.totals.Orphans += p.SendQueue
		delete(s.peers, session)
	}
}

// some returns one of the peers, chosen by r.
func (s *sim) some(r *rand.Rand) string {
	ids := slices.Sorted(maps.Keys(s.peers))
	return ids[r.IntN(len(ids))]
}

func (s *sim) stats() socket.Stats {
	st := s.totals
	st.Peers = nil
	for _, id := range slices.Sorted(maps.Keys(s.peers)) {
		st.Peers = append(st.Peers, *s.peers[id])
	}
	return st
}

// check runs one collection and checks the invariants against the
// previous one: at most max series, series and _other adding up to the
// totals, and no counter going down while its series lasts.
func (b *peerBook) check(t *testing.T, st socket.Stats, prev map[string]counterVec) map[string]counterVec {
	t.Helper()
	list, otherC, otherL := b.collect(&st)
	if len(list) > b.max {
		t.Fatalf("%d series, max %d", len(list), b.max)
	}
	now := map[string]counterVec{OtherPeers: otherC}
	sumC := otherC
	sumL := otherL
	for _, s := range list {
		now[s.label] = s.acc
		for j := range sumC {
			sumC[j] += s.acc[j]
		}
		for j := range sumL {
			sumL[j] += s.level[j]
		}
	}
	for j, d := range peerCounters {
		if want := d.total(&st); sumC[j] != want {
			t.Fatalf("%s: series add up to %d, total %d", d.name, sumC[j], want)
		}
	}
	for j, d := range peerLevels {
		if want := int64(d.total(&st)); sumL[j] != want {
			t.Fatalf("%s: series add up to %d, total %d", d.name, sumL[j], want)
		}
	}
	for label, c := range now {
		if p, ok := prev[label]; ok {
			for j := range c {
				if c[j] < p[j] {
					t.Fatalf("%s %s went down from %d to %d", label, peerCounters[j].name, p[j], c[j])
				}
			}
		}
	}
	return now
}

// TestPeerBookRandom drives many peers at random through arrivals, traffic
// and departures, checking the invariants at every collection.
func TestPeerBookRandom(t *testing.T) {
	for seed := range uint64(20) {
		t.Run(fmt.Sprint(seed), func(t *testing.T) {
			r := rand.New(rand.NewPCG(seed, 1))
			s := newSim()
			b := newPeerBook(1+r.IntN(5), defaultPeerLabel)
			var prev map[string]counterVec
			next := 0
			for range 300 {
				for range r.IntN(20) {
					switch x := r.IntN(10); {
					case x == 0 || len(s.peers) == 0:
						next++
						s.traffic(fmt.Sprintf("p%d", next), uint64(r.IntN(5)), 0)
					case x == 1:
						s.leave(s.some(r))
					case x == 2:
						s.queue(s.some(r), r.IntN(3))
					default:
						// Skewed traffic, so the ranking changes now and then.
						id := fmt.Sprintf("p%d", 1+r.IntN(next))
						if s.peers[id] != nil {
							s.traffic(id, uint64(r.IntN(50)), uint64(r.IntN(10)))
						}
					}
				}
				prev = b.check(t, s.stats(), prev)
			}
		})
	}
}

// TestPeerBookHysteresis: two peers that take turns at being busiest do not
// trade the one series, and a much busier one does take it.
func TestPeerBookHysteresis(t *testing.T) {
	s := newSim()
	b := newPeerBook(1, defaultPeerLabel)
	s.traffic("a", 10, 0)
	s.traffic("b", 9, 0)
	var prev map[string]counterVec
	prev = b.check(t, s.stats(), prev)
	for i := range 10 {
		if i%2 == 0 {
			s.traffic("b", 3, 0)
		} else {
			s.traffic("a", 3, 0)
		}
		prev = b.check(t, s.stats(), prev)
		if _, ok := prev["a"]; !ok {
			t.Fatalf("collection %d: a lost its series: %v", i, prev)
		}
	}
	s.traffic("b", 100, 0) // b: 124, more than twice a's 25
	prev = b.check(t, s.stats(), prev)
	if _, ok := prev["b"]; !ok {
		t.Fatalf("b did not take the series: %v", prev)
	}
	if got := prev["b"][pcMsgsIn]; got != 100 {
		t.Errorf("b's series = %d, want 100: what it did before is _other's", got)
	}
}

// TestPeerBookSkew: a snapshot whose peers are ahead of its totals, as
// when a message arrives between Stats reading the two, holds _other
// rather than letting it go down, and the next snapshot adds up again.
func TestPeerBookSkew(t *testing.T) {
	s := newSim()
	b := newPeerBook(1, defaultPeerLabel)
	s.traffic("a", 5, 0)
	s.traffic("b", 3, 0)
	b.check(t, s.stats(), nil) // a listed, _other = 3

	st := s.stats()
	for i := range st.Peers {
		st.Peers[i].MsgsIn += 2 // counted at the peers, not yet in the totals
	}
	list, other, _ := b.collect(&st)
	if other[pcMsgsIn] != 3 {
		t.Errorf("skewed: _other = %d, want it held at 3", other[pcMsgsIn])
	}
	if len(list) != 1 || list[0].acc[pcMsgsIn] != 7 {
		t.Errorf("skewed: series %+v, want a at 7", list)
	}
	s.traffic("a", 2, 0)
	s.traffic("b", 2, 0)
	b.check(t, s.stats(), nil)
}

// TestPeerBookSharedLabel: peers that share a label share a series, and
// one leaving while another arrives under the same label neither loses
// nor doubles a count.
func TestPeerBookSharedLabel(t *testing.T) {
	s := newSim()
	b := newPeerBook(2, func(p socket.PeerStats) string { return p.Endpoint })
	add := func(session, endpoint string, in uint64) {
		s.traffic(session, in, 0)
		s.peers[session].Endpoint = endpoint
	}
	add("a1", "tcp://a", 10)
	add("a2", "tcp://a", 5)
	add("x", "", 7) // no label: _other
	prev := b.check(t, s.stats(), nil)
	if got := prev["tcp://a"][pcMsgsIn]; got != 15 {
		t.Errorf("tcp://a = %d, want 15", got)
	}
	s.leave("a1")
	add("a3", "tcp://a", 1)
	prev = b.check(t, s.stats(), prev)
	if got := prev["tcp://a"][pcMsgsIn]; got != 16 {
		t.Errorf("tcp://a = %d, want 16", got)
	}
	if got := prev[OtherPeers][pcMsgsIn]; got != 7 {
		t.Errorf("_other = %d, want 7: x's (a1's 10 stay in the series of its label)", got)
	}
}
