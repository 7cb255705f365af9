package discovery

import (
	"net/netip"
	"testing"
	"time"
)

// TestTable: the membership rules without a network: join once, stay
// while heard, leave on withdraw, on silence past the timeout, or
// (followed by a join) on a new endpoint; beyond max peers, ignore.
func TestTable(t *testing.T) {
	t0 := time.Unix(1000, 0)
	from := netip.MustParseAddrPort("192.0.2.7:5689")
	a, b, c := ID{1}, ID{2}, ID{3}
	ann := func(id ID, ep string) Datagram {
		return Datagram{Kind: KindAnnounce, ID: id, Group: "g", Endpoint: ep}
	}
	tb := newTable(2, 5*time.Second)
	check := func(what string, evs []Event, want ...Event) {
		t.Helper()
		if len(evs) != len(want) {
			t.Fatalf("%s: got events %v, want %v", what, evs, want)
		}
		for i := range evs {
			if evs[i] != want[i] {
				t.Fatalf("%s: event %d: got %+v, want %+v", what, i, evs[i], want[i])
			}
		}
	}
	check("a announces", tb.heard(nil, ann(a, "tcp://0.0.0.0:7001"), from, t0),
		Event{Kind: EventJoin, ID: a, Endpoint: "tcp://192.0.2.7:7001", From: from})
	check("a again", tb.heard(nil, ann(a, "tcp://0.0.0.0:7001"), from, t0.Add(time.Second)))
	check("b announces", tb.heard(nil, ann(b, "tcp://10.0.0.2:7002"), from, t0.Add(time.Second)),
		Event{Kind: EventJoin, ID: b, Endpoint: "tcp://10.0.0.2:7002", From: from})
	check("c beyond max", tb.heard(nil, ann(c, "tcp://10.0.0.3:7003"), from, t0.Add(time.Second)))
	if tb.overflow != 1 {
		t.Fatalf("overflow: got %d, want 1", tb.overflow)
	}
	check("b moves", tb.heard(nil, ann(b, "tcp://10.0.0.2:7012"), from, t0.Add(2*time.Second)),
		Event{Kind: EventLeave, ID: b, Endpoint: "tcp://10.0.0.2:7002", From: from, Reason: LeaveMoved},
		Event{Kind: EventJoin, ID: b, Endpoint: "tcp://10.0.0.2:7012", From: from})
	// a was last heard at t0+1s: still there at t0+6s, gone just after.
	check("at the timeout", tb.expire(nil, t0.Add(6*time.Second)))
	check("past the timeout", tb.expire(nil, t0.Add(6*time.Second+1)),
		Event{Kind: EventLeave, ID: a, Endpoint: "tcp://192.0.2.7:7001", From: from, Reason: LeaveSilent})
	check("b withdraws", tb.heard(nil, Datagram{Kind: KindWithdraw, ID: b, Group: "g"}, from, t0.Add(7*time.Second)),
		Event{Kind: EventLeave, ID: b, Endpoint: "tcp://10.0.0.2:7012", From: from, Reason: LeaveWithdrawn})
	check("b withdraws twice", tb.heard(nil, Datagram{Kind: KindWithdraw, ID: b, Group: "g"}, from, t0.Add(7*time.Second)))
	check("c now fits", tb.heard(nil, ann(c, "tcp://10.0.0.3:7003"), from, t0.Add(8*time.Second)),
		Event{Kind: EventJoin, ID: c, Endpoint: "tcp://10.0.0.3:7003", From: from})
}
