package socket

import (
	"context"
	"errors"
	"fmt"
	"net"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// The outage suite: a PUSH whose only receiver is gone, or silent, for much
// longer than the resume timeout. Send must keep blocking at the send
// high-water mark however long that lasts (memory stays bounded), and when
// a receiver is back every message Send accepted reaches it, the first copy
// of each in the order sent. Duplicates are allowed only where the README
// allows them: for messages a receiver may have had before it went away.

// outageRedial is the reconnect interval of the outage tests' PUSHes, so a
// receiver that is back is found at once.
func outageRedial() Option { return WithReconnectInterval(time.Millisecond, 20*time.Millisecond) }

// TestOutageSendBlocksAtMark closes the only PULL of a connecting PUSH and
// keeps calling Send for fifteen resume timeouts. Send may accept no more
// than the send high-water mark in all, and Stats.SendQueue (which counts
// the orphans of an expired pipe) may never exceed it. A new PULL at the
// same endpoint then gets every message Send accepted, once each and in
// order.
func TestOutageSendBlocksAtMark(t *testing.T) {
	const (
		hwm     = 50
		resume  = 100 * time.Millisecond
		outage  = 15 * resume
		perSend = 20 * time.Millisecond
		first   = 5 // exchanged to confirm the link, and acknowledged
	)
	forEachTransport(t, func(t *testing.T, nw *network) {
		if nw.name == "conn" {
			t.Skip("needs the PUSH to redial an endpoint a new PULL binds; a net.Conn given to ConnectConn is never redialed")
		}
		ctx := testContext(t)
		ep := nw.reserve()
		pull := newSocket(t, Pull)
		ep = nw.bindAt(pull, ep)
		push := newSocket(t, Push, WithSendHWM(hwm), WithResumeTimeout(resume), outageRedial(), WithLinger(0))
		nw.connect(push, ep)

		wait(t, sendAll(ctx, push, 0, first))
		for i, m := range recvN(t, ctx, pull, first) {
			if got := number(t, m); got != i {
				t.Fatalf("message %d: got %d, want %d", i, got, i)
			}
		}
		if err := push.Flush(ctx); err != nil {
			t.Fatalf("Flush: got error %v, want nil", err)
		}
		held := push.Stats().SendQueue // 0: everything is acknowledged
		if err := pull.Close(); err != nil {
			t.Fatalf("Close of the PULL: got error %v, want nil", err)
		}
		waitFor(t, ctx, "the PUSH to see its PULL gone", func() bool { return connectedPeers(push) == 0 })

		q := sampleSendQueue(t, push)
		accepted := sendFor(t, ctx, push, first, outage, perSend, 100*hwm)
		maxQ := q.finish()
		t.Logf("no PULL for %v: Send accepted %d, SendQueue up to %d (Orphans %d then)", outage, accepted, maxQ.SendQueue, maxQ.Orphans)
		if held+accepted > hwm {
			t.Errorf("no PULL for %v (%d resume timeouts): Send accepted %d messages on top of %d held, %d in all; want at most the send HWM %d",
				outage, outage/resume, accepted, held, held+accepted, hwm)
		}
		if maxQ.SendQueue > hwm {
			t.Errorf("no PULL for %v: got SendQueue up to %d (Orphans %d then), want at most the send HWM %d", outage, maxQ.SendQueue, maxQ.Orphans, hwm)
		}

		// A new PULL (a new session) at the same endpoint gets everything.
		pull2 := newSocket(t, Pull)
		nw.bindAt(pull2, ep)
		checkDelivery(t, ctx, pull2, first, first+accepted, func(int) bool { return false })
	})
}

// TestOutageOrderAfterRebind unbinds a PULL (the same socket, so the same
// session, comes back) while its PUSH sends, for longer than the resume
// timeout, and binds it again. The PULL gets every message sent meanwhile,
// the first copy of each in the order sent: the README allows duplicates
// after so long an absence, never reordering.
func TestOutageOrderAfterRebind(t *testing.T) {
	const resume = 100 * time.Millisecond
	forEachTransport(t, func(t *testing.T, nw *network) {
		if nw.name == "conn" {
			t.Skip("needs the PULL to unbind and bind again and the PUSH to redial; a net.Conn given to ConnectConn is never redialed")
		}
		ctx := testContext(t)
		pull := newSocket(t, Pull)
		ep := nw.bind(pull)
		push := newSocket(t, Push, WithSendHWM(1000), WithResumeTimeout(resume), outageRedial(), WithLinger(0))
		nw.connect(push, ep)

		// Messages are numbered from 1.
		wait(t, sendAll(ctx, push, 1, 50))
		for i, m := range recvN(t, ctx, pull, 50) {
			if got := number(t, m); got != i+1 {
				t.Fatalf("message %d: got %d, want %d", i+1, got, i+1)
			}
		}
		if err := push.Flush(ctx); err != nil {
			t.Fatalf("Flush: got error %v, want nil", err)
		}
		if err := pull.Unbind(ep); err != nil {
			t.Fatalf("Unbind(%q): got error %v, want nil", ep, err)
		}
		waitFor(t, ctx, "the PUSH to see its PULL gone", func() bool { return connectedPeers(push) == 0 })

		wait(t, sendAll(ctx, push, 51, 250)) // 51..300
		time.Sleep(4 * resume)               // well past the resume timeout
		sent := sendAll(ctx, push, 301, 100) // 301..400
		// These sends are far below the HWM and should return at once; if
		// they block for want of a peer, the PULL's return lets them go on.
		select {
		case err := <-sent:
			if err != nil {
				t.Fatal(err)
			}
			if st := push.Stats(); st.SendQueue != 350 {
				t.Errorf("before the PULL is back: got SendQueue %d (Orphans %d), want 350", st.SendQueue, st.Orphans)
			}
		case <-time.After(time.Second):
			t.Logf("Send of 301..400 still blocked after 1s: binding the PULL again anyway")
		}

		nw.bindAt(pull, ep)
		checkDelivery(t, ctx, pull, 51, 401, func(int) bool { return true })
		wait(t, sent)
	})
}

// TestOutageSilentPeerHoldsAtMostHWM freezes the network between a PUSH and
// its only PULL: the connection stays open and nothing passes, and new
// connections are accepted but never answered (a partition, or an impostor
// holding the port). For thirty resume timeouts Send may accept no more than
// the send high-water mark in all, and Stats.SendQueue may never exceed it.
// Once the network is back every message Send accepted reaches the PULL.
func TestOutageSilentPeerHoldsAtMostHWM(t *testing.T) {
	const (
		hwm      = 50
		resume   = 100 * time.Millisecond
		silence  = 30 * resume // stands in for a minute's partition
		perSend  = 20 * time.Millisecond
		streamed = 30 // taken by the PULL and acknowledged before the freeze
		inFlight = 10 // sent just before the freeze, not acknowledged
	)
	forEachTransport(t, func(t *testing.T, nw *network) {
		switch nw.name {
		case "inproc":
			t.Skip("an inproc peer cannot go silent: there is no network between the sockets to freeze")
		case "conn":
			t.Skip("needs the PUSH to redial through the proxy; a net.Conn given to ConnectConn is never redialed")
		}
		ctx := testContext(t)
		var pullOpts []Option
		if nw.name == "quic" {
			// QUIC has no reset: when the PUSH dials again after the thaw,
			// the PING the PULL sends on its old connection to find out
			// whether it is dead (wire/SPEC.md section 6) meets silence,
			// so the PULL learns it from its own heartbeat.
			pullOpts = append(pullOpts, WithHeartbeat(50*time.Millisecond, 200*time.Millisecond))
		}
		pull := newSocket(t, Pull, pullOpts...)
		proxy := newFreezeProxy(t, nw, nw.bind(pull))
		push := newSocket(t, Push, WithHeartbeat(50*time.Millisecond, 200*time.Millisecond),
			WithResumeTimeout(resume), WithHandshakeTimeout(200*time.Millisecond), WithSendHWM(hwm),
			outageRedial(), WithLinger(0))
		if err := push.Connect(proxy.endpoint); err != nil {
			t.Fatalf("Connect(%q): got error %v, want nil", proxy.endpoint, err)
		}

		wait(t, sendAll(ctx, push, 0, streamed))
		for i, m := range recvN(t, ctx, pull, streamed) {
			if got := number(t, m); got != i {
				t.Fatalf("message %d: got %d, want %d", i, got, i)
			}
		}
		if err := push.Flush(ctx); err != nil {
			t.Fatalf("Flush: got error %v, want nil", err)
		}
		// Held unacknowledged from here on: the PULL takes nothing until
		// the network is back.
		wait(t, sendAll(ctx, push, streamed, inFlight))
		proxy.freeze()

		q := sampleSendQueue(t, push)
		accepted := sendFor(t, ctx, push, streamed+inFlight, silence, perSend, 100*hwm)
		maxQ := q.finish()
		st := push.Stats()
		t.Logf("silent for %v: Send accepted %d, SendQueue up to %d (Orphans %d then), resends %d", silence, accepted, maxQ.SendQueue, maxQ.Orphans, st.Resends)
		if inFlight+accepted > hwm {
			t.Errorf("PULL silent for %v (%d resume timeouts): Send accepted %d messages on top of %d held, %d in all; want at most the send HWM %d",
				silence, silence/resume, accepted, inFlight, inFlight+accepted, hwm)
		}
		if maxQ.SendQueue > hwm {
			t.Errorf("PULL silent for %v: got SendQueue up to %d (Orphans %d then), want at most the send HWM %d", silence, maxQ.SendQueue, maxQ.Orphans, hwm)
		}

		proxy.unfreeze()
		// Only the messages sent just before the freeze may arrive twice:
		// the PULL may hold them while the PUSH, past the resume timeout,
		// sends them again.
		checkDelivery(t, ctx, pull, streamed, streamed+inFlight+accepted, func(x int) bool { return x < streamed+inFlight })
	})
}

// connectedPeers counts s's peers with a connection.
func connectedPeers(s *Socket) int {
	n := 0
	for _, p := range s.Stats().Peers {
		if p.Connected {
			n++
		}
	}
	return n
}

// sendFor calls Send with the numbered messages next, next+1, ... for about
// d, each call bounded by per. A call that times out queued nothing, so the
// next call sends the same number again. It stops early once limit messages
// were accepted, and returns how many were.
func sendFor(t *testing.T, ctx context.Context, s *Socket, next int, d, per time.Duration, limit int) int {
	t.Helper()
	accepted := 0
	for end := time.Now().Add(d); time.Now().Before(end) && accepted < limit; {
		sctx, cancel := context.WithTimeout(ctx, per)
		err := s.Send(sctx, []byte(strconv.Itoa(next+accepted)))
		cancel()
		switch {
		case err == nil:
			accepted++
		case errors.Is(err, context.DeadlineExceeded) && ctx.Err() == nil:
		default:
			t.Fatalf("Send %d: got error %v, want nil or %v", next+accepted, err, context.DeadlineExceeded)
		}
	}
	return accepted
}

// queueSampler polls a socket's Stats every 5 ms from its own goroutine
// and keeps the snapshot with the largest SendQueue.
type queueSampler struct {
	stop, done chan struct{}
	once       sync.Once
	max        Stats
}

func sampleSendQueue(t *testing.T, s *Socket) *queueSampler {
	q := &queueSampler{stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(q.done)
		tick := time.NewTicker(5 * time.Millisecond)
		defer tick.Stop()
		for {
			if st := s.Stats(); st.SendQueue > q.max.SendQueue {
				q.max = st
			}
			select {
			case <-tick.C:
			case <-q.stop:
				return
			}
		}
	}()
	t.Cleanup(func() { q.finish() })
	return q
}

// finish stops the sampler and returns the snapshot with the largest
// SendQueue it saw.
func (q *queueSampler) finish() Stats {
	q.once.Do(func() { close(q.stop) })
	<-q.done
	return q.max
}

// checkDelivery receives from pull until every message numbered in
// [from, to) has arrived, or for at most a few seconds, and then takes what
// else is already there. It reports each way the stream broke the
// pipeline's promise: a message lost; one that arrived twice though
// mayRepeat says it may not; one from outside the range; and the first copy
// of a message arriving after that of a later one (reordered).
func checkDelivery(t *testing.T, ctx context.Context, pull *Socket, from, to int, mayRepeat func(int) bool) {
	t.Helper()
	seen := make(map[int]int, to-from)
	var arrivals []int
	last := from - 1 // the highest first arrival so far
	var dups, outside, reordered []string
	take := func(x int) {
		arrivals = append(arrivals, x)
		switch {
		case x < from || x >= to:
			if !mayRepeat(x) {
				outside = append(outside, strconv.Itoa(x))
			}
		case seen[x] > 0:
			if !mayRepeat(x) {
				dups = append(dups, strconv.Itoa(x))
			}
		case x < last:
			reordered = append(reordered, fmt.Sprintf("%d after %d", x, last))
		}
		if x >= from && x < to {
			seen[x]++
			last = max(last, x)
		}
	}

	rctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	var recvErr error
	for len(seen) < to-from {
		m, err := pull.Recv(rctx)
		if err != nil {
			recvErr = err
			break
		}
		take(number(t, m))
	}
	if recvErr == nil { // late copies already there
		for {
			dctx, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
			m, err := pull.Recv(dctx)
			cancel()
			if err != nil {
				break
			}
			take(number(t, m))
		}
	}

	t.Logf("received %d messages, %d of the %d in [%d,%d); first ones %v", len(arrivals), len(seen), to-from, from, to, head(arrivals, 12))
	if lost := to - from - len(seen); lost > 0 {
		var missing []int
		for x := from; x < to; x++ {
			if seen[x] == 0 {
				missing = append(missing, x)
			}
		}
		t.Errorf("lost: got %d of the %d messages in [%d,%d) before Recv returned %v, want all; missing %v", len(seen), to-from, from, to, recvErr, head(missing, 12))
	}
	if len(reordered) > 0 {
		t.Errorf("reordered: got %d first arrivals below an earlier one (first: %s; arrivals began %v), want first arrivals in increasing order",
			len(reordered), reordered[0], head(arrivals, 12))
	}
	if len(dups) > 0 {
		t.Errorf("duplicated: got %d messages more than once (%s), want each once", len(dups), strings.Join(head(dups, 12), " "))
	}
	if len(outside) > 0 {
		t.Errorf("unexpected: got %d messages outside [%d,%d) (%s), want none", len(outside), from, to, strings.Join(head(outside, 12), " "))
	}
}

// head returns at most n leading elements of s.
func head[T any](s []T, n int) []T { return s[:min(n, len(s))] }

// freezeProxy forwards tcp, ipc or ws connections (quic datagrams, through
// a udpRelay) to a target and can freeze:
// while frozen it forwards nothing in either direction (not even a close),
// keeps the connections it has open, and accepts new ones without answering
// or forwarding them. That is how a partitioned network, or an impostor
// holding the port, looks to a socket. Unfreezing resets every connection it
// holds, as a middlebox that lost its state would, and forwards new ones
// again: nothing written during the freeze ever arrives.
type freezeProxy struct {
	endpoint string // for Connect
	l        net.Listener
	network  string // "tcp" or "unix"
	target   string
	path     string    // ws: the endpoint's path
	udp      *udpRelay // quic: the relay that does it all instead
	wg       sync.WaitGroup

	mu     sync.Mutex
	thawed chan struct{} // closed while not frozen
	frozen bool
	closed bool
	links  map[*proxyLink]struct{}
}

// proxyLink is a connection accepted by the proxy and, unless it was
// accepted while frozen, the one it dialed to the target for it.
type proxyLink struct {
	down, up net.Conn
	dead     chan struct{}
	once     sync.Once
}

// kill closes both connections, with RST where it is TCP.
func (lk *proxyLink) kill() {
	lk.once.Do(func() {
		close(lk.dead)
		for _, c := range []net.Conn{lk.down, lk.up} {
			if c == nil {
				continue
			}
			if tc, ok := c.(*net.TCPConn); ok {
				tc.SetLinger(0)
			}
			c.Close()
		}
	})
}

// newFreezeProxy starts a proxy in front of target, an endpoint of nw
// ("tcp" or "ipc"), and stops it when the test ends.
func newFreezeProxy(t *testing.T, nw *network, target string) *freezeProxy {
	t.Helper()
	p := &freezeProxy{thawed: make(chan struct{}), links: map[*proxyLink]struct{}{}}
	close(p.thawed)
	var addr string
	switch nw.name {
	case "tcp":
		p.network, p.target, addr = "tcp", strings.TrimPrefix(target, "tcp://"), "127.0.0.1:0"
	case "ipc":
		p.network, p.target, addr = "unix", strings.TrimPrefix(target, "ipc://"), filepath.Join(t.TempDir(), "proxy")
	case "ws":
		// The WebSocket's TCP connection goes through the proxy.
		hostport, path, _ := strings.Cut(strings.TrimPrefix(target, "ws://"), "/")
		p.network, p.target, addr, p.path = "tcp", hostport, "127.0.0.1:0", "/"+path
	case "quic":
		// QUIC's datagrams go through a relay, which freezes the same way:
		// nothing passes, old flows are forgotten at the thaw.
		p.udp = newUDPRelay(t, strings.TrimPrefix(target, "quic://"))
		p.endpoint = "quic://" + p.udp.addr()
		return p
	default:
		t.Fatalf("freezeProxy over %q: got an unsupported transport, want tcp, ipc, ws or quic", nw.name)
	}
	l, err := net.Listen(p.network, addr)
	if err != nil {
		t.Fatalf("proxy listen: got error %v, want nil", err)
	}
	p.l = l
	if p.network == "tcp" && nw.name == "ws" {
		p.endpoint = "ws://" + l.Addr().String() + p.path
	} else if p.network == "tcp" {
		p.endpoint = "tcp://" + l.Addr().String()
	} else {
		p.endpoint = "ipc://" + addr
	}
	p.wg.Add(1)
	go p.accept()
	t.Cleanup(p.close)
	return p
}

// accept runs until the listener closes.
func (p *freezeProxy) accept() {
	defer p.wg.Done()
	for {
		c, err := p.l.Accept()
		if err != nil {
			return
		}
		lk := &proxyLink{down: c, dead: make(chan struct{})}
		p.mu.Lock()
		closed, frozen := p.closed, p.frozen
		if frozen && !closed {
			p.links[lk] = struct{}{} // held open, never answered
		}
		p.mu.Unlock()
		if closed {
			lk.kill()
			return
		}
		if frozen {
			continue
		}
		up, err := net.Dial(p.network, p.target)
		if err != nil {
			lk.kill()
			continue
		}
		lk.up = up
		p.mu.Lock()
		if p.closed {
			p.mu.Unlock()
			lk.kill()
			continue
		}
		p.links[lk] = struct{}{}
		p.wg.Add(2)
		p.mu.Unlock()
		go p.pump(lk, lk.up, lk.down)
		go p.pump(lk, lk.down, lk.up)
	}
}

// pump copies one direction of a link until either side fails or the link
// is killed, holding what it read while the proxy is frozen.
func (p *freezeProxy) pump(lk *proxyLink, dst, src net.Conn) {
	defer p.wg.Done()
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if !p.pass(lk) {
			return
		}
		if n > 0 {
			if _, werr := dst.Write(buf[:n]); werr != nil {
				break
			}
		}
		if err != nil {
			break
		}
	}
	p.mu.Lock()
	delete(p.links, lk)
	p.mu.Unlock()
	lk.kill()
}

