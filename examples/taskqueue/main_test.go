package main

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"syscall"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// proc is a running taskqueue process whose output lines the test reads.
type proc struct {
	t     *testing.T
	name  string
	cmd   *exec.Cmd
	lines chan string   // stdout, closed at EOF
	done  chan struct{} // closed when the process has been waited for
	err   error         // its exit status, once done
}

func start(t *testing.T, ctx context.Context, bin, name string, args ...string) *proc {
	t.Helper()
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Stderr = os.Stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &proc{t: t, name: name, cmd: cmd, lines: make(chan string, 1000), done: make(chan struct{})}
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			t.Logf("%s| %s", name, sc.Text())
			p.lines <- sc.Text()
		}
		close(p.lines)
		p.err = cmd.Wait()
		close(p.done)
	}()
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

// TestKillWorkerMidTask runs the queue and a worker whose tasks never
// finish, kills that worker with SIGKILL while it runs two tasks, and checks
// that every result arrives, those two from the other worker.
func TestKillWorkerMidTask(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	bin := filepath.Join(t.TempDir(), "taskqueue")
	if out, err := exec.CommandContext(ctx, "go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}

	const n = 8
	sub := start(t, ctx, bin, "submit", "submit", "-bind", "tcp://127.0.0.1:0", "-n", fmt.Sprint(n))
	ep := sub.expect(ctx, `^queue on (tcp://\S+)$`)[1]

	w1 := start(t, ctx, bin, "w1", "worker", "-connect", ep, "-name", "w1", "-concurrency", "2", "-delay", "1h")
	killed := map[string]bool{}
	for range 2 {
		killed[w1.expect(ctx, `^w1: start (square\(\d+\))$`)[1]] = true
	}
	w2 := start(t, ctx, bin, "w2", "worker", "-connect", ep, "-name", "w2", "-concurrency", "2", "-delay", "0s")
	w2.expect(ctx, `^w2: start `) // w2 takes the tasks w1 has no room for
	if err := w1.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	<-w1.done

	for i := 1; i <= n; i++ {
		m := sub.expect(ctx, `^result (square\((\d+)\)) = (\d+) by (\w+), attempt (\d+)$`)
		call, x, res, by, attempt := m[1], m[2], m[3], m[4], m[5]
		if x != fmt.Sprint(i) || res != fmt.Sprint(i*i) || by != "w2" {
			t.Fatalf("got %q, want square(%d) = %d by w2", m[0], i, i*i)
		}
		if want := map[bool]string{true: "2", false: "1"}[killed[call]]; attempt != want {
			t.Fatalf("got %q, want attempt %s (killed on w1: %v)", m[0], want, killed[call])
		}
	}
	sub.expect(ctx, fmt.Sprintf(`^all %d results$`, n))
	<-sub.done
	if sub.err != nil {
		t.Fatalf("submit: got %v, want exit status 0", sub.err)
	}

	// A stopped worker (Ctrl-C) exits cleanly.
	if err := w2.cmd.Process.Signal(os.Interrupt); err != nil {
		t.Fatal(err)
	}
	<-w2.done
	if w2.err != nil {
		t.Fatalf("w2: got %v, want exit status 0", w2.err)
	}
}
