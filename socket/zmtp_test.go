package socket

import (
	"bytes"
	"errors"
	"fmt"
	"strconv"
	"testing"

	"github.com/wispmq/wisp/wire"
)

// Wisp sockets talking ZMTP to each other, over every transport, with the
// same checks as over WISP/1: by sequence number, nothing lost,
// duplicated or reordered on a healthy connection.

func TestZMTPPushPull(t *testing.T) {
	forEachTransport(t, func(t *testing.T, nw *network) {
		ctx := testContext(t)
		push, pull := newPairOpts(t, nw, []Option{WithProtocol(ZMTP)}, []Option{WithProtocol(ZMTP)})
		done := sendAll(ctx, push, 0, interopMessages)
		for i, m := range recvN(t, ctx, pull, interopMessages) {
			if n := number(t, m); n != i {
				t.Fatalf("message %d: got %d", i, n)
			}
		}
		wait(t, done)
		if err := push.Flush(ctx); err != nil {
			t.Fatalf("Flush: %v", err)
		}
	})
}

func TestZMTPReqRep(t *testing.T) {
	forEachTransport(t, func(t *testing.T, nw *network) {
		ctx := testContext(t)
		rep := newSocket(t, Rep, WithProtocol(ZMTP))
		req := newSocket(t, Req, WithProtocol(ZMTP))
		nw.connect(req, nw.bind(rep))
		go func() {
			for {
				m, err := rep.Recv(ctx)
				if err != nil {
					return
				}
				if rep.Send(ctx, append(Message{[]byte("re")}, m...)...) != nil {
					return
				}
			}
		}()
		for i := range interopRoundTrips {
			body := []byte(strconv.Itoa(i))
			if err := req.Send(ctx, body); err != nil {
				t.Fatal(err)
			}
			m, err := req.Recv(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if len(m) != 2 || string(m[0]) != "re" || !bytes.Equal(m[1], body) {
				t.Fatalf("reply %d: got %q", i, m)
			}
		}
	})
}

func TestZMTPDealerRouterIdentity(t *testing.T) {
	forEachTransport(t, func(t *testing.T, nw *network) {
		ctx := testContext(t)
		router := newSocket(t, Router, WithProtocol(ZMTP))
		dealer := newSocket(t, Dealer, WithProtocol(ZMTP), WithRoutingID([]byte("d1")))
		nw.connect(dealer, nw.bind(router))
		if err := dealer.Send(ctx, []byte("hi")); err != nil {
			t.Fatal(err)
		}
		m, err := router.Recv(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if len(m) != 2 || string(m[0]) != "d1" || string(m[1]) != "hi" {
			t.Fatalf("ROUTER got %q, want [d1 hi]", m)
		}
		if err := router.Send(ctx, []byte("d1"), []byte("back")); err != nil {
			t.Fatal(err)
		}
		if m, err := dealer.Recv(ctx); err != nil || len(m) != 1 || string(m[0]) != "back" {
			t.Fatalf("DEALER got %q, %v", m, err)
		}
	})
}

func TestZMTPPubSubFilters(t *testing.T) {
	forEachTransport(t, func(t *testing.T, nw *network) {
		ctx := testContext(t)
		pub := newSocket(t, Pub, WithProtocol(ZMTP), WithNoDrop(true))
		sub := newSocket(t, Sub, WithProtocol(ZMTP))
		if err := sub.Subscribe([]byte("A")); err != nil {
			t.Fatal(err)
		}
		nw.connect(sub, nw.bind(pub))
		if err := pub.WaitSubscribers(ctx, 1); err != nil {
			t.Fatal(err)
		}
		for i := range interopMessages {
			if err := pub.Send(ctx, fmt.Appendf(nil, "%s-%d", interopTopics[i%len(interopTopics)], i)); err != nil {
				t.Fatal(err)
			}
		}
		checkTopicSequence(t, ctx, func() (string, error) {
			m, err := sub.Recv(ctx)
			if err != nil {
				return "", err
			}
			return string(m[0]), nil
		})
		if st := pub.Stats(); st.Drops != 0 {
			t.Fatalf("PUB dropped %d with WithNoDrop", st.Drops)
		}
	})
}

// TestZMTPRefusesWISPPeers: a socket speaking one protocol and a peer
// speaking the other each end the connection with a reason naming the
// mismatch, instead of misreading each other's bytes.
func TestZMTPRefusesWISPPeers(t *testing.T) {
	ctx := testContext(t)
	pull := newSocket(t, Pull, WithProtocol(ZMTP))
	ep, err := pull.Bind("tcp://127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	push := newSocket(t, Push) // WISP/1
	if err := push.Connect(ep); err != nil {
		t.Fatal(err)
	}
	// Whichever side reads the other's first bytes first hangs up at once
	// (WISP/1's SPEC.md 2.6), so the other may see only the hang-up.
	zev := waitKind(t, ctx, pull, EventHandshakeFailed)
	wev := waitKind(t, ctx, push, EventHandshakeFailed)
	if !errors.Is(zev.Err, ErrIncompatiblePeer) && !errors.Is(wev.Err, wire.ErrBadMagic) {
		t.Fatalf("got ZMTP side %v, WISP/1 side %v; want ErrIncompatiblePeer or wire.ErrBadMagic naming the mismatch", zev.Err, wev.Err)
	}
}

func TestZMTPOptions(t *testing.T) {
	if _, err := New(Push, WithSecurity(PlainClient("u", "p"))); !errors.Is(err, ErrInvalidOption) {
		t.Errorf("WithSecurity without ZMTP: got %v, want ErrInvalidOption", err)
	}
	if _, err := New(Rep, WithProtocol(ZMTP), WithSecurity(PlainServer(nil))); !errors.Is(err, ErrInvalidOption) {
		t.Errorf("PLAIN server without an authenticator: got %v, want ErrInvalidOption", err)
	}
	if _, err := New(Req, WithProtocol(ZMTP), WithSecurity(CurveClient("short", "keys", "here"))); !errors.Is(err, ErrInvalidOption) {
		t.Errorf("CURVE client with bad keys: got %v, want ErrInvalidOption", err)
	}
	if _, err := New(Req, WithProtocol(Protocol(9))); !errors.Is(err, ErrInvalidOption) {
		t.Errorf("unknown protocol: got %v, want ErrInvalidOption", err)
	}
	if p, err := ParseProtocol("zmtp"); err != nil || p != ZMTP || p.String() != "zmtp" {
		t.Errorf("ParseProtocol(zmtp) = %v, %v", p, err)
	}
	if _, err := ParseProtocol("zmq"); !errors.Is(err, ErrInvalidOption) {
		t.Errorf("ParseProtocol(zmq): got %v, want ErrInvalidOption", err)
	}
}
