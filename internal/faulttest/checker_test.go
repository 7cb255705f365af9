//go:build linux

package faulttest

import (
	"fmt"
	"sort"
	"sync"
	"testing"
	"time"
)

// seqChecker follows the sequence numbers a receiver (or its successive
// incarnations) handed to its application: which arrived, which twice, and
// which after a higher one.
type seqChecker struct {
	mu        sync.Mutex
	seen      []bool
	unique    int64
	dups      int64
	reordered int64
	highest   int64
	bad       int64   // messages without a sequence number
	arrivals  []int64 // every arrival's time, Unix nanoseconds, in order of reading
}

func newSeqChecker() *seqChecker { return &seqChecker{highest: -1} }

// add records that seq arrived at at; a child's reader calls it.
func (c *seqChecker) add(seq, at int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.arrivals = append(c.arrivals, at)
	switch {
	case seq < 0 || seq > 1<<30:
		c.bad++
		return
	case seq >= int64(len(c.seen)):
		c.seen = append(c.seen, make([]bool, seq+1-int64(len(c.seen))+1024)...)
	}
	if c.seen[seq] {
		c.dups++
		return
	}
	c.seen[seq] = true
	c.unique++
	if seq < c.highest {
		c.reordered++
	}
	c.highest = max(c.highest, seq)
}

// count is how many distinct messages arrived.
func (c *seqChecker) count() int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.unique
}

// firstAfter is the time of the first arrival at or after t, if any.
func (c *seqChecker) firstAfter(t time.Time) (time.Time, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	ns := t.UnixNano()
	for _, a := range c.arrivals {
		if a >= ns {
			return time.Unix(0, a), true
		}
	}
	return time.Time{}, false
}

// missing counts the sequence numbers below sent that never arrived.
func (c *seqChecker) missing(sent int64) int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	var n int64
	for i := range sent {
		if i >= int64(len(c.seen)) || !c.seen[i] {
			n++
		}
	}
	return n
}

// figures are what a scenario measured; durations are negative where they
// do not apply.
type figures struct {
	sent, received        int64
	lost, dups, reordered int64
	detect, recover       time.Duration
	rssSender, rssRecv    int64 // peak resident set, bytes
	heapSender, heapRecv  int64 // peak runtime heap in use, bytes
	disconnects           int   // the sender's EventDisconnected
	resends               uint64
	extra                 string // scenario-specific figures
}

// peakMemory is the largest resident set (VmHWM) and heap any of the
// children reported.
func peakMemory(cs ...*child) (rss, heap int64) {
	for _, c := range cs {
		for _, r := range c.snapshot() {
			rss, heap = max(rss, r.HWM, r.RSS), max(heap, r.Heap)
		}
	}
	return rss, heap
}

// events returns the times of c's events of the given kinds.
func events(c *child, kinds ...string) []time.Time {
	var ts []time.Time
	for _, r := range c.snapshot() {
		if r.K != "ev" {
			continue
		}
		for _, k := range kinds {
			if r.Ev == k {
				ts = append(ts, time.Unix(0, r.T))
			}
		}
	}
	sort.Slice(ts, func(i, j int) bool { return ts[i].Before(ts[j]) })
	return ts
}

// firstEvent is how long after from the first of c's events of the given
// kinds came, before until (when the scenario stopped its children, whose
// closing disconnects detect nothing), or -1.
func firstEvent(c *child, from, until time.Time, kinds ...string) time.Duration {
	for _, ts := range events(c, kinds...) {
		if !ts.Before(from) && ts.Before(until) {
			return ts.Sub(from)
		}
	}
	return -1
}

const mib = 1 << 20

func fmtDur(d time.Duration) string {
	if d < 0 {
		return "n/a"
	}
	return d.Round(10 * time.Millisecond).String()
}

// logFigures prints f in one line of a fixed form, "FIGURES name key=value
// ...", from which README.md's table is made.
func logFigures(t *testing.T, name string, f figures) {
	t.Helper()
	line := fmt.Sprintf("FIGURES %s sent=%d received=%d lost=%d dup=%d reordered=%d detect=%s recover=%s rss_sender=%.1fMiB rss_receiver=%.1fMiB heap_sender=%.1fMiB heap_receiver=%.1fMiB disconnects=%d resends=%d",
		name, f.sent, f.received, f.lost, f.dups, f.reordered, fmtDur(f.detect), fmtDur(f.recover),
		float64(f.rssSender)/mib, float64(f.rssRecv)/mib, float64(f.heapSender)/mib, float64(f.heapRecv)/mib,
		f.disconnects, f.resends)
	if f.extra != "" {
		line += " " + f.extra
	}
	t.Log(line)
}

// rssLimit bounds every child's peak resident set: generous, since the
// point is that an outage of any length costs bounded memory, not a
// particular figure.
const rssLimit = 200 * mib

// check asserts the correctness figures: nothing lost or reordered, no
// duplicate unless dupsAllowed (README's Guarantees allow them only for a
// receiver that died or stayed away longer than the resume timeout), and
// memory under rssLimit.
func check(t *testing.T, f figures, dupsAllowed bool) {
	t.Helper()
	if f.sent == 0 {
		t.Error("the sender sent nothing")
	}
	if f.lost != 0 {
		t.Errorf("%d of %d messages lost", f.lost, f.sent)
	}
	if f.reordered != 0 {
		t.Errorf("%d messages arrived after a later one", f.reordered)
	}
	if f.dups != 0 && !dupsAllowed {
		t.Errorf("%d messages delivered twice, where the Guarantees allow none", f.dups)
	}
	if f.rssSender > rssLimit || f.rssRecv > rssLimit {
		t.Errorf("peak resident set sender %.1f MiB, receiver %.1f MiB: over the %d MiB bound",
			float64(f.rssSender)/mib, float64(f.rssRecv)/mib, rssLimit/mib)
	}
}
