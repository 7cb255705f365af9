package patterns

import (
	"math/rand/v2"
	"slices"
	"testing"
)

// picker is what RoundRobin and FairQueue share, so every test runs on both.
type picker interface {
	Pick(n int, ready func(i int) bool) int
	Removed(i int)
}

func pickers() map[string]func() picker {
	return map[string]func() picker{
		"RoundRobin": func() picker { return new(RoundRobin) },
		"FairQueue":  func() picker { return new(FairQueue) },
	}
}

func all(int) bool  { return true }
func none(int) bool { return false }

func readySet(ids ...int) func(int) bool {
	return func(i int) bool { return slices.Contains(ids, i) }
}

// pickStep is one Pick and its expected result, or (isRemove) one Removed(remove).
type pickStep struct {
	n        int
	ready    func(int) bool
	want     int
	isRemove bool
	remove   int
}

func pick(n int, ready func(int) bool, want int) pickStep {
	return pickStep{n: n, ready: ready, want: want}
}

func removed(i int) pickStep { return pickStep{isRemove: true, remove: i} }

func TestPickTable(t *testing.T) {
	tests := []struct {
		name  string
		steps []pickStep
	}{
		{"no peers", []pickStep{pick(0, all, -1), pick(-1, all, -1)}},
		{"cycles in order", []pickStep{
			pick(3, all, 0), pick(3, all, 1), pick(3, all, 2), pick(3, all, 0),
		}},
		{"skips peers that are not ready", []pickStep{
			pick(4, readySet(1, 3), 1), pick(4, readySet(1, 3), 3), pick(4, readySet(1, 3), 1),
		}},
		{"none ready changes nothing", []pickStep{
			pick(3, all, 0), pick(3, none, -1), pick(3, all, 1),
		}},
		{"wraps to find a ready peer", []pickStep{
			pick(3, all, 0), pick(3, all, 1), pick(3, readySet(0), 0), pick(3, all, 1),
		}},
		{"peer added after the last pick gets the next turn", []pickStep{
			pick(2, all, 0), pick(2, all, 1), pick(3, all, 2), pick(3, all, 0),
		}},
		{"list shrank below the position", []pickStep{
			pick(4, all, 0), pick(4, all, 1), pick(4, all, 2), pick(2, all, 0),
		}},
		{"removing the last picked passes the turn to its successor", []pickStep{
			pick(4, all, 0), pick(4, all, 1), removed(1), pick(3, all, 1), pick(3, all, 2), pick(3, all, 0),
		}},
		{"removing an earlier peer keeps the successor", []pickStep{
			pick(4, all, 0), pick(4, all, 1), pick(4, all, 2), removed(0), pick(3, all, 2), pick(3, all, 0),
		}},
		{"removing a later peer changes nothing", []pickStep{
			pick(4, all, 0), removed(2), pick(3, all, 1), pick(3, all, 2), pick(3, all, 0),
		}},
		{"removing the next peer passes the turn on", []pickStep{
			pick(4, all, 0), removed(1), pick(3, all, 1), pick(3, all, 2),
		}},
		{"removing the last peer after it was picked wraps", []pickStep{
			pick(3, all, 0), pick(3, all, 1), pick(3, all, 2), removed(2), pick(2, all, 0),
		}},
		{"removing an out of range index changes nothing", []pickStep{
			pick(3, all, 0), removed(-1), removed(7), pick(3, all, 1),
		}},
	}
	for pname, mk := range pickers() {
		for _, tt := range tests {
			t.Run(pname+"/"+tt.name, func(t *testing.T) {
				p := mk()
				for k, s := range tt.steps {
					if s.isRemove {
						p.Removed(s.remove)
						continue
					}
					if got := p.Pick(s.n, s.ready); got != s.want {
						t.Fatalf("step %d: Pick(%d) = %d, want %d", k, s.n, got, s.want)
					}
				}
			})
		}
	}
}

func TestPickCallsReadyAtMostN(t *testing.T) {
	for pname, mk := range pickers() {
		p := mk()
		calls := 0
		p.Pick(5, func(int) bool { calls++; return false })
		if calls != 5 {
			t.Errorf("%s: ready called %d times with none ready, want 5", pname, calls)
		}
	}
}

// TestPickFairness: with a random subset of peers ready at each step, every
// peer that is always ready is served within one rotation of each other.
func TestPickFairness(t *testing.T) {
	const n = 7
	always := []int{0, 3, 4, 6}
	for pname, mk := range pickers() {
		p := mk()
		rng := rand.New(rand.NewPCG(3, 4))
		counts := make([]int, n)
		for step := range 5000 {
			ready := func(i int) bool { return slices.Contains(always, i) || rng.IntN(2) == 0 }
			got := p.Pick(n, ready)
			if got < 0 {
				t.Fatalf("%s step %d: Pick = -1, want a peer (some are always ready)", pname, step)
			}
			counts[got]++
			lo, hi := counts[always[0]], counts[always[0]]
			for _, i := range always {
				lo, hi = min(lo, counts[i]), max(hi, counts[i])
			}
			if hi-lo > 1 {
				t.Fatalf("%s step %d: always-ready peers served %v times, want within 1 of each other", pname, step, counts)
			}
		}
	}
}

// TestPickModel compares against a reference that tracks peers by identity:
// the pick is the first ready peer at or after the one that followed the
// previous pick, whatever was removed in between.
func TestPickModel(t *testing.T) {
	for pname, mk := range pickers() {
		rng := rand.New(rand.NewPCG(5, 6))
		for range 300 {
			p := mk()
			ids := []int{}
			for i := range rng.IntN(8) + 1 {
				ids = append(ids, i)
			}
			nextID := ids[0] // identity of the peer whose turn it is
			for step := range 60 {
				if rng.IntN(5) == 0 && len(ids) > 1 {
					i := rng.IntN(len(ids))
					if ids[i] == nextID {
						nextID = ids[(i+1)%len(ids)]
					}
					ids = slices.Delete(ids, i, i+1)
					p.Removed(i)
					continue
				}
				readyIDs := map[int]bool{}
				for _, id := range ids {
					readyIDs[id] = rng.IntN(3) > 0
				}
				start := slices.Index(ids, nextID)
				want := -1
				for k := range ids {
					if j := (start + k) % len(ids); readyIDs[ids[j]] {
						want = j
						break
					}
				}
				got := p.Pick(len(ids), func(i int) bool { return readyIDs[ids[i]] })
				if got != want {
					t.Fatalf("%s step %d: Pick over %v = %d, want %d", pname, step, ids, got, want)
				}
				if want >= 0 {
					nextID = ids[(want+1)%len(ids)]
				}
			}
		}
	}
}
