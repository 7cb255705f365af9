package socket

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"testing"
)

// frames turns strings into a message's frames.
func frames(ss ...string) [][]byte {
	out := make([][]byte, len(ss))
	for i, s := range ss {
		out[i] = []byte(s)
	}
	return out
}

// texts turns a message into strings, for comparing and printing.
func texts(m Message) []string {
	out := make([]string, len(m))
	for i, f := range m {
		out[i] = string(f)
	}
	return out
}

// mustRecv receives one message from s.
func mustRecv(t *testing.T, ctx context.Context, s *Socket, who string) Message {
	t.Helper()
	m, err := s.Recv(ctx)
	if err != nil {
		t.Fatalf("%s Recv: got error %v, want nil", who, err)
	}
	return m
}

// mustSend sends frames on s.
func mustSend(t *testing.T, ctx context.Context, s *Socket, who string, fs ...string) {
	t.Helper()
	if err := s.Send(ctx, frames(fs...)...); err != nil {
		t.Fatalf("%s Send(%q): got error %v, want nil", who, fs, err)
	}
}

// expectFrames receives one message from s and checks its frames.
func expectFrames(t *testing.T, ctx context.Context, s *Socket, who string, want ...string) {
	t.Helper()
	if got := texts(mustRecv(t, ctx, s, who)); !slices.Equal(got, want) {
		t.Fatalf("%s Recv: got %q, want %q", who, got, want)
	}
}

// waitSessions waits until s has n distinct connected peer sessions. A
// socket that both sends and receives lists each peer twice in Stats.Peers
// (send and receive side), so waitConnected's count would be reached by a
// single peer.
func waitSessions(t *testing.T, ctx context.Context, s *Socket, n int) {
	t.Helper()
	waitFor(t, ctx, fmt.Sprintf("%d connected peer sessions", n), func() bool {
		seen := map[string]bool{}
		for _, p := range s.Stats().Peers {
			if p.Connected && p.Session != "" {
				seen[p.Session] = true
			}
		}
		return len(seen) >= n
	})
}

// sessionBytes returns the raw 16-byte session id of s, the routing id a
// ROUTER knows it by unless it states one.
func sessionBytes(t *testing.T, s *Socket) []byte {
	t.Helper()
	b, err := hex.DecodeString(s.Session())
	if err != nil || len(b) != 16 {
		t.Fatalf("Session() = %q: got %d bytes, error %v, want 16 hex-encoded bytes", s.Session(), len(b), err)
	}
	return b
}

// TestRouterRoutingIDs checks what a ROUTER puts in front of a received
// message: the sender's session id by default, the id it chose with
// WithRoutingID otherwise; and that replies addressed by either reach it.
func TestRouterRoutingIDs(t *testing.T) {
	forEachTransport(t, func(t *testing.T, nw *network) {
		ctx := testContext(t)
		router := newSocket(t, Router)
		ep := nw.bind(router)
		anon := newSocket(t, Dealer)
		named := newSocket(t, Dealer, WithRoutingID([]byte("named")))
		nw.connect(anon, ep)
		nw.connect(named, ep)

		mustSend(t, ctx, anon, "anon", "from", "anon")
		mustSend(t, ctx, named, "named", "from", "named")
		ids := map[string][]byte{}
		for range 2 {
			m := mustRecv(t, ctx, router, "ROUTER")
			if len(m) != 3 || string(m[1]) != "from" {
				t.Fatalf("ROUTER Recv: got %q, want [id from sender]", texts(m))
			}
			ids[string(m[2])] = m[0]
		}
		if got, want := ids["anon"], sessionBytes(t, anon); !slices.Equal(got, want) {
			t.Errorf("routing id of a DEALER without one: got %x, want its session id %x", got, want)
		}
		if got := string(ids["named"]); got != "named" {
			t.Errorf("routing id of a DEALER WithRoutingID(named): got %q, want %q", got, "named")
		}

		for who, id := range ids {
			if err := router.Send(ctx, id, []byte("to"), []byte(who)); err != nil {
				t.Fatalf("ROUTER Send to %s: got error %v, want nil", who, err)
			}
		}
		expectFrames(t, ctx, anon, "anon", "to", "anon")
		expectFrames(t, ctx, named, "named", "to", "named")
		if st := router.Stats(); st.Unroutable != 0 {
			t.Errorf("ROUTER Stats.Unroutable: got %d, want 0", st.Unroutable)
		}
	})
}

