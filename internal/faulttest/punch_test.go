//go:build linux

package faulttest

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"
)

// The hole-punching scenarios: two peers, each behind its own NAT, meet
// through an introducer on the "internet" and link up (package
// rendezvous). Five namespaces per scenario:
//
//	pub    the internet: a bridge, with the introducer at 198.51.100.1
//	natA   a home router: wan 198.51.100.2 on pub's bridge, lan 10.0.1.1,
//	       MASQUERADE out of wan, new connections in on wan dropped
//	peerA  10.0.1.2, default route via natA
//	natB   the same with wan 198.51.100.3, lan 10.0.2.1
//	peerB  10.0.2.2
//
// The NATs let nothing in that does not answer something that went out, so
// a direct connection between the peers exists only if punching opened
// both. Addresses are documentation and private ranges, inside the
// namespaces only.

const (
	introAddr  = "198.51.100.1"
	punchPort  = 7000 // every peer binds it; each is in its own namespace
	introPort  = 7100
	punchMsgs  = 2000
	punchSize  = 1024
	punchLimit = 3 * time.Second // the connector's punch timeout
)

// natNet names a scenario's namespaces.
type natNet struct {
	pub, natA, natB, peerA, peerB string
}

// natKind says how the scenario's NATs behave.
type natKind struct {
	// symmetricB makes natB's NAT symmetric (MASQUERADE --random-fully: a
	// random public port for each connection).
	symmetricB bool
	// refusing makes both routers answer an unsolicited SYN to themselves
	// with a reset, as a router without a stealth INPUT rule does, instead
	// of dropping it: a punch SYN that arrives too early is refused, and
	// only a redial gets through.
	refusing bool
}

// newNATNet builds the topology with NATs of kind k. Everything is
// removed when t ends.
func newNATNet(t *testing.T, k natKind) natNet {
	t.Helper()
	n := topologies.Add(1)
	name := func(s string) string { return fmt.Sprintf("wispf-%d-%d-%s", os.Getpid(), n, s) }
	nn := natNet{pub: name("pub"), natA: name("nata"), natB: name("natb"), peerA: name("peera"), peerB: name("peerb")}
	addNamespaces(t, nn.pub, nn.natA, nn.natB, nn.peerA, nn.peerB)
	steps := [][]string{
		{"ip", "-n", nn.pub, "link", "add", "br0", "type", "bridge"},
		{"ip", "-n", nn.pub, "addr", "add", introAddr + "/24", "dev", "br0"},
		{"ip", "-n", nn.pub, "link", "set", "br0", "up"},
		// The introducer's inbound bytes, counted: what a relay costs it.
		{"ip", "netns", "exec", nn.pub, "iptables", "-w", "-A", "INPUT", "-d", introAddr, "-p", "tcp"},
	}
	for i, side := range []struct{ nat, peer string }{{nn.natA, nn.peerA}, {nn.natB, nn.peerB}} {
		wan, lan, host := fmt.Sprintf("198.51.100.%d", i+2), fmt.Sprintf("10.0.%d.1", i+1), fmt.Sprintf("10.0.%d.2", i+1)
		port := fmt.Sprintf("port%d", i)
		masq := []string{"ip", "netns", "exec", side.nat, "iptables", "-w", "-t", "nat", "-A", "POSTROUTING", "-o", "wan", "-j", "MASQUERADE"}
		if k.symmetricB && i == 1 {
			masq = append(masq, "--random-fully")
		}
		steps = append(steps, [][]string{
			// Created inside the router with their other ends moved
			// straight to pub and the peer.
			{"ip", "-n", side.nat, "link", "add", "wan", "type", "veth", "peer", "name", port, "netns", nn.pub},
			{"ip", "-n", nn.pub, "link", "set", port, "master", "br0", "up"},
			{"ip", "-n", side.nat, "addr", "add", wan + "/24", "dev", "wan"},
			{"ip", "-n", side.nat, "link", "set", "wan", "up"},
			{"ip", "-n", side.nat, "link", "add", "lan", "type", "veth", "peer", "name", "eth0", "netns", side.peer},
			{"ip", "-n", side.nat, "addr", "add", lan + "/24", "dev", "lan"},
			{"ip", "-n", side.nat, "link", "set", "lan", "up"},
			{"ip", "-n", side.peer, "addr", "add", host + "/24", "dev", "eth0"},
			{"ip", "-n", side.peer, "link", "set", "eth0", "up"},
			{"ip", "-n", side.peer, "route", "add", "default", "via", lan},
			{"ip", "netns", "exec", side.nat, "sysctl", "-q", "-w", "net.ipv4.ip_forward=1"},
			masq,
			// A home router: nothing new comes in from the internet,
			// neither to the router (no RST for a closed port either)
			// nor through it.
			{"ip", "netns", "exec", side.nat, "iptables", "-w", "-A", "FORWARD", "-i", "wan", "-m", "conntrack", "--ctstate", "NEW,INVALID", "-j", "DROP"},
		}...)
		if !k.refusing {
			steps = append(steps, []string{"ip", "netns", "exec", side.nat, "iptables", "-w", "-A", "INPUT", "-i", "wan", "-m", "conntrack", "--ctstate", "NEW,INVALID", "-j", "DROP"})
		}
	}
	for _, s := range steps {
		if err := run(s[0], s[1:]...); err != nil {
			t.Fatal(err)
		}
	}
	return nn
}

