package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"
)

var binary string // the example, built once by TestMain

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "topics-test")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binary = filepath.Join(dir, "topics")
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

// TestConsumerGroups runs a producer, two groups on the topic "orders"
// (shipping with members alice and bob, analytics with member carol) and
// messages on another topic, as processes. Every group gets every order;
// within shipping each order goes to one member; alice crashes in the
// middle of her third message and what she had not acknowledged, that
// message included, is resent to bob (at least once, up to the end of the
// handler).
func TestConsumerGroups(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("stops the processes with an interrupt signal")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	producer := startWithInput(t, "producer", "produce", "-bind", "tcp://127.0.0.1:0", "-groups", "2")
	prodEP := endpoint(ctx, producer, "producing on ")
	shipping := start(t, "shipping", "group", "-name", "shipping", "-topic", "orders",
		"-connect", prodEP, "-bind", "tcp://127.0.0.1:0", "-member-timeout", "1s")
	shipEP := endpoint(ctx, shipping, "; members connect to ")
	analytics := start(t, "analytics", "group", "-name", "analytics", "-topic", "orders",
		"-connect", prodEP, "-bind", "tcp://127.0.0.1:0")
	anaEP := endpoint(ctx, analytics, "; members connect to ")
	alice := start(t, "alice", "consume", "-name", "alice", "-connect", shipEP, "-crash-after", "3")
	bob := start(t, "bob", "consume", "-name", "bob", "-connect", shipEP)
	carol := start(t, "carol", "consume", "-name", "carol", "-connect", anaEP)

	// Both of shipping's members are connected, so it shares the orders
	// between them; both groups' subscriptions are at the producer.
	shipping.waitLine(ctx, 0, equal, "shipping: a member joined (2 connected)")
	analytics.waitLine(ctx, 0, equal, "analytics: a member joined (1 connected)")
	producer.waitLine(ctx, 0, equal, "2 groups subscribed")

	const orders = 20
	var input strings.Builder
	for i := 1; i <= orders; i++ {
		fmt.Fprintf(&input, "orders order %d\n", i)
		if i%7 == 0 {
			fmt.Fprintf(&input, "payments payment %d\n", i/7) // no group consumes payments
		}
	}
	producer.write(input.String())

	// alice takes three messages and exits in the middle of the third,
	// without acknowledging it or closing her socket.
	err := alice.wait(ctx)
	if ee := (*exec.ExitError)(nil); !errors.As(err, &ee) || ee.ExitCode() != 3 {
		t.Fatalf("alice: got %v, want exit status 3 (-crash-after)\n%s", err, alice.output())
	}
	aliceGot := seqs(t, alice, "alice")
	if len(aliceGot) != 3 {
		t.Fatalf("alice handled %v before crashing, want 3 messages", aliceGot)
	}
	inHand := aliceGot[2]
	alice.waitLine(ctx, 0, equal, fmt.Sprintf("alice: crashing in the middle of orders#%d, message 3", inHand))
	// Every order reaches shipping's members at least once: what alice did
	// not handle, bob does, once the group gives up waiting for her; and
	// so does the one she crashed in, which she never acknowledged
	// (WithDeferredAck), although she had taken it.
	bob.waitLine(ctx, 0, strings.HasPrefix, fmt.Sprintf("bob got orders#%d: ", inHand))
	for i := 1; i <= orders; i++ {
		if !slices.Contains(aliceGot, i) {
			bob.waitLine(ctx, 0, strings.HasPrefix, fmt.Sprintf("bob got orders#%d: ", i))
		}
	}
	// analytics gets every order too, once each and in order.
	carol.waitLine(ctx, 0, strings.HasPrefix, fmt.Sprintf("carol got orders#%d: ", orders))

	producer.closeInput()
	if err := producer.wait(ctx); err != nil {
		t.Fatalf("producer: got %v, want exit status 0\n%s", err, producer.output())
	}
	producer.waitLine(ctx, 0, strings.HasPrefix, fmt.Sprintf("sent %d messages on 2 topics", orders+orders/7))
	for _, p := range []*proc{shipping, analytics, bob, carol} {
		p.interrupt()
		if err := p.wait(ctx); err != nil {
			t.Fatalf("%s: got %v, want exit status 0\n%s", p.name, err, p.output())
		}
	}

	_, summary := shipping.waitLine(ctx, 0, strings.HasPrefix, fmt.Sprintf("shipping: received %d messages, ", orders))
	var resent int
	if _, err := fmt.Sscanf(summary, fmt.Sprintf("shipping: received %d messages, %%d resent to another member", orders), &resent); err != nil || resent < 1 {
		t.Errorf("shipping: got summary %q, want at least 1 message resent after alice crashed", summary)
	}
	want := make([]int, orders)
	for i := range want {
		want[i] = i + 1
	}
	if got := seqs(t, carol, "carol"); !slices.Equal(got, want) {
		t.Errorf("carol (analytics) got orders %v, want %v: each once, in order", got, want)
	}
	bobGot := seqs(t, bob, "bob")
	all := slices.Sorted(slices.Values(append(slices.Clone(aliceGot), bobGot...)))
	if got := slices.Compact(all); !slices.Equal(got, want) {
		t.Errorf("shipping's members got orders %v, want each of %v at least once", got, want)
	}
	t.Logf("alice handled %v; bob handled %v; %d resent", aliceGot, bobGot, resent)
}

