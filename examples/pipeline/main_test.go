package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// buildFlags are the extra go build flags for the example's binary, and
// processEnv the extra environment of its processes.
var buildFlags, processEnv []string

// TestWorkerKilled runs the pipeline as the README does, in five
// processes, and SIGKILLs a worker in the middle of its first task: the
// sink must still count every task's result exactly once, with nothing
// started to replace the worker, and the task the worker had in hand must
// reach another worker through the ventilator's PUSH socket (the worker
// had not acknowledged it: WithDeferredAck).
func TestWorkerKilled(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	bin := build(ctx, t)
	const tasks = 30

	sink := start(ctx, t, bin, "sink", "-bind", "tcp://127.0.0.1:0", "-control", "tcp://127.0.0.1:0")
	var results, control string
	if _, err := fmt.Sscanf(sink.expect(ctx, "sink: results on "), "sink: results on %s ventilator on %s", &results, &control); err != nil {
		t.Fatalf("sink's first line: %v", err)
	}
	results = strings.TrimSuffix(results, ",")
	// Each worker gets 10 tasks of 100ms: the one killed in its first
	// task dies with most of its share still to do, whatever the load.
	vent := start(ctx, t, bin, "ventilator", "-bind", "tcp://127.0.0.1:0", "-sink", control,
		"-n", strconv.Itoa(tasks), "-workers", "3", "-work", "100ms", "-resume", "300ms")
	taskEP := strings.TrimPrefix(vent.expect(ctx, "ventilator: tasks on "), "ventilator: tasks on ")
	var workers []*proc
	for _, name := range []string{"w1", "w2", "w3"} {
		workers = append(workers, start(ctx, t, bin, "worker", "-name", name, "-tasks", taskEP, "-results", results))
	}

	// Once every task is dealt out, w2 has a third of them; kill it as
	// soon as it works on one.
	vent.expect(ctx, "ventilator: batch ")
	victim := workers[1]
	victim.expect(ctx, "w2: working on task ")
	victim.stop(syscall.SIGKILL)
	if err := victim.wait(); !killed(err) {
		t.Fatalf("w2: got %v, want killed by SIGKILL", err)
	}
	// The task in w2's hands: the last it said it was working on.
	var inHand string
	for _, l := range victim.seen {
		if id, ok := strings.CutPrefix(l, "w2: working on task "); ok {
			inHand = id
		}
	}

	sinkLines := sink.rest(ctx)
	if err := sink.wait(); err != nil {
		t.Fatalf("sink: got %v, want exit status 0", err)
	}
	counted := checkExactlyOnce(t, sinkLines, tasks)

	ventLines := vent.rest(ctx)
	if err := vent.wait(); err != nil {
		t.Fatalf("ventilator: got %v, want exit status 0", err)
	}
	last := ventLines[len(ventLines)-1]
	var resent int
	if _, err := fmt.Sscanf(last, "ventilator: all 30 results in; tasks resent by the PUSH socket: %d", &resent); err != nil {
		t.Fatalf("ventilator's last line %q: %v", last, err)
	}
	// w2 had tasks it had not finished, the one in hand among them, and
	// PUSH is the only way they reach the others.
	if resent == 0 {
		t.Fatalf("ventilator: got no task resent by PUSH, want w2's unfinished tasks resent (%q)", ventLines)
	}
	id, _ := strconv.Atoi(inHand)
	switch counted[id] {
	case "w1", "w3":
		// Redelivered: w2 never acknowledged it.
	case "w2":
		// The SIGKILL landed after w2's result had left: nothing to see.
		t.Logf("w2 finished task %s before the SIGKILL landed", inHand)
	default:
		t.Fatalf("task %q in w2's hands: counted from %q, want w1 or w3", inHand, counted[id])
	}
	t.Logf("task %s, in w2's hands, counted from %s; %d tasks resent by PUSH", inHand, counted[id], resent)

	// Both at once: a worker stopped waiting for a spare result to be
	// taken lingers a while.
	for _, w := range []*proc{workers[0], workers[2]} {
		w.stop(syscall.SIGTERM)
	}
	for _, w := range []*proc{workers[0], workers[2]} {
		if err := w.wait(); err != nil {
			t.Fatalf("%s after SIGTERM: got %v, want exit status 0", w.name, err)
		}
	}
}

