package main

import (
	"bufio"
	"bytes"
	"context"
	"io"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// TestChat runs three peers as processes, checks that each sees the others
// join and sees their lines with their names, has one leave and a fourth
// join, and checks that the chat goes on among those present.
func TestChat(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	bin := build(t, ctx)

	alice := start(t, ctx, bin, "alice")
	bob := start(t, ctx, bin, "bob", alice.addr)
	waitJoined(t, bob, alice)
	carol := start(t, ctx, bin, "carol", alice.addr, bob.addr)
	waitJoined(t, carol, alice, bob)
	all := []*proc{alice, bob, carol}

	for _, p := range all {
		p.say(t, "hello from "+p.name)
	}
	for _, p := range all {
		for _, q := range all {
			if q != p {
				p.expect(t, q.name+": hello from "+q.name)
			}
		}
	}

	carol.leave(t)
	alice.expect(t, "* carol left")
	bob.expect(t, "* carol left")

	dave := start(t, ctx, bin, "dave", alice.addr, bob.addr)
	waitJoined(t, dave, alice, bob)
	dave.say(t, "hi, I'm new")
	alice.expect(t, "dave: hi, I'm new")
	bob.expect(t, "dave: hi, I'm new")
	alice.say(t, "welcome, dave")
	bob.expect(t, "alice: welcome, dave")
	dave.expect(t, "alice: welcome, dave")

	// Each leaves in turn; the others see it go.
	dave.leave(t)
	alice.expect(t, "* dave left")
	bob.expect(t, "* dave left")
	bob.leave(t)
	alice.expect(t, "* bob left")
	alice.leave(t)
	for _, p := range []*proc{alice, bob, carol, dave} {
		for _, l := range p.lines {
			if strings.HasPrefix(l, p.name+":") {
				t.Errorf("%s printed its own line %q, want only the others'", p.name, l)
			}
		}
	}
}

// waitJoined waits until p and each of others have seen each other join,
// each from the address it listens on.
func waitJoined(t *testing.T, p *proc, others ...*proc) {
	t.Helper()
	for _, q := range others {
		p.expect(t, "* "+q.name+" joined from "+q.addr)
		q.expect(t, "* "+p.name+" joined from "+p.addr)
	}
}

// build compiles the command once into a temporary directory.
func build(t *testing.T, ctx context.Context) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "p2pchat")
	if out, err := exec.CommandContext(ctx, "go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// proc is one running p2pchat peer process.
type proc struct {
	name    string
	addr    string // the address it listens on, from its first line
	cmd     *exec.Cmd
	stdin   io.WriteCloser
	out     chan string // its output lines; closed at its end
	stderr  bytes.Buffer
	lines   []string // every line read from out so far
	matched []bool   // which of lines expect has matched
	ctx     context.Context
	exited  bool
}

func start(t *testing.T, ctx context.Context, bin, name string, peers ...string) *proc {
	t.Helper()
	p := &proc{name: name, ctx: ctx, out: make(chan string)}
	args := append([]string{"-name", name, "-listen", "127.0.0.1:0"}, peers...)
	p.cmd = exec.CommandContext(ctx, bin, args...)
	p.cmd.Stderr = &p.stderr
	var err error
	if p.stdin, err = p.cmd.StdinPipe(); err != nil {
		t.Fatal(err)
	}
	stdout, err := p.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		defer close(p.out)
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			select {
			case p.out <- sc.Text():
			case <-ctx.Done():
				return
			}
		}
	}()
	t.Cleanup(func() {
		if !p.exited {
			p.stdin.Close()
			p.cmd.Process.Kill()
			for range p.out {
			}
			p.cmd.Wait()
		}
		if t.Failed() {
			t.Logf("%s printed:\n%s\nstderr:\n%s", name, strings.Join(p.lines, "\n"), p.stderr.String())
		}
	})
	first := p.read(t)
	const listening = " listening on "
	if !strings.HasPrefix(first, name+listening) {
		t.Fatalf("%s's first line: got %q, want %q", name, first, name+listening+"ADDRESS")
	}
	p.addr = strings.TrimPrefix(first, name+listening)
	return p
}

// read returns the next line the peer prints.
func (p *proc) read(t *testing.T) string {
	t.Helper()
	select {
	case l, ok := <-p.out:
		if !ok {
			t.Fatalf("%s ended; want more output", p.name)
		}
		p.lines = append(p.lines, l)
		p.matched = append(p.matched, false)
		return l
	case <-p.ctx.Done():
		t.Fatalf("%s: timed out waiting for output", p.name)
		return ""
	}
}

// expect waits until the peer prints want. Lines of other peers arrive in
// no fixed order, so want may be any line not matched yet.
func (p *proc) expect(t *testing.T, want string) {
	t.Helper()
	for i := 0; ; i++ {
		if i == len(p.lines) {
			p.read(t)
		}
		if !p.matched[i] && p.lines[i] == want {
			p.matched[i] = true
			return
		}
	}
}

func (p *proc) say(t *testing.T, line string) {
	t.Helper()
	if _, err := io.WriteString(p.stdin, line+"\n"); err != nil {
		t.Fatalf("%s: writing %q: %v", p.name, line, err)
	}
}

// leave ends the peer's input, as Ctrl-D does, and waits for it to exit.
func (p *proc) leave(t *testing.T) {
	t.Helper()
	p.stdin.Close()
	for l := range p.out {
		p.lines = append(p.lines, l)
	}
	p.exited = true
	if err := p.cmd.Wait(); err != nil {
		t.Fatalf("%s exited: got %v, want status 0", p.name, err)
	}
	if i := slices.IndexFunc(p.lines, func(l string) bool { return strings.Contains(l, " lost (") }); i >= 0 {
		t.Errorf("%s: got %q, want every peer to leave with a goodbye", p.name, p.lines[i])
	}
}
