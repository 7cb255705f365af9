package socket

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/wispmq/wisp/internal/spool"
)

// crashHWM is the crashing sender's send high-water mark: no more than this
// many of its messages are in flight (sent, not acknowledged) at a kill,
// which bounds the duplicates after it.
const crashHWM = 1000

// TestSpoolSurvivesSIGKILL is the durable PUSH's acceptance test: a
// spooling PUSH in a child process sends messages 1..n to a PULL in this
// process and is SIGKILLed at random points, several times, each time
// started again on the same directory. The union received must be
// everything, each run of the sender must deliver in order (resending the
// spool first, then going on), and only messages in flight at a kill may
// arrive twice. WISP_LONG=1 runs the full million messages; otherwise
// 20,000, so that go test -race ./... stays fast.
func TestSpoolSurvivesSIGKILL(t *testing.T) {
	n, kills := 20_000, 5
	if os.Getenv("WISP_LONG") == "1" {
		n, kills = 1_000_000, 10
	}
	seed := uint64(time.Now().UnixNano())
	t.Logf("%d messages, %d kills, seed %d", n, kills, seed)
	rng := rand.New(rand.NewPCG(seed, 1))
	dir := t.TempDir()
	ctx := testContext(t)
	if n > 20_000 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(t.Context(), 10*time.Minute)
		defer cancel()
	}
	pull := newSocket(t, Pull)
	ep, err := pull.Bind("tcp://127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	c := crashCheck{t: t, n: n, seen: make([]bool, n+1)}
	var out bytes.Buffer
	for run := 1; ; run++ {
		child := startSpoolChild(t, dir, ep, c.max+1, n, &out)
		exit := make(chan error, 1)
		go func() { exit <- child.Wait() }()
		c.startRun(run)
		killAt := -1 // received messages after which the child dies
		if run <= kills {
			left := n - c.max
			if rng.IntN(4) == 0 || left < 10 {
				// Early, by time: while it opens the spool, connects or
				// resends, perhaps before it sent anything.
				time.AfterFunc(time.Duration(rng.IntN(40))*time.Millisecond, func() { child.Process.Signal(syscall.SIGKILL) })
			} else {
				killAt = c.received + 1 + rng.IntN(left/(kills-run+2))
			}
		}
		// Receive until the child ends: killed, or done once everything
		// it sent was acknowledged.
		var err error
	recv:
		for {
			rctx, cancel := context.WithTimeout(ctx, 100*time.Millisecond)
			m, rerr := pull.Recv(rctx)
			cancel()
			if errors.Is(rerr, context.DeadlineExceeded) && ctx.Err() == nil {
				select {
				case err = <-exit:
					break recv
				default:
					continue
				}
			}
			if rerr != nil {
				t.Fatalf("Recv: %v (run %d, %d received, highest %d)", rerr, run, c.received, c.max)
			}
			c.take(number(t, m))
			if c.received == killAt {
				child.Process.Signal(syscall.SIGKILL)
				err = <-exit
				break
			}
		}
		if err == nil {
			if c.max == n {
				break
			}
			t.Fatalf("run %d ended with %d of %d received:\n%s", run, c.max, n, &out)
		}
		if !killedBySIGKILL(err) {
			t.Fatalf("run %d: %v:\n%s", run, err, &out)
		}
		c.drainRun(ctx, pull)
	}
	for i := 1; i <= n; i++ {
		if !c.seen[i] {
			t.Fatalf("message %d never arrived", i)
		}
	}
	t.Logf("%d runs, %d messages received for %d sent: %d duplicates", c.run, c.received, n, c.received-n)
}

// crashCheck checks the stream the PULL receives, run by run.
type crashCheck struct {
	t        *testing.T
	n        int
	seen     []bool
	max      int // highest received
	received int
	run      int
	prev     int // last received in this run, 0 before its first
}

func (c *crashCheck) startRun(run int) { c.run, c.prev = run, 0 }