// introducerBytes reads the counter of bytes the introducer's address
// received.
func introducerBytes(nn natNet) (int64, error) {
	out, err := output("ip", "netns", "exec", nn.pub, "iptables", "-w", "-nvx", "-L", "INPUT")
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(out, "\n") {
		f := strings.Fields(line)
		if len(f) > 7 && strings.Contains(line, introAddr) {
			return strconv.ParseInt(f[1], 10, 64)
		}
	}
	return 0, fmt.Errorf("no counting rule in:\n%s", out)
}

// punchResult is what a scenario saw.
type punchResult struct {
	a, b       record // the peers' linked records
	aPub, bPub string // their public endpoints, as the introducer saw them
	aDone      record
	bDone      record
	intro      record // the introducer's end record
	introBytes int64
}

// runPunch runs the introducer and the two peers (B accepts, A connects)
// in nn, waits for both to have exchanged every message, and stops them.
func runPunch(t *testing.T, nn natNet, limit time.Duration) punchResult {
	t.Helper()
	introEP := fmt.Sprintf("tcp://%s:%d", introAddr, introPort)
	in := startChild(t, nn.pub, "introducer", childConfig{Role: "introducer", Endpoint: introEP}, nil)
	if _, ok := in.waitFor(10*time.Second, func(r record) bool { return r.K == "listening" }); !ok {
		t.Fatalf("introducer did not bind: %s", in.output())
	}
	peer := func(ns, role, name, target, host string) (*child, record) {
		c := startChild(t, ns, name, childConfig{
			Role: role, Endpoint: introEP, Name: name, Target: target,
			Local: fmt.Sprintf("%s:%d", host, punchPort), Messages: punchMsgs, Size: punchSize,
			PunchTimeout: limit,
		}, nil)
		r, ok := c.waitFor(10*time.Second, func(r record) bool { return r.K == "registered" })
		if !ok {
			t.Fatalf("%s did not register: %s", name, c.output())
		}
		return c, r
	}
	b, bReg := peer(nn.peerB, "punch-accept", "b", "", "10.0.2.2")
	// The control: with B listening behind natB and registered, a plain
	// dial from A's side to the endpoint the introducer saw for B gets
	// nowhere. Only a punch can connect them.
	probe := startChild(t, nn.peerA, "probe", childConfig{Role: "probe-dial", Endpoint: bReg.Public}, nil)
	if r, ok := probe.waitFor(10*time.Second, func(r record) bool { return r.K == "probe" }); !ok || r.Err == "" {
		t.Fatalf("a plain dial from behind natA to B's public %s: got %+v, want it to fail (natB must drop unsolicited SYNs): %s", bReg.Public, r, probe.output())
	} else {
		t.Logf("control: a plain dial to B's public %s failed: %s", bReg.Public, r.Err)
	}
	a, aReg := peer(nn.peerA, "punch-connect", "a", "b", "10.0.1.2")
	res := punchResult{aPub: aReg.Public, bPub: bReg.Public}
	var ok bool
	for _, c := range []struct {
		c    *child
		into *record
		k    string
	}{{a, &res.a, "linked"}, {b, &res.b, "linked"}, {a, &res.aDone, "done"}, {b, &res.bDone, "done"}} {
		if *c.into, ok = c.c.waitFor(60*time.Second, func(r record) bool { return r.K == c.k || r.K == "end" }); !ok || c.into.K != c.k {
			t.Fatalf("%s: no %s record (%+v): %s", c.c.name, c.k, *c.into, c.c.output())
		}
	}
	var err error
	if res.introBytes, err = introducerBytes(nn); err != nil {
		t.Fatal(err)
	}
	for _, c := range []*child{a, b, in} {
		if err := c.stop(30 * time.Second); err != nil {
			t.Fatal(err)
		}
	}
	if res.intro, ok = in.end(); !ok || res.intro.Intro == nil {
		t.Fatalf("introducer wrote no final counters: %s", in.output())
	}
	return res
}

