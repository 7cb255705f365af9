//go:build linux

package faulttest

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// The topology every scenario builds for itself: two network namespaces,
// A (the sender's) and B (the receiver's), joined either by a veth pair or
// by two TUN devices and the relay in this process (relay_test.go). Names
// carry this process's id and a counter, so parallel scenarios, and runs,
// never share a namespace, and interfaces live only inside them: nothing
// outside the namespaces a test creates is touched.

// need skips t, saying what is missing, unless the suite can run here:
// WISP_FAULTS set, root, the ip and iptables commands (and any extra tools
// named), and network namespaces that can be created.
func need(t *testing.T, tools ...string) {
	t.Helper()
	if os.Getenv(enableEnv) == "" {
		t.Skip("fault suite: set WISP_FAULTS=1 (needs root; .ci/run sets it)")
	}
	if os.Geteuid() != 0 {
		t.Skip("fault suite: needs root to create network namespaces (sudo WISP_FAULTS=1 go test ./internal/faulttest)")
	}
	for _, tool := range append([]string{"ip", "iptables"}, tools...) {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("fault suite: needs the %s command, not found in PATH (apt-get install iproute2 iptables)", tool)
		}
	}
	if err := probe(); err != nil {
		t.Skipf("fault suite: cannot set up a network namespace with iptables in it: %v", err)
	}
}

// probe creates a namespace, runs iptables in it and removes it, once per
// process: a kernel without namespaces or without netfilter fails here
// rather than halfway through a scenario.
var probe = sync.OnceValue(func() error {
	ns := fmt.Sprintf("wispf-%d-probe", os.Getpid())
	if err := run("ip", "netns", "add", ns); err != nil {
		return err
	}
	defer run("ip", "netns", "del", ns)
	return run("ip", "netns", "exec", ns, "iptables", "-S")
})

// run runs a command, bounded in time, and returns its output in the error
// when it fails.
func run(name string, args ...string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, name, args...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("%s %s: %v: %s", name, strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
	return nil
}

// output runs a command like run and returns its standard output.
func output(name string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("%s %s: %v: %s", name, strings.Join(args, " "), err, strings.TrimSpace(stderr.String()))
	}
	return string(out), nil
}

// topologies numbers the topologies of this process, for unique names and
// subnets.
var topologies atomic.Uint32

// pair is two namespaces and the link between them: A's interface and
// address, B's interface and address.
type pair struct {
	nsA, nsB   string
	devA, devB string
	ipA, ipB   string
}

// newNamespaces creates two namespaces with their loopback up, and removes
// them when t ends, whatever happened: by then the children that ran in
// them are dead (their Cleanup runs first) and the relay's devices closed.
func newNamespaces(t *testing.T) (p pair, n uint32) {
	t.Helper()
	n = topologies.Add(1)
	if n > 250 {
		t.Fatal("too many topologies for the 10.77.N.0/24 subnets")
	}
	p.nsA = fmt.Sprintf("wispf-%d-%d-a", os.Getpid(), n)
	p.nsB = fmt.Sprintf("wispf-%d-%d-b", os.Getpid(), n)
	addNamespaces(t, p.nsA, p.nsB)
	return p, n
}

// addNamespaces creates network namespaces with their loopback up, and
// removes them when t ends.
func addNamespaces(t *testing.T, names ...string) {
	t.Helper()
	for _, ns := range names {
		if err := run("ip", "netns", "add", ns); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			if err := run("ip", "netns", "del", ns); err != nil {
				t.Errorf("removing namespace: %v", err)
			}
		})
		if err := run("ip", "-n", ns, "link", "set", "lo", "up"); err != nil {
			t.Fatal(err)
		}
	}
}

// newVethPair builds A and B joined by a veth pair: the topology of the
// partition, link and reset scenarios, where the kernel carries every
// packet and the faults are iptables rules, link state and socket kills.
func newVethPair(t *testing.T) pair {
	t.Helper()
	p, n := newNamespaces(t)
	p.devA, p.devB = "veth-a", "veth-b"
	p.ipA, p.ipB = fmt.Sprintf("10.77.%d.1", n), fmt.Sprintf("10.77.%d.2", n)
	// Created inside A with its peer moved straight into B, so the pair
	// never appears in the namespace this test runs in.
	steps := [][]string{
		{"ip", "-n", p.nsA, "link", "add", p.devA, "type", "veth", "peer", "name", p.devB, "netns", p.nsB},
		{"ip", "-n", p.nsA, "addr", "add", p.ipA + "/30", "dev", p.devA},
		{"ip", "-n", p.nsB, "addr", "add", p.ipB + "/30", "dev", p.devB},
		{"ip", "-n", p.nsA, "link", "set", p.devA, "up"},
		{"ip", "-n", p.nsB, "link", "set", p.devB, "up"},
	}
	for _, s := range steps {
		if err := run(s[0], s[1:]...); err != nil {
			t.Fatal(err)
		}
	}
	return p
}

// partition makes A drop everything to and from B on its veth, in both
// directions and silently (no ICMP, no reset): to each side the other has
// simply vanished. The returned function heals it.
func partition(p pair) (heal func() error, err error) {
	rules := [][]string{
		{"INPUT", "-i", p.devA, "-j", "DROP"},
		{"OUTPUT", "-o", p.devA, "-j", "DROP"},
	}
	for _, r := range rules {
		if err := run("ip", append([]string{"netns", "exec", p.nsA, "iptables", "-w", "-I"}, r...)...); err != nil {
			return nil, err
		}
	}
	return func() error {
		var errs []error
		for _, r := range rules {
			errs = append(errs, run("ip", append([]string{"netns", "exec", p.nsA, "iptables", "-w", "-D"}, r...)...))
		}
		return errors.Join(errs...)
	}, nil
}

// setLink takes A's veth down or up. Down, B's end loses its carrier too
// and A loses its route to B: sends fail at once rather than vanish.
func setLink(p pair, up bool) error {
	state := "down"
	if up {
		state = "up"
	}
	return run("ip", "-n", p.nsA, "link", "set", p.devA, state)
}

// resetConns destroys the TCP connections of namespace ns that match the
// ss filter with ss -K (the kernel's SOCK_DESTROY): the socket there fails
// with ECONNABORTED and its peer receives a reset. It returns how many
// connections it destroyed.
func resetConns(ns string, filter ...string) (int, error) {
	out, err := output("ip", append([]string{"netns", "exec", ns, "ss", "-K", "-H", "-t", "-4"}, filter...)...)
	if err != nil {
		return 0, err
	}
	n := 0
	for _, line := range strings.Split(out, "\n") {
		if strings.TrimSpace(line) != "" {
			n++
		}
	}
	return n, nil
}
