//go:build race || wisplockcheck

package lockorder

import (
	"sync"
	"testing"
)

// TestHeldEmptiesOnUnlock checks that the checker forgets a goroutine once it
// holds nothing, so that long test runs do not grow its map.
func TestHeldEmptiesOnUnlock(t *testing.T) {
	a, b := newMutex(1, "a"), newMutex(2, "b")
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			a.Lock()
			b.Lock()
			b.Unlock()
			a.Unlock()
			if b.TryLock() {
				b.Unlock()
			}
		})
	}
	wg.Wait()
	heldMu.Lock()
	n := len(held)
	heldMu.Unlock()
	if n != 0 {
		t.Fatalf("goroutines tracked after all unlocked: got %d, want 0", n)
	}
}
