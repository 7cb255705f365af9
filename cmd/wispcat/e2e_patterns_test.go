package main

import (
	"bufio"
	"encoding/hex"
	"os"
	"regexp"
	"slices"
	"strings"
	"syscall"
	"testing"
)

// End-to-end tests of req, rep, dealer, router and pair: real processes over
// tcp on 127.0.0.1 and over ipc.

// forTransports runs f over tcp (with the port left to the binder, so the
// binder's "bound" line gives the endpoint) and over ipc.
func forTransports(t *testing.T, f func(t *testing.T, ep string)) {
	t.Run("tcp", func(t *testing.T) { f(t, "tcp://127.0.0.1:0") })
	t.Run("ipc", func(t *testing.T) { f(t, ipcEndpoint(t)) })
}

// boundEndpoint returns the endpoint p bound when asked for ep: the real one
// for a port chosen by the system.
func boundEndpoint(t *testing.T, p *proc, ep string) string {
	t.Helper()
	if !strings.HasSuffix(ep, ":0") {
		return ep
	}
	select {
	case real := <-p.bound:
		return real
	case <-p.stderrDone:
		t.Fatalf("ended before binding: stderr %q", p.stderr.String())
		return ""
	}
}

// stdinPipe returns the read end for a process's stdin and the write end,
// closed at the end of the test if the test did not close it.
func stdinPipe(t *testing.T) (*os.File, *os.File) {
	t.Helper()
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { w.Close() })
	return r, w
}

// started closes the parent's copy of a pipe end a child now holds.
func started(f *os.File) { f.Close() }

func nextLine(t *testing.T, p *proc, who string) string {
	t.Helper()
	l, ok := <-p.lines
	if !ok {
		status, _ := p.wait()
		t.Fatalf("%s: output ended (status %d, stderr %q), want another line", who, status, p.stderr.String())
	}
	return strings.TrimSuffix(l, "\n")
}

func wantExit(t *testing.T, p *proc, who string, status int, lines []string) {
	t.Helper()
	got, rest := p.wait()
	if got != status {
		t.Errorf("%s: got status %d (stderr %q), want %d", who, got, p.stderr.String(), status)
	}
	if lines != nil && !slices.Equal(rest, lines) {
		t.Errorf("%s: got lines %q, want %q", who, rest, lines)
	}
}

func TestE2EReqRep(t *testing.T) {
	forTransports(t, func(t *testing.T, ep string) {
		rep := start(t, nil, "-type", "rep", "-bind", ep, "-count", "3", "-timeout", "20s")
		ep = boundEndpoint(t, rep, ep)
		req := start(t, strings.NewReader("a\nb c\n\n"), "-type", "req", "-connect", ep, "-timeout", "20s", "-reply-timeout", "15s")
		want := []string{"a", "b c", ""}
		wantExit(t, req, "req", 0, want)
		wantExit(t, rep, "rep", 0, want)
	})
}

func TestE2ERepData(t *testing.T) {
	forTransports(t, func(t *testing.T, ep string) {
		rep := start(t, nil, "-type", "rep", "-bind", ep, "-data", "fixed reply", "-count", "2", "-timeout", "20s")
		ep = boundEndpoint(t, rep, ep)
		req := start(t, strings.NewReader("x\ny\nnot sent\n"), "-type", "req", "-connect", ep, "-count", "2", "-timeout", "20s")
		wantExit(t, req, "req", 0, []string{"fixed reply", "fixed reply"})
		wantExit(t, rep, "rep", 0, []string{"x", "y"})
	})
}