// TestRouterSendReachesOnlyThatPeer addresses interleaved multi-frame
// messages to each of several DEALERs and checks each gets exactly its own,
// whole and in order.
func TestRouterSendReachesOnlyThatPeer(t *testing.T) {
	forEachTransport(t, func(t *testing.T, nw *network) {
		ctx := testContext(t)
		router := newSocket(t, Router)
		ep := nw.bind(router)
		const peers, each = 4, 25
		dealers := make([]*Socket, peers)
		ids := make([][]byte, peers)
		for i := range dealers {
			var opts []Option
			if i > 0 { // dealer 0 goes by its session id
				opts = append(opts, WithRoutingID([]byte("d"+strconv.Itoa(i))))
			}
			dealers[i] = newSocket(t, Dealer, opts...)
			nw.connect(dealers[i], ep)
			mustSend(t, ctx, dealers[i], "DEALER", "hello", strconv.Itoa(i))
		}
		// The hellos tell the ROUTER every peer is there, and by which id.
		for range peers {
			m := mustRecv(t, ctx, router, "ROUTER")
			i, err := strconv.Atoi(string(m[len(m)-1]))
			if len(m) != 3 || err != nil || i < 0 || i >= peers {
				t.Fatalf("ROUTER Recv: got %q, want [id hello n]", texts(m))
			}
			ids[i] = m[0]
		}

		for k := range each {
			for i, id := range ids {
				err := router.Send(ctx, id, []byte("for"), []byte(strconv.Itoa(i)), []byte{}, []byte(strconv.Itoa(k)), make([]byte, 100*k))
				if err != nil {
					t.Fatalf("ROUTER Send %d to dealer %d: got error %v, want nil", k, i, err)
				}
			}
		}
		for i, d := range dealers {
			for k := range each {
				m := mustRecv(t, ctx, d, "DEALER "+strconv.Itoa(i))
				if len(m) != 5 || string(m[0]) != "for" || string(m[1]) != strconv.Itoa(i) || len(m[2]) != 0 ||
					string(m[3]) != strconv.Itoa(k) || len(m[4]) != 100*k {
					t.Fatalf("dealer %d message %d: got %d frames starting %q, want [for %d \"\" %d <%d bytes>]", i, k, len(m), texts(m[:min(len(m), 4)]), i, k, 100*k)
				}
			}
		}
		// Every message sent reached its own peer, so none reached another.
	})
}

