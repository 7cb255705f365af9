package socket

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"
)

// The tests in this file check how a REQ under WithRequestRetry treats a
// connection that stays open but carries nothing back (a partition): it
// asks the connection for a sign of life, ends it when none comes, and
// sends the request on a fresh one; a server that is only slow keeps its
// connection.

// TestReqRepSilentConnectionEnded freezes the network between a REQ and its
// only REP after one round trip, with heartbeats far longer than the test:
// the REQ must end the silent connection itself, and once the network is
// back, get the reply to the request it sent into the partition.
func TestReqRepSilentConnectionEnded(t *testing.T) {
	ctx := testContext(t)
	nw := newNetwork(t, "tcp")
	rep := newSocket(t, Rep)
	proxy := newFreezeProxy(t, nw, nw.bind(rep))
	req := newSocket(t, Req, WithRequestRetry(100*time.Millisecond), WithHeartbeat(time.Hour, 3*time.Hour))
	if err := req.Connect(proxy.endpoint); err != nil {
		t.Fatalf("Connect: got error %v, want nil", err)
	}
	served := make(chan string, 4)
	go func() {
		for {
			m, err := rep.Recv(ctx)
			if err != nil {
				return
			}
			served <- string(m.Bytes())
			if rep.Send(ctx, append([]byte("re:"), m.Bytes()...)) != nil {
				return
			}
		}
	}()
	roundTrip(t, ctx, req, "before")
	if got := <-served; got != "before" {
		t.Fatalf("REP: got %q, want before", got)
	}
	waitKind(t, ctx, req, EventConnected)

	proxy.freeze()
	if err := req.Send(ctx, []byte("during")); err != nil {
		t.Fatalf("Send: got error %v, want nil", err)
	}
	replies := rtRecvAsync(ctx, req)
	e := waitKind(t, ctx, req, EventDisconnected)
	if !errors.Is(e.Err, ErrHeartbeatTimeout) || !strings.Contains(e.Err.Error(), "PING") {
		t.Fatalf("REQ's connection ended with %v, want ErrHeartbeatTimeout for an unanswered PING", e.Err)
	}
	rtNotYet(t, replies, "reply while the network is frozen")
	proxy.unfreeze()
	select {
	case r := <-replies:
		rtWantReply(t, r, "re:during")
	case <-ctx.Done():
		t.Fatalf("reply after the network came back: got %v, want re:during", ctx.Err())
	}
	if got := <-served; got != "during" {
		t.Fatalf("REP: got %q, want during", got)
	}
}

// TestReqRepSlowServerKeepsConnection: a REP that takes many retry
// intervals to answer still answers PINGs, so its only connection stays.
// (It may see the request again: the interval resends a request its
// server has taken, as WithRequestRetry documents.)
func TestReqRepSlowServerKeepsConnection(t *testing.T) {
	forEachTransport(t, func(t *testing.T, nw *network) {
		ctx := testContext(t)
		const interval = 20 * time.Millisecond
		rep := newSocket(t, Rep)
		req := newSocket(t, Req, WithRequestRetry(interval), WithLinger(0))
		nw.connect(req, nw.bind(rep))
		waitKind(t, ctx, req, EventConnected)
		if err := req.Send(ctx, []byte("slow")); err != nil {
			t.Fatalf("Send: got error %v, want nil", err)
		}
		m, err := rep.Recv(ctx)
		if err != nil {
			t.Fatalf("REP Recv: got error %v, want nil", err)
		}
		time.Sleep(15 * interval) // thinking, while the REQ retries and probes
		if err := rep.Send(ctx, append([]byte("re:"), m.Bytes()...)); err != nil {
			t.Fatalf("REP Send: got error %v, want nil", err)
		}
		r, err := req.Recv(ctx)
		rtWantReply(t, rtReply{r, err}, "re:slow")
	drain:
		for {
			select {
			case e := <-req.Events():
				if e.Kind == EventDisconnected {
					t.Fatalf("REQ: got %v, want its connection kept", e)
				}
			default:
				break drain
			}
		}
	})
}

// roundTrip sends body on req and waits for the "re:" reply.
func roundTrip(t *testing.T, ctx context.Context, req *Socket, body string) {
	t.Helper()
	if err := req.Send(ctx, []byte(body)); err != nil {
		t.Fatalf("Send(%q): got error %v, want nil", body, err)
	}
	m, err := req.Recv(ctx)
	rtWantReply(t, rtReply{m, err}, "re:"+body)
}
