package main

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
)

// The end-to-end tests build the wispcat binary once and run real
// processes over ipc endpoints in a temporary directory.

var (
	binOnce sync.Once
	binDir  string // removed by TestMain
	binPath string
	binErr  error
)

func wispcatBinary(t *testing.T) string {
	t.Helper()
	if testing.Short() {
		t.Skip("end-to-end test skipped in -short mode")
	}
	binOnce.Do(func() {
		binDir, binErr = os.MkdirTemp("", "wispcat-e2e")
		if binErr != nil {
			return
		}
		binPath = filepath.Join(binDir, "wispcat")
		out, err := exec.Command("go", "build", "-o", binPath, ".").CombinedOutput()
		if err != nil {
			binErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if binErr != nil {
		t.Fatal(binErr)
	}
	return binPath
}

// proc is a running wispcat. Its stdout is read line by line into lines.
type proc struct {
	cmd    *exec.Cmd
	stderr syncBuffer
	ready  chan struct{} // closed once stderr shows the "listening" event (with -v)
	bound  chan string   // the endpoint of the first "wispcat: bound EP" line on stderr
	lines  chan string   // closed at the end of stdout; holds more than any test prints

	stderrDone chan struct{}
}

func start(t *testing.T, stdin io.Reader, args ...string) *proc {
	t.Helper()
	return startWith(t, stdin, nil, args...)
}

// startWith starts a wispcat whose stdout is the given file, if not nil,
// rather than a pipe read into p.lines (which is then closed at once).
func startWith(t *testing.T, stdin io.Reader, stdout *os.File, args ...string) *proc {
	t.Helper()
	p := &proc{cmd: exec.Command(wispcatBinary(t), args...), lines: make(chan string, 4096), ready: make(chan struct{}), bound: make(chan string, 1)}
	p.cmd.Stdin = stdin
	var out io.Reader
	if stdout != nil {
		p.cmd.Stdout = stdout
		close(p.lines)
	} else {
		var err error
		if out, err = p.cmd.StdoutPipe(); err != nil {
			t.Fatal(err)
		}
	}
	errOut, err := p.cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	stderrDone := make(chan struct{})
	p.stderrDone = stderrDone
	go func() {
		defer close(stderrDone)
		br := bufio.NewReader(errOut)
		ready := false
		for {
			line, err := br.ReadString('\n')
			p.stderr.Write([]byte(line))
			if !ready && strings.HasPrefix(line, "wispcat: event: listening") {
				// The signal handler is installed before the socket binds.
				ready = true
				close(p.ready)
			}
			if ep, ok := strings.CutPrefix(line, "wispcat: bound "); ok {
				select {
				case p.bound <- strings.TrimSpace(ep):
				default:
				}
			}
			if err != nil {
				return
			}
		}
	}()
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		p.cmd.Process.Kill()
		p.wait()
	})
	if out == nil {
		return p
	}
	go func() {
		defer close(p.lines)
		br := bufio.NewReader(out)
		for {
			line, err := br.ReadString('\n')
			if line != "" {
				p.lines <- line
			}
			if err != nil {
				return
			}
		}
	}()
	return p
}

// wait waits for the process and returns its exit status and every line it
// printed that was not taken from p.lines yet. Stdout is read to its end
// first, as exec.Cmd.Wait requires.
func (p *proc) wait() (int, []string) {
	var rest []string
	for l := range p.lines {
		rest = append(rest, strings.TrimSuffix(l, "\n"))
	}
	<-p.stderrDone
	if p.cmd.ProcessState == nil {
		p.cmd.Wait()
	}
	return p.cmd.ProcessState.ExitCode(), rest
}

// exitStatus is the status a shell reports: 128+n for death by signal n.
func exitStatus(ps *os.ProcessState) int {
	if ws, ok := ps.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		return 128 + int(ws.Signal())
	}
	return ps.ExitCode()
}

