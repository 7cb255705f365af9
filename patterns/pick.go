package patterns

// cursor is the shared rotation behind RoundRobin and FairQueue: it scans
// peers cyclically from the one after the previous pick, so every ready peer
// gets its turn before any peer gets a second one.
type cursor struct {
	next int // index the next scan starts at; may be >= n after removals or a shrink
}

func (c *cursor) pick(n int, ready func(i int) bool) int {
	if n <= 0 {
		return -1
	}
	start := c.next
	if start < 0 || start >= n {
		start = 0
	}
	j := start
	for range n {
		if ready(j) {
			c.next = j + 1
			return j
		}
		j++
		if j == n {
			j = 0
		}
	}
	return -1
}

func (c *cursor) removed(i int) {
	// Indices above i shift down by one; if the removed peer was before the
	// start position, the start shifts with them so that nobody is skipped
	// or served twice.
	if i >= 0 && i < c.next {
		c.next--
	}
}

// RoundRobin chooses the peer an outgoing message goes to (PUSH, DEALER):
// the next ready peer, cyclically, after the previous pick. Peers are indices
// in [0,n) into the caller's list. The zero value starts at peer 0.
type RoundRobin struct {
	c cursor
}

// Pick returns the first index i in [0,n), scanning cyclically from the
// position after the previous pick, for which ready(i) is true, or -1 if
// none is. It calls ready at most n times and remembers nothing when it
// returns -1.
func (r *RoundRobin) Pick(n int, ready func(i int) bool) int { return r.c.pick(n, ready) }

// Removed tells the round robin that peer i was removed from the caller's
// list (indices above i shift down by one), so the rotation continues with
// the peer that was next.
func (r *RoundRobin) Removed(i int) { r.c.removed(i) }

// FairQueue chooses the peer the next incoming message is taken from (PULL,
// DEALER): one message per ready peer in turn, so a busy peer cannot starve
// the others. Peers are indices in [0,n) into the caller's list. The zero
// value starts at peer 0.
type FairQueue struct {
	c cursor
}

// Pick returns the first index i in [0,n), scanning cyclically from the
// position after the previous pick, for which ready(i) (peer i has a message
// waiting) is true, or -1 if none is. It calls ready at most n times and
// remembers nothing when it returns -1.
func (f *FairQueue) Pick(n int, ready func(i int) bool) int { return f.c.pick(n, ready) }

// Removed tells the fair queue that peer i was removed from the caller's list
// (indices above i shift down by one), so the turn passes to the peer that
// was next.
func (f *FairQueue) Removed(i int) { f.c.removed(i) }
