package main

import (
	"bufio"
	"context"
	"fmt"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/wispmq/wisp/internal/pyzmqtest"
	"github.com/wispmq/wisp/socket"
)

// These tests run wispcat against real libzmq peers: pyzmq, in a child
// process running the socket package's test peer.

// pyzmqPeer runs socket/testdata/zmtp_peer.py with args and returns its
// stdout lines and its exit. It is killed when the test ends.
func pyzmqPeer(t *testing.T, args ...string) (lines <-chan string, exited <-chan error) {
	t.Helper()
	pyzmqtest.Need(t)
	const python = pyzmqtest.Python
	script, err := filepath.Abs("../../socket/testdata/zmtp_peer.py")
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(python, append([]string{script}, args...)...)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	ls, ex := make(chan string, 4096), make(chan error, 1)
	done := make(chan struct{})
	go func() {
		defer close(done)
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			ls <- sc.Text()
		}
		close(ls)
		ex <- cmd.Wait() // buffered: nobody need take it
	}()
	t.Cleanup(func() { cmd.Process.Kill(); <-done })
	return ls, ex
}

// peerLine returns the pyzmq peer's next line within the test's bound.
func peerLine(t *testing.T, ctx context.Context, lines <-chan string, what string) string {
	t.Helper()
	select {
	case l, ok := <-lines:
		if !ok {
			t.Fatalf("waiting for %s: the peer's output ended", what)
		}
		return strings.TrimSuffix(l, "\n")
	case <-ctx.Done():
		t.Fatalf("waiting for %s: %v", what, ctx.Err())
	}
	return ""
}

func e2eContext(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// TestE2EZMTPRepServesPyzmq: a pyzmq REQ gets 1,000 replies from
// "wispcat -type rep -protocol zmtp".
func TestE2EZMTPRepServesPyzmq(t *testing.T) {
	ctx := e2eContext(t)
	rep := start(t, nil, "-type", "rep", "-protocol", "zmtp", "-bind", "tcp://127.0.0.1:0", "-count", "1000")
	ep := boundEndpoint(t, rep, "tcp://127.0.0.1:0")
	lines, exited := pyzmqPeer(t, "--type", "REQ", "--connect", ep, "--job", "reqecho", "--count", "1000")
	peerLine(t, ctx, lines, "CONNECTED")
	if got := peerLine(t, ctx, lines, "the result"); got != "REQ_OK 1000" {
		t.Fatalf("pyzmq REQ: got %q, want REQ_OK 1000", got)
	}
	if err := <-exited; err != nil {
		t.Fatalf("pyzmq REQ: %v", err)
	}
	if status, _ := rep.wait(); status != 0 {
		t.Fatalf("wispcat rep: exit %d; stderr: %s", status, rep.stderr.String())
	}
}

// TestE2EZMTPSubFiltersPyzmqPub: "wispcat -type sub -protocol zmtp
// -subscribe A" connected to a pyzmq publisher prints exactly the
// publications whose topic starts with A, in order.
func TestE2EZMTPSubFiltersPyzmqPub(t *testing.T) {
	ctx := e2eContext(t)
	topics := []string{"A", "AB", "B", "CA"}
	const n = 2000
	lines, exited := pyzmqPeer(t, "--type", "XPUB", "--sndhwm", "0", "--bind", "tcp://127.0.0.1:0", "--job", "pub",
		"--topics", strings.Join(topics, ","), "--count", strconv.Itoa(n))
	ep := strings.TrimPrefix(peerLine(t, ctx, lines, "ENDPOINT"), "ENDPOINT ")
	sub := start(t, nil, "-type", "sub", "-protocol", "zmtp", "-subscribe", "A", "-connect", ep, "-count", strconv.Itoa(n/2))
	if got := peerLine(t, ctx, lines, "SUBSCRIPTION"); got != "SUBSCRIPTION 0141" {
		t.Fatalf("pyzmq got %q, want the subscription to A", got)
	}
	status, got := sub.wait()
	if status != 0 {
		t.Fatalf("wispcat sub: exit %d; stderr: %s", status, sub.stderr.String())
	}
	var want []string
	for i := range n {
		if strings.HasPrefix(topics[i%len(topics)], "A") {
			want = append(want, fmt.Sprintf("%s-%d", topics[i%len(topics)], i))
		}
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("wispcat sub printed %d lines, want the %d publications starting with A in order", len(got), len(want))
	}
	if err := <-exited; err != nil {
		t.Fatalf("pyzmq XPUB: %v", err)
	}
}

// TestE2EZMTPCurveAllowList: a CURVE server made with wispcat serves a
// pyzmq CURVE client whose key it allows, and refuses one with another
// key, with an event naming the reason.
func TestE2EZMTPCurveAllowList(t *testing.T) {
	ctx := e2eContext(t)
	serverPub, serverSec := keypair(t)
	allowedPub, allowedSec := keypair(t)
	otherPub, otherSec := keypair(t)
	rep := start(t, nil, "-type", "rep", "-protocol", "zmtp", "-v", "-bind", "tcp://127.0.0.1:0",
		"-curve-server", "-curve-secret", serverSec, "-curve-allow", allowedPub)
	ep := boundEndpoint(t, rep, "tcp://127.0.0.1:0")

	lines, exited := pyzmqPeer(t, append([]string{"--type", "REQ", "--connect", ep, "--job", "reqecho", "--count", "100"}, curveClientArgs(serverPub, allowedPub, allowedSec)...)...)
	peerLine(t, ctx, lines, "CONNECTED")
	if got := peerLine(t, ctx, lines, "the result"); got != "REQ_OK 100" {
		t.Fatalf("allowed client: got %q, want REQ_OK 100", got)
	}
	if err := <-exited; err != nil {
		t.Fatal(err)
	}

	lines, exited = pyzmqPeer(t, append([]string{"--type", "REQ", "--connect", ep, "--job", "reqecho", "--count", "1", "--timeout-ms", "1000"}, curveClientArgs(serverPub, otherPub, otherSec)...)...)
	peerLine(t, ctx, lines, "CONNECTED")
	if got := peerLine(t, ctx, lines, "the result"); got != "ERROR timeout" {
		t.Fatalf("refused client: got %q, want no reply (ERROR timeout)", got)
	}
	<-exited
	rep.cmd.Process.Kill()
	rep.wait()
	want := "client key " + otherPub + " is not in -curve-allow"
	if log := rep.stderr.String(); !strings.Contains(log, "handshake-failed") || !strings.Contains(log, want) {
		t.Fatalf("wispcat's events do not say why the client was refused (%q):\n%s", want, log)
	}
}

func keypair(t *testing.T) (public, secret string) {
	t.Helper()
	public, secret, err := socket.NewCurveKeypair()
	if err != nil {
		t.Fatal(err)
	}
	return public, secret
}

// curveClientArgs are the pyzmq peer's flags for a CURVE client. Z85 keys
// may start with "-", so each goes after "=".
func curveClientArgs(serverPublic, public, secret string) []string {
	return []string{"--curve-serverkey=" + serverPublic, "--curve-public=" + public, "--curve-secret=" + secret}
}
