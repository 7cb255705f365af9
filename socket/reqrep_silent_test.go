package socket

import (
	"context"
	"errors"
	"net"
	"strings"
	"sync"
	"sync/atomic"
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
		// Long enough that a PONG comes back within one interval on a
		// loaded machine under the race detector: the test is about the
		// probe's verdict, not its speed.
		const interval = 200 * time.Millisecond
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
		time.Sleep(8 * interval) // thinking, while the REQ retries and probes
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

// TestReqRepRedialReplacesHalfOpen: a partition cuts only the REQ's first
// connection, and the REQ gives it up while its REP still holds it (a
// half-open connection). When the REQ dials again, the REP must not refuse
// the new connection as a duplicate of the dead one: its PING on the old
// connection meets the reset a closed socket sends, as after a real
// partition, and the new connection takes over.
func TestReqRepRedialReplacesHalfOpen(t *testing.T) {
	ctx := testContext(t)
	nw := newNetwork(t, "tcp")
	rep := newSocket(t, Rep, WithHeartbeat(time.Hour, 3*time.Hour))
	proxy := newStallProxy(t, strings.TrimPrefix(nw.bind(rep), "tcp://"))
	req := newSocket(t, Req, WithRequestRetry(100*time.Millisecond), WithHeartbeat(time.Hour, 3*time.Hour))
	if err := req.Connect(proxy.endpoint); err != nil {
		t.Fatalf("Connect: got error %v, want nil", err)
	}
	go func() {
		for {
			m, err := rep.Recv(ctx)
			if err != nil || rep.Send(ctx, append([]byte("re:"), m.Bytes()...)) != nil {
				return
			}
		}
	}()
	roundTrip(t, ctx, req, "before")
	proxy.stallExisting()
	roundTrip(t, ctx, req, "after")
	for {
		select {
		case e := <-rep.Events():
			if e.Kind == EventHandshakeFailed && errors.Is(e.Err, ErrDuplicateConnection) {
				t.Fatalf("REP refused the REQ's new connection: %v", e)
			}
			continue
		default:
		}
		break
	}
}

// stallProxy forwards tcp connections to a target. stallExisting cuts the
// links it has as a partition would, for them only: nothing passes either
// way, a close from the client does not pass either, and once the client
// has closed its side, data from the target is answered with a reset, as
// the client's kernel would once the partition heals.
type stallProxy struct {
	endpoint string
	l        net.Listener
	target   string
	wg       sync.WaitGroup
	mu       sync.Mutex
	links    []*stallLink
}

type stallLink struct {
	down, up   net.Conn
	stalled    atomic.Bool
	downClosed atomic.Bool
}

func newStallProxy(t *testing.T, target string) *stallProxy {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("proxy listen: got error %v, want nil", err)
	}
	p := &stallProxy{l: l, target: target, endpoint: "tcp://" + l.Addr().String()}
	p.wg.Add(1)
	go p.accept()
	t.Cleanup(func() {
		l.Close()
		p.mu.Lock()
		for _, lk := range p.links {
			lk.down.Close()
			lk.up.Close()
		}
		p.mu.Unlock()
		p.wg.Wait()
	})
	return p
}

func (p *stallProxy) accept() {
	defer p.wg.Done()
	for {
		down, err := p.l.Accept()
		if err != nil {
			return
		}
		up, err := net.Dial("tcp", p.target)
		if err != nil {
			down.Close()
			continue
		}
		lk := &stallLink{down: down, up: up}
		p.mu.Lock()
		p.links = append(p.links, lk)
		p.mu.Unlock()
		p.wg.Add(2)
		go p.pumpDown(lk)
		go p.pumpUp(lk)
	}
}

// pumpUp copies client to target, until the link stalls.
func (p *stallProxy) pumpUp(lk *stallLink) {
	defer p.wg.Done()
	buf := make([]byte, 32<<10)
	for {
		n, err := lk.down.Read(buf)
		if lk.stalled.Load() {
			if err != nil {
				lk.downClosed.Store(true)
				return
			}
			continue // lost in the partition
		}
		if n > 0 {
			if _, werr := lk.up.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			lk.up.Close()
			return
		}
	}
}

// pumpDown copies target to client; stalled, it drops what comes, and
// resets the target once the client has closed.
func (p *stallProxy) pumpDown(lk *stallLink) {
	defer p.wg.Done()
	buf := make([]byte, 32<<10)
	for {
		n, err := lk.up.Read(buf)
		if lk.stalled.Load() {
			if n > 0 && lk.downClosed.Load() {
				lk.up.(*net.TCPConn).SetLinger(0)
				lk.up.Close()
				return
			}
			if err != nil {
				return
			}
			continue
		}
		if n > 0 {
			if _, werr := lk.down.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			lk.down.Close()
			return
		}
	}
}

func (p *stallProxy) stallExisting() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, lk := range p.links {
		lk.stalled.Store(true)
	}
}
