package discovery

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"
)

// newBeacon makes a beacon of cfg that announces endpoint ("" none).
func newBeacon(t *testing.T, cfg Config, endpoint string) *Beacon {
	t.Helper()
	b, err := New(cfg)
	if err != nil {
		t.Fatalf("New: got %v, want nil", err)
	}
	if endpoint != "" {
		if err := b.Announce(endpoint); err != nil {
			t.Fatalf("Announce: got %v, want nil", err)
		}
	}
	return b
}

// TestBeaconsFindEachOther: five beacons in one process on one loopback
// port each report the other four joining, once, with the endpoint each
// announced and its unspecified host filled in; never themselves. One
// that stops is reported withdrawn at once, long before the timeout.
func TestBeaconsFindEachOther(t *testing.T) {
	port := loopbackPort(t)
	cfg := loopback("five", port, 200*time.Millisecond)
	cfg.Timeout = time.Minute // only a withdraw can explain a leave
	const n = 5
	var bs []*running
	for i := range n {
		bs = append(bs, start(t, newBeacon(t, cfg, fmt.Sprintf("tcp://0.0.0.0:%d", 7000+i))))
	}
	for i, b := range bs {
		seen := make(map[ID]string)
		for range n - 1 {
			e := next(t, b.Events(), 5*time.Second)
			if e.Kind != EventJoin {
				t.Fatalf("beacon %d: got %v, want a join", i, e)
			}
			if _, dup := seen[e.ID]; dup || e.ID == b.ID() {
				t.Fatalf("beacon %d: got %v again or its own, want each other beacon once", i, e)
			}
			seen[e.ID] = e.Endpoint
		}
		for j, o := range bs {
			if j == i {
				continue
			}
			if want := fmt.Sprintf("tcp://127.0.0.1:%d", 7000+j); seen[o.ID()] != want {
				t.Errorf("beacon %d: beacon %d's endpoint: got %q, want %q", i, j, seen[o.ID()], want)
			}
		}
		if got := len(b.Peers()); got != n-1 {
			t.Errorf("beacon %d: Peers: got %d, want %d", i, got, n-1)
		}
	}
	time.Sleep(3 * cfg.Interval) // announcements go on; no more joins
	for i, b := range bs {
		none(t, b.Events(), 0)
		if st := b.Stats(); st.Sent < 2 || st.Garbage != 0 || st.Foreign != 0 || st.Peers != n-1 {
			t.Errorf("beacon %d: got %+v, want Sent >= 2, no garbage or foreign beacons, %d peers", i, st, n-1)
		}
	}
	stopped := time.Now()
	bs[0].stop(t)
	for i, b := range bs[1:] {
		e := next(t, b.Events(), 5*time.Second)
		if e.Kind != EventLeave || e.ID != bs[0].ID() || e.Reason != LeaveWithdrawn {
			t.Fatalf("beacon %d: got %v, want beacon 0 withdrawn", i+1, e)
		}
	}
	t.Logf("the withdraw reached all in %v", time.Since(stopped))
}

// TestBeaconSilentPeer: a peer that announced once and then fell silent is
// reported gone, not before the timeout and at most Timeout + Interval
// after its announcement (plus scheduling slack).
func TestBeaconSilentPeer(t *testing.T) {
	port := loopbackPort(t)
	cfg := loopback("silent", port, 100*time.Millisecond)
	cfg.Timeout = 500 * time.Millisecond
	b := start(t, newBeacon(t, cfg, "tcp://127.0.0.1:7000"))
	listening(t, b)
	send := sender(t, port)
	ghost := ID{0xaa}
	send(Datagram{Kind: KindAnnounce, ID: ghost, Group: "silent", Endpoint: "tcp://0.0.0.0:7777"}.Append(nil))
	sent := time.Now()
	e := next(t, b.Events(), 5*time.Second)
	if e.Kind != EventJoin || e.ID != ghost || e.Endpoint != "tcp://127.0.0.1:7777" {
		t.Fatalf("got %v, want the ghost joining at tcp://127.0.0.1:7777", e)
	}
	e = next(t, b.Events(), 5*time.Second)
	took := time.Since(sent)
	if e.Kind != EventLeave || e.ID != ghost || e.Reason != LeaveSilent {
		t.Fatalf("got %v, want the ghost silent", e)
	}
	const slack = 500 * time.Millisecond
	if took < cfg.Timeout || took > cfg.Timeout+cfg.Interval+slack {
		t.Fatalf("silent after %v, want between Timeout %v and Timeout+Interval %v (+%v)", took, cfg.Timeout, cfg.Timeout+cfg.Interval, slack)
	}
}

// TestBeaconOtherGroup: beacons of another group on the same port are
// counted and ignored, and ignore this group's in turn.
func TestBeaconOtherGroup(t *testing.T) {
	port := loopbackPort(t)
	a := start(t, newBeacon(t, loopback("apples", port, 100*time.Millisecond), "tcp://127.0.0.1:7001"))
	o := start(t, newBeacon(t, loopback("oranges", port, 100*time.Millisecond), "tcp://127.0.0.1:7002"))
	a2 := start(t, newBeacon(t, loopback("apples", port, 100*time.Millisecond), "tcp://127.0.0.1:7003"))
	for _, c := range []struct {
		b    *running
		want *running
	}{{a, a2}, {a2, a}} {
		if e := next(t, c.b.Events(), 5*time.Second); e.Kind != EventJoin || e.ID != c.want.ID() {
			t.Fatalf("got %v, want only the other apple joining", e)
		}
	}
	none(t, a.Events(), 300*time.Millisecond)
	none(t, o.Events(), 0)
	if st := a.Stats(); st.Foreign == 0 || st.Peers != 1 {
		t.Errorf("apple: got %+v, want Foreign > 0 and 1 peer", st)
	}
	if st := o.Stats(); st.Foreign == 0 || st.Peers != 0 {
		t.Errorf("orange: got %+v, want Foreign > 0 and no peer", st)
	}
}

