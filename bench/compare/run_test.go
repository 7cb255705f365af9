package main

import (
	"context"
	"errors"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// testTimeout only guards against a hung child; runs take well under a second.
const testTimeout = 60 * time.Second

func newTestEnv(t *testing.T) *env {
	return &env{dir: t.TempDir(), timeout: testTimeout}
}

func checkSample(t *testing.T, s sample, size int, count int64) {
	t.Helper()
	if s.count != count || s.size != size || !(s.seconds > 0) {
		t.Errorf("got count %d size %d seconds %v, want %d %d and more than 0", s.count, s.size, s.seconds, count, size)
	}
	for name, v := range map[string]float64{"sendCPU": s.sendCPU, "recvCPU": s.recvCPU, "sendRSSKB": s.sendRSSKB, "recvRSSKB": s.recvRSSKB} {
		if math.IsNaN(v) || v < 0 {
			t.Errorf("%s: got %v, want a number >= 0", name, v)
		}
	}
	if !(s.recvRSSKB > 0) {
		t.Errorf("recvRSSKB: got %v, want more than 0", s.recvRSSKB)
	}
}

func TestZMQ4PairTCP(t *testing.T) {
	e := newTestEnv(t)
	r, err := newZMQ4Runner(e)
	if err != nil {
		t.Fatalf("newZMQ4Runner: got error %v, want nil", err)
	}
	s, err := r.run(context.Background(), "tcp", 64, 1000)
	if err != nil {
		t.Fatalf("run: got error %v, want nil", err)
	}
	checkSample(t, s, 64, 1000)
}

func TestLibzmqPairTCP(t *testing.T) {
	if exec.Command("pkg-config", "--exists", "libzmq").Run() != nil {
		t.Skip("pkg-config or libzmq missing: " + libzmqPackages)
	}
	e := newTestEnv(t)
	r, version, err := newLibzmqRunner(context.Background(), e)
	if err != nil {
		t.Fatalf("newLibzmqRunner: got error %v, want nil", err)
	}
	if !strings.HasPrefix(version, "4.") {
		t.Errorf("libzmq version: got %q, want 4.x.y", version)
	}
	s, err := r.run(context.Background(), "tcp", 64, 1000)
	if err != nil {
		t.Fatalf("run: got error %v, want nil", err)
	}
	checkSample(t, s, 64, 1000)
}

// A receiver that fails must not leave its sender running until the timeout:
// the sender's whole process group is killed at once.
func TestRunProcsKillsPartner(t *testing.T) {
	start := time.Now()
	_, err := runProcs(context.Background(), testTimeout, func(ctx context.Context) []*proc {
		return []*proc{
			newProc(ctx, "recv", "/bin/sh", "-c", "echo boom >&2; exit 3"),
			// The sleep is a grandchild: only a group kill ends it.
			newProc(ctx, "send", "/bin/sh", "-c", "sleep 600; true"),
		}
	})
	if err == nil || !strings.Contains(err.Error(), "recv") || !strings.Contains(err.Error(), "boom") {
		t.Fatalf("got error %v, want the receiver's failure with its stderr", err)
	}
	// Not a timing threshold: without the kill this would take ten minutes.
	if time.Since(start) > testTimeout {
		t.Errorf("runProcs returned after %v, want the partner killed at once", time.Since(start))
	}
}

func TestRunProcsTimeout(t *testing.T) {
	_, err := runProcs(context.Background(), time.Millisecond, func(ctx context.Context) []*proc {
		return []*proc{newProc(ctx, "slow", "/bin/sh", "-c", "sleep 600; true")}
	})
	if !errors.Is(err, errTimeout) {
		t.Fatalf("got error %v, want errTimeout", err)
	}
}

func TestRunProcsResult(t *testing.T) {
	res, err := runProcs(context.Background(), testTimeout, func(ctx context.Context) []*proc {
		return []*proc{newProc(ctx, "echo", "/bin/sh", "-c", "echo hello")}
	})
	if err != nil {
		t.Fatalf("got error %v, want nil", err)
	}
	if got := string(res[0].stdout); got != "hello\n" {
		t.Errorf("stdout: got %q, want %q", got, "hello\n")
	}
	if res[0].maxRSSKB <= 0 {
		t.Errorf("maxRSSKB: got %d, want more than 0", res[0].maxRSSKB)
	}
}

func TestCapWriter(t *testing.T) {
	var w capWriter
	big := strings.Repeat("x", maxCapture+10)
	if n, err := w.Write([]byte(big)); n != len(big) || err != nil {
		t.Errorf("Write: got %d, %v, want %d, nil", n, err, len(big))
	}
	w.Write([]byte("more"))
	if w.buf.Len() != maxCapture {
		t.Errorf("kept %d bytes, want %d", w.buf.Len(), maxCapture)
	}
}

func TestEndpoint(t *testing.T) {
	e := newTestEnv(t)
	tcp, err := e.endpoint("tcp")
	if err != nil || !strings.HasPrefix(tcp, "tcp://127.0.0.1:") {
		t.Errorf("endpoint(tcp): got %q, %v, want tcp://127.0.0.1:PORT", tcp, err)
	}
	a, _ := e.endpoint("ipc")
	b, _ := e.endpoint("ipc")
	if !strings.HasPrefix(a, "ipc://"+e.dir) || a == b {
		t.Errorf("endpoint(ipc): got %q and %q, want two different paths in %s", a, b, e.dir)
	}
	if _, err := e.endpoint("inproc"); err == nil {
		t.Errorf("endpoint(inproc): got nil error, want one")
	}
}

func TestFindWispRoot(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "go.mod"), []byte("module github.com/wispmq/wisp\n\ngo 1.26\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	got, err := findWispRoot(dir)
	if err != nil || got != dir {
		t.Errorf("findWispRoot(%q): got %q, %v, want %q, nil", dir, got, err, dir)
	}
	other := t.TempDir()
	if err := os.WriteFile(filepath.Join(other, "go.mod"), []byte("module example.com/other\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if isWispRoot(other) {
		t.Errorf("isWispRoot(%q) for another module: got true, want false", other)
	}
	// From inside this repository the search upward finds the real root,
	// whatever the hint says.
	if root, err := findWispRoot(other); err != nil || !isWispRoot(root) {
		t.Errorf("findWispRoot(%q) from the package directory: got %q, %v, want the wisp root", other, root, err)
	}
}
