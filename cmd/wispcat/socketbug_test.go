package main

import (
	"context"
	"io"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/wispmq/wisp/socket"
)

// TestSocketRecvAcksBeforeTheMessageIsHandled shows the limit of the
// lossless guarantee that wispcat cannot work around: Recv acknowledges the
// message it returns, so a receiver that dies while it handles that message
// (here: a pull blocked writing a 200 KB line to a full stdout pipe) loses
// it, and the push reports it delivered. Acknowledging a message when the
// application asks for the next one (or an explicit Ack) would close the
// gap. It runs only with WISPCAT_SOCKET_BUGS=1.
func TestSocketRecvAcksBeforeTheMessageIsHandled(t *testing.T) {
	if os.Getenv("WISPCAT_SOCKET_BUGS") == "" {
		t.Skip("socket issue kept for the socket package; set WISPCAT_SOCKET_BUGS=1 to run")
	}
	ep := ipcEndpoint(t)
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	pull := exec.Command(wispcatBinary(t), "-type", "pull", "-bind", ep)
	pull.Stdout = w // nobody reads it until the pull is dead
	if err := pull.Start(); err != nil {
		t.Fatal(err)
	}
	w.Close()
	line := strings.Repeat("x", 200<<10)
	push := exec.Command(wispcatBinary(t), "-type", "push", "-connect", ep, "-linger", "2s")
	push.Stdin = strings.NewReader(line + "\n")
	pushErr := push.Run()
	pull.Process.Kill()
	pull.Wait()
	out, _ := io.ReadAll(r)
	if pushErr == nil && len(out) < len(line)+1 {
		t.Errorf("push exited 0 (message acknowledged), but the killed pull wrote %d of %d bytes: got the message lost, want it resent", len(out), len(line)+1)
	}
}

// TestSocketPubFlushReturnsBeforeTheWrite shows a PUB losing a message it
// had queued for a subscriber when the publisher exits: without acks, the
// writer counts a message done when it takes it from the queue, before it
// writes it, so Flush (pub's -linger) can return while the write is still
// to come, and Close then cuts it. The message is neither written
// (Stats().MsgsOut) nor counted as dropped, and the pub reports "1 written"
// nowhere. Flush returning only after the write would close the gap. It
// runs only with WISPCAT_SOCKET_BUGS=1; the loss is rare, so it repeats
// the exchange, and shows more often on a loaded machine.
func TestSocketPubFlushReturnsBeforeTheWrite(t *testing.T) {
	if os.Getenv("WISPCAT_SOCKET_BUGS") == "" {
		t.Skip("socket issue kept for the socket package; set WISPCAT_SOCKET_BUGS=1 to run")
	}
	for i := range 3000 {
		ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
		sub, err := socket.New(socket.Sub)
		if err != nil {
			t.Fatal(err)
		}
		sub.Subscribe([]byte("a"))
		ep, err := sub.Bind("tcp://127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		status, _, stderr := runArgs(ctx, "", "-type", "pub", "-connect", ep, "-wait-subs", "1", "-data", "apple", "-v")
		rctx, rcancel := context.WithTimeout(ctx, time.Second)
		_, rerr := sub.Recv(rctx)
		rcancel()
		sub.Close()
		cancel()
		if status != exitOK {
			t.Fatalf("exchange %d: got status %d (stderr %q), want 0", i, status, stderr)
		}
		if rerr != nil {
			lines := strings.Split(strings.TrimSpace(stderr), "\n")
			t.Fatalf("exchange %d: the subscriber got nothing (%v), want the message; the pub said %q", i, rerr, lines[len(lines)-1])
		}
	}
}
