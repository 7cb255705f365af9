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
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"
)

var binary string // the example, built once by TestMain

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "weather-test")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binary = filepath.Join(dir, "weather")
	out, err := exec.Command("go", "build", "-o", binary, ".").CombinedOutput()
	if err != nil {
		os.RemoveAll(dir)
		fmt.Fprintf(os.Stderr, "go build: %v\n%s", err, out)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	if code == 0 {
		// What goleak.VerifyTestMain does, with the build directory
		// removed first.
		if err := goleak.Find(); err != nil {
			fmt.Fprintln(os.Stderr, "goleak:", err)
			code = 1
		}
	}
	os.Exit(code)
}

var updateLine = regexp.MustCompile(`^(\d{5}) .* #(\d+) +(-?\d+)°C +(\d+)% humidity$`)

// TestPublisherAndTwoSubscribers runs the publisher and two subscribers
// with different zip prefixes as processes, as the README does, and checks
// that each subscriber got only its zip codes and, thanks to
// WaitSubscribers, every zip code's first update.
func TestPublisherAndTwoSubscribers(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("stops the publisher with an interrupt signal")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	pub := start(t, "publisher", "publish", "-bind", "tcp://127.0.0.1:0", "-subscribers", "2", "-interval", "1ms")
	_, line := pub.waitLine(ctx, 0, func(l string) bool { return strings.HasPrefix(l, "publishing on ") })
	ep := strings.TrimPrefix(line, "publishing on ")

	const count = 20
	prefixes := []string{"100", "606"}
	subs := make([]*proc, len(prefixes))
	for i, p := range prefixes {
		subs[i] = start(t, "subscriber "+p, "subscribe", "-connect", ep, "-zip", p, "-count", strconv.Itoa(count))
	}
	for i, p := range prefixes {
		if err := subs[i].wait(ctx); err != nil {
			t.Fatalf("subscriber %s: got %v, want exit status 0\n%s", p, err, subs[i].output())
		}
		lines := subs[i].all()
		if len(lines) != count+2 {
			t.Fatalf("subscriber %s: got %d lines, want %d\n%s", p, len(lines), count+2, subs[i].output())
		}
		first := make(map[string]int)
		for _, l := range lines[1 : count+1] {
			m := updateLine.FindStringSubmatch(l)
			if m == nil {
				t.Fatalf("subscriber %s: got line %q, want an update", p, l)
			}
			zip := m[1]
			if !strings.HasPrefix(zip, p) {
				t.Errorf("subscriber %s: got an update for %s, want only %s*", p, zip, p)
			}
			if _, seen := first[zip]; !seen {
				first[zip], _ = strconv.Atoi(m[2])
			}
		}
		for zip, seq := range first {
			if seq != 1 {
				t.Errorf("subscriber %s: first update for %s was #%d, want #1 (the publisher waits for its subscribers)", p, zip, seq)
			}
		}
		if want := fmt.Sprintf("%d updates for %s*: average ", count, p); !strings.HasPrefix(lines[count+1], want) {
			t.Errorf("subscriber %s: got summary %q, want it to start %q", p, lines[count+1], want)
		}
	}

	pub.interrupt()
	if err := pub.wait(ctx); err != nil {
		t.Fatalf("publisher: got %v, want exit status 0\n%s", err, pub.output())
	}
	pub.waitLine(ctx, 0, func(l string) bool {
		return strings.HasPrefix(l, "sent ") && strings.HasSuffix(l, " dropped for slow subscribers")
	})
}

// proc is a running example process whose output lines are collected as
// they come, so a test can wait for a line instead of sleeping.
type proc struct {
	t      *testing.T
	name   string
	cmd    *exec.Cmd
	stderr bytes.Buffer // written by exec's copier until Wait returns

	mu      sync.Mutex
	lines   []string
	changed chan struct{} // closed and replaced when a line arrives or the process ends
	exited  bool
	err     error // Wait's result, once exited
	done    chan struct{}
}

// start runs the built example with args; the process is killed at the end
// of the test if it is still running.
func start(t *testing.T, name string, args ...string) *proc {
	t.Helper()
	p := &proc{t: t, name: name, changed: make(chan struct{}), done: make(chan struct{})}
	p.cmd = exec.Command(binary, args...)
	p.cmd.Stderr = &p.stderr
	stdout, err := p.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		defer close(p.done)
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			p.mu.Lock()
			p.lines = append(p.lines, sc.Text())
			close(p.changed)
			p.changed = make(chan struct{})
			p.mu.Unlock()
		}
		err := p.cmd.Wait() // after the last read, as exec requires
		p.mu.Lock()
		p.exited, p.err = true, err
		close(p.changed)
		p.mu.Unlock()
	}()
	t.Cleanup(func() {
		p.cmd.Process.Kill() // harmless if it has exited
		<-p.done
	})
	return p
}

// waitLine returns the index and text of the first line at or after from
// that satisfies ok, failing the test if the process ends or ctx expires
// first.
func (p *proc) waitLine(ctx context.Context, from int, ok func(string) bool) (int, string) {
	p.t.Helper()
	for {
		p.mu.Lock()
		for i := from; i < len(p.lines); i++ {
			if ok(p.lines[i]) {
				l := p.lines[i]
				p.mu.Unlock()
				return i, l
			}
		}
		from = len(p.lines)
		exited, ch := p.exited, p.changed
		p.mu.Unlock()
		if exited {
			p.t.Fatalf("%s exited without the line wanted\n%s", p.name, p.output())
		}
		select {
		case <-ch:
		case <-ctx.Done():
			p.t.Fatalf("%s: %v waiting for a line\n%s", p.name, ctx.Err(), p.output())
		}
	}
}

// wait waits for the process to end and returns Wait's error.
func (p *proc) wait(ctx context.Context) error {
	select {
	case <-p.done:
		p.mu.Lock()
		defer p.mu.Unlock()
		return p.err
	case <-ctx.Done():
		return errors.Join(errors.New("still running"), ctx.Err())
	}
}

func (p *proc) interrupt() {
	if err := p.cmd.Process.Signal(os.Interrupt); err != nil {
		p.t.Fatalf("interrupting %s: %v", p.name, err)
	}
}

func (p *proc) all() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), p.lines...)
}

// output is everything the process printed, for failure messages.
func (p *proc) output() string {
	s := "stdout:\n" + strings.Join(p.all(), "\n")
	select {
	case <-p.done: // stderr is complete and no longer written
		s += "\nstderr:\n" + p.stderr.String()
	default:
	}
	return s
}
