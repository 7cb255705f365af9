package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/wispmq/wisp/examples/taskqueue/tq"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// buildFlags are the extra go build flags for the example's binary, and
// processEnv the extra environment of its processes.
var buildFlags, processEnv []string

// tasks is the size of the acceptance test, under -race too (where it
// takes about 6 s on two cores).
const tasks = 1000

func build(ctx context.Context, t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "taskqueue")
	args := append(append([]string{"build"}, buildFlags...), "-o", bin, ".")
	if out, err := exec.CommandContext(ctx, "go", args...).CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// proc is a running taskqueue process whose output lines the test reads.
type proc struct {
	t     *testing.T
	name  string
	cmd   *exec.Cmd
	lines chan string   // stdout, closed at EOF
	done  chan struct{} // closed when the process has been waited for
	err   error         // its exit status, once done
}

func start(ctx context.Context, t *testing.T, bin, name string, args ...string) *proc {
	t.Helper()
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Env = append(os.Environ(), processEnv...)
	cmd.Stderr = os.Stderr
	orphanProof(cmd)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &proc{t: t, name: name, cmd: cmd, lines: make(chan string, 10000), done: make(chan struct{})}
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			t.Logf("%s| %s", name, sc.Text())
			select {
			case p.lines <- sc.Text():
			default: // nobody reads this far: the log has it
			}
		}
		close(p.lines)
		p.err = cmd.Wait()
		close(p.done)
	}()
	// Every child is killed by its PID when the test ends, whatever
	// happened to it.
	t.Cleanup(func() {
		cmd.Process.Kill()
		<-p.done
	})
	return p
}

// expect returns the submatches of the next output line that matches re,
// skipping others.
func (p *proc) expect(ctx context.Context, re string) []string {
	p.t.Helper()
	rx := regexp.MustCompile(re)
	for {
		select {
		case l, ok := <-p.lines:
			if !ok {
				p.t.Fatalf("%s ended before a line matching %q", p.name, re)
			}
			if m := rx.FindStringSubmatch(l); m != nil {
				return m
			}
		case <-ctx.Done():
			p.t.Fatalf("%s: no line matching %q: %v", p.name, re, ctx.Err())
		}
	}
}

// kill sends SIGKILL to the process and waits for it to end.
func (p *proc) kill() {
	p.t.Helper()
	if err := p.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		p.t.Fatal(err)
	}
	<-p.done
}

// planned is a task of the acceptance test and what must become of it.
type planned struct {
	x         int
	fails     int // attempts that fail on purpose
	retries   int // the retries its policy allows
	countdown time.Duration
	submitted time.Time // just before Apply
	h         *tq.Handle
	info      *tq.TaskInfo // at its end
}

const (
	backoffFirst = 100 * time.Millisecond
	backoffMost  = 150 * time.Millisecond
)

