package tq

import (
	"container/heap"
	"time"
)

// schedule orders the tasks waiting to run by ETA, then by acceptance, so
// the broker gives out due tasks oldest first and knows when the next
// scheduled one falls due. Entries are never removed from the middle: a
// task that leaves the queue some other way (a late result came in) makes
// its entry stale, and stale entries are skipped as they surface.
type schedule struct{ h entries }

type entry struct {
	at  time.Time
	seq uint64
	t   *task
	gen uint64
}

type entries []entry

func (h entries) Len() int { return len(h) }
func (h entries) Less(i, j int) bool {
	if !h[i].at.Equal(h[j].at) {
		return h[i].at.Before(h[j].at)
	}
	return h[i].seq < h[j].seq
}
func (h entries) Swap(i, j int) { h[i], h[j] = h[j], h[i] }
func (h *entries) Push(x any)   { *h = append(*h, x.(entry)) }
func (h *entries) Pop() any {
	old := *h
	e := old[len(old)-1]
	*h = old[:len(old)-1]
	return e
}

// add queues t to run from its ETA on.
func (s *schedule) add(t *task) {
	t.queued = true
	t.gen++
	heap.Push(&s.h, entry{at: t.ETA, seq: t.Seq, t: t, gen: t.gen})
}

// peek returns the first live entry's task and time, dropping stale ones.
func (s *schedule) peek() (*task, time.Time, bool) {
	for len(s.h) > 0 {
		e := s.h[0]
		if e.t.queued && e.gen == e.t.gen {
			return e.t, e.at, true
		}
		heap.Pop(&s.h)
	}
	return nil, time.Time{}, false
}

// pop takes the task peek returned out of the queue.
func (s *schedule) pop() *task {
	t, _, ok := s.peek()
	if !ok {
		return nil
	}
	heap.Pop(&s.h)
	t.queued = false
	return t
}

// expiries orders finished tasks by when their records expire.
type expiries []expiry

type expiry struct {
	at time.Time
	id string
}

func (h expiries) Len() int           { return len(h) }
func (h expiries) Less(i, j int) bool { return h[i].at.Before(h[j].at) }
func (h expiries) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *expiries) Push(x any)        { *h = append(*h, x.(expiry)) }
func (h *expiries) Pop() any {
	old := *h
	e := old[len(old)-1]
	*h = old[:len(old)-1]
	return e
}
