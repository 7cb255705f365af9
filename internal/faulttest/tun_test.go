//go:build linux

package faulttest

import (
	"fmt"
	"os"
	"runtime"
	"testing"

	"golang.org/x/sys/unix"
)

// openTUN creates TUN device name inside namespace ns and returns its file.
// The device lives as long as the file: closing it removes the device.
//
// A TUN device belongs to the namespace of the process that opened
// /dev/net/tun, so the open happens on a thread moved into ns with setns
// and moved back afterwards; the device never exists in this test's own
// namespace. The file is non-blocking, so it goes through Go's poller and
// Close interrupts a pending Read.
func openTUN(ns, name string) (*os.File, error) {
	type result struct {
		f   *os.File
		err error
	}
	ch := make(chan result, 1)
	// A goroutine of its own, since a thread whose namespace could not be
	// restored must never run another goroutine: it stays locked, and Go
	// ends the thread when the goroutine returns.
	go func() {
		runtime.LockOSThread()
		f, restored, err := openTUNHere(ns, name)
		if restored {
			runtime.UnlockOSThread()
		}
		ch <- result{f, err}
	}()
	r := <-ch
	return r.f, r.err
}

// openTUNHere does openTUN's work on the current, locked thread, and says
// whether the thread is back in its own namespace.
func openTUNHere(ns, name string) (f *os.File, restored bool, err error) {
	self, err := unix.Open("/proc/thread-self/ns/net", unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, true, err
	}
	defer unix.Close(self)
	target, err := unix.Open("/run/netns/"+ns, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, true, err
	}
	defer unix.Close(target)
	if err := unix.Setns(target, unix.CLONE_NEWNET); err != nil {
		return nil, true, fmt.Errorf("setns %s: %w", ns, err)
	}
	fd, openErr := unix.Open("/dev/net/tun", unix.O_RDWR|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
	if openErr == nil {
		openErr = setTUN(fd, name)
		if openErr != nil {
			unix.Close(fd)
		}
	}
	if err := unix.Setns(self, unix.CLONE_NEWNET); err != nil {
		if openErr == nil {
			unix.Close(fd)
		}
		return nil, false, fmt.Errorf("setns back: %w", err)
	}
	if openErr != nil {
		return nil, true, fmt.Errorf("opening TUN %s in %s: %w", name, ns, openErr)
	}
	return os.NewFile(uintptr(fd), name), true, nil
}

// setTUN makes fd a layer-3 TUN device without the packet-information
// header, so each read and write is one bare IP packet.
func setTUN(fd int, name string) error {
	ifr, err := unix.NewIfreq(name)
	if err != nil {
		return err
	}
	ifr.SetUint16(unix.IFF_TUN | unix.IFF_NO_PI)
	return unix.IoctlIfreq(fd, unix.TUNSETIFF, ifr)
}

// newTUNPair builds A and B joined only through this process: a TUN device
// in each, with point-to-point addresses, and a relay copying packets
// between them with the impairments imp. It is the topology of the loss,
// delay, reordering and duplication scenarios, which the kernel here
// cannot produce (it has no netem).
func newTUNPair(t *testing.T, imp impairment) (pair, *relay) {
	t.Helper()
	p, n := newNamespaces(t)
	p.devA, p.devB = "tun-a", "tun-b"
	p.ipA, p.ipB = fmt.Sprintf("10.78.%d.1", n), fmt.Sprintf("10.78.%d.2", n)
	fa, err := openTUN(p.nsA, p.devA)
	if err != nil {
		t.Fatal(err)
	}
	fb, err := openTUN(p.nsB, p.devB)
	if err != nil {
		fa.Close()
		t.Fatal(err)
	}
	r := startRelay(fa, fb, imp)
	// Registered after the namespaces' removal, so it runs before it.
	t.Cleanup(r.stop)
	steps := [][]string{
		{"ip", "-n", p.nsA, "addr", "add", p.ipA, "peer", p.ipB + "/32", "dev", p.devA},
		{"ip", "-n", p.nsB, "addr", "add", p.ipB, "peer", p.ipA + "/32", "dev", p.devB},
		{"ip", "-n", p.nsA, "link", "set", p.devA, "up"},
		{"ip", "-n", p.nsB, "link", "set", p.devB, "up"},
	}
	for _, s := range steps {
		if err := run(s[0], s[1:]...); err != nil {
			t.Fatal(err)
		}
	}
	return p, r
}
