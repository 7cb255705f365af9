package main

import (
	"strings"
	"testing"
)

// A spooling push with nobody to take its lines keeps them, says so and
// fails; the next run on the spool, with no input of its own, delivers
// them once a puller is there.
func TestPushSpool(t *testing.T) {
	dir := t.TempDir()
	ep := "inproc://" + t.Name()
	status, _, stderr := runArgs(t.Context(), "one\ntwo\nthree", "-type", "push", "-connect", ep,
		"-spool", dir, "-spool-sync", "none", "-linger", "50ms")
	if status != exitFailure || !strings.Contains(stderr, "3 messages undelivered, kept in the spool") {
		t.Fatalf("first push: status %d, stderr %q: want 1 and the spooled count", status, stderr)
	}

	type result struct {
		status         int
		stdout, stderr string
	}
	pulled := make(chan result, 1)
	go func() {
		var r result
		r.status, r.stdout, r.stderr = runArgs(t.Context(), "", "-type", "pull", "-bind", ep, "-count", "4")
		pulled <- r
	}()
	status, _, stderr = runArgs(t.Context(), "four", "-type", "push", "-connect", ep,
		"-spool", dir, "-spool-sync", "10ms", "-spool-limit", "1000000", "-linger", "10s")
	if status != exitOK {
		t.Errorf("second push: status %d, stderr %q", status, stderr)
	}
	r := <-pulled
	if want := "one\ntwo\nthree\nfour\n"; r.status != exitOK || r.stdout != want {
		t.Errorf("pull: status %d, output %q, stderr %q: want 0 and %q", r.status, r.stdout, r.stderr, want)
	}
}