// connectedTo lists the remote addresses of a peer's connected data
// socket peers.
func connectedTo(r record) []string {
	var out []string
	if r.Stats != nil {
		for _, p := range r.Stats.Peers {
			if p.Connected {
				out = append(out, p.Remote)
			}
		}
	}
	return out
}

// TestPunchDirect: behind two port-preserving NATs that let nothing
// unsolicited in, the peers punch a direct connection: each one's socket is
// connected to the other's NAT's public address, every message crosses it,
// and the introducer relays nothing (its inbound byte count is a small
// fraction of one side's traffic).
func TestPunchDirect(t *testing.T) {
	need(t)
	t.Parallel()
	res := runPunch(t, newNATNet(t, natKind{}), punchLimit)
	checkDirect(t, res)
	t.Logf("FIGURES scenario=punch-direct a_attempts=%d b_attempts=%d a_punch=%v b_punch=%v intro_bytes=%d",
		res.a.Attempts, res.b.Attempts, time.Duration(res.a.D), time.Duration(res.b.D), res.introBytes)
}

// TestPunchRefusingNAT: the routers answer an unsolicited SYN with a
// reset instead of dropping it. Each side's first SYN then usually reaches
// the other NAT before that NAT's own peer has sent, and the reset ends
// the dial, and with it the mapping the other side's SYN needed; a punch
// works only if the two SYNs cross in flight, within about one trip
// between the NATs (tens of microseconds here). Whichever path results,
// both sides must agree on it, and every message must arrive, in order:
// in practice the link is relayed.
func TestPunchRefusingNAT(t *testing.T) {
	need(t)
	t.Parallel()
	res := runPunch(t, newNATNet(t, natKind{refusing: true}), punchLimit)
	if res.a.Path != res.b.Path {
		t.Fatalf("A linked %s, B linked %s, want the same path", res.a.Path, res.b.Path)
	}
	if res.a.Path == "direct" {
		checkDirect(t, res)
	} else {
		checkRelayed(t, res)
	}
	t.Logf("FIGURES scenario=punch-refusing path=%s a_attempts=%d b_attempts=%d a_punch=%v intro_bytes=%d relayed=%d",
		res.a.Path, res.a.Attempts, res.b.Attempts, time.Duration(res.a.D), res.introBytes, res.intro.Intro.Relayed)
}

