package socket

import (
	"fmt"
	"strings"
	"testing"
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

func TestMutualConnectNothingStranded(t *testing.T) {
	a := newSocket(t, Dealer, rfFastReconnect)
	b := newSocket(t, Dealer, rfFastReconnect)
	epA, err := a.Bind("tcp://127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	epB, err := b.Bind("tcp://127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	mutualExchange(t, a, b, epA, epB, 50)
}

func TestDialFromBindMutual(t *testing.T) {
	a := newSocket(t, Dealer, WithDialFromBind(true), rfFastReconnect)
	b := newSocket(t, Dealer, WithDialFromBind(true), rfFastReconnect)
	epA, err := a.Bind("tcp://127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	epB, err := b.Bind("tcp://127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	mutualExchange(t, a, b, epA, epB, 50)
}
