// Package lockorder makes the engine's mutex nesting order checkable in
// tests, in the spirit of x/net/http2's serveG.check: the order is written
// once as ranks, and checking builds assert it at run time while other
// builds pay nothing.
//
// Each Mutex gets a Rank with Init. A goroutine that holds a lock may only
// take locks of a strictly higher rank, so two locks of one rank never nest
// and a cycle, which a deadlock needs, cannot form. Functions whose name ends
// in Locked call AssertHeld to state, and in checking builds verify, that
// their caller holds the lock.
//
// Checking builds are those built with the race detector or with the build
// tag wisplockcheck (go test -race, go test -tags wisplockcheck). In them:
//
//   - Lock panics, before blocking, if the goroutine already holds a lock
//     whose rank is not lower than the one it asks for;
//   - TryLock is not checked, since it cannot block, but a lock it takes is
//     recorded like any other;
//   - Unlock panics unless the calling goroutine holds the lock, so a
//     checked Mutex cannot be handed from one goroutine to another the way
//     a sync.Mutex can;
//   - AssertHeld panics unless the calling goroutine holds the lock;
//   - using a Mutex that was never given a rank with Init panics.
//
// The checks only see the paths a run takes, and each operation costs a
// look-up of the goroutine's lock set under a global mutex, which is why
// they stay out of ordinary builds. In those, Mutex is a plain sync.Mutex, Init and
// AssertHeld do nothing, and every method inlines to the sync.Mutex one.
package lockorder

// Rank orders locks: a goroutine that holds a lock may only take locks of a
// strictly higher rank.
type Rank uint8
