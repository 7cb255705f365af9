package engine

import (
	"strings"
	"testing"

	"github.com/wispmq/wisp/internal/lockorder"
)

// TestLockOrderIsChecked takes two of the engine's locks in the wrong
// order: checking builds (-race, as CI runs the tests) must refuse before
// blocking, naming both locks.
func TestLockOrderIsChecked(t *testing.T) {
	if !lockorder.Checking {
		t.Skip("lock order is checked only in race or wisplockcheck builds")
	}
	e, err := New(Config{Type: Push, Behavior: testBehavior, Emit: func(Event) {}})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	e.in.mu.Lock()
	defer e.in.mu.Unlock()
	defer func() {
		r := recover()
		msg, _ := r.(string)
		if !strings.Contains(msg, "Engine.mu") || !strings.Contains(msg, "inbox.mu") {
			t.Fatalf("taking Engine.mu while holding inbox.mu: got panic %v, want a lock order violation naming both", r)
		}
	}()
	e.mu.Lock()
}

// TestLockedNeedsTheLock calls a *Locked method without the engine's lock:
// checking builds must say so.
func TestLockedNeedsTheLock(t *testing.T) {
	if !lockorder.Checking {
		t.Skip("lock ownership is checked only in race or wisplockcheck builds")
	}
	e, err := New(Config{Type: Push, Behavior: testBehavior, Emit: func(Event) {}})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	defer func() {
		if r := recover(); r == nil {
			t.Fatal("PeersLocked without the lock: got no panic, want one")
		}
	}()
	e.PeersLocked()
}
