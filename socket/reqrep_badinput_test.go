package socket

import (
	"context"
	"encoding/binary"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/wispmq/wisp/wire"
)

// The tests in this file feed request-reply sockets, a ROUTER and a broker
// messages that well-behaved peers never send, from a raw WISP/1 peer: a
// reply to the wrong request, envelopes without a delimiter or with a short
// request id, a message for a routing id nobody has. Each must be dropped
// and counted, never panic, never stall the socket, and leave the
// connection and the other peers working.

// rbForStreams runs f as a parallel subtest over each stream transport a
// raw peer can dial.
func rbForStreams(t *testing.T, f func(t *testing.T, nw *network)) {
	t.Helper()
	for _, name := range []string{"tcp", "ipc"} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			f(t, newNetwork(t, name))
		})
	}
}

// rbPeer is a raw peer that follows the acknowledged stream a socket sends
// it, so it can acknowledge what it read the way a real socket would.
type rbPeer struct {
	*rawPeer
	seq uint64 // sequence number of the last data message read
}

// rbDial connects a raw peer of type typ to ep and completes the
// handshake. rid, if not empty, is the routing id it states.
func rbDial(t *testing.T, ep string, typ wire.SocketType, acks bool, rid string) *rbPeer {
	t.Helper()
	p := rawDial(t, ep)
	g := rawGreeting(typ, acks)
	if rid != "" {
		g.RoutingID = []byte(rid)
	}
	p.handshake(g)
	return &rbPeer{rawPeer: p}
}

// sendMsg writes one message of the given frames.
func (p *rbPeer) sendMsg(frames ...string) {
	p.t.Helper()
	for i, f := range frames {
		p.frame(i < len(frames)-1, []byte(f))
	}
}

// readMsg reads the next data message, skipping commands; a RESUME
// renumbers the stream, an ERROR fails the test.
func (p *rbPeer) readMsg() [][]byte {
	p.t.Helper()
	var frames [][]byte
	for range 1 << 16 {
		it, err := p.readItem()
		if err != nil {
			p.t.Fatalf("raw peer reading a message: got error %v after %d frames, want a message", err, len(frames))
		}
		if it.IsCommand {
			switch it.Command.ID {
			case wire.CmdResume:
				p.seq = it.Command.Seq - 1
			case wire.CmdError:
				p.t.Fatalf("raw peer: got ERROR %q, want a message", it.Command.Data)
			}
			continue
		}
		frames = append(frames, it.Frame)
		if !it.More {
			p.seq++
			return frames
		}
	}
	p.t.Fatalf("raw peer: no message end in 65536 items")
	return nil
}

// ack acknowledges every message read so far.
func (p *rbPeer) ack() { p.command(wire.Command{ID: wire.CmdAck, Seq: p.seq}) }

// rbWant checks a message's frames.
func rbWant(t *testing.T, what string, got [][]byte, want ...string) {
	t.Helper()
	ok := len(got) == len(want)
	for i := 0; ok && i < len(want); i++ {
		ok = string(got[i]) == want[i]
	}
	if !ok {
		t.Fatalf("%s: got %q, want %q", what, got, want)
	}
}

// rbNoProtocolErrors checks that bad envelopes cost no connection: they are
// the application layer's business, not the protocol's.
func rbNoProtocolErrors(t *testing.T, s *Socket) {
	t.Helper()
	if st := s.Stats(); st.ProtocolErrors != 0 || st.HandshakeFailures != 0 {
		t.Errorf("%v ProtocolErrors, HandshakeFailures: got %d, %d, want 0, 0", s.Type(), st.ProtocolErrors, st.HandshakeFailures)
	}
}

