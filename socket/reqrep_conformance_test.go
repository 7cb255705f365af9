package socket

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestReqRepManyClients runs hundreds of REQ sockets against one REP at
// once and checks every client gets the answer to its own request.
func TestReqRepManyClients(t *testing.T) {
	forEachTransport(t, func(t *testing.T, nw *network) {
		if nw.name == "conn" {
			t.Skip("hundreds of connections to one binder; the same code as tcp")
		}
		ctx := testContext(t)
		rep := newSocket(t, Rep)
		ep := nw.bind(rep)
		const clients = 200
		served := make(chan error, 1)
		go func() {
			for i := range clients {
				m, err := rep.Recv(ctx)
				if err != nil {
					served <- fmt.Errorf("REP Recv %d: %w", i, err)
					return
				}
				if err := rep.Send(ctx, []byte("re:"), m[0]); err != nil {
					served <- fmt.Errorf("REP Send %d: %w", i, err)
					return
				}
			}
			served <- nil
		}()
		errs := make(chan error, clients)
		for c := range clients {
			req := newSocket(t, Req)
			nw.connect(req, ep)
			go func() {
				body := "client-" + strconv.Itoa(c)
				if err := req.Send(ctx, []byte(body)); err != nil {
					errs <- fmt.Errorf("%s Send: %w", body, err)
					return
				}
				m, err := req.Recv(ctx)
				if err != nil {
					errs <- fmt.Errorf("%s Recv: %w", body, err)
					return
				}
				if len(m) != 2 || string(m[0]) != "re:" || string(m[1]) != body {
					errs <- fmt.Errorf("%s: got reply %q, want [re: %s]", body, texts(m), body)
					return
				}
				errs <- nil
			}()
		}
		for range clients {
			if err := <-errs; err != nil {
				t.Error(err)
			}
		}
		if err := <-served; err != nil {
			t.Fatal(err)
		}
		if st := rep.Stats(); st.Unroutable != 0 || st.BadEnvelopes != 0 {
			t.Errorf("REP: got Unroutable %d, BadEnvelopes %d, want 0, 0", st.Unroutable, st.BadEnvelopes)
		}
	})
}

// TestRepFairQueue checks that a REP serves its clients in turn: each time
// it takes a request, every client has one waiting, and the one just
// served must wait for all the others.
func TestRepFairQueue(t *testing.T) {
	forEachTransport(t, func(t *testing.T, nw *network) {
		ctx := testContext(t)
		rep := newSocket(t, Rep)
		ep := nw.bind(rep)
		const clients, rounds = 3, 4
		errs := make(chan error, clients)
		for c := range clients {
			req := newSocket(t, Req)
			nw.connect(req, ep)
			go func() {
				for i := range rounds {
					body := fmt.Sprintf("%d/%d", c, i)
					if err := req.Send(ctx, []byte(body)); err != nil {
						errs <- err
						return
					}
					m, err := req.Recv(ctx)
					if err != nil || string(m.Bytes()) != body {
						errs <- fmt.Errorf("client %d: got reply %q, error %v, want %q", c, texts(m), err, body)
						return
					}
				}
				errs <- nil
			}()
		}
		servedOf := make([]int, clients)
		var order []int
		for range clients * rounds {
			// Every client that still has requests to make has one queued.
			waiting := 0
			for _, n := range servedOf {
				if n < rounds {
					waiting++
				}
			}
			waitFor(t, ctx, fmt.Sprintf("%d queued requests", waiting), func() bool { return rep.Stats().RecvQueue == waiting })
			m := mustRecv(t, ctx, rep, "REP")
			var c, i int
			if _, err := fmt.Sscanf(string(m.Bytes()), "%d/%d", &c, &i); err != nil || c < 0 || c >= clients || i != servedOf[c] {
				t.Fatalf("REP: got request %q after serving %v, want the next of a client", m.Bytes(), servedOf)
			}
			servedOf[c]++
			order = append(order, c)
			if err := rep.Send(ctx, m...); err != nil {
				t.Fatalf("REP Send: got error %v, want nil", err)
			}
		}
		for range clients {
			if err := <-errs; err != nil {
				t.Fatal(err)
			}
		}
		// In turn: any window of `clients` consecutive requests has each
		// client once.
		for k := 0; k+clients <= len(order); k++ {
			seen := map[int]bool{}
			for _, c := range order[k : k+clients] {
				seen[c] = true
			}
			if len(seen) != clients {
				t.Fatalf("REP served clients in order %v, want them in turn", order)
			}
		}
	})
}