// TestE2EReqSurvivesRestart kills the rep with SIGKILL twice while the req
// waits for a reply, once after the rep took the request (it hangs writing
// it out), once while it is idle, and starts a new rep at the same endpoint
// each time: the req prints every reply exactly once.
func TestE2EReqSurvivesRestart(t *testing.T) {
	forTransports(t, func(t *testing.T, ep string) {
		// rep1 writes to a pipe the test reads only the start of, so it
		// blocks printing the large request it took, before it answers.
		outR, outW, err := os.Pipe()
		if err != nil {
			t.Fatal(err)
		}
		defer outR.Close()
		rep1 := startWith(t, nil, outW, "-type", "rep", "-bind", ep)
		started(outW)
		ep = boundEndpoint(t, rep1, ep)
		inR, in := stdinPipe(t)
		req := start(t, inR, "-type", "req", "-connect", ep, "-timeout", "25s")
		started(inR)

		if _, err := in.WriteString("first\n"); err != nil {
			t.Fatal(err)
		}
		if got := nextLine(t, req, "req"); got != "first" {
			t.Fatalf("req: got %q, want %q", got, "first")
		}
		big := strings.Repeat("x", 1<<20) // far more than a pipe holds
		if _, err := in.WriteString(big + "\n"); err != nil {
			t.Fatal(err)
		}
		br := bufio.NewReader(outR)
		if l, err := br.ReadString('\n'); err != nil || l != "first\n" {
			t.Fatalf("rep1: got %q, %v, want %q", l, err, "first\n")
		}
		if b, err := br.ReadByte(); err != nil || b != 'x' {
			t.Fatalf("rep1: got %q, %v, want the large request", b, err)
		}
		// rep1 took the request and is stuck writing it out.
		rep1.cmd.Process.Kill()
		rep1.wait()
		if got := exitStatus(rep1.cmd.ProcessState); got != 128+int(syscall.SIGKILL) {
			t.Errorf("rep1: got status %d, want %d", got, 128+int(syscall.SIGKILL))
		}

		rep2 := start(t, nil, "-type", "rep", "-bind", ep, "-timeout", "25s")
		if got := nextLine(t, req, "req"); got != big {
			t.Fatalf("req: got %d bytes %.10q..., want the large request's %d", len(got), got, len(big))
		}
		rep2.cmd.Process.Kill()
		_, rest := rep2.wait()
		if !slices.Contains(rest, big) {
			t.Errorf("rep2: got %d lines without the large request, want it", len(rest))
		}

		// No server now: the req sends and waits.
		if _, err := in.WriteString("second\n"); err != nil {
			t.Fatal(err)
		}
		rep3 := start(t, nil, "-type", "rep", "-bind", ep, "-timeout", "25s")
		if got := nextLine(t, req, "req"); got != "second" {
			t.Fatalf("req: got %q, want %q", got, "second")
		}
		in.Close()
		// Every reply came once, and nothing else.
		wantExit(t, req, "req", 0, []string{})
		rep3.cmd.Process.Signal(syscall.SIGTERM)
		if status, rest := rep3.wait(); status != 143 || !slices.Contains(rest, "second") {
			t.Errorf("rep3: got status %d and lines %q, want 143 and %q", status, rest, "second")
		}
	})
}

func TestE2ERouterDealer(t *testing.T) {
	forTransports(t, func(t *testing.T, ep string) {
		inR, in := stdinPipe(t)
		router := start(t, inR, "-type", "router", "-bind", ep, "-timeout", "20s")
		started(inR)
		ep = boundEndpoint(t, router, ep)
		named := start(t, strings.NewReader("hello\n"), "-type", "dealer", "-connect", ep, "-routing-id", "d1", "-count", "1", "-timeout", "20s")
		anon := start(t, strings.NewReader("anon\n"), "-type", "dealer", "-connect", ep, "-count", "1", "-timeout", "20s")

		// Without -routing-id a peer is known by its 16-byte session id.
		anonLine := regexp.MustCompile(`^([0-9a-f]{32})\tanon$`)
		var anonID string
		for range 2 {
			l := nextLine(t, router, "router")
			if m := anonLine.FindStringSubmatch(l); m != nil {
				anonID = m[1]
			} else if want := hex.EncodeToString([]byte("d1")) + "\thello"; l != want {
				t.Fatalf("router: got %q, want %q or a session id and \"anon\"", l, want)
			}
		}
		if anonID == "" {
			t.Fatal("router: got no line from the dealer without a routing id")
		}
		if _, err := in.WriteString("zz\tbad hex\nno tab\n6431\tworld\n" + anonID + "\tto you\nffff\tnobody\n"); err != nil {
			t.Fatal(err)
		}
		in.Close()
		wantExit(t, named, "named dealer", 0, []string{"world"})
		wantExit(t, anon, "anonymous dealer", 0, []string{"to you"})
		wantExit(t, router, "router", 0, []string{})
		for _, want := range []string{"wispcat: stdin line 1: ", "wispcat: stdin line 2: ", "wispcat: stdin line 5: "} {
			if !strings.Contains(router.stderr.String(), want) {
				t.Errorf("router: got stderr %q, want a line starting %q", router.stderr.String(), want)
			}
		}
	})
}

func TestE2EPair(t *testing.T) {
	forTransports(t, func(t *testing.T, ep string) {
		a := start(t, strings.NewReader("a1\na2\n"), "-type", "pair", "-bind", ep, "-count", "2", "-timeout", "20s")
		ep = boundEndpoint(t, a, ep)
		b := start(t, strings.NewReader("b1\nb2\n"), "-type", "pair", "-connect", ep, "-count", "2", "-timeout", "20s")
		wantExit(t, a, "binding pair", 0, []string{"b1", "b2"})
		wantExit(t, b, "connecting pair", 0, []string{"a1", "a2"})
	})
}

// TestE2EUsageStatus checks the binary's status for a flag error, as a
// script sees it.
func TestE2EUsageStatus(t *testing.T) {
	for _, args := range [][]string{
		{"-type", "push", "-connect", "ipc:///nowhere", "-retry", "1s"},
		{"-type", "req", "-connect", "ipc:///nowhere", "-reply-timeout", "-1s"},
		{"-type", "pair", "-connect", "ipc:///nowhere", "-routing-id", "p"},
	} {
		p := start(t, nil, args...)
		if status, _ := p.wait(); status != exitUsage {
			t.Errorf("%q: got status %d (stderr %q), want %d", args, status, p.stderr.String(), exitUsage)
		}
	}
}
