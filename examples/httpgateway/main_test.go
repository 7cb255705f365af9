package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// proc is a running httpgateway process whose output lines the test reads.
type proc struct {
	t     *testing.T
	name  string
	cmd   *exec.Cmd
	lines chan string   // stdout, closed at EOF
	done  chan struct{} // closed when the process has been waited for
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
			p.lines <- sc.Text()
		}
		close(p.lines)
		cmd.Wait()
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

type response struct {
	path   string
	status int
	body   string
	err    error
}

// fire sends n GET requests at once, to /req/0 ... /req/n-1.
func fire(client *http.Client, base string, n int) []response {
	rs := make([]response, n)
	var wg sync.WaitGroup
	for i := range rs {
		wg.Go(func() {
			r := &rs[i]
			r.path = fmt.Sprintf("/req/%d", i)
			resp, err := client.Get(base + r.path)
			if err != nil {
				r.err = err
				return
			}
			defer resp.Body.Close()
			b, err := io.ReadAll(resp.Body)
			r.status, r.body, r.err = resp.StatusCode, string(b), err
		})
	}
	wg.Wait()
	return rs
}

// TestGateway runs the gateway and workers as processes and fires 50
// concurrent HTTP requests at it: with no worker (503 each), one worker
// (200 each, every reply to its own request), a healthy and a stuck worker
// (200 or a 504 at the deadline, never a hung request), and after the stuck
// one is killed (200 each again).
func TestGateway(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	bin := filepath.Join(t.TempDir(), "httpgateway")
	if out, err := exec.CommandContext(ctx, "go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}

	const timeout = 2 * time.Second
	gw := start(t, ctx, bin, "gateway", "gateway", "-http", "127.0.0.1:0", "-backend", "tcp://127.0.0.1:0", "-timeout", timeout.String())
	backend := gw.expect(ctx, `^workers connect to (\S+)$`)[1]
	base := gw.expect(ctx, `^serving (http://\S+)$`)[1]

	tr := &http.Transport{MaxIdleConnsPerHost: 50}
	defer tr.CloseIdleConnections()
	// A request that hung would show as this error, not as a 504.
	client := &http.Client{Transport: tr, Timeout: 10 * timeout}
	const n = 50

	check := func(phase string, rs []response, ok func(r response) bool) {
		t.Helper()
		for _, r := range rs {
			if r.err != nil || !ok(r) {
				t.Fatalf("%s: %s: got status %d %q (err %v)", phase, r.path, r.status, r.body, r.err)
			}
		}
	}
	// fast is a 200 from w1 that answers this very request.
	fast := func(r response) bool {
		return r.status == http.StatusOK && r.body == fmt.Sprintf("w1 handled GET %s (0 bytes)\n", r.path)
	}

	rs := fire(client, base, n)
	check("no worker", rs, func(r response) bool { return r.status == http.StatusServiceUnavailable })

	start(t, ctx, bin, "w1", "worker", "-connect", backend, "-name", "w1")
	gw.expect(ctx, `^worker connected `)
	check("one worker", fire(client, base, n), fast)

	w2 := start(t, ctx, bin, "w2", "worker", "-connect", backend, "-name", "w2", "-delay", "1h")
	gw.expect(ctx, `^worker connected `)
	rs = fire(client, base, n)
	var ok, timedOut int
	check("a stuck worker", rs, func(r response) bool {
		switch {
		case fast(r):
			ok++
			return true
		case r.status == http.StatusGatewayTimeout && strings.Contains(r.body, "no reply from a worker within "+timeout.String()):
			timedOut++
			return true
		}
		return false
	})
	t.Logf("a stuck worker: %d 200s, %d 504s", ok, timedOut)
	if ok == 0 || timedOut == 0 {
		t.Fatalf("a stuck worker: got %d 200s and %d 504s, want some of each", ok, timedOut)
	}

	if err := w2.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	gw.expect(ctx, `^worker disconnected `)
	check("after the stuck worker died", fire(client, base, n), fast)

	// Ctrl-C stops the gateway cleanly (once our idle keep-alive
	// connections are closed: Shutdown waits for them).
	tr.CloseIdleConnections()
	if err := gw.cmd.Process.Signal(os.Interrupt); err != nil {
		t.Fatal(err)
	}
	<-gw.done
	if err := gw.cmd.ProcessState; !err.Success() {
		t.Fatalf("gateway: got %v, want exit status 0", err)
	}
}