// TestRepReplyToDepartedAsker checks that a reply whose asker closed is
// dropped and counted once the resume timeout gives up on it, and that the
// REP goes on serving others.
func TestRepReplyToDepartedAsker(t *testing.T) {
	forEachTransport(t, func(t *testing.T, nw *network) {
		ctx := testContext(t)
		rep := newSocket(t, Rep, WithResumeTimeout(20*time.Millisecond))
		ep := nw.bind(rep)
		gone := newSocket(t, Req)
		nw.connect(gone, ep)
		if err := gone.Send(ctx, []byte("asked")); err != nil {
			t.Fatalf("REQ Send: got error %v, want nil", err)
		}
		expectFrames(t, ctx, rep, "REP", "asked")
		if err := gone.Close(); err != nil {
			t.Fatalf("REQ Close: got error %v, want nil", err)
		}
		waitEvent(t, ctx, rep, "the asker gone", func(e Event) bool {
			return e.Kind == EventDisconnected && e.Session == gone.Session()
		})
		if err := rep.Send(ctx, []byte("too late")); err != nil {
			t.Fatalf("REP Send to a departed asker: got error %v, want nil (dropped)", err)
		}
		waitFor(t, ctx, "the reply counted unroutable", func() bool { return rep.Stats().Unroutable == 1 })
		if err := rep.Send(ctx, []byte("again")); !errors.Is(err, ErrState) {
			t.Errorf("REP Send after the reply: got %v, want ErrState", err)
		}

		other := newSocket(t, Req)
		nw.connect(other, ep)
		for i := range 3 {
			body := "next-" + strconv.Itoa(i)
			if err := other.Send(ctx, []byte(body)); err != nil {
				t.Fatalf("REQ Send: got error %v, want nil", err)
			}
			expectFrames(t, ctx, rep, "REP", body)
			mustSend(t, ctx, rep, "REP", "re:"+body)
			expectFrames(t, ctx, other, "REQ", "re:"+body)
		}
		if st := rep.Stats(); st.Unroutable != 1 {
			t.Errorf("REP Stats.Unroutable: got %d, want 1", st.Unroutable)
		}
	})
}

// TestReqRecvCanceled checks that a REQ whose Recv gave up may send a new
// request, drops the late reply to the old one, and gets the new reply.
func TestReqRecvCanceled(t *testing.T) {
	forEachTransport(t, func(t *testing.T, nw *network) {
		ctx := testContext(t)
		rep := newSocket(t, Rep)
		req := newSocket(t, Req)
		nw.connect(req, nw.bind(rep))
		if err := req.Send(ctx, []byte("first")); err != nil {
			t.Fatalf("REQ Send: got error %v, want nil", err)
		}
		expectFrames(t, ctx, rep, "REP", "first")

		gaveUp, cancel := context.WithCancel(ctx)
		cancel()
		if _, err := req.Recv(gaveUp); !errors.Is(err, context.Canceled) {
			t.Fatalf("REQ Recv with a canceled context: got %v, want context.Canceled", err)
		}
		if err := req.Send(ctx, []byte("second")); err != nil {
			t.Fatalf("REQ Send after a canceled Recv: got error %v, want nil", err)
		}
		// The late reply goes out before the second request is even taken,
		// on the same connection: the REQ sees it first and drops it.
		mustSend(t, ctx, rep, "REP", "re:first")
		expectFrames(t, ctx, rep, "REP", "second")
		mustSend(t, ctx, rep, "REP", "re:second")
		expectFrames(t, ctx, req, "REQ", "re:second")
		if st := req.Stats(); st.StaleReplies != 1 || st.BadEnvelopes != 0 {
			t.Errorf("REQ: got StaleReplies %d, BadEnvelopes %d, want 1, 0", st.StaleReplies, st.BadEnvelopes)
		}
		if _, err := req.Recv(ctx); !errors.Is(err, ErrState) {
			t.Errorf("REQ Recv after the reply: got %v, want ErrState", err)
		}
	})
}

