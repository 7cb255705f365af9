package patterns

import (
	"math"
	"math/rand/v2"
	"testing"
	"time"
)

func TestBackoffTable(t *testing.T) {
	const below1 = 0.9999999999
	tests := []struct {
		name         string
		initial, max time.Duration
		u            float64
		want         []time.Duration
	}{
		{"u=0 gives half", 100 * time.Millisecond, time.Second, 0, []time.Duration{
			50 * time.Millisecond, 100 * time.Millisecond, 200 * time.Millisecond, 400 * time.Millisecond,
			500 * time.Millisecond, 500 * time.Millisecond,
		}},
		{"u=0.5 gives three quarters", 100 * time.Millisecond, 400 * time.Millisecond, 0.5, []time.Duration{
			75 * time.Millisecond, 150 * time.Millisecond, 300 * time.Millisecond, 300 * time.Millisecond,
		}},
		{"u near 1 stays below the full delay", 100, 400, below1, []time.Duration{99, 199, 399, 399}},
		{"u=1 is clamped below 1", 100, 400, 1, []time.Duration{99, 199, 399, 399}},
		{"u>1 is clamped below 1", 100, 400, 7, []time.Duration{99, 199, 399}},
		{"+Inf is clamped below 1", 100, 400, math.Inf(1), []time.Duration{99}},
		{"negative u is clamped to 0", 100, 400, -3, []time.Duration{50, 100, 200, 200}},
		{"NaN is treated as 0", 100, 400, math.NaN(), []time.Duration{50, 100}},
		{"Max equal to Initial", 10, 10, 0, []time.Duration{5, 5, 5}},
		{"Max below Initial acts as Initial", 10, 3, 0, []time.Duration{5, 5}},
		{"Initial 0 acts as 1ns and never gives 0", 0, 8, 0, []time.Duration{1, 1, 2, 4, 4}},
		{"Initial 1ns", 1, 4, below1, []time.Duration{1, 1, 3, 3}},
		{"Max not a power-of-two multiple", 3, 10, 0, []time.Duration{1, 3, 5, 5}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := Backoff{Initial: tt.initial, Max: tt.max}
			for k, want := range tt.want {
				if got := b.Next(tt.u); got != want {
					t.Fatalf("attempt %d: Next(%v) = %v, want %v", k, tt.u, got, want)
				}
			}
		})
	}
}

// baseDelay is the reference un-jittered delay, computed with big-enough
// floats: min(Max, Initial*2^attempt).
func baseDelay(initial, max time.Duration, attempt int) time.Duration {
	d := float64(initial) * math.Pow(2, float64(attempt))
	if d >= float64(max) {
		return max
	}
	return time.Duration(d)
}

func TestBackoffBoundsAndGrowth(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 8))
	configs := []struct{ initial, max time.Duration }{
		{time.Millisecond, time.Second},
		{100 * time.Millisecond, 30 * time.Second},
		{1, math.MaxInt64},
		{math.MaxInt64 / 3, math.MaxInt64},
		{math.MaxInt64, math.MaxInt64},
		{7, 1000},
	}
	for _, c := range configs {
		b := Backoff{Initial: c.initial, Max: c.max}
		// Jittered delays stay within [base/2, base).
		for attempt := range 100 {
			base := baseDelay(c.initial, c.max, attempt)
			got := b.Next(rng.Float64())
			// The one exception: a 1ns delay stays 1ns rather than 0.
			if got < base/2 || got >= base && base > 1 {
				t.Fatalf("Initial %v, Max %v, attempt %d: got %v, want in [%v, %v)", c.initial, c.max, attempt, got, base/2, base)
			}
		}
		// With the same u, delays never shrink and settle at the cap.
		for _, u := range []float64{0, 0.3, 0.999} {
			b.Reset()
			prev := time.Duration(0)
			for attempt := range 80 {
				got := b.Next(u)
				if got < prev {
					t.Fatalf("Initial %v, Max %v, u %v, attempt %d: got %v after %v, want no decrease", c.initial, c.max, u, attempt, got, prev)
				}
				prev = got
			}
			capped := Backoff{Initial: c.max, Max: c.max}
			if want := capped.Next(u); prev != want {
				t.Errorf("Initial %v, Max %v, u %v: settled at %v, want %v", c.initial, c.max, u, prev, want)
			}
		}
	}
}

func TestBackoffNoOverflow(t *testing.T) {
	b := Backoff{Initial: time.Nanosecond, Max: math.MaxInt64}
	var got time.Duration
	for range 1000 {
		got = b.Next(0.999)
	}
	if lo := time.Duration(math.MaxInt64 / 2); got < lo || got <= 0 {
		t.Errorf("attempt 1000: got %v, want in [%v, MaxInt64)", got, lo)
	}
	b = Backoff{Initial: time.Second, Max: time.Minute}
	for range 1000 {
		got = b.Next(0)
	}
	if want := 30 * time.Second; got != want {
		t.Errorf("attempt 1000 with Max 1m: got %v, want %v", got, want)
	}
}

func TestBackoffReset(t *testing.T) {
	b := Backoff{Initial: time.Second, Max: time.Hour}
	for range 5 {
		b.Next(0)
	}
	b.Reset()
	if got, want := b.Next(0), 500*time.Millisecond; got != want {
		t.Errorf("Next after Reset: got %v, want %v", got, want)
	}
}