// TestStoppedWorker runs the roles as goroutines with a worker that is
// stopped (Ctrl-C) as it starts its first task: it never acknowledged that
// task, so the ventilator's PUSH socket gives it to the other worker, and
// the sink counts every result once.
func TestStoppedWorker(t *testing.T) {
	var wg sync.WaitGroup
	defer wg.Wait() // after cancel, which ends every role if the test fails
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	errs := make(chan error, 4)
	run := func(f func() error) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs <- f()
		}()
	}

	sinkOut, ventOut, w1Out, w2Out := newLines(), newLines(), newLines(), newLines()
	run(func() error {
		return sink(ctx, sinkOut, sinkConfig{bind: "tcp://127.0.0.1:0", control: "tcp://127.0.0.1:0"})
	})
	var results, control string
	if _, err := fmt.Sscanf(sinkOut.expect(ctx, t, "sink: results on "), "sink: results on %s ventilator on %s", &results, &control); err != nil {
		t.Fatalf("sink's first line: %v", err)
	}
	results = strings.TrimSuffix(results, ",")
	const tasks = 6
	run(func() error {
		return ventilator(ctx, ventOut, ventilatorConfig{bind: "tcp://127.0.0.1:0", sink: control,
			tasks: tasks, workers: 2, work: time.Millisecond, resume: 200 * time.Millisecond})
	})
	taskEP := strings.TrimPrefix(ventOut.expect(ctx, t, "ventilator: tasks on "), "ventilator: tasks on ")
	w1Ctx, stopW1 := context.WithCancel(ctx)
	defer stopW1()
	run(func() error {
		return worker(w1Ctx, w1Out, workerConfig{name: "w1", tasks: taskEP, results: results})
	})
	// w2 is stopped by its own first line, before it does the work.
	w2Ctx, stopW2 := context.WithCancel(ctx)
	defer stopW2()
	w2Out.onLine = func(l string) {
		if strings.HasPrefix(l, "w2: working on task ") {
			stopW2()
		}
	}
	run(func() error {
		return worker(w2Ctx, w2Out, workerConfig{name: "w2", tasks: taskEP, results: results})
	})

	inHand := strings.TrimPrefix(w2Out.expect(ctx, t, "w2: working on task "), "w2: working on task ")
	counted := checkExactlyOnce(t, sinkOut.until(ctx, t, "sink: all "), tasks)
	id, _ := strconv.Atoi(inHand)
	if counted[id] != "w1" {
		t.Errorf("task %s, which w2 was stopped in: counted from %q, want w1 (resent by PUSH)", inHand, counted[id])
	}
	for id, from := range counted {
		if from != "w1" {
			t.Errorf("task %d: counted from %s, want w1: w2 finished nothing", id, from)
		}
	}
	last := ventOut.expect(ctx, t, "ventilator: all ")
	var resent int
	if _, err := fmt.Sscanf(last, "ventilator: all 6 results in; tasks resent by the PUSH socket: %d", &resent); err != nil || resent < 1 {
		t.Errorf("ventilator's last line: got %q, want at least 1 task resent by PUSH", last)
	}
	stopW1()
	for range 4 {
		if err := <-errs; err != nil {
			t.Fatalf("got %v, want every role to end without error", err)
		}
	}
}

var resultLine = regexp.MustCompile(`^sink: task (\d+) from (\S+)$`)

// checkExactlyOnce checks the sink counted each task's result once, and
// returns which worker's result it counted for each task.
func checkExactlyOnce(t *testing.T, lines []string, tasks int) map[int]string {
	t.Helper()
	counted := make(map[int]int)
	from := make(map[int]string)
	for _, l := range lines {
		if m := resultLine.FindStringSubmatch(l); m != nil {
			id, _ := strconv.Atoi(m[1])
			counted[id]++
			from[id] = m[2]
		}
	}
	for id := 1; id <= tasks; id++ {
		if counted[id] != 1 {
			t.Errorf("task %d: counted %d times, want 1", id, counted[id])
		}
	}
	if len(counted) != tasks {
		t.Errorf("got results for %d task ids, want %d", len(counted), tasks)
	}
	want := fmt.Sprintf("sink: all %d results, each counted once; duplicates dropped: ", tasks)
	if len(lines) == 0 || !strings.HasPrefix(lines[len(lines)-1], want) {
		t.Errorf("sink's last line: got %q, want it to start %q", lines[len(lines)-1:], want)
	}
	if t.Failed() {
		t.Fatalf("sink printed %q", lines)
	}
	return from
}

// lines is an io.Writer for a role run as a goroutine: the test reads what
// it prints line by line.
type lines struct {
	mu     sync.Mutex
	buf    []byte
	ch     chan string
	onLine func(string) // if set, called with each line as it is written
	seen   []string     // read by the test
}

