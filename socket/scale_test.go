//go:build linux

package socket

import (
	"context"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"syscall"
	"testing"
	"time"
)

// scalePeers is how many peers TestManyPeers connects to one socket.
const scalePeers = 2000

// TestManyPeers connects 2,000 DEALERs to one ROUTER over loopback TCP,
// has every one of them ask and get its own answer, closes them all, and
// checks that the ROUTER let go of every connection, goroutine and file
// descriptor, and holds on to no per-peer memory: a second round adds no
// heap to the first. bench scale measures
// the same with clients in other processes.
func TestManyPeers(t *testing.T) {
	if n := fdLimit(t); n < 2*scalePeers+256 {
		t.Skipf("skipping: %d peers need %d file descriptors, the limit is %d (raise it with ulimit -n)", scalePeers, 2*scalePeers+256, n)
	}
	goroutines, fds := runtime.NumGoroutine(), openFDs(t)
	// The first round leaves what the runtime keeps for reuse (goroutine
	// descriptors, pooled buffers); the second must add nothing to it.
	manyPeersRound(t, goroutines, fds)
	heapAfterFirst := heapInUse()
	manyPeersRound(t, goroutines, fds)
	if grown := heapInUse() - heapAfterFirst; grown > 1<<20 {
		t.Errorf("heap in use after a second round of %d peers: %d bytes more than after the first, want under 1 MiB", scalePeers, grown)
	}
}

// manyPeersRound is one round of TestManyPeers, which ends with every
// socket closed and the goroutine and file descriptor counts back.
func manyPeersRound(t *testing.T, goroutines, fds int) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*testTimeout)
	defer cancel()
	server, err := New(Router)
	if err != nil {
		t.Fatal(err)
	}
	ep, err := server.Bind("tcp://127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	clients := make([]*Socket, scalePeers)
	for i := range clients {
		c, err := New(Dealer)
		if err != nil {
			t.Fatal(err)
		}
		clients[i] = c
		if err := c.Connect(ep); err != nil {
			t.Fatal(err)
		}
	}
	if err := server.WaitPeers(ctx, scalePeers); err != nil {
		t.Fatalf("waiting for %d peers: %v (have %d)", scalePeers, err, connectedPeers(server))
	}
	if got := connectedPeers(server); got != scalePeers {
		t.Fatalf("peers: got %d, want %d", got, scalePeers)
	}
	// Each goroutine in this process beyond the sockets' own: at most one
	// for each side of a connection, none of them for an idle writer. A
	// writer started for a connection's first writes ends once they are
	// out, which under the race detector can take a moment: the count
	// must settle there, not be there at once.
	limit := 2*scalePeers + 16
	extra := runtime.NumGoroutine() - goroutines
	for settle := time.Now().Add(testTimeout); extra > limit && time.Now().Before(settle); {
		time.Sleep(10 * time.Millisecond)
		extra = runtime.NumGoroutine() - goroutines
	}
	if extra > limit {
		t.Errorf("goroutines with %d idle peers: %d more than before, want at most %d (one a connection end)", scalePeers, extra, limit)
	}

	// Every DEALER asks once; the ROUTER answers each at its routing id.
	for i, c := range clients {
		if err := c.Send(ctx, []byte(strconv.Itoa(i))); err != nil {
			t.Fatalf("client %d send: %v", i, err)
		}
	}
	seen := make([]bool, scalePeers)
	for range scalePeers {
		m, err := server.Recv(ctx)
		if err != nil {
			t.Fatalf("server recv: %v", err)
		}
		if len(m) != 2 {
			t.Fatalf("server got %d frames, want routing id and body", len(m))
		}
		i, err := strconv.Atoi(string(m[1]))
		if err != nil || i < 0 || i >= scalePeers || seen[i] {
			t.Fatalf("server got request %q: not a new client number", m[1])
		}
		seen[i] = true
		if err := server.Send(ctx, m[0], []byte("re:"+string(m[1]))); err != nil {
			t.Fatalf("server send to client %d: %v", i, err)
		}
	}
	for i, c := range clients {
		m, err := c.Recv(ctx)
		if err != nil {
			t.Fatalf("client %d recv: %v", i, err)
		}
		if want := fmt.Sprintf("re:%d", i); len(m) != 1 || string(m[0]) != want {
			t.Fatalf("client %d got %q, want [%s]", i, m, want)
		}
	}

	for _, c := range clients {
		c.Close()
	}
	waitFor(t, ctx, "the ROUTER to see every peer leave", func() bool {
		return connectedPeers(server) == 0
	})
	server.Close()
	waitFor(t, ctx, "goroutines and file descriptors to return to where they were", func() bool {
		return runtime.NumGoroutine() <= goroutines && openFDs(t) <= fds
	})
}

// heapInUse collects garbage and reports the bytes of heap in use.
func heapInUse() int64 {
	runtime.GC()
	runtime.GC() // a second cycle frees what the first one's finalizers released
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return int64(m.HeapInuse)
}

// openFDs counts this process's open file descriptors.
func openFDs(t *testing.T) int {
	t.Helper()
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Skipf("skipping: counting file descriptors needs /proc: %v", err)
	}
	return len(ents)
}

// fdLimit is the process's soft limit on open files.
func fdLimit(t *testing.T) int {
	var l syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &l); err != nil {
		t.Skipf("skipping: reading the file descriptor limit: %v", err)
	}
	return int(min(l.Cur, 1<<30))
}