// TestReqRepBadInputReplies: a raw REP answers a real REQ with a reply to
// another request id, then with malformed envelopes, and only then with the
// right reply. The REQ drops the first as stale and the others as bad
// envelopes, keeps waiting, returns the right reply, and the connection
// carries the next request.
func TestReqRepBadInputReplies(t *testing.T) {
	rbForStreams(t, func(t *testing.T, nw *network) {
		ctx := testContext(t)
		req := newSocket(t, Req)
		ep := nw.bind(req)
		p := rbDial(t, ep, wire.Rep, false, "")
		waitConnected(t, ctx, req, 1)

		rfSend(t, ctx, req, "q")
		m := p.readMsg()
		if len(m) != 3 || len(m[0]) != 4 || len(m[1]) != 0 || string(m[2]) != "q" {
			t.Fatalf("request on the wire: got %q, want [4-byte id, empty, q]", m)
		}
		p.ack()
		id := string(m[0])
		wrong := string(binary.BigEndian.AppendUint32(nil, binary.BigEndian.Uint32(m[0])+1))

		got := make(chan rtReply, 1)
		go func() {
			m, err := req.Recv(ctx)
			got <- rtReply{m, err}
		}()
		p.sendMsg(wrong, "", "wrong")
		waitFor(t, ctx, "the wrong reply counted as stale", func() bool { return req.Stats().StaleReplies == 1 })
		rtNotYet(t, got, "REQ Recv after a reply to another request")

		p.sendMsg(id)                // only the id
		p.sendMsg(id, "")            // nothing after the delimiter
		p.sendMsg(id[:3], "", "x")   // 3-byte id
		p.sendMsg(id, "x", "y")      // no delimiter
		p.sendMsg("", "", "no id")   // empty id
		p.sendMsg(id+"!", "", "x")   // 5-byte id
		p.sendMsg(id, "no", "", "x") // delimiter not second
		const bad = 7
		waitFor(t, ctx, "the malformed replies counted", func() bool { return req.Stats().BadEnvelopes == bad })
		rtNotYet(t, got, "REQ Recv after malformed replies")

		p.sendMsg(id, "", "right", "two")
		r := <-got
		if r.err != nil {
			t.Fatalf("REQ Recv: got error %v, want the right reply", r.err)
		}
		rbWant(t, "REQ Recv", r.m, "right", "two")
		rfNoReplyLeft(t, ctx, req)

		// The same connection carries the next request; a late reply to the
		// old one arriving first is stale too.
		rfSend(t, ctx, req, "q2")
		m2 := p.readMsg()
		if len(m2) != 3 || string(m2[0]) == id || string(m2[2]) != "q2" {
			t.Fatalf("second request on the wire: got %q, want a new id, empty, q2", m2)
		}
		p.ack()
		p.sendMsg(id, "", "late")
		p.sendMsg(string(m2[0]), "", "re:q2")
		rfRecvBody(t, ctx, req, "re:q2")
		if st := req.Stats(); st.StaleReplies != 2 || st.BadEnvelopes != bad {
			t.Errorf("StaleReplies, BadEnvelopes: got %d, %d, want 2, %d", st.StaleReplies, st.BadEnvelopes, bad)
		}
		rbNoProtocolErrors(t, req)
	})
}

// TestReqRepBadInputRequests: a raw REQ (acknowledged stream) and a raw
// DEALER (plain) send a REP requests without a delimiter or with nothing
// after it. The REP drops and counts each, returns the next good request,
// answers it with the whole envelope, and serves a real REQ beside them.
func TestReqRepBadInputRequests(t *testing.T) {
	for _, claim := range []wire.SocketType{wire.Req, wire.Dealer} {
		t.Run(claim.String(), func(t *testing.T) {
			rbForStreams(t, func(t *testing.T, nw *network) {
				ctx := testContext(t)
				rep := newSocket(t, Rep)
				ep := nw.bind(rep)
				good := newSocket(t, Req)
				nw.connect(good, ep)
				acks := claim == wire.Req
				p := rbDial(t, ep, claim, acks, "")
				if acks {
					p.command(wire.Command{ID: wire.CmdResume, Seq: 1})
				}

				p.sendMsg("no-delimiter")
				p.sendMsg("a", "b")
				p.sendMsg("env", "") // nothing after the delimiter
				p.sendMsg("")        // the delimiter alone
				const bad = 4
				p.sendMsg("env1", "env2", "", "body", "b2")
				m, err := rep.Recv(ctx)
				if err != nil {
					t.Fatalf("REP Recv: got error %v, want the good request", err)
				}
				rbWant(t, "REP Recv", m, "body", "b2")
				if b := rep.Stats().BadEnvelopes; b != bad {
					t.Errorf("BadEnvelopes: got %d, want %d", b, bad)
				}
				rfSend(t, ctx, rep, "reply")
				rbWant(t, "raw peer's reply", p.readMsg(), "env1", "env2", "", "reply")
				p.ack()

				rfRoundTrip(t, ctx, good, rep, "good")

				p.sendMsg("still-no-delimiter")
				p.sendMsg("e", "", "again")
				rfRecvBody(t, ctx, rep, "again")
				rfSend(t, ctx, rep, "re:again")
				rbWant(t, "raw peer's second reply", p.readMsg(), "e", "", "re:again")
				p.ack()
				if b := rep.Stats().BadEnvelopes; b != bad+1 {
					t.Errorf("BadEnvelopes: got %d, want %d", b, bad+1)
				}
				rfRoundTrip(t, ctx, good, rep, "good2")
				rbNoProtocolErrors(t, rep)
			})
		})
	}
}

