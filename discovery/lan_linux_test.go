//go:build linux

package discovery

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// The defaults on a local network: two network namespaces this test
// creates, joined by a veth pair, stand for two hosts on a LAN. Nothing
// is sent outside them.

var lans atomic.Uint32

// newLAN creates namespaces A and B joined by a veth pair, A at
// 10.79.N.1/24 and B at 10.79.N.2/24, each with its default route on the
// link, as a host on a LAN has. It skips unless run as root with ip.
func newLAN(t *testing.T) (nsA, nsB string, n uint32) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root to create network namespaces")
	}
	if _, err := exec.LookPath("ip"); err != nil {
		t.Skip("needs the ip command (iproute2)")
	}
	n = lans.Add(1)
	nsA, nsB = fmt.Sprintf("wispd-%d-%d-a", os.Getpid(), n), fmt.Sprintf("wispd-%d-%d-b", os.Getpid(), n)
	ip := func(args ...string) {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		if out, err := exec.CommandContext(ctx, "ip", args...).CombinedOutput(); err != nil {
			t.Fatalf("ip %s: %v: %s", strings.Join(args, " "), err, out)
		}
	}
	for _, ns := range []string{nsA, nsB} {
		if out, err := exec.Command("ip", "netns", "add", ns).CombinedOutput(); err != nil {
			t.Skipf("cannot create a network namespace: %v: %s", err, out)
		}
		t.Cleanup(func() { exec.Command("ip", "netns", "del", ns).Run() })
	}
	// Made inside A with its peer moved straight into B, so the link never
	// appears in the namespace the test runs in.
	ip("-n", nsA, "link", "add", "lan0", "type", "veth", "peer", "name", "lan0", "netns", nsB)
	for i, ns := range []string{nsA, nsB} {
		ip("-n", ns, "addr", "add", fmt.Sprintf("10.79.%d.%d/24", n, i+1), "dev", "lan0")
		ip("-n", ns, "link", "set", "lo", "up")
		ip("-n", ns, "link", "set", "lan0", "up")
		ip("-n", ns, "route", "add", "default", "dev", "lan0")
	}
	return nsA, nsB, n
}

// runIn makes a beacon of cfg that announces endpoint and runs it inside
// network namespace ns until ctx ends. The goroutine that runs it stays
// locked to a thread in ns, and ends with it: Go then discards the thread
// instead of reusing it elsewhere.
func runIn(t *testing.T, ctx context.Context, ns string, cfg Config, endpoint string) (*Beacon, <-chan error) {
	t.Helper()
	made := make(chan *Beacon, 1)
	done := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		fd, err := unix.Open("/run/netns/"+ns, unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err == nil {
			err = unix.Setns(fd, unix.CLONE_NEWNET)
			unix.Close(fd)
		}
		var b *Beacon
		if err == nil {
			b, err = New(cfg)
		}
		if err == nil {
			err = b.Announce(endpoint)
		}
		if err != nil {
			made <- nil
			done <- err
			return
		}
		made <- b
		done <- b.Run(ctx)
	}()
	b := <-made
	if b == nil {
		t.Fatalf("beacon in %s: %v", ns, <-done)
	}
	return b, done
}

// TestLAN: beacons with the default broadcast address (255.255.255.255),
// and beacons given the interface, find each other across a link, each
// reporting the other's unspecified host as the address its beacons came
// from.
func TestLAN(t *testing.T) {
	for _, c := range []struct {
		name string
		cfg  Config
	}{
		{"default broadcast", Config{Group: "lan", Interval: 100 * time.Millisecond}},
		{"interface", Config{Group: "lan", Interval: 100 * time.Millisecond, Interface: "lan0"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			nsA, nsB, n := newLAN(t)
			ctx, cancel := context.WithCancel(context.Background())
			a, doneA := runIn(t, ctx, nsA, c.cfg, "tcp://0.0.0.0:7001")
			b, doneB := runIn(t, ctx, nsB, c.cfg, "tcp://*:7002")
			defer func() {
				cancel()
				for _, done := range []<-chan error{doneA, doneB} {
					if err := <-done; err != nil {
						t.Errorf("Run: got %v, want nil", err)
					}
				}
			}()
			for _, w := range []struct {
				b      *Beacon
				peer   ID
				wantEp string
			}{
				{a, b.ID(), fmt.Sprintf("tcp://10.79.%d.2:7002", n)},
				{b, a.ID(), fmt.Sprintf("tcp://10.79.%d.1:7001", n)},
			} {
				e := next(t, w.b.Events(), 5*time.Second)
				if e.Kind != EventJoin || e.ID != w.peer || e.Endpoint != w.wantEp {
					t.Fatalf("got %v, want %v joining at %s", e, w.peer, w.wantEp)
				}
			}
			if st := a.Stats(); st.SendErrors != 0 {
				t.Errorf("got %d send errors, want none", st.SendErrors)
			}
		})
	}
}