// TestAcceptance submits tasks (a tenth with a countdown of up to 2 s, a
// tenth failing twice before they succeed, a fiftieth failing more often
// than their retries allow) to a broker and two workers, each its own
// process; SIGKILLs the broker a quarter of the way through and a worker
// halfway, starting each again; and checks that every task ended as
// planned: its result or its final failure, never started before it was
// due, retried exactly per its policy, its states in order. A task may be
// started twice in a row (its worker, or the broker, died while it ran).
func TestAcceptance(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	bin := build(ctx, t)
	db := filepath.Join(t.TempDir(), "tq.db")
	began := time.Now()

	broker := start(ctx, t, bin, "broker", "broker", "-bind", "tcp://127.0.0.1:0", "-db", db)
	ep := broker.expect(ctx, `^broker on (tcp://\S+)$`)[1]
	worker := func(name string) *proc {
		return start(ctx, t, bin, name, "worker", "-connect", ep, "-name", name, "-concurrency", "8", "-delay", "20ms", "-quiet")
	}
	w1, _ := worker("w1"), worker("w2")

	c, err := tq.NewClient(ep, tq.WithResendInterval(500*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()

	seed := uint64(time.Now().UnixNano())
	t.Logf("%d tasks, seed %d", tasks, seed)
	rng := rand.New(rand.NewPCG(seed, 2))
	plan := make([]*planned, tasks)
	for i := range plan {
		p := &planned{x: i + 1}
		switch i % 10 {
		case 0:
			p.countdown = time.Duration(200+rng.IntN(1800)) * time.Millisecond
		case 1:
			p.fails, p.retries = 2, 3
		case 2:
			if i%50 == 2 {
				p.fails, p.retries = 9, 2
			}
		}
		plan[i] = p
	}

	// Submit from several goroutines, so that the broker commits many
	// submissions at once; wait for each task's end in its own.
	var finished atomic.Int64
	errs := make(chan error, tasks)
	var wg sync.WaitGroup
	next := make(chan *planned)
	for range 8 {
		wg.Go(func() {
			for p := range next {
				opts := []tq.TaskOption{tq.MaxRetries(p.retries), tq.RetryBackoff(backoffFirst, backoffMost)}
				if p.countdown > 0 {
					opts = append(opts, tq.Countdown(p.countdown))
				}
				name, args := "square", []any{p.x}
				if p.fails > 0 {
					name, args = "flaky", []any{p.x, p.fails}
				}
				p.submitted = time.Now()
				h, err := c.Apply(ctx, name, args, opts...)
				if err != nil {
					errs <- fmt.Errorf("submit %d: %w", p.x, err)
					continue
				}
				p.h = h
				wg.Go(func() {
					ti, err := h.Wait(ctx)
					if err != nil {
						errs <- fmt.Errorf("task %d: %w", p.x, err)
						return
					}
					p.info = ti
					finished.Add(1)
				})
			}
		})
	}
	for _, p := range plan {
		next <- p
	}
	close(next)

	// waitFor waits until n tasks have finished; on the first error it
	// ends every wait instead, to report it.
	waitFor := func(n int) {
		for finished.Load() < int64(n) && ctx.Err() == nil {
			if len(errs) > 0 {
				cancel()
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
	waitFor(tasks / 4)
	t.Logf("%d finished: SIGKILL the broker", finished.Load())
	broker.kill()
	time.Sleep(200 * time.Millisecond)
	broker = start(ctx, t, bin, "broker2", "broker", "-bind", ep, "-db", db)
	broker.expect(ctx, `^broker on `)

	waitFor(tasks / 2)
	t.Logf("%d finished: SIGKILL worker w1", finished.Load())
	if ctx.Err() != nil {
		wg.Wait()
		t.Fatalf("%v; first error: %v", ctx.Err(), <-errs)
	}
	w1.kill()
	worker("w1-again")

	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if t.Failed() {
		return
	}
	twice := 0
	for _, p := range plan {
		n, err := check(p)
		if err != nil {
			b, _ := json.Marshal(p.info)
			t.Errorf("task %d: %v\n%s", p.x, err, b)
		}
		twice += n
	}
	t.Logf("all %d tasks as planned in %v; %d started again after a kill", tasks, time.Since(began).Round(time.Millisecond), twice)
	if twice == 0 {
		// w1 had tasks running when it died: they must have run again.
		t.Error("no task started twice: the kills hit no running task, and the test proved less than it says")
	}
}

// check compares a finished task with its plan; it returns how many times
// it was started again without a failure between (after a kill).
func check(p *planned) (again int, err error) {
	ti := p.info
	want := tq.Success
	if p.fails > p.retries {
		want = tq.Failure
	}
	if ti.State != want {
		return 0, fmt.Errorf("ended %s, want %s", ti.State, want)
	}
	if want == tq.Success {
		if got := string(ti.Result); got != fmt.Sprint(p.x*p.x) {
			return 0, fmt.Errorf("result %s, want %d", got, p.x*p.x)
		}
	} else if wantErr := fmt.Sprintf("failing on purpose, attempt %d of the %d that fail", p.retries+1, p.fails); ti.Error != wantErr {
		return 0, fmt.Errorf("error %q, want %q", ti.Error, wantErr)
	}
	if wantRetries := min(p.fails, p.retries); ti.Retries != wantRetries {
		return 0, fmt.Errorf("%d retries, want %d", ti.Retries, wantRetries)
	}
	h := ti.History
	if len(h) == 0 || h[0].State != tq.Pending {
		return 0, fmt.Errorf("history does not begin with PENDING")
	}
	if due := p.submitted.Add(p.countdown); h[0].ETA.Before(due) {
		return 0, fmt.Errorf("due %v, before its countdown of %v from %v", h[0].ETA, p.countdown, p.submitted)
	}
	due, retries := h[0].ETA, 0
	for i := 1; i < len(h); i++ {
		prev, cur := h[i-1], h[i]
		if cur.At.Before(prev.At) {
			return 0, fmt.Errorf("state %d at %v, before the one before it", i, cur.At)
		}
		switch {
		case cur.State == tq.Started && prev.State == tq.Started:
			again++
		case cur.State == tq.Started && (prev.State == tq.Pending || prev.State == tq.Retry):
		case prev.State == tq.Started && (cur.State == tq.Retry || cur.State == tq.Success || cur.State == tq.Failure):
		default:
			return 0, fmt.Errorf("%s after %s", cur.State, prev.State)
		}
		switch cur.State {
		case tq.Started:
			if cur.At.Before(due) {
				return 0, fmt.Errorf("started at %v, before it was due at %v", cur.At, due)
			}
		case tq.Retry:
			retries++
			wait := min(backoffFirst<<(retries-1), backoffMost)
			if got := cur.ETA.Sub(cur.At); got != wait {
				return 0, fmt.Errorf("retry %d due %v after the failure, want %v", retries, got, wait)
			}
			due = cur.ETA
		case tq.Success, tq.Failure:
			if i != len(h)-1 {
				return 0, fmt.Errorf("%s before the end", cur.State)
			}
		}
	}
	if last := h[len(h)-1].State; last != want || retries != ti.Retries {
		return 0, fmt.Errorf("history ends %s after %d retries, want %s after %d", last, retries, want, ti.Retries)
	}
	return again, nil
}

// TestSubmitCommand runs the README's commands: a broker, a worker and
// submit, which prints every task's end.
func TestSubmitCommand(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	bin := build(ctx, t)
	broker := start(ctx, t, bin, "broker", "broker", "-bind", "tcp://127.0.0.1:0", "-db", filepath.Join(t.TempDir(), "tq.db"))
	ep := broker.expect(ctx, `^broker on (tcp://\S+)$`)[1]
	start(ctx, t, bin, "w1", "worker", "-connect", ep, "-name", "w1", "-delay", "10ms")
	sub := start(ctx, t, bin, "submit", "submit", "-connect", ep, "-n", "5", "-countdown", "100ms")
	for _, want := range []string{
		`^square\(1\) = 1 SUCCESS by w1 after 0 retries: PENDING → STARTED → SUCCESS$`,
		`^square\(3\) = 9 SUCCESS by w1 after 0 retries: PENDING → STARTED → SUCCESS$`,
		`^flaky\(5,2\) = 25 SUCCESS by w1 after 2 retries: PENDING → STARTED → RETRY → STARTED → RETRY → STARTED → SUCCESS$`,
		`^all 5 done$`,
	} {
		sub.expect(ctx, want)
	}
	<-sub.done
	if sub.err != nil {
		t.Fatalf("submit: got %v, want exit status 0", sub.err)
	}
	if err := broker.cmd.Process.Signal(os.Interrupt); err != nil {
		t.Fatal(err)
	}
	<-broker.done
	if broker.err != nil {
		t.Fatalf("broker after SIGINT: got %v, want exit status 0", broker.err)
	}
}