// TestProducerToGroupIsAtMostOnce kills a group while the producer goes
// on, and restarts it: the messages published while it was gone never reach
// its member, and no message arrives twice.
func TestProducerToGroupIsAtMostOnce(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("stops the processes with an interrupt signal")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	// The group binds a unix socket, so its restart has the same endpoint
	// for its member to reconnect to. A short path: unix socket paths are
	// limited to about 100 bytes.
	dir, err := os.MkdirTemp("", "topics")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	groupEP := "ipc://" + filepath.Join(dir, "analytics.sock")

	producer := startWithInput(t, "producer", "produce", "-bind", "tcp://127.0.0.1:0", "-groups", "1")
	prodEP := endpoint(ctx, producer, "producing on ")
	groupArgs := []string{"group", "-name", "analytics", "-topic", "orders", "-connect", prodEP, "-bind", groupEP}
	analytics := start(t, "analytics", groupArgs...)
	carol := start(t, "carol", "consume", "-name", "carol", "-connect", groupEP)

	producer.write("orders order 1\norders order 2\norders order 3\n")
	carol.waitLine(ctx, 0, strings.HasPrefix, "carol got orders#3: ")

	// The group dies; the producer sees its topic lose its last subscriber
	// and publishes 4 to 6 to nobody.
	analytics.kill()
	analytics.wait(ctx)
	gone, _ := producer.waitLine(ctx, 0, equal, "topic orders: no subscribers left")
	producer.write("orders order 4\norders order 5\norders order 6\n")
	producer.waitLine(ctx, gone, equal, "sent orders#6")

	// The group comes back at the same endpoint; carol reconnects to it.
	analytics = start(t, "analytics (restarted)", groupArgs...)
	producer.waitLine(ctx, gone, equal, "topic orders: subscribed")
	producer.write("orders order 7\norders order 8\norders order 9\n")
	carol.waitLine(ctx, 0, strings.HasPrefix, "carol got orders#9: ")

	producer.closeInput()
	for _, p := range []*proc{producer, analytics, carol} {
		if p != producer {
			p.interrupt()
		}
		if err := p.wait(ctx); err != nil {
			t.Fatalf("%s: got %v, want exit status 0\n%s", p.name, err, p.output())
		}
	}
	if got, want := seqs(t, carol, "carol"), []int{1, 2, 3, 7, 8, 9}; !slices.Equal(got, want) {
		t.Errorf("carol got orders %v, want %v: nothing published while her group was gone, nothing twice", got, want)
	}
}

var gotLine = regexp.MustCompile(`^(\w+) got (\w+)#(\d+): (.*)$`)

// seqs returns the sequence numbers of the orders member printed, checking
// that it got nothing but orders.
func seqs(t *testing.T, p *proc, member string) []int {
	t.Helper()
	var out []int
	for _, l := range p.all() {
		m := gotLine.FindStringSubmatch(l)
		if m == nil {
			continue
		}
		if m[1] != member || m[2] != "orders" {
			t.Errorf("%s: got %q, want only orders for %s", p.name, l, member)
			continue
		}
		n, _ := strconv.Atoi(m[3])
		if m[4] != fmt.Sprintf("order %d", n) {
			t.Errorf("%s: got %q, want the payload %q", p.name, l, fmt.Sprintf("order %d", n))
		}
		out = append(out, n)
	}
	return out
}

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
	p.cmd = exec.Command(binary, args...)
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
		p.cmd.Process.Kill() // harmless if it has exited
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

func (p *proc) kill() {
	if err := p.cmd.Process.Kill(); err != nil {
		p.t.Fatalf("killing %s: %v", p.name, err)
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
