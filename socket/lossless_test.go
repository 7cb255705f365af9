package socket

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// The lossless suite: the pipeline's promise that a message Send accepted
// reaches some receiver's application, whatever happens to connections,
// sockets and processes in between.

// cutProxy forwards TCP connections to a target and can cut them all at
// once, abruptly (RST), as a failing network or middlebox would.
type cutProxy struct {
	l      net.Listener
	target string
	wg     sync.WaitGroup

	mu    sync.Mutex
	conns map[*net.TCPConn]struct{}
	cuts  int
}

func newCutProxy(t *testing.T, target string) *cutProxy {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("proxy listen: got error %v, want nil", err)
	}
	p := &cutProxy{l: l, target: target, conns: map[*net.TCPConn]struct{}{}}
	p.wg.Add(1)
	go p.accept()
	t.Cleanup(p.close)
	return p
}

func (p *cutProxy) endpoint() string { return "tcp://" + p.l.Addr().String() }

// accept runs until the listener closes.
func (p *cutProxy) accept() {
	defer p.wg.Done()
	for {
		c, err := p.l.Accept()
		if err != nil {
			return
		}
		up, err := net.Dial("tcp", p.target)
		if err != nil {
			c.Close()
			continue
		}
		a, b := c.(*net.TCPConn), up.(*net.TCPConn)
		p.mu.Lock()
		p.conns[a], p.conns[b] = struct{}{}, struct{}{}
		p.mu.Unlock()
		p.wg.Add(2)
		go p.pump(a, b)
		go p.pump(b, a)
	}
}

// pump copies one direction until either side fails, then closes both.
func (p *cutProxy) pump(dst, src *net.TCPConn) {
	defer p.wg.Done()
	io.Copy(dst, src)
	p.mu.Lock()
	delete(p.conns, dst)
	delete(p.conns, src)
	p.mu.Unlock()
	dst.Close()
	src.Close()
}

// cut resets every connection through the proxy.
func (p *cutProxy) cut() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for c := range p.conns {
		c.SetLinger(0) // close with RST: whatever is in flight is lost
		c.Close()
		delete(p.conns, c)
	}
	p.cuts++
}

func (p *cutProxy) close() {
	p.l.Close()
	p.cut()
	p.wg.Wait()
}

// TestLosslessConnectionCuts streams through a proxy that cuts the
// connection five times at random points: over tcp it resets it, over
// quic it drops every datagram of it from then on, so that only wisp's
// heartbeat notices. Every message arrives exactly once and in order: the
// PUSH resends what was not acknowledged, and the PULL drops what it had
// already received.
func TestLosslessConnectionCuts(t *testing.T) {
	for _, name := range []string{"tcp", "quic"} {
		t.Run(name, func(t *testing.T) { losslessConnectionCuts(t, name) })
	}
}

// cutter is a proxy that cuts every connection through it.
type cutter interface {
	endpoint() string
	cut()
}

// udpCutter is a udpRelay in front of a quic:// endpoint.
type udpCutter struct{ *udpRelay }

func (u udpCutter) endpoint() string { return "quic://" + u.addr() }

func losslessConnectionCuts(t *testing.T, transport string) {
	const n, cuts, hwm = 200_000, 5, 1000
	ctx := testContext(t)
	seed := rand.Uint64()
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, 0))
	cutAt := make([]int, cuts)
	for i := range cutAt {
		cutAt[i] = 1000 + rng.IntN(n-2000)
	}
	slices.Sort(cutAt)

	var opts []Option
	if transport == "quic" {
		// A cut is silence: the heartbeat notices it, on both sides.
		opts = append(opts, WithHeartbeat(100*time.Millisecond, 500*time.Millisecond))
	}
	pull := newSocket(t, Pull, opts...)
	ep, err := pull.Bind(transport + "://127.0.0.1:0")
	if err != nil {
		t.Fatalf("Bind: got error %v, want nil", err)
	}
	var proxy cutter
	if transport == "quic" {
		proxy = udpCutter{newUDPRelay(t, strings.TrimPrefix(ep, "quic://"))}
	} else {
		proxy = newCutProxy(t, strings.TrimPrefix(ep, "tcp://"))
	}
	push := newSocket(t, Push, append(opts, WithSendHWM(hwm), WithReconnectInterval(time.Millisecond, 10*time.Millisecond))...)
	if err := push.Connect(proxy.endpoint()); err != nil {
		t.Fatalf("Connect: got error %v, want nil", err)
	}
	sent := sendAll(ctx, push, 0, n)
	next := 0
	for i := range n {
		m, err := pull.Recv(ctx)
		if err != nil {
			t.Fatalf("Recv %d: got error %v, want nil (cuts at %v)", i, err, cutAt)
		}
		if got := number(t, m); got != i {
			t.Fatalf("message %d: got %d, want %d (cuts at %v)", i, got, i, cutAt)
		}
		for next < cuts && cutAt[next] == i {
			proxy.cut()
			next++
		}
		if i%1000 == 0 {
			checkHWM(t, push, hwm)
		}
	}
	wait(t, sent)
	if err := push.Flush(ctx); err != nil {
		t.Fatalf("Flush: got error %v, want nil", err)
	}
	ps, qs := push.Stats(), pull.Stats()
	t.Logf("cuts at %v: PUSH resends %d, PULL duplicates %d", cutAt, ps.Resends, qs.Duplicates)
	if ps.Resends == 0 {
		t.Errorf("got Resends 0 after %d cuts, want some", cuts)
	}
	if qs.MsgsIn != n || qs.RecvQueue != 0 {
		t.Errorf("PULL: got MsgsIn %d, RecvQueue %d, want %d, 0", qs.MsgsIn, qs.RecvQueue, n)
	}
}