func numbered(n int) (string, []string) {
	var b strings.Builder
	lines := make([]string, n)
	for i := range lines {
		lines[i] = fmt.Sprintf("line %04d", i)
		b.WriteString(lines[i] + "\n")
	}
	return b.String(), lines
}

func ipcEndpoint(t *testing.T) string {
	return "ipc://" + filepath.Join(t.TempDir(), "w.sock")
}

func TestE2ELinesInOrder(t *testing.T) {
	ep := ipcEndpoint(t)
	input, want := numbered(200)
	pull := start(t, nil, "-type", "pull", "-bind", ep, "-count", "200", "-timeout", "20s")
	push := start(t, strings.NewReader(input), "-type", "push", "-connect", ep, "-timeout", "20s")
	if status, _ := push.wait(); status != 0 {
		t.Errorf("push: got status %d (stderr %q), want 0", status, push.stderr.String())
	}
	status, got := pull.wait()
	if status != 0 {
		t.Errorf("pull: got status %d (stderr %q), want 0", status, pull.stderr.String())
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("got %d lines %q..., want %d in order", len(got), got[:min(3, len(got))], len(want))
	}
}

// TestE2EWebSocket: 100,000 lines from a push to a pull over ws://, in
// order.
func TestE2EWebSocket(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ep := "ws://" + l.Addr().String() + "/wisp"
	l.Close()
	const n = 100000
	input, want := numbered(n)
	pull := start(t, nil, "-type", "pull", "-bind", ep, "-count", strconv.Itoa(n), "-timeout", "60s")
	// More lines than start buffers: take them as they come.
	lines := make(chan []string, 1)
	go func() {
		var got []string
		for l := range pull.lines {
			got = append(got, strings.TrimSuffix(l, "\n"))
		}
		lines <- got
	}()
	push := start(t, strings.NewReader(input), "-type", "push", "-connect", ep, "-timeout", "60s")
	if status, _ := push.wait(); status != 0 {
		t.Errorf("push: got status %d (stderr %q), want 0", status, push.stderr.String())
	}
	got := <-lines // all of stdout: the pull has ended
	status, _ := pull.wait()
	if status != 0 || strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("pull: got status %d and %d lines (stderr %q), want 0 and %d in order", status, len(got), pull.stderr.String(), n)
	}
}

// TestE2EChecksum: a PULL that asks for frame checksums gets every line
// from a PUSH that did not ask (either side may).
func TestE2EChecksum(t *testing.T) {
	ep := ipcEndpoint(t)
	input, want := numbered(100)
	pull := start(t, nil, "-type", "pull", "-bind", ep, "-count", "100", "-timeout", "20s", "-checksum")
	push := start(t, strings.NewReader(input), "-type", "push", "-connect", ep, "-timeout", "20s")
	if status, _ := push.wait(); status != 0 {
		t.Errorf("push: got status %d (stderr %q), want 0", status, push.stderr.String())
	}
	status, got := pull.wait()
	if status != 0 || strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("pull: got status %d and %d lines (stderr %q), want 0 and %d in order", status, len(got), pull.stderr.String(), len(want))
	}
}

func TestE2ETimeout(t *testing.T) {
	pull := start(t, nil, "-type", "pull", "-bind", ipcEndpoint(t), "-count", "5", "-timeout", "300ms")
	status, got := pull.wait()
	if status != 1 {
		t.Errorf("got status %d, want 1", status)
	}
	if want := "wispcat: timeout after 300ms: received 0 of 5 messages\n"; pull.stderr.String() != want {
		t.Errorf("got stderr %q, want %q", pull.stderr.String(), want)
	}
	if len(got) != 0 {
		t.Errorf("got output %q, want none", got)
	}
}

func TestE2EPushToNobody(t *testing.T) {
	push := start(t, strings.NewReader("a\nb\nc\n"), "-type", "push", "-connect", ipcEndpoint(t), "-linger", "200ms")
	if status, _ := push.wait(); status != 1 {
		t.Errorf("got status %d, want 1", status)
	}
	if want := "wispcat: 3 messages undelivered\n"; push.stderr.String() != want {
		t.Errorf("got stderr %q, want %q", push.stderr.String(), want)
	}
}

