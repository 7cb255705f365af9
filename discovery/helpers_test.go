package discovery

import (
	"context"
	"net"
	"net/netip"
	"sync"
	"testing"
	"time"
)

// testContext bounds a test's waits.
func testContext(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// loopbackPort returns a UDP port for one test's beacons, free on the
// wildcard address, and holds it (with SO_REUSEPORT, as beacons bind it)
// until the test ends, so that no other program takes it meanwhile. The
// holder reads nothing; its queue just fills.
func loopbackPort(t *testing.T) int {
	t.Helper()
	c, err := listenUDP(context.Background(), netip.MustParseAddrPort("0.0.0.0:0"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c.LocalAddr().(*net.UDPAddr).Port
}

// loopback is a config of group on port that stays on this host.
func loopback(group string, port int, interval time.Duration) Config {
	return Config{Group: group, Port: port, Broadcast: LoopbackBroadcast, Interval: interval}
}

// running is a beacon whose Run runs until stop; its events are copied
// to a channel the test reads.
type running struct {
	*Beacon
	cancel context.CancelFunc
	done   chan error
}

// start runs b until the test ends or stop is called.
func start(t *testing.T, b *Beacon) *running {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	r := &running{Beacon: b, cancel: cancel, done: make(chan error, 1)}
	go func() { r.done <- b.Run(ctx) }()
	var once sync.Once
	t.Cleanup(func() { once.Do(func() { r.stop(t) }) })
	return r
}

// stop ends Run and checks it returned nil, draining what is left.
func (r *running) stop(t *testing.T) {
	t.Helper()
	r.cancel()
	for range r.Events() {
	}
	if err := <-r.done; err != nil {
		t.Errorf("Run: got %v, want nil", err)
	}
	r.done <- nil // a second stop finds it ended
}

// next returns the beacon's next event, failing the test after d.
func next(t *testing.T, ch <-chan Event, d time.Duration) Event {
	t.Helper()
	select {
	case e, ok := <-ch:
		if !ok {
			t.Fatal("events closed; want another event")
		}
		return e
	case <-time.After(d):
		t.Fatalf("no event within %v", d)
		return Event{}
	}
}

// none checks that no event comes within d (0: that none is waiting).
func none(t *testing.T, ch <-chan Event, d time.Duration) {
	t.Helper()
	if d == 0 {
		select {
		case e := <-ch:
			t.Fatalf("got event %v, want none", e)
		default:
			return
		}
	}
	select {
	case e := <-ch:
		t.Fatalf("got event %v, want none", e)
	case <-time.After(d):
	}
}

// sender is a bare UDP socket that sends raw datagrams to the beacons of
// port on loopback.
func sender(t *testing.T, port int) func(b []byte) {
	t.Helper()
	c, err := listenUDP(context.Background(), netip.MustParseAddrPort("0.0.0.0:0"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	to := netip.AddrPortFrom(netip.MustParseAddr(LoopbackBroadcast), uint16(port))
	return func(b []byte) {
		t.Helper()
		if _, err := c.WriteToUDPAddrPort(b, to); err != nil {
			t.Fatalf("send: %v", err)
		}
	}
}

// listening waits until b has bound its port: its own first announcement
// has come back to it.
func listening(t *testing.T, b *running) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for b.Stats().Received == 0 {
		if time.Now().After(deadline) {
			t.Fatal("the beacon heard nothing, not even itself, within 5s")
		}
		time.Sleep(5 * time.Millisecond)
	}
}
