//go:build race || wisplockcheck

package lockorder

import (
	"fmt"
	"runtime"
	"slices"
	"sync"

	"github.com/petermattis/goid"
)

// Checking reports whether this build checks lock order. It is true in
// builds with the race detector or the build tag wisplockcheck.
const Checking = true

// Mutex is a sync.Mutex with a rank and a name. In checking builds every
// operation verifies the lock order and who holds the lock.
// A Mutex must not be copied after first use.
type Mutex struct {
	mu     sync.Mutex
	rank   Rank
	ranked bool // set by Init, so that rank 0 is a rank like any other
	name   string
}

// held records, per goroutine id, the checked locks that goroutine holds,
// oldest first. heldMu is never held while a checked Mutex is locked or
// while panicking, so the checker can neither deadlock nor be left locked
// by a recovered violation. A goroutine's set is dropped from the map once
// it holds nothing, and kept on a free list for the next one, so that the
// checker allocates nothing in a steady state (tests count allocations
// under -race too) and its map does not grow with finished goroutines.
var (
	heldMu sync.Mutex
	held   = map[uint64]*heldSet{}
	free   []*heldSet
)

// maxHeld bounds how many locks one goroutine may hold at once. Locks of a
// rank never nest, so it is at most the number of ranks a program uses.
const maxHeld = 16

// heldSet is the locks one goroutine holds, oldest first.
type heldSet struct {
	n     int
	locks [maxHeld]*Mutex
}

func (h *heldSet) list() []*Mutex {
	if h == nil {
		return nil
	}
	return h.locks[:h.n]
}

// Init sets the mutex's rank, and the name that violation messages use.
// Call it before first use; in checking builds, locking a Mutex that was
// never initialized panics.
func (m *Mutex) Init(rank Rank, name string) {
	m.rank, m.ranked, m.name = rank, true, name
}

// Lock locks m. In checking builds it first panics if the calling goroutine
// holds a lock whose rank is not lower than m's.
//
//go:norace
func (m *Mutex) Lock() {
	m.mustBeRanked("Lock")
	g := goroutineID()
	var bad *Mutex
	heldMu.Lock()
	for _, h := range held[g].list() {
		if h == m {
			bad = m // report re-locking above any other violation
			break
		}
		if bad == nil && h.rank >= m.rank {
			bad = h
		}
	}
	heldMu.Unlock()
	// Panic before blocking: the point is to report the deadlock, not join it.
	switch {
	case bad == m:
		panic(fmt.Sprintf("lockorder: taking %s while already holding it; a Mutex is not reentrant", m.describe()))
	case bad != nil:
		panic(fmt.Sprintf("lockorder: taking %s while holding %s; the order is by increasing rank", m.describe(), bad.describe()))
	}
	m.mu.Lock()
	record(g, m)
}

// Unlock unlocks m. In checking builds it panics if the calling goroutine
// does not hold m.
//
//go:norace
func (m *Mutex) Unlock() {
	m.mustBeRanked("Unlock")
	g := goroutineID()
	heldMu.Lock()
	set := held[g]
	locks := set.list()
	// Search from the newest: locks are usually released in reverse order.
	i := lastIndex(locks, m)
	if i < 0 {
		heldMu.Unlock()
		panic(fmt.Sprintf("lockorder: %s unlocked by a goroutine that does not hold it", m.describe()))
	}
	copy(locks[i:], locks[i+1:])
	set.n--
	set.locks[set.n] = nil
	if set.n == 0 {
		delete(held, g)
		free = append(free, set)
	}
	heldMu.Unlock()
	m.mu.Unlock()
}

// TryLock tries to lock m and reports whether it succeeded. It cannot
// deadlock, so the order is not checked, but in checking builds a lock it
// takes is recorded as held.
//
//go:norace
func (m *Mutex) TryLock() bool {
	m.mustBeRanked("TryLock")
	if !m.mu.TryLock() {
		return false
	}
	record(goroutineID(), m)
	return true
}

// AssertHeld panics, in checking builds, unless the calling goroutine holds
// m. It does nothing otherwise. It is for functions whose name ends in
// Locked.
//
//go:norace
func (m *Mutex) AssertHeld() {
	m.mustBeRanked("AssertHeld")
	g := goroutineID()
	heldMu.Lock()
	ok := slices.Contains(held[g].list(), m)
	heldMu.Unlock()
	if !ok {
		// Name the caller: it is the function that assumed the lock.
		caller := "unknown caller"
		if pc, _, _, found := runtime.Caller(1); found {
			if f := runtime.FuncForPC(pc); f != nil {
				caller = f.Name()
			}
		}
		panic(fmt.Sprintf("lockorder: %s is not held by this goroutine in %s", m.describe(), caller))
	}
}

// describe names m and its rank for violation messages.
func (m *Mutex) describe() string {
	name := m.name
	if name == "" {
		name = "unnamed mutex"
	}
	return fmt.Sprintf("%s (rank %d)", name, m.rank)
}

func (m *Mutex) mustBeRanked(op string) {
	if !m.ranked {
		panic("lockorder: " + op + " on a Mutex without a rank; call Init with its rank and name before first use")
	}
}

//go:norace
func record(g uint64, m *Mutex) {
	heldMu.Lock()
	set := held[g]
	if set == nil {
		if k := len(free); k > 0 {
			set, free = free[k-1], free[:k-1]
		} else {
			set = new(heldSet)
		}
		held[g] = set
	}
	if set.n == maxHeld {
		heldMu.Unlock()
		panic(fmt.Sprintf("lockorder: taking %s with %d locks held already", m.describe(), maxHeld))
	}
	set.locks[set.n] = m
	set.n++
	heldMu.Unlock()
}

//go:norace
func lastIndex(locks []*Mutex, m *Mutex) int {
	for i := len(locks) - 1; i >= 0; i-- {
		if locks[i] == m {
			return i
		}
	}
	return -1
}

// goroutineID returns the calling goroutine's id. petermattis/goid reads it from
// the runtime in a few nanoseconds; parsing runtime.Stack would format the
// whole traceback on every lock operation.
func goroutineID() uint64 { return uint64(goid.Get()) }