// checkDirect asserts that the peers' link was direct, between their NATs'
// public endpoints, and that the introducer carried none of it.
func checkDirect(t *testing.T, res punchResult) {
	t.Helper()
	if res.aPub != fmt.Sprintf("198.51.100.2:%d", punchPort) || res.bPub != fmt.Sprintf("198.51.100.3:%d", punchPort) {
		t.Fatalf("introducer saw A at %s and B at %s, want their NATs' wan addresses, port %d kept", res.aPub, res.bPub, punchPort)
	}
	for _, c := range []struct {
		name         string
		linked, done record
		otherPub     string
	}{{"A", res.a, res.aDone, res.bPub}, {"B", res.b, res.bDone, res.aPub}} {
		if c.linked.Path != "direct" || c.linked.Remote != c.otherPub {
			t.Fatalf("%s: linked %s to %s, want direct to %s", c.name, c.linked.Path, c.linked.Remote, c.otherPub)
		}
		if got := connectedTo(c.done); len(got) != 1 || got[0] != c.otherPub {
			t.Fatalf("%s's socket is connected to %v, want only the other NAT's %s", c.name, got, c.otherPub)
		}
		var in uint64
		for _, p := range c.done.Stats.Peers {
			in += p.MsgsIn
		}
		if in != punchMsgs {
			t.Fatalf("%s's socket received %d messages, want all %d", c.name, in, punchMsgs)
		}
	}
	if st := res.intro.Intro; st.Relayed != 0 || st.Introductions != 1 {
		t.Fatalf("introducer: %+v, want 1 introduction and nothing relayed", *st)
	}
	if traffic := int64(punchMsgs * punchSize); res.introBytes > traffic/10 {
		t.Fatalf("the introducer received %d bytes, want far less than one side's %d", res.introBytes, traffic)
	}
}

// TestPunchSymmetric: natB gives each connection a random public port, so
// the port the introducer saw is not the one B punches from: no direct
// connection forms, A settles for the relay after its punch timeout, and
// every message arrives in order through the introducer.
func TestPunchSymmetric(t *testing.T) {
	need(t)
	t.Parallel()
	res := runPunch(t, newNATNet(t, natKind{symmetricB: true}), punchLimit)
	if !strings.HasPrefix(res.bPub, "198.51.100.3:") || res.bPub == fmt.Sprintf("198.51.100.3:%d", punchPort) {
		t.Fatalf("introducer saw B at %s, want natB's wan address with a port other than B's %d", res.bPub, punchPort)
	}
	checkRelayed(t, res)
	t.Logf("FIGURES scenario=punch-symmetric b_public=%s a_attempts=%d b_attempts=%d a_gave_up=%v intro_bytes=%d relayed=%d",
		res.bPub, res.a.Attempts, res.b.Attempts, time.Duration(res.a.D), res.introBytes, res.intro.Intro.Relayed)
}

// checkRelayed asserts that the peers' link was relayed: no direct
// connection, every message delivered in order by the introducer, after
// the connector's whole punch timeout.
func checkRelayed(t *testing.T, res punchResult) {
	t.Helper()
	for _, c := range []struct {
		name         string
		linked, done record
	}{{"A", res.a, res.aDone}, {"B", res.b, res.bDone}} {
		if c.linked.Path != "relayed" {
			t.Fatalf("%s: linked %s, want relayed", c.name, c.linked.Path)
		}
		if got := connectedTo(c.done); len(got) != 0 {
			t.Fatalf("%s's socket is connected to %v, want no direct connection", c.name, got)
		}
		if c.done.S != punchMsgs {
			t.Fatalf("%s received %d messages, want %d", c.name, c.done.S, punchMsgs)
		}
	}
	if time.Duration(res.a.D) < punchLimit {
		t.Fatalf("A gave up punching after %v, want its full punch timeout %v", time.Duration(res.a.D), punchLimit)
	}
	if st := res.intro.Intro; st.Relayed != 2*punchMsgs || st.RelayDrops != 0 {
		t.Fatalf("introducer: %+v, want %d messages relayed, none dropped", *st, 2*punchMsgs)
	}
	if traffic := int64(2 * punchMsgs * punchSize); res.introBytes < traffic {
		t.Fatalf("the introducer received %d bytes, want at least both sides' %d", res.introBytes, traffic)
	}
}
