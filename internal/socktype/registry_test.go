package socktype

import (
	"slices"
	"testing"

	"github.com/wispmq/wisp/internal/engine"
	"github.com/wispmq/wisp/wire"
)

// allTypes lists every socket type the engine names.
func allTypes() []engine.Type {
	var ts []engine.Type
	for t := engine.Type(0); t.Valid(); t++ {
		ts = append(ts, t)
	}
	return ts
}

// caps returns t's capabilities. Caps reads nothing of the engine, so the
// behaviour can be made without one.
func caps(t *testing.T, typ engine.Type) engine.Caps {
	t.Helper()
	f, ok := Lookup(typ)
	if !ok {
		t.Fatalf("Lookup(%v): got no behaviour, want one", typ)
	}
	return f(nil).Caps()
}

func TestEveryTypeHasABehavior(t *testing.T) {
	for _, typ := range allTypes() {
		caps(t, typ)
	}
	if _, ok := Lookup(engine.Type(200)); ok {
		t.Fatal("Lookup(SocketType(200)): got a behaviour, want none")
	}
}

// TestPeersAreMutual: if a may talk to b, b may talk to a.
func TestPeersAreMutual(t *testing.T) {
	for _, a := range allTypes() {
		for _, b := range caps(t, a).Peers {
			if !slices.Contains(caps(t, b).Peers, a) {
				t.Errorf("%v lists %v as a peer: got %v's peers %v, want %v among them", a, b, b, caps(t, b).Peers, a)
			}
		}
	}
}

// TestPeersMatchTheSpec: the pairs the behaviours allow are exactly those
// of wire/SPEC.md section 2.4 (wire.Compatible), types matched by name.
func TestPeersMatchTheSpec(t *testing.T) {
	wireType := map[string]wire.SocketType{}
	for w := wire.SocketType(0); w.Valid(); w++ {
		wireType[w.String()] = w
	}
	for _, a := range allTypes() {
		for _, b := range allTypes() {
			got := slices.Contains(caps(t, a).Peers, b)
			want := wire.Compatible(wireType[a.String()], wireType[b.String()])
			if got != want {
				t.Errorf("%v with %v: got compatible %v, want %v", a, b, got, want)
			}
		}
	}
}

// TestCapsAreConsistent: a type that sends or receives data lets the
// application do so, a publisher never asks for acknowledgements, and
// exactly the types whose Send goes to every peer fan out.
func TestCapsAreConsistent(t *testing.T) {
	for _, typ := range allTypes() {
		c := caps(t, typ)
		if c.SendsData && !c.CanSend {
			t.Errorf("%v sends data: got CanSend false, want true", typ)
		}
		if c.ReceivesData && !c.CanRecv {
			t.Errorf("%v receives data: got CanRecv false, want true", typ)
		}
		if !c.SendsData && !c.ReceivesData {
			t.Errorf("%v: got neither SendsData nor ReceivesData, want one", typ)
		}
		if c.NoAcks && !c.Addressed {
			t.Errorf("%v never asks for acknowledgements: got Addressed false, want true (nothing unacknowledged may go to another peer)", typ)
		}
		// The types whose Send goes to every peer (that wants it).
		if want := typ == engine.Pub || typ == engine.XPub || typ == engine.Bus; c.FansOut != want {
			t.Errorf("%v: got FansOut %v, want %v", typ, c.FansOut, want)
		}
		if c.FansOut && !(c.SendsData && c.Addressed) {
			t.Errorf("%v fans out: got SendsData %v and Addressed %v, want both (each copy is its peer's)", typ, c.SendsData, c.Addressed)
		}
	}
}