// checkHWM checks that the PUSH holds at most hwm messages for any peer.
func checkHWM(t *testing.T, push *Socket, hwm int) {
	t.Helper()
	st := push.Stats()
	if st.SendQueue > hwm*max(1, len(st.Peers)) {
		t.Fatalf("got SendQueue %d with %d peers, want at most %d per peer", st.SendQueue, len(st.Peers), hwm)
	}
	for _, p := range st.Peers {
		if p.SendQueue > hwm || p.Unacked > p.SendQueue {
			t.Fatalf("peer %s: got SendQueue %d, Unacked %d, want SendQueue at most %d and Unacked at most that", p.Session, p.SendQueue, p.Unacked, hwm)
		}
	}
}

// TestLosslessHWMBoundsMemory checks that a fast sender and a slower
// receiver never make the PUSH hold more than its high-water mark.
func TestLosslessHWMBoundsMemory(t *testing.T) {
	const n, hwm = 5000, 16
	forEachTransport(t, func(t *testing.T, nw *network) {
		ctx := testContext(t)
		push, pull := newPairOpts(t, nw, []Option{WithSendHWM(hwm)}, []Option{WithRecvHWM(4)})
		done := make(chan error, 1)
		go func() {
			for i := range n {
				if err := push.Send(ctx, []byte(strconv.Itoa(i))); err != nil {
					done <- err
					return
				}
				st := push.Stats()
				if st.SendQueue > hwm {
					done <- fmt.Errorf("after Send %d: got SendQueue %d, want at most %d", i, st.SendQueue, hwm)
					return
				}
			}
			done <- nil
		}()
		for i, m := range recvN(t, ctx, pull, n) {
			if got := number(t, m); got != i {
				t.Fatalf("message %d: got %d, want %d", i, got, i)
			}
		}
		if err := <-done; err != nil {
			t.Fatal(err)
		}
		if err := push.Flush(ctx); err != nil {
			t.Fatalf("Flush: got error %v, want nil", err)
		}
	})
}

// TestLosslessReceiverClosed closes one of two PULLs while it still has
// messages queued that its application never took: the PUSH hands them to
// the other PULL. Only messages the closed PULL did take may arrive twice.
func TestLosslessReceiverClosed(t *testing.T) {
	const n, taken = 400, 10
	forEachTransport(t, func(t *testing.T, nw *network) {
		ctx := testContext(t)
		push := newSocket(t, Push, WithResumeTimeout(10*time.Millisecond),
			WithReconnectInterval(time.Millisecond, 10*time.Millisecond))
		a := newSocket(t, Pull)
		b := newSocket(t, Pull)
		nw.connect(push, nw.bind(a))
		nw.connect(push, nw.bind(b))
		waitConnected(t, ctx, push, 2)
		wait(t, sendAll(ctx, push, 0, n))

		// b takes everything it gets, until the end of the test.
		got := make(chan int, 2*n)
		bctx, stop := context.WithCancel(ctx)
		bdone := make(chan struct{})
		go func() {
			defer close(bdone)
			for {
				m, err := b.Recv(bctx)
				if err != nil {
					return
				}
				got <- number(t, m)
			}
		}()

		fromA := map[int]bool{}
		for _, m := range recvN(t, ctx, a, taken) {
			fromA[number(t, m)] = true
		}
		waitFor(t, ctx, "a to hold messages it was not asked for", func() bool { return a.Stats().RecvQueue > 0 })
		if err := a.Close(); err != nil {
			t.Fatalf("Close: got error %v, want nil", err)
		}
		ferr := push.Flush(ctx)
		stop()
		<-bdone
		close(got)
		if ferr != nil {
			t.Fatalf("Flush: got error %v, want nil", ferr)
		}

		fromB := map[int]bool{}
		for x := range got {
			if fromB[x] {
				t.Fatalf("b got %d twice, want at most once", x)
			}
			fromB[x] = true
		}
		for i := range n {
			if !fromA[i] && !fromB[i] {
				t.Errorf("message %d: got by neither PULL, want by one", i)
			}
			if fromA[i] && fromB[i] {
				t.Logf("message %d: taken by a before it closed, and by b", i)
			}
		}
		if st := push.Stats(); st.Resends == 0 {
			t.Errorf("got Resends 0, want the closed PULL's messages resent")
		}
	})
}