// TestDealerRoundRobinFairQueue checks that a DEALER connected to two
// ROUTERs sends to each in turn and takes their replies in turn.
func TestDealerRoundRobinFairQueue(t *testing.T) {
	forEachTransport(t, func(t *testing.T, nw *network) {
		ctx := testContext(t)
		routers := []*Socket{newSocket(t, Router), newSocket(t, Router)}
		dealer := newSocket(t, Dealer, WithRoutingID([]byte("dealer")))
		for _, r := range routers {
			nw.connect(dealer, nw.bind(r))
		}
		waitSessions(t, ctx, dealer, 2)

		const n = 10
		for i := range n {
			mustSend(t, ctx, dealer, "DEALER", "req", strconv.Itoa(i))
		}
		var got [2][]int
		for r, router := range routers {
			for range n / 2 {
				m := mustRecv(t, ctx, router, "ROUTER "+strconv.Itoa(r))
				if len(m) != 3 || string(m[0]) != "dealer" || string(m[1]) != "req" {
					t.Fatalf("ROUTER %d: got %q, want [dealer req n]", r, texts(m))
				}
				i, _ := strconv.Atoi(string(m[2]))
				got[r] = append(got[r], i)
			}
		}
		// In turn: one router has the even requests, the other the odd.
		for r := range routers {
			first := got[r][0]
			for k, i := range got[r] {
				if i != first+2*k {
					t.Fatalf("ROUTER %d got requests %v and the other %v, want every other one each", r, got[r], got[1-r])
				}
			}
		}

		// Both routers answer everything before the DEALER reads: it then
		// takes one from each in turn.
		for r, router := range routers {
			for k := range n / 2 {
				if err := router.Send(ctx, []byte("dealer"), []byte(strconv.Itoa(r)), []byte(strconv.Itoa(k))); err != nil {
					t.Fatalf("ROUTER %d Send: got error %v, want nil", r, err)
				}
			}
		}
		waitFor(t, ctx, "the DEALER to hold every reply", func() bool { return dealer.Stats().RecvQueue == n })
		last := -1
		next := [2]int{}
		for i := range n {
			m := mustRecv(t, ctx, dealer, "DEALER")
			r, _ := strconv.Atoi(string(m[0]))
			if len(m) != 2 || (r != 0 && r != 1) || string(m[1]) != strconv.Itoa(next[r]) {
				t.Fatalf("DEALER reply %d: got %q, want [router n] in each router's order", i, texts(m))
			}
			if r == last {
				t.Fatalf("DEALER reply %d: got a second reply in a row from router %d, want them in turn", i, r)
			}
			last = r
			next[r]++
		}
	})
}

// TestRouterUnroutable checks what becomes of a message for a routing id
// no peer has: dropped and counted, or refused under WithRouterMandatory;
// and that a ROUTER message needs a routing id frame and a body.
func TestRouterUnroutable(t *testing.T) {
	forEachTransport(t, func(t *testing.T, nw *network) {
		ctx := testContext(t)
		lax := newSocket(t, Router)
		strict := newSocket(t, Router, WithRouterMandatory(true))
		dealer := newSocket(t, Dealer, WithRoutingID([]byte("known")))
		nw.connect(dealer, nw.bind(lax))
		nw.connect(dealer, nw.bind(strict))
		waitSessions(t, ctx, dealer, 2)
		// Each ROUTER learns the DEALER from a message, so "known" is mapped.
		mustSend(t, ctx, dealer, "DEALER", "hi")
		mustSend(t, ctx, dealer, "DEALER", "hi")
		expectFrames(t, ctx, lax, "ROUTER", "known", "hi")
		expectFrames(t, ctx, strict, "mandatory ROUTER", "known", "hi")

		for i := range 3 {
			if err := lax.Send(ctx, []byte("nobody"), []byte("lost")); err != nil {
				t.Fatalf("Send %d to an unknown id: got error %v, want nil (dropped)", i, err)
			}
		}
		if got := lax.Stats().Unroutable; got != 3 {
			t.Errorf("Stats.Unroutable: got %d, want 3", got)
		}
		err := strict.Send(ctx, []byte("nobody"), []byte("lost"))
		if !errors.Is(err, ErrUnroutable) {
			t.Errorf("mandatory ROUTER Send to an unknown id: got %v, want ErrUnroutable", err)
		}
		for _, r := range []*Socket{lax, strict} {
			for _, m := range [][][]byte{nil, frames("known")} {
				if err := r.Send(ctx, m...); !errors.Is(err, ErrInvalidMessage) {
					t.Errorf("ROUTER Send of %d frames: got %v, want ErrInvalidMessage", len(m), err)
				}
			}
		}
		// The known peer is still reached, by both, and only it.
		mustSend(t, ctx, lax, "ROUTER", "known", "a")
		mustSend(t, ctx, strict, "mandatory ROUTER", "known", "b")
		got := []string{string(mustRecv(t, ctx, dealer, "DEALER").Bytes()), string(mustRecv(t, ctx, dealer, "DEALER").Bytes())}
		slices.Sort(got)
		if !slices.Equal(got, []string{"a", "b"}) {
			t.Errorf("DEALER: got %q, want a and b", got)
		}
		if got := strict.Stats().Unroutable; got != 0 {
			t.Errorf("mandatory ROUTER Stats.Unroutable: got %d, want 0 (the error reports it)", got)
		}
	})
}

