// Package pyzmqtest is what the tests that talk to real libzmq peers,
// through pyzmq in a child process, share: finding the interpreter and
// skipping (or, in CI, failing) without it, and a buffer for the child's
// stderr that the test may read while the child writes.
package pyzmqtest

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"sync"
	"testing"
)

// Python is the interpreter Debian's python3-zmq serves; the first
// python3 on PATH may be another one.
const Python = "/usr/bin/python3"

// RequiredEnv, when set (.ci/run sets it), makes Need fail instead of
// skip, so that CI cannot pass without its real peers.
const RequiredEnv = "WISP_INTEROP_REQUIRED"

var check = sync.OnceValue(func() error {
	out, err := exec.Command(Python, "-c", "import sys, zmq; sys.exit(0 if zmq.has('curve') else 1)").CombinedOutput()
	if err != nil {
		return fmt.Errorf("%v: %s", err, out)
	}
	return nil
})

// Need skips t, saying why, when pyzmq (with CURVE) cannot run, or fails
// it when RequiredEnv is set.
func Need(t testing.TB) {
	t.Helper()
	err := check()
	if err == nil {
		return
	}
	if os.Getenv(RequiredEnv) != "" {
		t.Fatalf("%s is set, but pyzmq cannot run: %v", RequiredEnv, err)
	}
	t.Skipf("skipping: this test talks to a real libzmq peer through pyzmq, and %s cannot import zmq with CURVE (apt-get install python3-zmq): %v", Python, err)
}

// Buffer is a bytes.Buffer a child process's output may be copied into
// while the test reads it.
type Buffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *Buffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

// String returns what was written so far.
func (b *Buffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}