// TestReqRepBadInputRouter: a ROUTER serves a raw DEALER by the routing id
// it stated; a message for a routing id that never existed is dropped and
// counted (or refused under WithRouterMandatory); a raw peer stating the
// routing id of a connected DEALER is refused with an ERROR; the real
// DEALER and the first raw peer are unaffected throughout.
func TestReqRepBadInputRouter(t *testing.T) {
	rbForStreams(t, func(t *testing.T, nw *network) {
		ctx := testContext(t)
		router := newSocket(t, Router)
		ep := nw.bind(router)
		dealer := newSocket(t, Dealer, WithRoutingID([]byte("good")))
		nw.connect(dealer, ep)
		waitConnected(t, ctx, router, 1)
		dealerRoundTrip := func(body string) {
			t.Helper()
			rfSend(t, ctx, dealer, body)
			m, err := router.Recv(ctx)
			if err != nil {
				t.Fatalf("ROUTER Recv: got error %v, want the DEALER's message", err)
			}
			rbWant(t, "ROUTER Recv", m, "good", body)
			if err := router.Send(ctx, []byte("good"), []byte("re:"+body)); err != nil {
				t.Fatalf("ROUTER Send to the DEALER: got error %v, want nil", err)
			}
			rfRecvBody(t, ctx, dealer, "re:"+body)
		}

		p := rbDial(t, ep, wire.Dealer, false, "raw")
		p.sendMsg("hello")
		m, err := router.Recv(ctx)
		if err != nil {
			t.Fatalf("ROUTER Recv: got error %v, want the raw peer's message", err)
		}
		rbWant(t, "ROUTER Recv", m, "raw", "hello")
		if err := router.Send(ctx, []byte("raw"), []byte("back"), []byte("2")); err != nil {
			t.Fatalf("ROUTER Send to the raw peer: got error %v, want nil", err)
		}
		rbWant(t, "raw peer", p.readMsg(), "back", "2")
		p.ack()

		if err := router.Send(ctx, []byte("never-existed"), []byte("x")); err != nil {
			t.Fatalf("ROUTER Send to an unknown id: got error %v, want nil (dropped)", err)
		}
		if u := router.Stats().Unroutable; u != 1 {
			t.Errorf("Unroutable: got %d, want 1", u)
		}
		if err := router.Send(ctx, []byte("raw")); !errors.Is(err, ErrInvalidMessage) {
			t.Errorf("ROUTER Send with only a routing id: got %v, want ErrInvalidMessage", err)
		}
		dealerRoundTrip("d1")

		mandatory := newSocket(t, Router, WithRouterMandatory(true))
		if err := mandatory.Send(ctx, []byte("nobody"), []byte("x")); !errors.Is(err, ErrUnroutable) {
			t.Errorf("mandatory ROUTER Send to an unknown id: got %v, want ErrUnroutable", err)
		}

		// A second peer stating the connected DEALER's routing id.
		dup := rbDial(t, ep, wire.Dealer, false, "good")
		cmd, err := dup.readCommand()
		if err != nil || cmd.ID != wire.CmdError || !strings.Contains(string(cmd.Data), "good") {
			t.Fatalf("duplicate routing id: got %v %q (%v), want an ERROR naming the id", cmd.ID, cmd.Data, err)
		}
		if _, err := dup.drain(); !rawConnEnded(err) {
			t.Fatalf("duplicate routing id: got %v, want the connection ended", err)
		}
		waitEvent(t, ctx, router, "the duplicate refused", func(e Event) bool {
			return e.Kind == EventHandshakeFailed && errors.Is(e.Err, ErrDuplicateRoutingID)
		})

		dealerRoundTrip("d2")
		p.sendMsg("still", "here")
		m, err = router.Recv(ctx)
		if err != nil {
			t.Fatalf("ROUTER Recv: got error %v, want the raw peer's message", err)
		}
		rbWant(t, "ROUTER Recv", m, "raw", "still", "here")
		if err := router.Send(ctx, []byte("raw"), []byte("ok")); err != nil {
			t.Fatalf("ROUTER Send to the raw peer: got error %v, want nil", err)
		}
		rbWant(t, "raw peer", p.readMsg(), "ok")
		p.ack()
		if st := router.Stats(); st.Unroutable != 1 || st.ProtocolErrors != 0 {
			t.Errorf("Unroutable, ProtocolErrors: got %d, %d, want 1, 0", st.Unroutable, st.ProtocolErrors)
		}
	})
}

