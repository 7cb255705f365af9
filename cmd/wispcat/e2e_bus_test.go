package main

import (
	"fmt"
	"net"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// End-to-end tests of bus: three real processes, each binding one endpoint
// and connecting to the other two, over tcp and ipc.

// meshEndpoints returns n endpoints to bind, known before anything binds
// them, since every member connects to the others' from its start.
func meshEndpoints(t *testing.T, transport string, n int) []string {
	t.Helper()
	eps := make([]string, n)
	dir := t.TempDir()
	for i := range eps {
		if transport == "ipc" {
			eps[i] = "ipc://" + filepath.Join(dir, "m"+strconv.Itoa(i)+".sock")
			continue
		}
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		eps[i] = "tcp://" + l.Addr().String()
		l.Close()
	}
	return eps
}

// meshArgs is member i's command line: bind its endpoint, connect to the
// others'.
func meshArgs(eps []string, i int, extra ...string) []string {
	args := []string{"-type", "bus", "-bind", eps[i]}
	for j, ep := range eps {
		if j != i {
			args = append(args, "-connect", ep)
		}
	}
	return append(args, extra...)
}

// memberLines is what member name sends: n numbered lines.
func memberLines(name string, n int) []string {
	lines := make([]string, n)
	for i := range lines {
		lines[i] = fmt.Sprintf("%s %04d", name, i)
	}
	return lines
}

// checkMeshOutput checks that got holds every line of the other members
// exactly once, each member's in the order it sent them, and nothing else.
func checkMeshOutput(t *testing.T, who string, got []string, others map[string][]string) {
	t.Helper()
	next := map[string]int{}
	for _, l := range got {
		name, _, _ := strings.Cut(l, " ")
		want, ok := others[name]
		if !ok {
			t.Fatalf("%s: got line %q, want only the other members' lines", who, l)
		}
		if i := next[name]; i >= len(want) || want[i] != l {
			t.Fatalf("%s: got %q, want %s's line %d next (exactly once, in order)", who, l, name, i)
		}
		next[name]++
	}
	for name, want := range others {
		if next[name] != len(want) {
			t.Errorf("%s: got %d of %s's %d lines, want all", who, next[name], name, len(want))
		}
	}
}

// TestE2EBusMesh: three bus members, started at once; each sends its
// lines once it is connected to the other two, and prints every line the
// other two sent, exactly once, then stops at -count.
func TestE2EBusMesh(t *testing.T) {
	const n = 100
	for _, transport := range []string{"tcp", "ipc"} {
		t.Run(transport, func(t *testing.T) {
			eps := meshEndpoints(t, transport, 3)
			names := []string{"a", "b", "c"}
			sent := map[string][]string{}
			var procs []*proc
			for i, name := range names {
				sent[name] = memberLines(name, n)
				in := strings.NewReader(strings.Join(sent[name], "\n") + "\n")
				procs = append(procs, start(t, in, meshArgs(eps, i, "-count", strconv.Itoa(2*n), "-timeout", "30s")...))
			}
			for i, p := range procs {
				status, got := p.wait()
				if status != 0 {
					t.Errorf("member %s: got status %d (stderr %q), want 0", names[i], status, p.stderr.String())
				}
				others := map[string][]string{}
				for _, o := range names {
					if o != names[i] {
						others[o] = sent[o]
					}
				}
				checkMeshOutput(t, "member "+names[i], got, others)
			}
		})
	}
}

// TestE2EBusMemberKilled: one member of three is killed (SIGKILL) and run
// again at its endpoint, a new session. The two that stayed go on
// exchanging lines without a loss; the new member prints what the others
// send after it connected, and what they sent while it was dead never
// reaches it.
func TestE2EBusMemberKilled(t *testing.T) {
	eps := meshEndpoints(t, "ipc", 3)
	inA, wA := stdinPipe(t)
	inB, wB := stdinPipe(t)
	inC, _ := stdinPipe(t) // open until the end: c sends nothing, and is killed
	// a and b each print 4 lines: the other's three, and the new c's hello.
	// Their -linger outlasts the resume timeout (5 s), after which what
	// they queued for the dead c is dropped and no longer waited for.
	stayArgs := []string{"-count", "4", "-linger", "15s", "-timeout", "30s"}
	a := start(t, inA, meshArgs(eps, 0, stayArgs...)...)
	b := start(t, inB, meshArgs(eps, 1, stayArgs...)...)
	c := start(t, inC, meshArgs(eps, 2, "-timeout", "30s")...)
	started(inA)
	started(inB)
	started(inC)

	write := func(w interface{ WriteString(string) (int, error) }, l string) {
		t.Helper()
		if _, err := w.WriteString(l + "\n"); err != nil {
			t.Fatal(err)
		}
	}
	// Lines sent while everyone is up reach everyone.
	write(wA, "a before")
	write(wB, "b before")
	if l := nextLine(t, a, "member a"); l != "b before" {
		t.Fatalf("member a: got %q, want %q", l, "b before")
	}
	if l := nextLine(t, b, "member b"); l != "a before" {
		t.Fatalf("member b: got %q, want %q", l, "a before")
	}
	first := []string{nextLine(t, c, "member c"), nextLine(t, c, "member c")}
	slices.Sort(first)
	if !slices.Equal(first, []string{"a before", "b before"}) {
		t.Fatalf("member c: got %q, want both lines", first)
	}
	if err := c.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	if status := exitStatusOf(c); status != 128+int(syscall.SIGKILL) {
		t.Fatalf("member c: got status %d, want %d", status, 128+int(syscall.SIGKILL))
	}
	write(wA, "a while c is dead")
	write(wB, "b while c is dead")
	if l := nextLine(t, b, "member b"); l != "a while c is dead" {
		t.Fatalf("member b: got %q, want %q", l, "a while c is dead")
	}
	if l := nextLine(t, a, "member a"); l != "b while c is dead" {
		t.Fatalf("member a: got %q, want %q", l, "b while c is dead")
	}

	// The new c waits for both others, then says hello; the others then
	// know it and send to it.
	c2 := start(t, strings.NewReader("c2 hello\n"), meshArgs(eps, 2, "-count", "2", "-timeout", "30s")...)
	for _, p := range []*proc{a, b} {
		if l := nextLine(t, p, "member"); l != "c2 hello" {
			t.Fatalf("got %q, want %q", l, "c2 hello")
		}
	}
	write(wA, "a after")
	write(wB, "b after")
	wA.Close()
	wB.Close()
	status, got := c2.wait()
	slices.Sort(got)
	if status != 0 || !slices.Equal(got, []string{"a after", "b after"}) {
		t.Fatalf("new member c: got status %d and lines %q (stderr %q), want 0 and only the lines sent after it joined", status, got, c2.stderr.String())
	}
	for _, p := range []*proc{a, b} {
		status, rest := p.wait()
		if status != 0 {
			t.Errorf("got status %d (stderr %q), want 0", status, p.stderr.String())
		}
		if len(rest) != 1 || !strings.HasSuffix(rest[0], " after") {
			t.Errorf("got last lines %q, want the other's \"after\" line", rest)
		}
	}
}

// exitStatusOf waits for p, which must end by itself, and returns the
// status a shell reports.
func exitStatusOf(p *proc) int {
	done := make(chan struct{})
	go func() {
		p.wait()
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		return -1
	}
	return exitStatus(p.cmd.ProcessState)
}