// TestRouterDuplicateRoutingID checks that a ROUTER refuses a second peer
// stating the routing id of a connected one, keeps serving the first, and
// gives the id, with what was queued for it, to a newcomer once the first
// has gone.
func TestRouterDuplicateRoutingID(t *testing.T) {
	forEachTransport(t, func(t *testing.T, nw *network) {
		ctx := testContext(t)
		router := newSocket(t, Router)
		ep := nw.bind(router)
		id := WithRoutingID([]byte("worker"))
		first := newSocket(t, Dealer, id)
		nw.connect(first, ep)
		mustSend(t, ctx, first, "first DEALER", "first")
		expectFrames(t, ctx, router, "ROUTER", "worker", "first")

		second := newSocket(t, Dealer, id)
		nw.connect(second, ep)
		e, _ := waitEvent(t, ctx, router, "the second DEALER refused", func(e Event) bool {
			return e.Kind == EventHandshakeFailed && errors.Is(e.Err, ErrDuplicateRoutingID)
		})
		if e.Session != second.Session() {
			t.Errorf("refusal: got %v, want it for session %s", e, second.Session())
		}
		// The refused side learns why: from the ROUTER's ERROR over a
		// stream, directly over inproc.
		waitEvent(t, ctx, second, "the refusal's reason", func(e Event) bool {
			return errors.Is(e.Err, ErrPeerError) || errors.Is(e.Err, ErrDuplicateRoutingID)
		})

		mustSend(t, ctx, router, "ROUTER", "worker", "still", "yours")
		expectFrames(t, ctx, first, "first DEALER", "still", "yours")
		mustSend(t, ctx, first, "first DEALER", "still", "here")
		expectFrames(t, ctx, router, "ROUTER", "worker", "still", "here")
		if err := second.Close(); err != nil {
			t.Fatalf("second DEALER Close: got error %v, want nil", err)
		}
		if st := second.Stats(); st.MsgsIn != 0 {
			t.Errorf("refused DEALER: got %d messages, want 0", st.MsgsIn)
		}

		if err := first.Close(); err != nil {
			t.Fatalf("first DEALER Close: got error %v, want nil", err)
		}
		waitEvent(t, ctx, router, "the first DEALER gone", func(e Event) bool {
			return e.Kind == EventDisconnected && e.Session == first.Session()
		})
		// Queued for the id while nobody holds it, delivered to whoever
		// takes the id next (within the resume timeout).
		mustSend(t, ctx, router, "ROUTER", "worker", "queued")
		third := newSocket(t, Dealer, id)
		nw.connect(third, ep)
		expectFrames(t, ctx, third, "third DEALER", "queued")
		mustSend(t, ctx, router, "ROUTER", "worker", "direct")
		expectFrames(t, ctx, third, "third DEALER", "direct")
		mustSend(t, ctx, third, "third DEALER", "third")
		expectFrames(t, ctx, router, "ROUTER", "worker", "third")
		if got := router.Stats().Unroutable; got != 0 {
			t.Errorf("ROUTER Stats.Unroutable: got %d, want 0", got)
		}
	})
}

// TestRouterRouterAndDealerDealer checks the symmetric pairings: two
// ROUTERs address each other by routing id, two DEALERs just talk.
func TestRouterRouterAndDealerDealer(t *testing.T) {
	forEachTransport(t, func(t *testing.T, nw *network) {
		ctx := testContext(t)
		bound := newSocket(t, Router) // known to the other by its session id
		conn := newSocket(t, Router, WithRoutingID([]byte("caller")))
		nw.connect(conn, nw.bind(bound))
		waitSessions(t, ctx, conn, 1)
		boundID := sessionBytes(t, bound)
		if err := conn.Send(ctx, boundID, []byte("ping"), []byte("1")); err != nil {
			t.Fatalf("ROUTER Send to the bound ROUTER: got error %v, want nil", err)
		}
		expectFrames(t, ctx, bound, "bound ROUTER", "caller", "ping", "1")
		mustSend(t, ctx, bound, "bound ROUTER", "caller", "pong", "1")
		m := mustRecv(t, ctx, conn, "connecting ROUTER")
		if len(m) != 3 || !slices.Equal(m[0], boundID) || string(m[1]) != "pong" || string(m[2]) != "1" {
			t.Fatalf("connecting ROUTER: got %q, want [%x pong 1]", texts(m), boundID)
		}

		d1, d2 := newSocket(t, Dealer), newSocket(t, Dealer)
		nw.connect(d2, nw.bind(d1))
		mustSend(t, ctx, d2, "DEALER", "a", "", "b")
		expectFrames(t, ctx, d1, "DEALER", "a", "", "b")
		mustSend(t, ctx, d1, "DEALER", "c", "d")
		expectFrames(t, ctx, d2, "DEALER", "c", "d")
	})
}