func newLines() *lines { return &lines{ch: make(chan string, 1024)} }

func (l *lines) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.buf = append(l.buf, p...)
	for {
		i := bytes.IndexByte(l.buf, '\n')
		if i < 0 {
			return len(p), nil
		}
		line := string(l.buf[:i])
		l.buf = l.buf[i+1:]
		if l.onLine != nil {
			l.onLine(line)
		}
		l.ch <- line
	}
}

// expect reads lines until one starts with prefix, and returns it.
func (l *lines) expect(ctx context.Context, t *testing.T, prefix string) string {
	t.Helper()
	got := l.until(ctx, t, prefix)
	return got[len(got)-1]
}

// until reads lines up to one that starts with prefix and returns them.
func (l *lines) until(ctx context.Context, t *testing.T, prefix string) []string {
	t.Helper()
	from := len(l.seen)
	for {
		select {
		case line := <-l.ch:
			l.seen = append(l.seen, line)
			if strings.HasPrefix(line, prefix) {
				return l.seen[from:]
			}
		case <-ctx.Done():
			t.Fatalf("no line %q before the test's deadline; got %q", prefix, l.seen)
		}
	}
}

// build compiles the example for the test.
func build(ctx context.Context, t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "pipeline")
	args := append(append([]string{"build", "-o", bin}, buildFlags...), ".")
	if out, err := exec.CommandContext(ctx, "go", args...).CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// proc is a running process of the example whose output the test reads
// line by line.
type proc struct {
	t      *testing.T
	name   string
	cmd    *exec.Cmd
	lines  chan string // stdout; closed at EOF
	stderr bytes.Buffer
	seen   []string // lines read so far, for failure messages
	waited bool
}

func start(ctx context.Context, t *testing.T, bin string, args ...string) *proc {
	t.Helper()
	p := &proc{t: t, name: strings.Join(args, " "), lines: make(chan string, 1024)}
	p.cmd = exec.CommandContext(ctx, bin, args...)
	p.cmd.Env = append(os.Environ(), processEnv...)
	p.cmd.Stderr = &p.stderr
	stdout, err := p.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		defer close(p.lines)
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			p.lines <- sc.Text()
		}
	}()
	t.Cleanup(func() {
		if !p.waited {
			p.cmd.Process.Kill()
			p.wait()
		}
	})
	return p
}

// expect reads lines until one starts with prefix, and returns it.
func (p *proc) expect(ctx context.Context, prefix string) string {
	p.t.Helper()
	for {
		select {
		case line, ok := <-p.lines:
			if !ok {
				p.t.Fatalf("%s: output ended without %q; got %q, stderr %q", p.name, prefix, p.seen, p.stderr.String())
			}
			p.seen = append(p.seen, line)
			if strings.HasPrefix(line, prefix) {
				return line
			}
		case <-ctx.Done():
			p.t.Fatalf("%s: no line %q before the test's deadline; got %q", p.name, prefix, p.seen)
		}
	}
}

// rest reads the lines up to the end of the output and returns those not
// read before.
func (p *proc) rest(ctx context.Context) []string {
	p.t.Helper()
	from := len(p.seen)
	for {
		select {
		case line, ok := <-p.lines:
			if !ok {
				return p.seen[from:]
			}
			p.seen = append(p.seen, line)
		case <-ctx.Done():
			p.t.Fatalf("%s: output did not end before the test's deadline; got %q", p.name, p.seen)
		}
	}
}

func (p *proc) stop(sig syscall.Signal) {
	p.t.Helper()
	if err := p.cmd.Process.Signal(sig); err != nil {
		p.t.Fatalf("%s: signal %v: %v", p.name, sig, err)
	}
}

// wait waits for the process to exit, after its output has been read to
// the end, as exec.Cmd requires.
func (p *proc) wait() error {
	for line := range p.lines {
		p.seen = append(p.seen, line)
	}
	p.waited = true
	err := p.cmd.Wait()
	if err != nil && p.stderr.Len() > 0 {
		p.t.Logf("%s: stderr: %s", p.name, p.stderr.String())
	}
	return err
}

func killed(err error) bool {
	var ee *exec.ExitError
	if !errors.As(err, &ee) {
		return false
	}
	ws, ok := ee.Sys().(syscall.WaitStatus)
	return ok && ws.Signaled() && ws.Signal() == syscall.SIGKILL
}
