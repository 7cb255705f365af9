package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
)

func equal(line, want string) bool { return line == want }

// endpoint waits for the line holding marker and returns what follows it.
func endpoint(ctx context.Context, p *proc, marker string) string {
	_, l := p.waitLine(ctx, 0, strings.Contains, marker)
	return l[strings.Index(l, marker)+len(marker):]
}

// proc is a running example process whose output lines are collected as
// they come, so a test can wait for a line instead of sleeping.
type proc struct {
	t      *testing.T
	name   string
	cmd    *exec.Cmd
	stdin  io.WriteCloser
	stderr bytes.Buffer // written by exec's copier until Wait returns

	mu      sync.Mutex
	lines   []string
	changed chan struct{} // closed and replaced when a line arrives or the process ends
	exited  bool
	err     error // Wait's result, once exited
	done    chan struct{}
}

func start(t *testing.T, name string, args ...string) *proc {
	t.Helper()
	return run(t, name, false, args)
}

func startWithInput(t *testing.T, name string, args ...string) *proc {
	t.Helper()
	return run(t, name, true, args)
}

// run starts the built example with args; the process is killed at the
// end of the test if it is still running.
func run(t *testing.T, name string, input bool, args []string) *proc {
	t.Helper()
	p := &proc{t: t, name: name, changed: make(chan struct{}), done: make(chan struct{})}
	p.cmd = exec.Command(exe, args...)
	p.cmd.Stderr = &p.stderr
	var err error
	if input {
		if p.stdin, err = p.cmd.StdinPipe(); err != nil {
			t.Fatal(err)
		}
	}
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
		// By its PID; harmless if it has exited, since it is not
		// reaped (and its PID not reused) before Wait below.
		p.cmd.Process.Kill()
		<-p.done
	})
	return p
}

// waitLine returns the index and text of the first line at or after from
// for which match(line, arg) holds, failing the test if the process ends
// or ctx expires first.
func (p *proc) waitLine(ctx context.Context, from int, match func(line, arg string) bool, arg ...string) (int, string) {
	p.t.Helper()
	a := ""
	if len(arg) > 0 {
		a = arg[0]
	}
	for {
		p.mu.Lock()
		for i := from; i < len(p.lines); i++ {
			if match(p.lines[i], a) {
				l := p.lines[i]
				p.mu.Unlock()
				return i, l
			}
		}
		from = len(p.lines)
		exited, ch := p.exited, p.changed
		p.mu.Unlock()
		if exited {
			p.t.Fatalf("%s exited without the line wanted (%q)\n%s", p.name, a, p.output())
		}
		select {
		case <-ch:
		case <-ctx.Done():
			p.t.Fatalf("%s: %v waiting for a line (%q)\n%s", p.name, ctx.Err(), a, p.output())
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

func (p *proc) write(s string) {
	if _, err := io.WriteString(p.stdin, s); err != nil {
		p.t.Fatalf("writing to %s: %v", p.name, err)
	}
}

func (p *proc) closeInput() { p.stdin.Close() }

func (p *proc) interrupt() {
	if err := p.cmd.Process.Signal(os.Interrupt); err != nil {
		p.t.Fatalf("interrupting %s: %v", p.name, err)
	}
}

// kill sends SIGKILL: the process ends at once, writing nothing more.
func (p *proc) kill() {
	if err := p.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		p.t.Fatalf("killing %s: %v", p.name, err)
	}
}

func (p *proc) all() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), p.lines...)
}

// output is the end of what the process printed, for failure messages.
func (p *proc) output() string {
	lines := p.all()
	if len(lines) > 40 { // a consumer prints a line per record
		lines = append([]string{"..."}, lines[len(lines)-40:]...)
	}
	s := "stdout:\n" + strings.Join(lines, "\n")
	select {
	case <-p.done: // stderr is complete and no longer written
		s += "\nstderr:\n" + p.stderr.String()
	default:
	}
	return s
}

// signal sends sig, SIGSTOP and SIGCONT to freeze and thaw the process.
func (p *proc) signal(sig os.Signal) {
	if err := p.cmd.Process.Signal(sig); err != nil {
		p.t.Fatalf("signalling %s: %v", p.name, err)
	}
}