// Environment of the helper process that TestLosslessReceiverKilled starts.
const (
	helperEndpointEnv = "WISP_TEST_HELPER_PULL"
	helperLimitEnv    = "WISP_TEST_HELPER_LIMIT"
)

// TestHelperProcess is not a test: run by TestLosslessReceiverKilled as a
// child process, it is a PULL that binds the endpoint in its environment and
// prints every message it takes, one "MSG n" line each. With a limit it
// stops taking messages after that many (to be killed with more queued). It
// exits when its standard input closes.
func TestHelperProcess(t *testing.T) {
	ep := os.Getenv(helperEndpointEnv)
	if ep == "" {
		return
	}
	limit, _ := strconv.Atoi(os.Getenv(helperLimitEnv))
	ctx, cancel := context.WithCancel(context.Background())
	stdin := make(chan struct{})
	go func() {
		io.Copy(io.Discard, os.Stdin)
		cancel()
		close(stdin)
	}()
	pull, err := New(Pull)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := pull.Bind(ep); err != nil {
		t.Fatal(err)
	}
	for i := 0; limit == 0 || i < limit; i++ {
		m, err := pull.Recv(ctx)
		if err != nil {
			break
		}
		fmt.Fprintf(os.Stdout, "MSG %s\n", m.Bytes())
	}
	<-stdin
	pull.Close()
}

// child is a helper process and the lines it printed.
type child struct {
	cmd   *exec.Cmd
	stdin io.WriteCloser
	lines chan int
}

func startChild(t *testing.T, ep string, limit int) *child {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperProcess$", "-test.count=1")
	cmd.Env = append(os.Environ(), helperEndpointEnv+"="+ep, helperLimitEnv+"="+strconv.Itoa(limit))
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting the helper process: got error %v, want nil", err)
	}
	c := &child{cmd: cmd, stdin: stdin, lines: make(chan int, 1<<16)}
	// The reader keeps the pipe drained, so the child never blocks printing.
	go func() {
		defer close(c.lines)
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if s, ok := strings.CutPrefix(sc.Text(), "MSG "); ok {
				x, err := strconv.Atoi(s)
				if err != nil {
					x = -1
				}
				c.lines <- x
			}
		}
	}()
	t.Cleanup(func() {
		c.cmd.Process.Kill()
		c.stdin.Close()
		for range c.lines {
		}
		c.cmd.Wait()
	})
	return c
}

// TestLosslessReceiverKilled kills the receiving process mid-stream with
// SIGKILL and starts another on the same ipc endpoint. Every message is
// printed by one of the two; only messages the first one printed may be
// printed twice.
func TestLosslessReceiverKilled(t *testing.T) {
	const n, first = 20_000, 3000
	ctx := testContext(t)
	ep := "ipc://" + filepath.Join(t.TempDir(), "pull")
	push := newSocket(t, Push, WithReconnectInterval(time.Millisecond, 20*time.Millisecond))
	if err := push.Connect(ep); err != nil {
		t.Fatalf("Connect: got error %v, want nil", err)
	}
	c1 := startChild(t, ep, first)
	sent := sendAll(ctx, push, 0, n)

	seen1 := map[int]bool{}
	for len(seen1) < first {
		select {
		case x, ok := <-c1.lines:
			if !ok {
				t.Fatalf("first child: output ended after %d messages, want %d", len(seen1), first)
			}
			if seen1[x] || x < 0 || x >= n {
				t.Fatalf("first child: got message %d again or out of range, want each of [0,%d) once", x, n)
			}
			seen1[x] = true
		case <-ctx.Done():
			t.Fatalf("first child: got %d messages, then %v", len(seen1), ctx.Err())
		}
	}
	if err := c1.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatalf("kill: got error %v, want nil", err)
	}
	for x := range c1.lines { // whatever it printed before dying
		if seen1[x] {
			t.Fatalf("first child: got message %d twice, want once", x)
		}
		seen1[x] = true
	}
	c1.cmd.Wait()

	c2 := startChild(t, ep, 0)
	wait(t, sent)
	if err := push.Flush(ctx); err != nil {
		t.Fatalf("Flush: got error %v, want nil", err)
	}
	c2.stdin.Close()
	seen2 := map[int]bool{}
	for x := range c2.lines {
		if seen2[x] || x < 0 || x >= n {
			t.Fatalf("second child: got message %d again or out of range, want each of [0,%d) once", x, n)
		}
		seen2[x] = true
	}
	if err := c2.cmd.Wait(); err != nil {
		t.Errorf("second child: got exit %v, want success", err)
	}
	dups := 0
	for i := range n {
		switch {
		case !seen1[i] && !seen2[i]:
			t.Errorf("message %d: printed by neither child, want by one", i)
		case seen1[i] && seen2[i]:
			dups++
		}
	}
	t.Logf("first child printed %d, second %d, both %d; PUSH resends %d", len(seen1), len(seen2), dups, push.Stats().Resends)
	if errors.Is(ctx.Err(), context.DeadlineExceeded) {
		t.Fatalf("the test ran out of time")
	}
}
