package engine

import (
	"encoding/binary"
	"testing"
)

// sessionOf makes a session id from a number.
func sessionOf(i int) SessionID {
	var s SessionID
	binary.BigEndian.PutUint64(s[:], uint64(i)+1)
	return s
}

// departedPeer is a peer of session i whose stream got as far as 4.
func departedPeer(e *Engine, i int) *Peer {
	p := newPeer(e, nil)
	p.session, p.hasSession = sessionOf(i), true
	p.ledger.RestartAt(5)
	return p
}

// TestDepartedKeepsTheNewest: past maxDeparted records the oldest goes, a
// session whose streams carried nothing leaves no record, and the order of
// records stays bounded however often sessions come and go.
func TestDepartedKeepsTheNewest(t *testing.T) {
	e, err := New(Config{Type: Push, Behavior: testBehavior, Emit: func(Event) {}})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	e.mu.Lock()
	defer e.mu.Unlock()
	const extra = 10
	for i := range maxDeparted + extra {
		e.rememberLocked(departedPeer(e, i))
	}
	if n := len(e.departed); n != maxDeparted {
		t.Fatalf("records: got %d, want %d", n, maxDeparted)
	}
	for i := range extra {
		if _, ok := e.departed[sessionOf(i)]; ok {
			t.Fatalf("record %d, among the oldest: got kept, want evicted", i)
		}
	}
	for _, i := range []int{extra, maxDeparted + extra - 1} {
		if rec, ok := e.departed[sessionOf(i)]; !ok || rec.nextSeq != 5 {
			t.Fatalf("record %d: got %+v, %v, want kept with nextSeq 5", i, rec, ok)
		}
	}

	quiet := newPeer(e, nil)
	quiet.session, quiet.hasSession = sessionOf(-2), true
	e.rememberLocked(quiet)
	if _, ok := e.departed[quiet.session]; ok {
		t.Fatal("a session that carried nothing: got a record, want none")
	}

	again := departedPeer(e, maxDeparted+extra-1)
	for range 3 * maxDeparted {
		e.rememberLocked(again)
	}
	if n := e.departedOrder.Len(); n > 2*maxDeparted+1 {
		t.Fatalf("order of records after one session came and went %d times: got %d entries, want at most %d", 3*maxDeparted, n, 2*maxDeparted+1)
	}
	if n := len(e.departed); n != maxDeparted {
		t.Fatalf("records after the churn: got %d, want %d", n, maxDeparted)
	}
}
