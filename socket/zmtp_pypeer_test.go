package socket

import (
	"bufio"
	"context"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/wispmq/wisp/internal/pyzmqtest"
)

// pythonWithZMQ is the interpreter the pyzmq peers run with.
const pythonWithZMQ = pyzmqtest.Python

// pyPeer is a libzmq socket in a child process running
// testdata/zmtp_peer.py, which says what it does on stdout.
type pyPeer struct {
	t        *testing.T
	cmd      *exec.Cmd
	lines    chan string
	exited   chan struct{}
	err      error // the process's exit, once exited is closed
	stderr   pyzmqtest.Buffer
	Endpoint string // what it bound, when it binds
}

// startPy starts a peer with args and waits until it has bound (printing
// ENDPOINT) or asked to connect (CONNECTED). The test's end kills it by
// its PID if it is still running.
func startPy(t *testing.T, ctx context.Context, args ...string) *pyPeer {
	t.Helper()
	pyzmqtest.Need(t)
	script, err := filepath.Abs("testdata/zmtp_peer.py")
	if err != nil {
		t.Fatal(err)
	}
	p := &pyPeer{t: t, lines: make(chan string, 1<<16), exited: make(chan struct{})}
	p.cmd = exec.Command(pythonWithZMQ, append([]string{script}, args...)...)
	p.cmd.Stderr = &p.stderr
	stdout, err := p.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("starting the pyzmq peer: %v", err)
	}
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			p.lines <- sc.Text()
		}
		p.err = p.cmd.Wait()
		close(p.lines)
		close(p.exited)
	}()
	t.Cleanup(func() {
		p.cmd.Process.Kill()
		<-p.exited
	})
	line := p.expect(ctx, "")
	switch {
	case strings.HasPrefix(line, "ENDPOINT "):
		p.Endpoint = strings.TrimPrefix(line, "ENDPOINT ")
	case line == "CONNECTED":
	default:
		t.Fatalf("pyzmq peer %v: got %q, want ENDPOINT or CONNECTED", args, line)
	}
	return p
}

// expect returns the peer's next line, which must start with prefix. An
// "ERROR" line, an early exit or the context's end fails the test.
func (p *pyPeer) expect(ctx context.Context, prefix string) string {
	p.t.Helper()
	select {
	case line, ok := <-p.lines:
		if !ok {
			<-p.exited
			p.t.Fatalf("pyzmq peer exited (%v) while we waited for %q; stderr: %s", p.err, prefix, p.stderr.String())
		}
		if !strings.HasPrefix(line, prefix) || strings.HasPrefix(line, "ERROR") && !strings.HasPrefix(prefix, "ERROR") {
			p.t.Fatalf("pyzmq peer: got %q, want a line starting with %q; stderr: %s", line, prefix, p.stderr.String())
		}
		return line
	case <-ctx.Done():
		p.t.Fatalf("pyzmq peer: waiting for %q: %v; stderr: %s", prefix, ctx.Err(), p.stderr.String())
	}
	return ""
}

// finish waits for the peer to exit and fails the test unless it exited 0.
func (p *pyPeer) finish(ctx context.Context) {
	p.t.Helper()
	select {
	case <-p.exited:
		if p.err != nil {
			p.t.Fatalf("pyzmq peer: %v; stderr: %s", p.err, p.stderr.String())
		}
	case <-ctx.Done():
		p.t.Fatalf("pyzmq peer did not exit: %v", ctx.Err())
	}
}

// stop and resume freeze and thaw the peer (SIGSTOP, SIGCONT): a silent
// peer whose connection stays open.
func (p *pyPeer) stop()   { p.cmd.Process.Signal(syscall.SIGSTOP) }
func (p *pyPeer) resume() { p.cmd.Process.Signal(syscall.SIGCONT) }

// kill ends the peer at once (SIGKILL), as a crash would.
func (p *pyPeer) kill() {
	p.cmd.Process.Kill()
	<-p.exited
}

// zmtpSocket makes a socket speaking ZMTP that is closed when the test
// ends.
func zmtpSocket(t *testing.T, typ Type, opts ...Option) *Socket {
	t.Helper()
	return newSocket(t, typ, append([]Option{WithProtocol(ZMTP), WithLinger(5 * time.Second)}, opts...)...)
}

// curveClientArgs are the pyzmq peer's flags for a CURVE client. Z85 keys
// may start with "-", so each goes after "=".
func curveClientArgs(serverPublic, public, secret string) []string {
	return []string{"--curve-serverkey=" + serverPublic, "--curve-public=" + public, "--curve-secret=" + secret}
}
