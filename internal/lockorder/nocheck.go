//go:build !race && !wisplockcheck

package lockorder

import "sync"

// Checking reports whether this build checks lock order. It is true in
// builds with the race detector or the build tag wisplockcheck.
const Checking = false

// Mutex is a sync.Mutex with a rank and a name. Outside checking builds it
// keeps neither, since nothing would read them: it is a sync.Mutex alone.
// A Mutex must not be copied after first use.
type Mutex struct {
	mu sync.Mutex
}

// Init sets the mutex's rank, and the name that violation messages use.
// Call it before first use; in checking builds, locking a Mutex that was
// never initialized panics.
func (m *Mutex) Init(rank Rank, name string) {}

// Lock locks m. In checking builds it first panics if the calling goroutine
// holds a lock whose rank is not lower than m's.
func (m *Mutex) Lock() { m.mu.Lock() }

// Unlock unlocks m. In checking builds it panics if the calling goroutine
// does not hold m.
func (m *Mutex) Unlock() { m.mu.Unlock() }

// TryLock tries to lock m and reports whether it succeeded. It cannot
// deadlock, so the order is not checked, but in checking builds a lock it
// takes is recorded as held.
func (m *Mutex) TryLock() bool { return m.mu.TryLock() }

// AssertHeld panics, in checking builds, unless the calling goroutine holds
// m. It does nothing otherwise. It is for functions whose name ends in
// Locked.
func (m *Mutex) AssertHeld() {}
