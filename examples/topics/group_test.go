package main

import (
	"slices"
	"testing"
	"time"
)

// owners returns each partition's owner in group g as members see it
// through their heartbeats at now, checking they agree on the generation.
func owners(t *testing.T, c *coordinator, g string, members []string, now time.Time) []string {
	t.Helper()
	out := make([]string, c.partitions)
	gen := int64(-1)
	for _, m := range members {
		mg, ps := c.heartbeat(g, m, now)
		if gen != -1 && mg != gen {
			t.Fatalf("%s: generation %d, another member %d", m, mg, gen)
		}
		gen = mg
		for _, p := range ps {
			if out[p] != "" {
				t.Fatalf("partition %d: owned by %s and %s", p, out[p], m)
			}
			out[p] = m
		}
	}
	return out
}

func TestGroupEachPartitionOneMember(t *testing.T) {
	c := newCoordinator(4, time.Second)
	now := time.Now()
	c.heartbeat("g", "ann", now)
	c.heartbeat("g", "bob", now)
	c.heartbeat("g", "cid", now)
	got := owners(t, c, "g", []string{"ann", "bob", "cid"}, now)
	if want := []string{"ann", "bob", "cid", "ann"}; !slices.Equal(got, want) {
		t.Fatalf("owners: got %v, want %v", got, want)
	}
	// Another group is dealt the same partitions on its own.
	if _, ps := c.heartbeat("h", "dan", now); !slices.Equal(ps, []int{0, 1, 2, 3}) {
		t.Fatalf("group h's only member: got %v, want every partition", ps)
	}
}

// TestGroupRebalanceAndFencing: a member silent for the session timeout is
// dropped and its partitions dealt to the others in a new generation; one
// that leaves is dropped at once. A member of an old generation owns
// nothing, so the broker fences it off.
func TestGroupRebalanceAndFencing(t *testing.T) {
	c := newCoordinator(4, time.Second)
	t0 := time.Now()
	for _, m := range []string{"ann", "bob", "cid"} {
		c.heartbeat("g", m, t0)
	}
	oldGen, bobs := c.heartbeat("g", "bob", t0)
	if !c.owns("g", "bob", oldGen, bobs[0], t0) {
		t.Fatalf("bob does not own his partition %d in his generation", bobs[0])
	}
	// ann and cid go on heartbeating, bob falls silent.
	t1 := t0.Add(600 * time.Millisecond)
	owners(t, c, "g", []string{"ann", "cid"}, t1)
	t2 := t0.Add(1200 * time.Millisecond)
	got := owners(t, c, "g", []string{"ann", "cid"}, t2)
	if want := []string{"ann", "cid", "ann", "cid"}; !slices.Equal(got, want) {
		t.Fatalf("after bob's session timeout: got %v, want %v", got, want)
	}
	if c.owns("g", "bob", oldGen, bobs[0], t2) {
		t.Fatalf("bob still owns partition %d after he was dropped", bobs[0])
	}
	gen, _ := c.heartbeat("g", "ann", t2)
	if c.owns("g", "ann", oldGen, 0, t2) || !c.owns("g", "ann", gen, 0, t2) {
		t.Fatalf("ann: a request of the old generation must be fenced, one of the new one served")
	}
	// cid leaves: ann has everything at once.
	c.leave("g", "cid")
	if _, ps := c.heartbeat("g", "ann", t2); !slices.Equal(ps, []int{0, 1, 2, 3}) {
		t.Fatalf("after cid left: ann got %v, want every partition", ps)
	}
}