// pass waits while the proxy is frozen, and reports whether lk may still
// forward.
func (p *freezeProxy) pass(lk *proxyLink) bool {
	p.mu.Lock()
	thawed := p.thawed
	p.mu.Unlock()
	select {
	case <-thawed:
	case <-lk.dead:
	}
	select {
	case <-lk.dead:
		return false
	default:
		return true
	}
}

func (p *freezeProxy) freeze() {
	if p.udp != nil {
		p.udp.freeze()
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.frozen {
		p.frozen = true
		p.thawed = make(chan struct{})
	}
}

// unfreeze resets every connection the proxy holds, then forwards again.
func (p *freezeProxy) unfreeze() {
	if p.udp != nil {
		p.udp.unfreeze()
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	for lk := range p.links {
		lk.kill() // before the thaw: nothing held may pass
		delete(p.links, lk)
	}
	if p.frozen {
		p.frozen = false
		close(p.thawed)
	}
}

func (p *freezeProxy) close() {
	p.mu.Lock()
	p.closed = true
	links := make([]*proxyLink, 0, len(p.links))
	for lk := range p.links {
		links = append(links, lk)
	}
	p.mu.Unlock()
	p.l.Close()
	for _, lk := range links {
		lk.kill()
	}
	p.wg.Wait()
}