// TestReqToRouterAndDealerToRep checks the envelopes the two mixed
// pairings expose: a ROUTER sees a REQ's request id and delimiter, and a
// DEALER talking to a REP must add and strip the delimiter itself.
func TestReqToRouterAndDealerToRep(t *testing.T) {
	forEachTransport(t, func(t *testing.T, nw *network) {
		ctx := testContext(t)
		router := newSocket(t, Router)
		req := newSocket(t, Req)
		nw.connect(req, nw.bind(router))
		if err := req.Send(ctx, []byte("what"), []byte("now")); err != nil {
			t.Fatalf("REQ Send: got error %v, want nil", err)
		}
		m := mustRecv(t, ctx, router, "ROUTER")
		if len(m) != 5 || !slices.Equal(m[0], sessionBytes(t, req)) || len(m[1]) != 4 || len(m[2]) != 0 ||
			string(m[3]) != "what" || string(m[4]) != "now" {
			t.Fatalf("ROUTER got %q, want [REQ session, 4-byte request id, \"\", what, now]", texts(m))
		}
		if err := router.Send(ctx, m[0], m[1], []byte{}, []byte("then")); err != nil {
			t.Fatalf("ROUTER Send of the reply: got error %v, want nil", err)
		}
		expectFrames(t, ctx, req, "REQ", "then")

		rep := newSocket(t, Rep)
		dealer := newSocket(t, Dealer)
		nw.connect(dealer, nw.bind(rep))
		mustSend(t, ctx, dealer, "DEALER", "", "ask", "more")
		expectFrames(t, ctx, rep, "REP", "ask", "more")
		mustSend(t, ctx, rep, "REP", "answer")
		expectFrames(t, ctx, dealer, "DEALER", "", "answer")
		// Without the delimiter the REP has no envelope to answer by.
		mustSend(t, ctx, dealer, "DEALER", "no delimiter")
		mustSend(t, ctx, dealer, "DEALER", "", "fine")
		expectFrames(t, ctx, rep, "REP", "fine")
		if got := rep.Stats().BadEnvelopes; got != 1 {
			t.Errorf("REP Stats.BadEnvelopes: got %d, want 1", got)
		}
	})
}

// TestProxyNeedsCapableSockets checks that Proxy refuses sockets that
// cannot do their part instead of failing later.
func TestProxyNeedsCapableSockets(t *testing.T) {
	ctx := testContext(t)
	push, pull := newSocket(t, Push), newSocket(t, Pull)
	if err := Proxy(ctx, push, pull, nil); !errors.Is(err, ErrNotSupported) {
		t.Errorf("Proxy(PUSH, PULL): got %v, want ErrNotSupported (the frontend cannot receive)", err)
	}
	router, dealer := newSocket(t, Router), newSocket(t, Dealer)
	if err := Proxy(ctx, router, dealer, pull); !errors.Is(err, ErrNotSupported) {
		t.Errorf("Proxy with a PULL capture: got %v, want ErrNotSupported", err)
	}
	if err := Proxy(ctx, nil, dealer, nil); !errors.Is(err, ErrInvalidOption) {
		t.Errorf("Proxy without a frontend: got %v, want ErrInvalidOption", err)
	}
}
