package main

import (
	"io"
	"os"
	"os/exec"
	"strings"
	"testing"
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