// TestBeaconGarbage: datagrams that are no valid beacon are counted and
// ignored, and the beacon goes on: a valid one sent after them joins.
func TestBeaconGarbage(t *testing.T) {
	port := loopbackPort(t)
	b := start(t, newBeacon(t, loopback("g", port, time.Second), "tcp://127.0.0.1:7000"))
	listening(t, b)
	valid := Datagram{Kind: KindAnnounce, ID: ID{0xbb}, Group: "g", Endpoint: "tcp://0.0.0.0:7001"}.Append(nil)
	garbage := [][]byte{
		{},
		[]byte("hello"),
		[]byte(strings.Repeat("x", 2000)),
		append([]byte("WSPD\x02"), valid[5:]...), // another version
		valid[:len(valid)-1],                     // truncated
		append(append([]byte{}, valid...), 0),    // a byte too many
		append([]byte("WSPD\x01\x09"), valid[6:]...),        // unknown kind
		append(append([]byte{}, valid...), valid...),        // two in one
		append(valid[:22:22], "\xff"+string(valid[23:])...), // a group length past the end
	}
	send := sender(t, port)
	for _, g := range garbage {
		send(g)
	}
	send(valid)
	e := next(t, b.Events(), 5*time.Second)
	if e.Kind != EventJoin || e.ID != (ID{0xbb}) || e.Endpoint != "tcp://127.0.0.1:7001" {
		t.Fatalf("got %v, want the valid beacon joining", e)
	}
	// Loopback keeps one sender's datagrams in order: all the garbage was
	// read before the valid one.
	if st := b.Stats(); st.Garbage != uint64(len(garbage)) || st.Peers != 1 {
		t.Fatalf("got %+v, want Garbage %d and 1 peer", st, len(garbage))
	}
}

// TestBeaconAnnounceChanges: a new endpoint is announced at once (peers
// see the old one leave and the new one join), and Announce("") withdraws.
func TestBeaconAnnounceChanges(t *testing.T) {
	port := loopbackPort(t)
	cfg := loopback("changes", port, 200*time.Millisecond)
	cfg.Timeout = time.Minute
	a := start(t, newBeacon(t, cfg, "tcp://127.0.0.1:7001"))
	b := start(t, newBeacon(t, cfg, ""))
	if e := next(t, b.Events(), 5*time.Second); e.Kind != EventJoin || e.Endpoint != "tcp://127.0.0.1:7001" {
		t.Fatalf("got %v, want a joining", e)
	}
	if err := a.Announce("tcp://127.0.0.1:7002"); err != nil {
		t.Fatal(err)
	}
	if e := next(t, b.Events(), 5*time.Second); e.Kind != EventLeave || e.Reason != LeaveMoved {
		t.Fatalf("got %v, want a moved", e)
	}
	if e := next(t, b.Events(), 5*time.Second); e.Kind != EventJoin || e.Endpoint != "tcp://127.0.0.1:7002" {
		t.Fatalf("got %v, want a joining at its new endpoint", e)
	}
	if err := a.Announce(""); err != nil {
		t.Fatal(err)
	}
	if e := next(t, b.Events(), 5*time.Second); e.Kind != EventLeave || e.Reason != LeaveWithdrawn {
		t.Fatalf("got %v, want a withdrawn", e)
	}
	// b only listened: a never heard of it.
	none(t, a.Events(), 300*time.Millisecond)
	if err := a.Announce("not an endpoint"); err == nil {
		t.Error("Announce of a bad endpoint: got nil, want an error")
	}
}

// TestBeaconInterface: Interface "lo" discovers on loopback by itself.
func TestBeaconInterface(t *testing.T) {
	if _, err := net.InterfaceByName("lo"); err != nil {
		t.Skip("no interface lo")
	}
	port := loopbackPort(t)
	cfg := Config{Group: "lo", Port: port, Interface: "lo", Interval: 200 * time.Millisecond}
	a := start(t, newBeacon(t, cfg, "tcp://127.0.0.1:7001"))
	b := start(t, newBeacon(t, cfg, "tcp://127.0.0.1:7002"))
	if e := next(t, a.Events(), 5*time.Second); e.ID != b.ID() {
		t.Fatalf("got %v, want b joining", e)
	}
	if e := next(t, b.Events(), 5*time.Second); e.ID != a.ID() {
		t.Fatalf("got %v, want a joining", e)
	}
}

// TestBeaconRun: Run fails when the port is held without SO_REUSEPORT,
// and a beacon runs once.
func TestBeaconRun(t *testing.T) {
	held, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4zero})
	if err != nil {
		t.Fatal(err)
	}
	defer held.Close()
	b := newBeacon(t, loopback("g", held.LocalAddr().(*net.UDPAddr).Port, time.Second), "")
	if err := b.Run(testContext(t)); err == nil {
		t.Fatal("Run on a held port: got nil, want an error")
	}
	if _, ok := <-b.Events(); ok {
		t.Fatal("Events after Run: got an event, want the channel closed")
	}
	if err := b.Run(testContext(t)); !errors.Is(err, ErrRunning) {
		t.Fatalf("second Run: got %v, want ErrRunning", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	b2 := newBeacon(t, loopback("g", loopbackPort(t), time.Second), "tcp://127.0.0.1:1")
	if err := b2.Run(ctx); err != nil {
		t.Fatalf("Run with an ended context: got %v, want nil", err)
	}
}
