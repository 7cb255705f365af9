package socket

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

// The tests in this file connect two sockets to each other, each binding
// and each dialing the other. One of the two connections is refused as a
// duplicate (or, from bound ports, cannot be made at all); what a socket
// queued for the endpoint whose connection lost must reach the peer over
// the connection that won, not wait for the endpoint forever.

// mutualExchange has a and b, already bound at epA and epB, connect to
// each other, send n messages each at once (before any connection is
// up, so they queue for the endpoints), and checks each receives the
// other's n messages once.
func mutualExchange(t *testing.T, a, b *Socket, epA, epB string, n int) {
	t.Helper()
	ctx := testContext(t)
	if err := a.Connect(epB); err != nil {
		t.Fatal(err)
	}
	if err := b.Connect(epA); err != nil {
		t.Fatal(err)
	}
	for i := range n {
		if err := a.Send(ctx, []byte(fmt.Sprintf("a%d", i))); err != nil {
			t.Fatal(err)
		}
		if err := b.Send(ctx, []byte(fmt.Sprintf("b%d", i))); err != nil {
			t.Fatal(err)
		}
	}
	for _, tc := range []struct {
		s    *Socket
		from string
	}{{b, "a"}, {a, "b"}} {
		seen := map[string]bool{}
		for range n {
			m, err := tc.s.Recv(ctx)
			if err != nil {
				t.Fatalf("Recv of %s's messages: got error %v after %d, want nil", tc.from, err, len(seen))
			}
			body := string(m.Bytes())
			if seen[body] || !strings.HasPrefix(body, tc.from) {
				t.Fatalf("got %q (seen before: %v), want each of %s's messages once", body, seen[body], tc.from)
			}
			seen[body] = true
		}
	}
}

// boundDealers makes two DEALERs that reconnect fast, each bound to a
// loopback port, and returns them with their endpoints.
func boundDealers(t *testing.T, opts ...Option) (a, b *Socket, epA, epB string) {
	t.Helper()
	opts = append(opts, rfFastReconnect)
	a, b = newSocket(t, Dealer, opts...), newSocket(t, Dealer, opts...)
	var err error
	if epA, err = a.Bind("tcp://127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	if epB, err = b.Bind("tcp://127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	return a, b, epA, epB
}

func TestMutualConnectNothingStranded(t *testing.T) {
	a, b, epA, epB := boundDealers(t)
	mutualExchange(t, a, b, epA, epB, 50)
}

func TestDialFromBindMutual(t *testing.T) {
	a, b, epA, epB := boundDealers(t, WithDialFromBind(true))
	mutualExchange(t, a, b, epA, epB, 50)
}

// TestMutualConnectNoRedialStorm: the side whose dial lost to the peer's
// connection does not keep dialing and being refused while that
// connection lasts; it dials again once it ends.
func TestMutualConnectNoRedialStorm(t *testing.T) {
	ctx := testContext(t)
	a, b, epA, epB := boundDealers(t)
	mutualExchange(t, a, b, epA, epB, 1)
	// With a 1-10 ms reconnect interval a refused dialer would fail
	// dozens of times in this while.
	time.Sleep(300 * time.Millisecond)
	failures := a.Stats().HandshakeFailures + b.Stats().HandshakeFailures
	if failures > 4 {
		t.Fatalf("handshake failures on both sides: got %d while the two were connected, want a refusal or two, not a storm", failures)
	}
	// The connection that won ends (the side that accepted it unbinds):
	// the other side's waiting dialer connects again.
	accepted := func(s *Socket, ep string) bool {
		for _, p := range s.Stats().Peers {
			if p.Connected && p.Endpoint == ep {
				return true
			}
		}
		return false
	}
	switch {
	case accepted(a, epA):
		if err := a.Unbind(epA); err != nil {
			t.Fatal(err)
		}
	case accepted(b, epB):
		if err := b.Unbind(epB); err != nil {
			t.Fatal(err)
		}
	default:
		t.Fatalf("no side holds an accepted connection: a %+v, b %+v", a.Stats().Peers, b.Stats().Peers)
	}
	time.Sleep(50 * time.Millisecond) // the closed connection is seen as gone
	waitConnected(t, ctx, a, 1)
	waitConnected(t, ctx, b, 1)
	if err := b.Send(ctx, []byte("after")); err != nil {
		t.Fatal(err)
	}
	if m, err := a.Recv(ctx); err != nil || string(m.Bytes()) != "after" {
		t.Fatalf("after the winning connection ended: got %q, %v, want \"after\"", m, err)
	}
}