// TestReqRepBadInputBroker: a raw DEALER talks to ROUTER|Proxy|DEALER and
// its REP worker. Messages without a proper envelope reach the worker,
// which drops and counts them; the proxy keeps running; a raw request with
// the empty delimiter is answered back to the raw peer; a real REQ is
// served beside it.
func TestReqRepBadInputBroker(t *testing.T) {
	rbForStreams(t, func(t *testing.T, nw *network) {
		ctx := testContext(t)
		front := newSocket(t, Router)
		back := newSocket(t, Dealer)
		frontEP, backEP := nw.bind(front), nw.bind(back)
		pctx, stop := context.WithCancel(ctx)
		proxyDone := make(chan error, 1)
		go func() { proxyDone <- Proxy(pctx, front, back, nil) }()
		defer func() {
			stop()
			if err := <-proxyDone; !errors.Is(err, context.Canceled) {
				t.Errorf("Proxy: got %v, want context.Canceled", err)
			}
		}()
		worker := newSocket(t, Rep)
		nw.connect(worker, backEP)
		good := newSocket(t, Req)
		nw.connect(good, frontEP)

		p := rbDial(t, frontEP, wire.Dealer, false, "")
		p.sendMsg("no-delimiter") // the worker sees [rid, no-delimiter]
		p.sendMsg("")             // [rid, ""]: nothing after the delimiter
		const bad = 2
		p.sendMsg("", "body")
		rfRecvBody(t, ctx, worker, "body")
		if b := worker.Stats().BadEnvelopes; b != bad {
			t.Errorf("worker BadEnvelopes: got %d, want %d", b, bad)
		}
		rfSend(t, ctx, worker, "re:body")
		rbWant(t, "raw peer", p.readMsg(), "", "re:body")
		p.ack()

		rfRoundTrip(t, ctx, good, worker, "real")
		select {
		case err := <-proxyDone:
			t.Fatalf("Proxy returned %v after bad input, want it running", err)
		default:
		}
		rbNoProtocolErrors(t, front)
		rbNoProtocolErrors(t, worker)
	})
}

// TestReqRepBadInputRouterBlockedPeerLeaves: a raw DEALER never
// acknowledges, so a ROUTER with a send high-water mark of 1 blocks its
// second Send to it. When the peer hangs up and its resume timeout passes,
// the blocked Send returns nil, both messages are counted as unroutable,
// and the ROUTER serves its other peer.
func TestReqRepBadInputRouterBlockedPeerLeaves(t *testing.T) {
	rbForStreams(t, func(t *testing.T, nw *network) {
		ctx := testContext(t)
		router := newSocket(t, Router, WithSendHWM(1), WithResumeTimeout(20*time.Millisecond))
		ep := nw.bind(router)
		dealer := newSocket(t, Dealer, WithRoutingID([]byte("good")))
		nw.connect(dealer, ep)

		p := rbDial(t, ep, wire.Dealer, false, "stuck")
		p.sendMsg("hi")
		m, err := router.Recv(ctx)
		if err != nil {
			t.Fatalf("ROUTER Recv: got error %v, want the raw peer's message", err)
		}
		rbWant(t, "ROUTER Recv", m, "stuck", "hi")
		if err := router.Send(ctx, []byte("stuck"), []byte("1")); err != nil {
			t.Fatalf("first ROUTER Send: got %v, want nil", err)
		}
		rbWant(t, "raw peer", p.readMsg(), "1") // read, never acknowledged
		sent := make(chan error, 1)
		go func() { sent <- router.Send(ctx, []byte("stuck"), []byte("2")) }()
		rfSend(t, ctx, dealer, "meanwhile")
		m, err = router.Recv(ctx)
		if err != nil {
			t.Fatalf("ROUTER Recv: got error %v, want the DEALER's message", err)
		}
		rbWant(t, "ROUTER Recv", m, "good", "meanwhile")
		rtNotYet(t, sent, "ROUTER Send to a peer at the high-water mark")

		p.nc.Close()
		if err := bounded(t, ctx, router, "ROUTER Send blocked on a departed peer", func() error { return <-sent }); err != nil {
			t.Fatalf("blocked ROUTER Send: got %v, want nil once the peer is gone", err)
		}
		if u := router.Stats().Unroutable; u != 2 {
			t.Errorf("Unroutable: got %d, want 2 (the unacknowledged message and the blocked one)", u)
		}
		if err := router.Send(ctx, []byte("good"), []byte("still")); err != nil {
			t.Fatalf("ROUTER Send to the DEALER: got %v, want nil", err)
		}
		rfRecvBody(t, ctx, dealer, "still")
	})
}
