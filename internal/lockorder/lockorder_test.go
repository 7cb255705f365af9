package lockorder

import (
	"fmt"
	"runtime"
	"strings"
	"sync"
	"testing"
)

const skipMsg = "lock order is checked only in race or wisplockcheck builds"

// panicOf runs f and returns what it panicked with, as a string, or "" if
// it returned normally.
func panicOf(f func()) (msg string) {
	defer func() {
		if r := recover(); r != nil {
			msg = fmt.Sprint(r)
			if msg == "" {
				msg = "(empty panic)"
			}
		}
	}()
	f()
	return ""
}

func newMutex(rank Rank, name string) *Mutex {
	m := new(Mutex)
	m.Init(rank, name)
	return m
}

// wantPanic fails the test unless msg is a panic message containing every
// one of parts.
func wantPanic(t *testing.T, what, msg string, parts ...string) {
	t.Helper()
	if msg == "" {
		t.Fatalf("%s: got no panic, want one containing %q", what, parts)
	}
	for _, p := range parts {
		if !strings.Contains(msg, p) {
			t.Errorf("%s: got panic %q, want it to contain %q", what, msg, p)
		}
	}
}

func wantNoPanic(t *testing.T, what, msg string) {
	t.Helper()
	if msg != "" {
		t.Fatalf("%s: got panic %q, want none", what, msg)
	}
}

// holdElsewhere locks m on a new goroutine and returns a function that makes
// that goroutine unlock it and waits until it has.
func holdElsewhere(m *Mutex) (release func()) {
	locked, unlock, done := make(chan struct{}), make(chan struct{}), make(chan struct{})
	go func() {
		defer close(done)
		m.Lock()
		close(locked)
		<-unlock
		m.Unlock()
	}()
	<-locked
	return func() {
		close(unlock)
		<-done
	}
}

// TestMutualExclusion runs in every build: whatever the checks, a Mutex
// must still be a mutex.
func TestMutualExclusion(t *testing.T) {
	const goroutines, iters = 16, 2000
	m := newMutex(1, "counter.mu")
	counter := 0 // guarded by m; under -race the detector watches it too
	var wg sync.WaitGroup
	for g := range goroutines {
		wg.Go(func() {
			for i := range iters {
				if g%2 == 0 {
					m.Lock()
				} else {
					for !m.TryLock() {
						runtime.Gosched()
					}
				}
				m.AssertHeld()
				// Yield between the read and the write now and then, so
				// that two goroutines inside at once lose an update.
				v := counter
				if i%64 == 0 {
					runtime.Gosched()
				}
				counter = v + 1
				m.Unlock()
			}
		})
	}
	wg.Wait()
	if got, want := counter, goroutines*iters; got != want {
		t.Fatalf("counter: got %d, want %d", got, want)
	}
}

func TestTryLockWhenLocked(t *testing.T) {
	m := newMutex(1, "m")
	m.Lock()
	if got := m.TryLock(); got {
		t.Fatalf("TryLock on a locked Mutex: got true, want false")
	}
	m.Unlock()
	if got := m.TryLock(); !got {
		t.Fatalf("TryLock on an unlocked Mutex: got false, want true")
	}
	m.Unlock()
}

func TestDecreasingRankPanics(t *testing.T) {
	if !Checking {
		t.Skip(skipMsg)
	}
	hi := newMutex(2, "socket.mu")
	lo := newMutex(1, "conn.mu")
	hi.Lock()
	defer hi.Unlock()
	wantPanic(t, "taking rank 1 while holding rank 2", panicOf(lo.Lock),
		"taking conn.mu (rank 1) while holding socket.mu (rank 2)", "increasing rank")
	// The panic came before blocking: lo was never taken.
	if got := lo.TryLock(); !got {
		t.Fatalf("TryLock of lo after the violation: got false, want true")
	}
	lo.Unlock()
	hi.AssertHeld() // the checker's state survived the recovered panic
}

func TestSameRankPanics(t *testing.T) {
	if !Checking {
		t.Skip(skipMsg)
	}
	a := newMutex(3, "a.mu")
	b := newMutex(3, "b.mu")
	a.Lock()
	defer a.Unlock()
	wantPanic(t, "nesting two locks of rank 3", panicOf(b.Lock),
		"taking b.mu (rank 3) while holding a.mu (rank 3)")
	// Re-locking would deadlock a sync.Mutex; here it panics instead.
	wantPanic(t, "re-locking a held Mutex", panicOf(a.Lock),
		"taking a.mu (rank 3) while already holding it")
}

func TestIncreasingRankAllowed(t *testing.T) {
	if !Checking {
		t.Skip(skipMsg)
	}
	ms := []*Mutex{newMutex(0, "r0"), newMutex(1, "r1"), newMutex(5, "r5"), newMutex(200, "r200")}
	wantNoPanic(t, "locking by increasing rank", panicOf(func() {
		for _, m := range ms {
			m.Lock()
		}
		for _, m := range ms {
			m.AssertHeld()
		}
		// Unlock order is not constrained.
		ms[1].Unlock()
		ms[3].Unlock()
		ms[0].Unlock()
		ms[2].Unlock()
	}))
	// With everything released, any rank may be taken again.
	wantNoPanic(t, "locking again after releasing", panicOf(func() {
		ms[3].Lock()
		ms[3].Unlock()
		ms[0].Lock()
		ms[0].Unlock()
	}))
}

