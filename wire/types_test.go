package wire

import (
	"regexp"
	"testing"
)

func TestSocketTypeString(t *testing.T) {
	for _, tc := range []struct {
		t    SocketType
		want string
	}{
		{Pair, "PAIR"}, {Pub, "PUB"}, {Sub, "SUB"}, {Req, "REQ"}, {Rep, "REP"},
		{Dealer, "DEALER"}, {Router, "ROUTER"}, {Pull, "PULL"}, {Push, "PUSH"},
		{XPub, "XPUB"}, {XSub, "XSUB"}, {Bus, "BUS"}, {12, "SocketType(12)"},
		{42, "SocketType(42)"},
	} {
		if got := tc.t.String(); got != tc.want {
			t.Errorf("SocketType(%d).String() got %q, want %q", uint8(tc.t), got, tc.want)
		}
		if got, want := tc.t.Valid(), tc.t <= Bus; got != want {
			t.Errorf("SocketType(%d).Valid() got %v, want %v", uint8(tc.t), got, want)
		}
	}
}

func TestCompatible(t *testing.T) {
	// Written out independently of the table in types.go, from SPEC.md 2.4.
	want := map[[2]SocketType]bool{}
	for _, p := range [][2]SocketType{
		{Push, Pull}, {Pub, Sub}, {Pub, XSub}, {XPub, Sub}, {XPub, XSub}, {Req, Rep},
		{Req, Router}, {Dealer, Rep}, {Dealer, Router}, {Dealer, Dealer},
		{Router, Router}, {Pair, Pair}, {Bus, Bus},
	} {
		want[p] = true
		want[[2]SocketType{p[1], p[0]}] = true
	}
	for a := range SocketType(14) {
		for b := range SocketType(14) {
			if got := Compatible(a, b); got != want[[2]SocketType{a, b}] {
				t.Errorf("Compatible(%v, %v) got %v, want %v", a, b, got, !got)
			}
		}
	}
	if Compatible(255, 255) {
		t.Errorf("Compatible(255, 255) got true, want false")
	}
}

func TestSessionID(t *testing.T) {
	a, b := NewSessionID(), NewSessionID()
	if a == b {
		t.Errorf("NewSessionID twice got %v both times, want different ids", a)
	}
	if !regexp.MustCompile(`^[0-9a-f]{32}$`).MatchString(a.String()) {
		t.Errorf("String() got %q, want 32 lower-case hex digits", a.String())
	}
	if got, want := seq16(0).String(), "000102030405060708090a0b0c0d0e0f"; got != want {
		t.Errorf("String() got %q, want %q", got, want)
	}
}
