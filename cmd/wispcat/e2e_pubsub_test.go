package main

import (
	"os"
	"slices"
	"strings"
	"syscall"
	"testing"
)

// End-to-end tests of pub, sub, xpub and xsub: real processes over tcp on
// 127.0.0.1 and over ipc. A publisher's stdin ends only once its
// subscribers have what they expect: a publisher that exits at once may
// lose what it queued last (see TestSocketPubFlushReturnsBeforeTheWrite),
// and these tests are about filtering.

// publisherInput starts feeding lines to a publisher through a pipe it
// keeps open: the returned function ends the input.
func publisherInput(t *testing.T, lines string) (*os.File, func()) {
	t.Helper()
	r, w := stdinPipe(t)
	if _, err := w.WriteString(lines); err != nil {
		t.Fatal(err)
	}
	return r, func() { w.Close() }
}

// TestE2EPubSub publishes to a sub with one prefix: -wait-subs makes the
// pub wait for its subscription, so every matching line arrives, and only
// those.
func TestE2EPubSub(t *testing.T) {
	forTransports(t, func(t *testing.T, ep string) {
		in, end := publisherInput(t, "apple\nbanana\navocado\ncherry\napricot\n")
		pub := start(t, in, "-type", "pub", "-bind", ep, "-wait-subs", "1", "-timeout", "20s")
		started(in)
		ep = boundEndpoint(t, pub, ep)
		sub := start(t, nil, "-type", "sub", "-connect", ep, "-subscribe", "a", "-count", "3", "-timeout", "20s")
		wantExit(t, sub, "sub", 0, []string{"apple", "avocado", "apricot"})
		end()
		wantExit(t, pub, "pub", 0, []string{})
	})
}

// TestE2EPubSubPrefixes publishes to three subscribers at once: two with
// different prefixes and one without -subscribe, which gets everything.
func TestE2EPubSubPrefixes(t *testing.T) {
	forTransports(t, func(t *testing.T, ep string) {
		in, end := publisherInput(t, "a1\nb1\nc1\na2\nb2\n")
		pub := start(t, in, "-type", "pub", "-bind", ep, "-wait-subs", "3", "-timeout", "20s", "-v")
		started(in)
		ep = boundEndpoint(t, pub, ep)
		subA := start(t, nil, "-type", "sub", "-connect", ep, "-subscribe", "a", "-count", "2", "-timeout", "20s")
		subB := start(t, nil, "-type", "sub", "-connect", ep, "-subscribe", "b", "-count", "2", "-timeout", "20s")
		all := start(t, nil, "-type", "sub", "-connect", ep, "-count", "5", "-timeout", "20s")
		wantExit(t, subA, "sub a", 0, []string{"a1", "a2"})
		wantExit(t, subB, "sub b", 0, []string{"b1", "b2"})
		wantExit(t, all, "sub without -subscribe", 0, []string{"a1", "b1", "c1", "a2", "b2"})
		end()
		wantExit(t, pub, "pub", 0, []string{})
		if want := "wispcat: sent 5 messages; 9 written to subscribers, 0 dropped\n"; !strings.HasSuffix(pub.stderr.String(), want) {
			t.Errorf("pub: got stderr %q, want it to end with %q", pub.stderr.String(), want)
		}
	})
}

// TestE2EXPubXSub publishes from an xpub to an xsub that subscribes by
// -subscribe: the xsub gets the matching lines, the xpub prints the
// subscription. The xsub stays until the xpub has printed it: a
// subscription that comes and goes before the xpub looks is not reported.
func TestE2EXPubXSub(t *testing.T) {
	forTransports(t, func(t *testing.T, ep string) {
		in, end := publisherInput(t, "a1\nb1\na2\n")
		xpub := start(t, in, "-type", "xpub", "-bind", ep, "-wait-subs", "1", "-count", "1", "-timeout", "20s")
		started(in)
		ep = boundEndpoint(t, xpub, ep)
		xsub := start(t, nil, "-type", "xsub", "-connect", ep, "-subscribe", "a", "-timeout", "20s")
		if got := nextLine(t, xpub, "xpub"); got != "subscribe a" {
			t.Errorf("xpub: got %q, want %q", got, "subscribe a")
		}
		for _, want := range []string{"a1", "a2"} {
			if got := nextLine(t, xsub, "xsub"); got != want {
				t.Errorf("xsub: got %q, want %q", got, want)
			}
		}
		end()
		wantExit(t, xpub, "xpub", 0, []string{})
		xsub.cmd.Process.Signal(syscall.SIGTERM)
		wantExit(t, xsub, "xsub", 143, []string{})
	})
}

// TestE2EXPubPrintsSubscriptions has an xpub, with nothing to publish,
// print a sub's subscriptions when it connects and their cancellation when
// it goes.
func TestE2EXPubPrintsSubscriptions(t *testing.T) {
	forTransports(t, func(t *testing.T, ep string) {
		xpub := start(t, nil, "-type", "xpub", "-bind", ep, "-count", "4", "-timeout", "20s")
		ep = boundEndpoint(t, xpub, ep)
		sub := start(t, nil, "-type", "sub", "-connect", ep, "-subscribe", "x", "-subscribe", "y z")
		// A connection states its prefixes in no particular order.
		got := []string{nextLine(t, xpub, "xpub"), nextLine(t, xpub, "xpub")}
		slices.Sort(got)
		if want := []string{"subscribe x", "subscribe y z"}; !slices.Equal(got, want) {
			t.Fatalf("xpub: got %q, want %q", got, want)
		}
		sub.cmd.Process.Signal(syscall.SIGTERM)
		if status, _ := sub.wait(); status != 143 {
			t.Errorf("sub: got status %d (stderr %q), want 143", status, sub.stderr.String())
		}
		got = []string{nextLine(t, xpub, "xpub"), nextLine(t, xpub, "xpub")}
		slices.Sort(got)
		if want := []string{"cancel x", "cancel y z"}; !slices.Equal(got, want) {
			t.Errorf("xpub: got %q, want %q", got, want)
		}
		wantExit(t, xpub, "xpub", 0, []string{})
	})
}

// TestE2EPubSubUsageStatus checks the binary's status for the flag errors
// of the publish-subscribe types, as a script sees it.
func TestE2EPubSubUsageStatus(t *testing.T) {
	for _, args := range [][]string{
		{"-type", "pub", "-connect", "ipc:///nowhere", "-subscribe", "a"},
		{"-type", "sub", "-connect", "ipc:///nowhere", "-wait-subs", "1"},
		{"-type", "xpub", "-connect", "ipc:///nowhere", "-wait-subs", "-1"},
		{"-type", "sub", "-connect", "ipc:///nowhere", "-subscribe", strings.Repeat("p", 1024)},
	} {
		p := start(t, nil, args...)
		if status, _ := p.wait(); status != exitUsage {
			t.Errorf("%.60q: got status %d (stderr %q), want %d", args, status, p.stderr.String(), exitUsage)
		}
	}
}