func TestTryLockOutOfOrder(t *testing.T) {
	if !Checking {
		t.Skip(skipMsg)
	}
	hi := newMutex(2, "hi")
	lo := newMutex(1, "lo")
	hi.Lock()
	var ok bool
	wantNoPanic(t, "TryLock below a held rank", panicOf(func() { ok = lo.TryLock() }))
	if !ok {
		t.Fatalf("TryLock of a free Mutex: got false, want true")
	}
	wantNoPanic(t, "AssertHeld after TryLock", panicOf(lo.AssertHeld))
	hi.Unlock()
	lo.Unlock()

	// A failed TryLock records nothing.
	release := holdElsewhere(lo)
	defer release()
	if got := lo.TryLock(); got {
		t.Fatalf("TryLock of a Mutex another goroutine holds: got true, want false")
	}
	wantPanic(t, "AssertHeld after a failed TryLock", panicOf(lo.AssertHeld),
		"lo (rank 1) is not held by this goroutine")
}

func TestUnlockByOtherGoroutinePanics(t *testing.T) {
	if !Checking {
		t.Skip(skipMsg)
	}
	m := newMutex(4, "conn.wmu")
	m.Lock()
	got := make(chan string)
	go func() { got <- panicOf(m.Unlock) }()
	wantPanic(t, "Unlock from another goroutine", <-got,
		"conn.wmu (rank 4) unlocked by a goroutine that does not hold it")
	// The bad Unlock left m locked and recorded as ours.
	wantNoPanic(t, "AssertHeld by the owner", panicOf(m.AssertHeld))
	m.Unlock()
	// Unlocking an unlocked Mutex is a fatal error for sync.Mutex; here it
	// is a recoverable panic.
	wantPanic(t, "Unlock of an unlocked Mutex", panicOf(m.Unlock),
		"unlocked by a goroutine that does not hold it")
}

func TestAssertHeld(t *testing.T) {
	if !Checking {
		t.Skip(skipMsg)
	}
	m := newMutex(2, "pipe.mu")
	wantPanic(t, "AssertHeld when unlocked", panicOf(m.AssertHeld),
		"pipe.mu (rank 2) is not held by this goroutine")
	m.Lock()
	wantNoPanic(t, "AssertHeld when held", panicOf(m.AssertHeld))
	m.Unlock()

	release := holdElsewhere(m)
	defer release()
	wantPanic(t, "AssertHeld when another goroutine holds it", panicOf(m.AssertHeld),
		"pipe.mu (rank 2) is not held by this goroutine")
}

func TestUnrankedPanics(t *testing.T) {
	if !Checking {
		t.Skip(skipMsg)
	}
	var m Mutex
	for _, tc := range []struct {
		op string
		f  func()
	}{
		{"Lock", m.Lock},
		{"TryLock", func() { m.TryLock() }},
		{"Unlock", m.Unlock},
		{"AssertHeld", m.AssertHeld},
	} {
		wantPanic(t, tc.op+" without Init", panicOf(tc.f),
			"lockorder: "+tc.op+" on a Mutex without a rank", "call Init")
	}
	// Every check came before touching the lock: m is still free.
	m.Init(1, "late")
	if got := m.TryLock(); !got {
		t.Fatalf("TryLock after the unranked panics: got false, want true")
	}
	m.Unlock()
}

// TestGoroutinesIndependent checks that what one goroutine holds does not
// count against another: each takes a private lock, a shared one and another
// private one, in increasing rank, while the others do the same.
func TestGoroutinesIndependent(t *testing.T) {
	if !Checking {
		t.Skip(skipMsg)
	}
	const goroutines, iters = 8, 300
	shared := newMutex(2, "shared")
	var wg sync.WaitGroup
	for g := range goroutines {
		wg.Go(func() {
			lo := newMutex(1, fmt.Sprintf("lo%d", g))
			hi := newMutex(3, fmt.Sprintf("hi%d", g))
			msg := panicOf(func() {
				for i := range iters {
					lo.Lock()
					shared.Lock()
					hi.Lock()
					lo.AssertHeld()
					shared.AssertHeld()
					hi.AssertHeld()
					hi.Unlock()
					shared.Unlock()
					if i%2 == 0 {
						// Hold only a low lock while others hold the shared
						// and high ones.
						runtime.Gosched()
					}
					lo.Unlock()
				}
			})
			if msg != "" {
				t.Errorf("goroutine %d: got panic %q, want none", g, msg)
			}
		})
	}
	wg.Wait()
}

func BenchmarkLockUnlock(b *testing.B) {
	m := newMutex(1, "bench.mu")
	for b.Loop() {
		m.Lock()
		m.Unlock()
	}
}
