package patterns

import (
	"math"
	"time"
)

// maxBackoffAttempt caps the attempt counter: Initial is at least 1ns and
// 2^63ns exceeds every Duration, so from here on the delay is Max anyway,
// and the counter itself can never overflow.
const maxBackoffAttempt = 63

// Backoff computes jittered exponential delays between reconnect attempts.
// It is pure: the caller passes the random number in and does the waiting.
// Jitter keeps many clients that lost the same server from reconnecting in
// lockstep.
type Backoff struct {
	// Initial is the delay before jitter of the first attempt; it should be
	// > 0 (values <= 0 act as 1ns).
	Initial time.Duration
	// Max caps the delay before jitter; it should be >= Initial (smaller
	// values act as Initial).
	Max time.Duration

	attempt int
}

// Next returns the delay before the next attempt and counts the attempt.
// The delay is min(Max, Initial*2^attempt) scaled by a jitter factor in
// [0.5, 1.0) taken from u, a uniform random number in [0,1) drawn by the
// caller, and truncated to whole nanoseconds but never below 1ns. u outside
// [0,1) (or NaN) is clamped into it. Next never overflows, whatever the
// number of attempts.
func (b *Backoff) Next(u float64) time.Duration {
	initial := max(b.Initial, 1)
	limit := max(b.Max, initial)

	d := initial
	for i := 0; i < b.attempt && d < limit; i++ {
		if d > limit/2 {
			d = limit
			break
		}
		d *= 2
	}
	d = min(d, limit)
	if b.attempt < maxBackoffAttempt {
		b.attempt++
	}

	if !(u >= 0) { // also catches NaN
		u = 0
	} else if u >= 1 {
		u = math.Nextafter(1, 0)
	}
	// The delay is d/2 plus a fraction u of the other half. Integer halves
	// avoid converting a near-MaxInt64 float back to Duration.
	lo := d / 2
	span := d - lo
	j := time.Duration(math.Floor(u * float64(span)))
	if j >= span {
		j = span - 1 // u*span rounded up to span
	}
	return max(lo+j, 1)
}

// Reset starts the sequence over from Initial; call it after a successful
// handshake.
func (b *Backoff) Reset() { b.attempt = 0 }
