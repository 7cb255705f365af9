package main

import (
	"fmt"
	"io"
	"time"
)

// progress tells, on stderr, which run of the suite starts, as "[n/N]",
// and from the second run on how long the suite has run and an estimate
// of the time left. Its lines go to stderr only, so stdout stays the
// tables (or CSV, or benchmark lines) and nothing else.
type progress struct {
	w     io.Writer
	total int // runs in the whole suite: cases x rounds
	done  int // runs finished, failed ones included: they took time too
	start time.Time
	now   func() time.Time // time.Now; tests give a fake clock
}

// newProgress starts the clock for total runs.
func newProgress(w io.Writer, total int, now func() time.Time) *progress {
	return &progress{w: w, total: total, start: now(), now: now}
}

// begin prints the line for the next run, what it measures.
func (p *progress) begin(what string) {
	line := fmt.Sprintf("bench: [%d/%d] %s", p.done+1, p.total, what)
	if p.done > 0 {
		elapsed := p.now().Sub(p.start)
		fmt.Fprintf(p.w, "%s; %s elapsed, about %s left (estimate)\n", line,
			roundDuration(elapsed), roundDuration(p.left(elapsed)))
		return
	}
	fmt.Fprintln(p.w, line)
}

// left estimates the time the runs not yet finished will take: the mean
// time of the runs so far, times their number. The suite's counts are
// chosen so that every case takes a few seconds, whatever its size, so
// the mean run is a fair guess without weighing runs by their message
// counts; it is still a guess, which the line says.
func (p *progress) left(elapsed time.Duration) time.Duration {
	if p.done == 0 {
		return 0
	}
	return elapsed / time.Duration(p.done) * time.Duration(p.total-p.done)
}

// end records that the run begun last has finished, well or not.
func (p *progress) end() { p.done++ }

// finish prints how many runs took how long.
func (p *progress) finish() {
	fmt.Fprintf(p.w, "bench: %d runs in %s\n", p.done, roundDuration(p.now().Sub(p.start)))
}

// roundDuration rounds d to what a person reads: whole seconds, or
// tenths below ten seconds.
func roundDuration(d time.Duration) time.Duration {
	if d < 10*time.Second {
		return d.Round(100 * time.Millisecond)
	}
	return d.Round(time.Second)
}
