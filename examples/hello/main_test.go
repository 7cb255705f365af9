package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// buildFlags are the extra go build flags for the example's binary, and
// processEnv the extra environment of its processes.
var buildFlags, processEnv []string

// TestHello runs the commands of the README: a server, and a client that
// outlives a server killed in the middle of its request.
func TestHello(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	bin := build(ctx, t)

	t.Run("RoundTrips", func(t *testing.T) {
		server := start(ctx, t, bin, "server", "-bind", "tcp://127.0.0.1:0", "-work", "0s")
		ep := strings.TrimPrefix(server.expect(ctx, "listening on "), "listening on ")
		client := start(ctx, t, bin, "client", "-connect", ep, "-n", "3")
		got := client.rest(ctx)
		want := []string{"Hello 1 -> World 1", "Hello 2 -> World 2", "Hello 3 -> World 3"}
		if !slices.Equal(got, want) {
			t.Fatalf("client printed %q, want %q", got, want)
		}
		if err := client.wait(); err != nil {
			t.Fatalf("client: got %v, want exit status 0", err)
		}
		server.stop(syscall.SIGINT)
		if got, want := server.rest(ctx), []string{"received Hello 1", "received Hello 2", "received Hello 3"}; !slices.Equal(got, want) {
			t.Fatalf("server printed %q, want %q", got, want)
		}
		if err := server.wait(); err != nil {
			t.Fatalf("server after SIGINT: got %v, want exit status 0", err)
		}
	})

	t.Run("ServerRestart", func(t *testing.T) {
		// The first server takes an hour per request: it is sure to be
		// killed with the client's first request in hand.
		first := start(ctx, t, bin, "server", "-bind", "tcp://127.0.0.1:0", "-work", "1h")
		ep := strings.TrimPrefix(first.expect(ctx, "listening on "), "listening on ")
		client := start(ctx, t, bin, "client", "-connect", ep, "-n", "3")
		first.expect(ctx, "received Hello 1")
		first.stop(syscall.SIGKILL)
		if err := first.wait(); !killed(err) {
			t.Fatalf("first server: got %v, want killed by SIGKILL", err)
		}

		second := start(ctx, t, bin, "server", "-bind", ep, "-work", "0s")
		got := client.rest(ctx)
		want := []string{"Hello 1 -> World 1", "Hello 2 -> World 2", "Hello 3 -> World 3"}
		if !slices.Equal(got, want) {
			t.Fatalf("client printed %q, want %q", got, want)
		}
		if err := client.wait(); err != nil {
			t.Fatalf("client: got %v, want exit status 0", err)
		}
		second.stop(syscall.SIGINT)
		// A request may reach a server more than once; the one the first
		// server died with must have reached the second.
		lines := second.rest(ctx)
		if len(lines) == 0 || lines[0] != "listening on "+ep || !slices.Contains(lines, "received Hello 1") {
			t.Fatalf("second server printed %q, want it to listen on %s and receive Hello 1", lines, ep)
		}
		if err := second.wait(); err != nil {
			t.Fatalf("second server after SIGINT: got %v, want exit status 0", err)
		}
	})
}

// build compiles the example once for the test.
func build(ctx context.Context, t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "hello")
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