func (c *crashCheck) take(x int) {
	c.t.Helper()
	if x < 1 || x > c.n {
		c.t.Fatalf("run %d: received %d, never sent", c.run, x)
	}
	if c.prev == 0 {
		// A run starts with what the spool kept: nothing skipped, and
		// going back no further than the messages in flight at the kill.
		if x > c.max+1 {
			c.t.Fatalf("run %d starts at %d, but %d was the highest received: %d to %d lost", c.run, x, c.max, c.max+1, x-1)
		}
		if dups := c.max + 1 - x; dups > crashHWM {
			c.t.Fatalf("run %d starts at %d, %d duplicates: more than the %d that can be in flight", c.run, x, dups, crashHWM)
		}
	} else if x != c.prev+1 {
		c.t.Fatalf("run %d: %d after %d, out of order", c.run, x, c.prev)
	}
	c.prev = x
	c.seen[x] = true
	c.max = max(c.max, x)
	c.received++
}

// drainRun takes what a killed run left in the PULL: once its connection
// is known gone and the queue is empty, everything it sent was taken, so
// the next run starts a clean stream.
func (c *crashCheck) drainRun(ctx context.Context, pull *Socket) {
	c.t.Helper()
	for {
		rctx, cancel := context.WithTimeout(ctx, 20*time.Millisecond)
		m, err := pull.Recv(rctx)
		cancel()
		if err == nil {
			c.take(number(c.t, m))
			continue
		}
		if ctx.Err() != nil {
			c.t.Fatalf("draining run %d: %v", c.run, ctx.Err())
		}
		st := pull.Stats()
		connected := false
		for _, p := range st.Peers {
			connected = connected || p.Connected
		}
		if !connected && st.RecvQueue == 0 {
			return
		}
	}
}

func killedBySIGKILL(err error) bool {
	var ee *exec.ExitError
	if !errors.As(err, &ee) {
		return false
	}
	ws, ok := ee.Sys().(syscall.WaitStatus)
	return ok && ws.Signaled() && ws.Signal() == syscall.SIGKILL
}

// startSpoolChild runs this test binary as the sending child.
// Its output is kept in out, for a failure to show.
func startSpoolChild(t *testing.T, dir, ep string, from, n int, out *bytes.Buffer) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestSpoolChildProcess$", "-test.count=1")
	cmd.Env = append(os.Environ(),
		"WISP_SPOOL_CHILD_DIR="+dir,
		"WISP_SPOOL_CHILD_EP="+ep,
		fmt.Sprintf("WISP_SPOOL_CHILD_RANGE=%d-%d", from, n))
	out.Reset()
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	return cmd
}

// TestSpoolChildProcess is the sender of TestSpoolSurvivesSIGKILL, run in
// a child process; on its own it does nothing.
func TestSpoolChildProcess(t *testing.T) {
	dir := os.Getenv("WISP_SPOOL_CHILD_DIR")
	if dir == "" {
		t.Skip("the sending child of TestSpoolSurvivesSIGKILL")
	}
	var from, n int
	if _, err := fmt.Sscanf(os.Getenv("WISP_SPOOL_CHILD_RANGE"), "%d-%d", &from, &n); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	// Where to go on: after the parent's highest, or after the last
	// message spooled, which the parent may not have yet.
	next := from
	sp, err := spool.Open(dir, spool.Options{Sync: spool.SyncNone})
	if err != nil {
		t.Fatal(err)
	}
	pending, _ := sp.Pending()
	for range pending {
		_, frames, err := sp.Next(ctx)
		if err != nil {
			t.Fatal(err)
		}
		x, _ := strconv.Atoi(string(frames[0]))
		next = max(next, x+1)
	}
	sp.Close()

	push, err := New(Push, WithSpool(dir), WithSpoolSync(SpoolSyncEvery(5*time.Millisecond)),
		WithSendHWM(crashHWM), WithLinger(time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	if err := push.Connect(os.Getenv("WISP_SPOOL_CHILD_EP")); err != nil {
		t.Fatal(err)
	}
	for i := next; i <= n; i++ {
		if err := push.Send(ctx, strconv.AppendInt(nil, int64(i), 10)); err != nil {
			t.Fatal(err)
		}
	}
	if err := push.Close(); err != nil {
		t.Fatal(err)
	}
}
