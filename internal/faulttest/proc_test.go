//go:build linux

package faulttest

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// child is the parent's handle on a child process (child_test.go): its
// PID, its stdin for commands, and the records it wrote.
type child struct {
	name  string
	cmd   *exec.Cmd
	stdin io.WriteCloser
	done  chan struct{} // closed once its output ended and it was reaped

	mu      sync.Mutex
	records []record // everything but received messages, which go to onMsg
	other   []string // lines that are not records: the testing package's, a panic
	exitErr error
}

// startChild runs cfg's role in namespace ns. Each message record goes to
// onMsg (if not nil) as it is read. The child is killed, by its PID, when t
// ends, if it is still running.
func startChild(t *testing.T, ns, name string, cfg childConfig, onMsg func(seq, at int64)) *child {
	t.Helper()
	env, err := json.Marshal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	// ip netns exec execs the command in place, so the PID is the child's
	// own (checked against its start record) and signals reach it.
	cmd := exec.Command("ip", "netns", "exec", ns, os.Args[0], "-test.run=^TestFaultChild$", "-test.v")
	cmd.Env = append(os.Environ(), childEnv+"="+string(env))
	// A process group of its own: when a process exits, the kernel sends
	// SIGHUP and SIGCONT to any process group it leaves orphaned that has a
	// stopped member, and a receiver under SIGSTOP sharing this test's group
	// was killed that way once by an unrelated command ending.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	c := &child{name: name, cmd: cmd, stdin: stdin, done: make(chan struct{})}
	go func() {
		defer close(c.done)
		sc := bufio.NewScanner(stdout)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			line := sc.Bytes()
			var r record
			if !bytes.HasPrefix(line, []byte(`{"k":`)) || json.Unmarshal(line, &r) != nil {
				c.mu.Lock()
				c.other = append(c.other, string(line))
				c.mu.Unlock()
				continue
			}
			if r.K == "m" {
				if onMsg != nil {
					onMsg(r.S, r.T)
				}
				continue
			}
			c.mu.Lock()
			c.records = append(c.records, r)
			c.mu.Unlock()
		}
		io.Copy(io.Discard, stdout)
		err := cmd.Wait()
		c.mu.Lock()
		c.exitErr = err
		if s := strings.TrimSpace(stderr.String()); s != "" {
			c.other = append(c.other, "stderr: "+s)
		}
		c.mu.Unlock()
	}()
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("%s (pid %d) output:\n%s\nevents: %s", c.name, c.pid(), c.output(), c.eventLog(time.Time{}))
		}
		if !c.exited(0) {
			// A stopped process gets SIGKILL too, but continuing it first
			// leaves nothing in doubt.
			c.signal(syscall.SIGCONT)
			c.signal(syscall.SIGKILL)
			if !c.exited(10 * time.Second) {
				t.Errorf("%s (pid %d) did not exit after SIGKILL", c.name, c.pid())
			}
		}
		c.stdin.Close()
	})
	start, ok := c.waitFor(30*time.Second, func(r record) bool { return r.K == "start" })
	if !ok {
		t.Fatalf("%s did not start: %s", name, c.output())
	}
	if start.PID != c.pid() {
		t.Fatalf("%s runs as pid %d, not the %d it was started as: ip netns exec forked, and signals would miss it", name, start.PID, c.pid())
	}
	return c
}

func (c *child) pid() int { return c.cmd.Process.Pid }

// signal sends sig to the child, by PID, unless it was reaped already.
func (c *child) signal(sig syscall.Signal) error {
	select {
	case <-c.done:
		return fmt.Errorf("%s has exited", c.name)
	default:
		return c.cmd.Process.Signal(sig)
	}
}

// exited waits up to d for the child to end.
func (c *child) exited(d time.Duration) bool {
	select {
	case <-c.done:
		return true
	case <-time.After(d):
		return false
	}
}

// stop asks the child to finish (a sender flushes first) and waits up to d.
func (c *child) stop(d time.Duration) error {
	io.WriteString(c.stdin, "stop\n")
	if !c.exited(d) {
		return fmt.Errorf("%s did not finish within %v after stop", c.name, d)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.exitErr != nil {
		return fmt.Errorf("%s: %v: %s", c.name, c.exitErr, strings.Join(c.other, "\n"))
	}
	return nil
}

// kill ends the child with SIGKILL and reaps it.
func (c *child) kill() error {
	if err := c.signal(syscall.SIGKILL); err != nil {
		return err
	}
	if !c.exited(10 * time.Second) {
		return fmt.Errorf("%s did not exit after SIGKILL", c.name)
	}
	return nil
}

// snapshot returns the records so far.
func (c *child) snapshot() []record {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]record(nil), c.records...)
}

// waitFor polls, up to d, for a record that matches.
func (c *child) waitFor(d time.Duration, match func(record) bool) (record, bool) {
	deadline := time.Now().Add(d)
	for {
		for _, r := range c.snapshot() {
			if match(r) {
				return r, true
			}
		}
		if time.Now().After(deadline) {
			return record{}, false
		}
		select {
		case <-c.done:
			deadline = time.Now() // one last look
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// output is what the child wrote besides its records, for failure messages.
func (c *child) output() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return strings.Join(c.other, "\n")
}

// end returns the child's final record, if it wrote one.
func (c *child) end() (record, bool) {
	for _, r := range c.snapshot() {
		if r.K == "end" {
			return r, true
		}
	}
	return record{}, false
}

// eventLog lists the child's events, with their times relative to t0 (or
// absolute when t0 is zero) and their errors, for the test's log.
func (c *child) eventLog(t0 time.Time) string {
	var b strings.Builder
	for _, r := range c.snapshot() {
		if r.K != "ev" {
			continue
		}
		at := time.Unix(0, r.T)
		if t0.IsZero() {
			fmt.Fprintf(&b, "\n  %s %s", at.Format("15:04:05.000"), r.Msg)
		} else {
			fmt.Fprintf(&b, "\n  %+.2fs %s", at.Sub(t0).Seconds(), r.Msg)
		}
		if r.Msg == "" {
			fmt.Fprintf(&b, "%s %s", r.Ev, r.Err)
		}
	}
	return b.String()
}