// TestReqBeforePeer checks that a request sent before its server exists
// waits for it, and that WithFailFast refuses it instead.
func TestReqBeforePeer(t *testing.T) {
	forEachTransport(t, func(t *testing.T, nw *network) {
		ctx := testContext(t)
		ep := nw.reserve()
		req := newSocket(t, Req)
		nw.connect(req, ep)
		if err := req.Send(ctx, []byte("early")); err != nil {
			t.Fatalf("REQ Send before the REP exists: got error %v, want nil (queued)", err)
		}
		rep := newSocket(t, Rep)
		nw.bindAt(rep, ep)
		expectFrames(t, ctx, rep, "REP", "early")
		mustSend(t, ctx, rep, "REP", "late")
		expectFrames(t, ctx, req, "REQ", "late")

		ep = nw.reserve()
		fast := newSocket(t, Req, WithFailFast(true))
		nw.connect(fast, ep)
		if err := fast.Send(ctx, []byte("now")); !errors.Is(err, ErrNoPeer) {
			t.Fatalf("fail-fast REQ Send with no peer: got %v, want ErrNoPeer", err)
		}
		// ErrNoPeer leaves no request outstanding.
		if _, err := fast.Recv(ctx); !errors.Is(err, ErrState) {
			t.Errorf("fail-fast REQ Recv after ErrNoPeer: got %v, want ErrState", err)
		}
		rep2 := newSocket(t, Rep)
		nw.bindAt(rep2, ep)
		waitSessions(t, ctx, fast, 1)
		if err := fast.Send(ctx, []byte("now")); err != nil {
			t.Fatalf("fail-fast REQ Send with a peer: got error %v, want nil", err)
		}
		expectFrames(t, ctx, rep2, "REP", "now")
		mustSend(t, ctx, rep2, "REP", "ok")
		expectFrames(t, ctx, fast, "REQ", "ok")
	})
}

// TestIncompatiblePeers checks that sockets whose types cannot talk are
// refused at the handshake, with the reason on the bound side.
func TestIncompatiblePeers(t *testing.T) {
	pairs := [][2]Type{
		{Req, Req}, {Rep, Rep}, {Rep, Push}, {Req, Pull}, {Router, Rep},
		{Pair, Dealer}, {Pair, Req}, {Dealer, Push}, {Router, Pull}, {Rep, Pair},
	}
	forEachTransport(t, func(t *testing.T, nw *network) {
		ctx := testContext(t)
		for _, p := range pairs {
			bound, connecting := newSocket(t, p[0]), newSocket(t, p[1])
			nw.connect(connecting, nw.bind(bound))
			e := waitKind(t, ctx, bound, EventHandshakeFailed)
			if !errors.Is(e.Err, ErrIncompatiblePeer) || !strings.Contains(e.Err.Error(), p[1].String()) {
				t.Errorf("%v bound, %v connecting: got %v, want a failure matching ErrIncompatiblePeer naming %v", p[0], p[1], e, p[1])
			}
			if st := bound.Stats(); st.HandshakeFailures == 0 {
				t.Errorf("%v bound, %v connecting: got HandshakeFailures 0, want at least 1", p[0], p[1])
			}
			bound.Close()
			connecting.Close()
		}
	})
}
