package socket

import (
	"errors"
	"fmt"
	"net"
	"testing"
	"time"

	"github.com/wispmq/wisp/wire"
)

// TestReqRepRoundTrips checks strict alternation and that every reply
// reaches the REQ that asked, over every transport.
func TestReqRepRoundTrips(t *testing.T) {
	forEachTransport(t, func(t *testing.T, nw *network) {
		ctx := testContext(t)
		rep := newSocket(t, Rep)
		req := newSocket(t, Req)
		nw.connect(req, nw.bind(rep))
		done := make(chan error, 1)
		go func() {
			for i := 0; i < 100; i++ {
				m, err := rep.Recv(ctx)
				if err != nil {
					done <- err
					return
				}
				if err := rep.Send(ctx, append([]byte("re:"), m[0]...), []byte("x")); err != nil {
					done <- err
					return
				}
			}
			done <- nil
		}()
		for i := 0; i < 100; i++ {
			body := fmt.Sprintf("q%d", i)
			if err := req.Send(ctx, []byte(body)); err != nil {
				t.Fatalf("Send %d: got error %v, want nil", i, err)
			}
			if i == 0 {
				if err := req.Send(ctx, []byte("again")); !errors.Is(err, ErrState) {
					t.Fatalf("second Send before the reply: got %v, want ErrState", err)
				}
			}
			m, err := req.Recv(ctx)
			if err != nil {
				t.Fatalf("Recv %d: got error %v, want nil", i, err)
			}
			if len(m) != 2 || string(m[0]) != "re:"+body || string(m[1]) != "x" {
				t.Fatalf("reply %d: got %q, want [re:%s x]", i, m, body)
			}
		}
		if err := <-done; err != nil {
			t.Fatalf("REP loop: got error %v, want nil", err)
		}
		if _, err := req.Recv(ctx); !errors.Is(err, ErrState) {
			t.Fatalf("Recv with no request: got %v, want ErrState", err)
		}
		if err := rep.Send(ctx, []byte("unasked")); !errors.Is(err, ErrState) {
			t.Fatalf("REP Send with no request: got %v, want ErrState", err)
		}
	})
}

// TestReqOnTheWire checks a real REQ against a raw REP that speaks
// wire/SPEC.md section 4.1 byte by byte: the request arrives as
// [4-byte id][empty][body], and a reply of the same form with the same id
// is delivered.
func TestReqOnTheWire(t *testing.T) {
	ctx := testContext(t)
	req := newSocket(t, Req, WithLinger(0)) // the raw REP never acknowledges
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if err := req.Connect("tcp://" + l.Addr().String()); err != nil {
		t.Fatal(err)
	}
	if err := req.Send(ctx, []byte("hello")); err != nil {
		t.Fatal(err)
	}
	nc, err := l.Accept()
	if err != nil {
		t.Fatal(err)
	}
	raw := rawOn(t, nc)
	g := raw.handshake(rawGreeting(wire.Rep, false))
	if g.Type != wire.Req || !g.Acks {
		t.Fatalf("greeting: got type %v acks %v, want REQ with ACKS", g.Type, g.Acks)
	}
	var frames []wire.Item
	for len(frames) == 0 || frames[len(frames)-1].More {
		it, err := raw.readItem()
		if err != nil {
			t.Fatalf("reading the request: %v", err)
		}
		if it.IsCommand {
			if it.Command.ID != wire.CmdResume {
				t.Fatalf("got command %v before the request, want only RESUME", it.Command.ID)
			}
			continue
		}
		frames = append(frames, it)
	}
	if len(frames) != 3 || len(frames[0].Frame) != 4 || len(frames[1].Frame) != 0 || string(frames[2].Frame) != "hello" {
		t.Fatalf("request frames: got %+v, want [4-byte id][][hello]", frames)
	}
	id := frames[0].Frame
	wrong := append([]byte(nil), id...)
	wrong[3]++
	for _, body := range []struct {
		id   []byte
		text string
	}{{wrong, "stale"}, {id, "world"}} {
		raw.frame(true, body.id)
		raw.frame(true, nil)
		raw.frame(false, []byte(body.text))
	}
	m, err := req.Recv(ctx)
	if err != nil || string(m.Bytes()) != "world" || len(m) != 1 {
		t.Fatalf("Recv: got %q, %v, want [world], nil", m, err)
	}
	if st := req.Stats(); st.StaleReplies != 1 {
		t.Fatalf("StaleReplies: got %d, want 1", st.StaleReplies)
	}
}

// TestRefusedPeerBacksOff checks that a DEALER refused after its handshake
// (its routing id is in use) redials with growing delays rather than every
// initial interval forever.
func TestRefusedPeerBacksOff(t *testing.T) {
	ctx := testContext(t)
	router := newSocket(t, Router)
	ep, err := router.Bind("tcp://127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	first := newSocket(t, Dealer, WithRoutingID([]byte("w")))
	if err := first.Connect(ep); err != nil {
		t.Fatal(err)
	}
	waitConnected(t, ctx, router, 1)
	const initial = 5 * time.Millisecond
	second := newSocket(t, Dealer, WithRoutingID([]byte("w")), WithReconnectInterval(initial, time.Minute))
	if err := second.Connect(ep); err != nil {
		t.Fatal(err)
	}
	var delays []time.Duration
	for len(delays) < 5 {
		e := waitKind(t, ctx, second, EventRetrying)
		if !errors.Is(e.Err, ErrPeerError) {
			t.Fatalf("retry %d: got reason %v, want the ROUTER's ERROR (ErrPeerError)", len(delays)+1, e.Err)
		}
		delays = append(delays, e.Delay)
	}
	// The n-th delay is at least initial * 2^(n-1) / 2 (jitter halves at most).
	if want := initial * 16 / 2; delays[4] < want {
		t.Fatalf("retry delays: got %v, want the fifth at least %v", delays, want)
	}
}

// TestDealerRepStreamDoesNotDeadlock pipelines many requests from a DEALER
// to a REP. A regression: the REP's reader stopped at its receive
// high-water mark, so it also stopped reading the DEALER's ACKs for its
// replies; its Send waited for those ACKs, and the DEALER's writer waited
// for the REP to read: both stuck after a few thousand messages.
func TestDealerRepStreamDoesNotDeadlock(t *testing.T) {
	forEachTransport(t, func(t *testing.T, nw *network) {
		ctx := testContext(t)
		rep := newSocket(t, Rep)
		dealer := newSocket(t, Dealer)
		nw.connect(dealer, nw.bind(rep))
		go func() {
			for {
				m, err := rep.Recv(ctx)
				if err != nil {
					return
				}
				if rep.Send(ctx, m...) != nil {
					return
				}
			}
		}()
		const n = 60000
		sent := make(chan error, 1)
		go func() {
			for i := range n {
				if err := dealer.Send(ctx, nil, []byte(fmt.Sprint(i))); err != nil {
					sent <- err
					return
				}
			}
			sent <- nil
		}()
		for i := range n {
			m, err := dealer.Recv(ctx)
			if err != nil {
				t.Fatalf("reply %d of %d: %v", i, n, err)
			}
			if len(m) != 2 || string(m[1]) != fmt.Sprint(i) {
				t.Fatalf("reply %d: got %q, want [\"\" %d]", i, m, i)
			}
		}
		if err := <-sent; err != nil {
			t.Fatal(err)
		}
	})
}