func TestE2ESigintPull(t *testing.T) {
	ep := ipcEndpoint(t)
	pull := start(t, nil, "-type", "pull", "-bind", ep)
	push := start(t, strings.NewReader("x\ny\nz\n"), "-type", "push", "-connect", ep, "-timeout", "20s")
	if status, _ := push.wait(); status != 0 {
		t.Fatalf("push: got status %d (stderr %q), want 0", status, push.stderr.String())
	}
	var got []string
	for range 3 {
		got = append(got, strings.TrimSuffix(<-pull.lines, "\n"))
	}
	pull.cmd.Process.Signal(os.Interrupt)
	status, rest := pull.wait()
	if status != 130 {
		t.Errorf("got status %d (stderr %q), want 130", status, pull.stderr.String())
	}
	got = append(got, rest...)
	if want := "x y z"; strings.Join(got, " ") != want {
		t.Errorf("got %q, want %q", strings.Join(got, " "), want)
	}
}

// TestE2EKilledPullLosesNothing kills a pull mid-stream with SIGKILL and
// starts another at the same endpoint: the push still gets every message
// acknowledged, and the two outputs together hold every line.
func TestE2EKilledPullLosesNothing(t *testing.T) {
	const n = 2000
	ep := ipcEndpoint(t)
	input, want := numbered(n)
	// A small receive queue keeps many messages in flight, unacknowledged,
	// when the first pull dies.
	pull1 := start(t, nil, "-type", "pull", "-bind", ep, "-hwm", "10")
	push := start(t, strings.NewReader(input), "-type", "push", "-connect", ep, "-timeout", "25s", "-linger", "20s")
	seen := make(map[string]int)
	for range n / 4 {
		l, ok := <-pull1.lines
		if !ok {
			t.Fatalf("first pull ended early: %q", pull1.stderr.String())
		}
		seen[strings.TrimSuffix(l, "\n")]++
	}
	pull1.cmd.Process.Kill()
	_, rest := pull1.wait()
	if got := exitStatus(pull1.cmd.ProcessState); got != 128+int(syscall.SIGKILL) {
		t.Errorf("first pull: got status %d, want %d", got, 128+int(syscall.SIGKILL))
	}
	for _, l := range rest {
		seen[l]++
	}
	first := len(seen)

	pull2 := start(t, nil, "-type", "pull", "-bind", ep, "-v")
	if status, _ := push.wait(); status != 0 {
		t.Fatalf("push: got status %d (stderr %q), want 0", status, push.stderr.String())
	}
	// The first pull may have acknowledged everything before it died; the
	// second must be up before it is asked to stop, whichever way.
	select {
	case <-pull2.ready:
	case <-pull2.stderrDone:
		t.Fatalf("second pull ended before listening: %q", pull2.stderr.String())
	}
	// Every message is acknowledged, so the second pull has taken the rest.
	pull2.cmd.Process.Signal(syscall.SIGTERM)
	status, rest := pull2.wait()
	if status != 143 {
		t.Errorf("second pull: got status %d (stderr %q), want 143", status, pull2.stderr.String())
	}
	dups := 0
	for _, l := range rest {
		if seen[l] > 0 {
			dups++
		}
		seen[l]++
	}
	var missing []string
	for _, l := range want {
		if seen[l] == 0 {
			missing = append(missing, l)
		}
	}
	if len(missing) > 0 {
		t.Errorf("got %d lines missing (%q...), want none", len(missing), missing[:min(3, len(missing))])
	}
	if len(seen) != n {
		t.Errorf("got %d distinct lines, want %d", len(seen), n)
	}
	t.Logf("first pull printed %d lines, second %d (%d already seen)", first, len(rest), dups)
}
