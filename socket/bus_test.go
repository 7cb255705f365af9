package socket

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"
)

// The BUS suite: what a mesh member promises (socket/types.go, Bus),
// checked over real connections: every member's messages reach every
// other member exactly once, in order per sender; a slow member makes
// Send wait, never drop; a Send that gives up gave the message to nobody.

// busMesh makes n BUS sockets with opts, each bound on nw, and wires them
// into a full mesh: each connects to every other's endpoint, so every pair
// dials each other and keeps one of the two connections. Over "conn",
// where a pair of net.Conns is already one connection, only the first of
// each pair connects. It waits until every member has n-1 peers.
func busMesh(t *testing.T, nw *network, n int, opts ...Option) []*Socket {
	t.Helper()
	ctx := testContext(t)
	nodes := make([]*Socket, n)
	eps := make([]string, n)
	for i := range nodes {
		nodes[i] = newSocket(t, Bus, opts...)
		eps[i] = nw.bind(nodes[i])
	}
	for i, s := range nodes {
		for j := range nodes {
			if i == j || (nw.name == "conn" && j < i) {
				continue
			}
			nw.connect(s, eps[j])
		}
	}
	for i, s := range nodes {
		if err := s.WaitPeers(ctx, n-1); err != nil {
			t.Fatalf("member %d: WaitPeers(%d): got error %v, want nil", i, n-1, err)
		}
	}
	return nodes
}

// busRecv receives want messages "sender:seq" on s and checks that each
// sender's arrive exactly once, in order, from next[sender] on; it
// advances next.
func busRecv(t *testing.T, ctx context.Context, s *Socket, who string, want int, next map[int]int) {
	t.Helper()
	for range want {
		m, err := s.Recv(ctx)
		if err != nil {
			t.Fatalf("%s: Recv: got error %v, want nil (next per sender %v)", who, err, next)
		}
		id, i := tagged(t, m)
		if i != next[id] {
			t.Fatalf("%s: from member %d: got message %d, want %d", who, id, i, next[id])
		}
		next[id]++
	}
}

// busNothing checks that s has no message waiting within d.
func busNothing(t *testing.T, s *Socket, who string, d time.Duration) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	if m, err := s.Recv(ctx); err == nil {
		t.Fatalf("%s: got message %q, want none", who, m.Bytes())
	}
}

// TestBusMeshExactlyOnce: in meshes of 3 and 5 members over every
// transport, all members send at once, and each receives every other
// member's messages exactly once, in order per sender, and none of its
// own. Afterwards nothing is held, dropped or duplicated.
func TestBusMeshExactlyOnce(t *testing.T) {
	for _, size := range []int{3, 5} {
		t.Run(fmt.Sprintf("%d members", size), func(t *testing.T) {
			const n = 2000
			forEachTransport(t, func(t *testing.T, nw *network) {
				ctx := testContext(t)
				nodes := busMesh(t, nw, size, WithSendHWM(100))
				var sends []<-chan error
				for id, s := range nodes {
					sends = append(sends, sendTagged(ctx, s, id, n))
				}
				var wg sync.WaitGroup
				for id, s := range nodes {
					wg.Go(func() {
						next := make(map[int]int)
						busRecv(t, ctx, s, fmt.Sprintf("member %d", id), (size-1)*n, next)
						for from := range size {
							want := n
							if from == id {
								want = 0
							}
							if next[from] != want {
								t.Errorf("member %d: got %d messages from member %d, want %d", id, next[from], from, want)
							}
						}
					})
				}
				wg.Wait()
				for _, ch := range sends {
					wait(t, ch)
				}
				for id, s := range nodes {
					if err := s.Flush(ctx); err != nil {
						t.Fatalf("member %d: Flush: got error %v, want nil", id, err)
					}
					st := s.Stats()
					// Duplicates may be dropped: a pair that dialed each other
					// resends, on the connection both keep, what went out on
					// the other before it was closed.
					if st.SendQueue != 0 || st.RecvQueue != 0 || st.Drops != 0 || st.Unroutable != 0 {
						t.Errorf("member %d: got SendQueue %d, RecvQueue %d, Drops %d, Unroutable %d, want all 0",
							id, st.SendQueue, st.RecvQueue, st.Drops, st.Unroutable)
					}
					if st.MsgsIn != uint64((size-1)*n) || len(st.Peers) < size-1 {
						t.Errorf("member %d: got MsgsIn %d over %d peers, want %d over %d", id, st.MsgsIn, len(st.Peers), (size-1)*n, size-1)
					}
				}
			})
		})
	}
}

// TestBusFramesPreserved: a member's multi-frame and empty messages reach
// the others whole.
func TestBusFramesPreserved(t *testing.T) {
	msgs := []Message{
		{[]byte("hello")},
		{{}},
		{[]byte("a"), {}, []byte("bc")},
		{bytes.Repeat([]byte("x"), 1<<20)},
	}
	forEachTransport(t, func(t *testing.T, nw *network) {
		ctx := testContext(t)
		nodes := busMesh(t, nw, 3)
		for _, m := range msgs {
			if err := nodes[0].Send(ctx, m...); err != nil {
				t.Fatalf("Send: got error %v, want nil", err)
			}
		}
		for _, s := range nodes[1:] {
			for i, got := range recvN(t, ctx, s, len(msgs)) {
				if len(got) != len(msgs[i]) {
					t.Fatalf("message %d: got %d frames, want %d", i, len(got), len(msgs[i]))
				}
				for j := range got {
					if !bytes.Equal(got[j], msgs[i][j]) {
						t.Fatalf("message %d frame %d: got %.20q, want %.20q", i, j, got[j], msgs[i][j])
					}
				}
			}
		}
		busNothing(t, nodes[0], "the sender", 20*time.Millisecond)
	})
}

// TestBusSlowMemberBlocksSend: a member that does not take its messages
// makes Send wait once its queue is at the send high-water mark; a Send
// that gives up gave the message to nobody, not even the members with
// room, and nothing is dropped. Once the slow member reads, the same
// message sent again reaches everyone once.
func TestBusSlowMemberBlocksSend(t *testing.T) {
	const hwm = 10
	forEachTransport(t, func(t *testing.T, nw *network) {
		ctx := testContext(t)
		nodes := busMesh(t, nw, 3, WithSendHWM(hwm), WithRecvHWM(hwm))
		sender, fast, slow := nodes[0], nodes[1], nodes[2]
		for i := range hwm {
			if err := sender.Send(ctx, []byte(fmt.Sprintf("0:%d", i))); err != nil {
				t.Fatalf("Send %d: got error %v, want nil", i, err)
			}
		}
		fastNext := map[int]int{}
		busRecv(t, ctx, fast, "the fast member", hwm, fastNext)

		short, cancel := context.WithTimeout(ctx, 100*time.Millisecond)
		err := sender.Send(short, []byte(fmt.Sprintf("0:%d", hwm)))
		cancel()
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("Send with the slow member's queue full: got %v, want context.DeadlineExceeded", err)
		}
		busNothing(t, fast, "the fast member, after a Send that gave up", 50*time.Millisecond)
		if st := sender.Stats(); st.Drops != 0 || st.Unroutable != 0 {
			t.Fatalf("sender: got Drops %d, Unroutable %d, want 0, 0", st.Drops, st.Unroutable)
		}

		slowNext := map[int]int{}
		busRecv(t, ctx, slow, "the slow member", hwm, slowNext)
		if err := sender.Send(ctx, []byte(fmt.Sprintf("0:%d", hwm))); err != nil {
			t.Fatalf("Send again once the slow member read: got error %v, want nil", err)
		}
		busRecv(t, ctx, fast, "the fast member", 1, fastNext)
		busRecv(t, ctx, slow, "the slow member", 1, slowNext)
		if err := sender.Flush(ctx); err != nil {
			t.Fatalf("Flush: got error %v, want nil", err)
		}
		busNothing(t, fast, "the fast member", 20*time.Millisecond)
	})
}

// TestBusConnectionCuts: the connection between two members is reset
// again and again while everyone sends; the member behind it is away for
// a moment each time, its copies wait and are resent, and every message
// still arrives exactly once, in order per sender.
func TestBusConnectionCuts(t *testing.T) {
	const n, size = 20_000, 3
	ctx := testContext(t)
	opts := []Option{WithSendHWM(200), WithReconnectInterval(time.Millisecond, 10*time.Millisecond)}
	nodes := make([]*Socket, size)
	eps := make([]string, size)
	for i := range nodes {
		nodes[i] = newSocket(t, Bus, opts...)
		ep, err := nodes[i].Bind("tcp://127.0.0.1:0")
		if err != nil {
			t.Fatalf("Bind: got error %v, want nil", err)
		}
		eps[i] = ep
	}
	// 0 and 1 reach 2 directly, and 0 reaches 1 through the proxy only.
	proxy := newCutProxy(t, strings.TrimPrefix(eps[1], "tcp://"))
	for _, link := range [][2]int{{0, 2}, {1, 2}} {
		if err := nodes[link[0]].Connect(eps[link[1]]); err != nil {
			t.Fatalf("Connect: got error %v, want nil", err)
		}
	}
	if err := nodes[0].Connect(proxy.endpoint()); err != nil {
		t.Fatalf("Connect: got error %v, want nil", err)
	}
	for i, s := range nodes {
		if err := s.WaitPeers(ctx, size-1); err != nil {
			t.Fatalf("member %d: WaitPeers: got error %v, want nil", i, err)
		}
	}
	stop := make(chan struct{})
	cutter := make(chan struct{})
	go func() {
		defer close(cutter)
		for range 5 {
			select {
			case <-time.After(20 * time.Millisecond):
				proxy.cut()
			case <-stop:
				return
			}
		}
	}()
	var sends []<-chan error
	for id, s := range nodes {
		sends = append(sends, sendTagged(ctx, s, id, n))
	}
	var wg sync.WaitGroup
	for id, s := range nodes {
		wg.Go(func() { busRecv(t, ctx, s, fmt.Sprintf("member %d", id), (size-1)*n, map[int]int{}) })
	}
	wg.Wait()
	close(stop)
	<-cutter
	for _, ch := range sends {
		wait(t, ch)
	}
	var resends uint64
	for id, s := range nodes {
		if err := s.Flush(ctx); err != nil {
			t.Fatalf("member %d: Flush: got error %v, want nil", id, err)
		}
		resends += s.Stats().Resends
	}
	t.Logf("%d cuts: %d resends", proxy.cuts, resends)
}

// TestBusRestartedMember: a member is closed (its process gone) and a new
// socket takes its endpoint. The others' messages meanwhile, and before
// the new member's handshake, never reach it: they are dropped when its
// old session is known gone (Stats.Unroutable) rather than held forever,
// and Send stops waiting for it. The new member gets everything sent
// after, and its own messages reach everyone; the members that stayed
// lose nothing of each other's.
func TestBusRestartedMember(t *testing.T) {
	const resume = 200 * time.Millisecond
	forEachTransport(t, func(t *testing.T, nw *network) {
		if nw.name == "conn" || nw.name == "inproc" {
			t.Skip("needs the others to redial the endpoint the new member binds")
		}
		ctx := testContext(t)
		opts := []Option{WithResumeTimeout(resume), WithReconnectInterval(time.Millisecond, 20*time.Millisecond), WithLinger(0)}
		eps := []string{nw.reserve(), nw.reserve(), nw.reserve()}
		nodes := make([]*Socket, 3)
		for i := range nodes {
			nodes[i] = newSocket(t, Bus, opts...)
			nw.bindAt(nodes[i], eps[i])
		}
		for i, s := range nodes {
			for j := range nodes {
				if i != j {
					nw.connect(s, eps[j])
				}
			}
		}
		for _, s := range nodes {
			if err := s.WaitPeers(ctx, 2); err != nil {
				t.Fatalf("WaitPeers: got error %v, want nil", err)
			}
		}
		a, b := nodes[0], nodes[1]
		next := []map[int]int{{}, {}, {}}
		send := func(s *Socket, id, from, to int) {
			t.Helper()
			for i := from; i < to; i++ {
				if err := s.Send(ctx, []byte(fmt.Sprintf("%d:%d", id, i))); err != nil {
					t.Fatalf("member %d: Send %d: got error %v, want nil", id, i, err)
				}
			}
		}
		send(a, 0, 0, 10)
		send(b, 1, 0, 10)
		for i, s := range nodes {
			busRecv(t, ctx, s, fmt.Sprintf("member %d", i), 10*(1+boolInt(i == 2)), next[i])
		}
		for _, s := range []*Socket{a, b} {
			if err := s.Flush(ctx); err != nil {
				t.Fatalf("Flush: got error %v, want nil", err)
			}
		}

		old := nodes[2]
		oldSession := old.Session()
		old.Close()
		waitFor(t, ctx, "the others to see member 2 go", func() bool { return connectedPeers(a) == 1 && connectedPeers(b) == 1 })
		// Sent while member 2 is down: it is away, so its copies wait.
		send(a, 0, 10, 20)
		send(b, 1, 10, 20)

		restarted := newSocket(t, Bus, opts...)
		nw.bindAt(restarted, eps[2])
		for j := range 2 {
			nw.connect(restarted, eps[j])
		}
		if err := restarted.WaitPeers(ctx, 2); err != nil {
			t.Fatalf("restarted: WaitPeers: got error %v, want nil", err)
		}
		for _, s := range []*Socket{a, b} {
			waitFor(t, ctx, "the others to see the restarted member", func() bool {
				for _, p := range s.Stats().Peers {
					if p.Connected && p.Session == restarted.Session() {
						return true
					}
				}
				return false
			})
		}
		// The old session's copies are dropped, by its resume timeout at the
		// latest, and nothing waits for them any more.
		for id, s := range []*Socket{a, b} {
			waitFor(t, ctx, "the old member's copies to be dropped", func() bool { return s.Stats().Unroutable == 10 })
			for _, p := range s.Stats().Peers {
				if p.Session == oldSession && p.SendQueue != 0 {
					t.Fatalf("member %d: got SendQueue %d for the old session, want 0", id, p.SendQueue)
				}
			}
		}

		send(a, 0, 20, 30)
		send(b, 1, 20, 30)
		send(restarted, 2, 0, 10)
		busRecv(t, ctx, a, "member 0", 10+10+10, next[0])
		busRecv(t, ctx, b, "member 1", 10+10+10, next[1])
		// The restarted member starts with what was sent after its handshake.
		got := map[int]int{0: 20, 1: 20}
		busRecv(t, ctx, restarted, "the restarted member", 20, got)
		busNothing(t, restarted, "the restarted member", 20*time.Millisecond)
		for id, s := range []*Socket{a, b, restarted} {
			if err := s.Flush(ctx); err != nil {
				t.Fatalf("member %d: Flush: got error %v, want nil", id, err)
			}
			if got := s.Stats().Unroutable; id < 2 && got != 10 {
				t.Fatalf("member %d: got Unroutable %d at the end, want still 10", id, got)
			}
		}
		if next[0][2] != 10 || next[1][2] != 10 || next[0][1] != 30 || next[1][0] != 30 {
			t.Fatalf("got next per sender %v and %v, want 30 from each other and 10 from the restarted member", next[0], next[1])
		}
	})
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// TestBusTooLargeForAMember: a message larger than one member accepts
// fails at once, and reaches no member.
func TestBusTooLargeForAMember(t *testing.T) {
	ctx := testContext(t)
	nw := newNetwork(t, "tcp")
	a := newSocket(t, Bus)
	b := newSocket(t, Bus)
	small := newSocket(t, Bus, WithMaxMessageSize(100))
	nw.connect(b, nw.bind(a))
	nw.connect(small, nw.bind(b))
	nw.connect(small, nw.bind(a))
	for _, s := range []*Socket{a, b, small} {
		if err := s.WaitPeers(ctx, 2); err != nil {
			t.Fatalf("WaitPeers: got error %v, want nil", err)
		}
	}
	if err := a.Send(ctx, make([]byte, 200)); !errors.Is(err, ErrMessageTooLarge) {
		t.Fatalf("Send of 200 bytes with a member accepting 100: got %v, want ErrMessageTooLarge", err)
	}
	if err := a.Send(ctx, []byte("0:0")); err != nil {
		t.Fatalf("Send: got error %v, want nil", err)
	}
	for _, s := range []*Socket{b, small} {
		busRecv(t, ctx, s, "member", 1, map[int]int{})
	}
}

// TestBusNoMember: with no member, a message goes to nobody; WithFailFast
// says so with ErrNoPeer.
func TestBusNoMember(t *testing.T) {
	ctx := testContext(t)
	lone := newSocket(t, Bus)
	if err := lone.Send(ctx, []byte("into the void")); err != nil {
		t.Fatalf("Send with no member: got error %v, want nil", err)
	}
	if st := lone.Stats(); st.SendQueue != 0 {
		t.Fatalf("got SendQueue %d, want 0", st.SendQueue)
	}
	strict := newSocket(t, Bus, WithFailFast(true))
	if err := strict.Send(ctx, []byte("x")); !errors.Is(err, ErrNoPeer) {
		t.Fatalf("Send WithFailFast with no member: got %v, want ErrNoPeer", err)
	}
}

// TestBusTalksToBusOnly: a BUS refuses every other type, and they refuse
// it, with ErrIncompatiblePeer.
func TestBusTalksToBusOnly(t *testing.T) {
	ctx := testContext(t)
	for _, other := range []Type{Dealer, Pair, Push, Pull, Pub, Sub, Router} {
		t.Run(other.String(), func(t *testing.T) {
			bus := newSocket(t, Bus)
			ep, err := bus.Bind("tcp://127.0.0.1:0")
			if err != nil {
				t.Fatalf("Bind: got error %v, want nil", err)
			}
			peer := newSocket(t, other)
			if err := peer.Connect(ep); err != nil {
				t.Fatalf("Connect: got error %v, want nil", err)
			}
			e := waitKind(t, ctx, bus, EventHandshakeFailed)
			if !errors.Is(e.Err, ErrIncompatiblePeer) {
				t.Fatalf("BUS refusing %v: got %v, want ErrIncompatiblePeer", other, e.Err)
			}
		})
	}
}

// TestBusNotOverZMTP: ZMTP defines no BUS, so New refuses the pair.
func TestBusNotOverZMTP(t *testing.T) {
	_, err := New(Bus, WithProtocol(ZMTP))
	if !errors.Is(err, ErrInvalidOption) || !strings.Contains(err.Error(), "BUS") {
		t.Fatalf("New(Bus, WithProtocol(ZMTP)): got %v, want ErrInvalidOption naming BUS", err)
	}
}

// TestBusEvents: members see each other connect, and a member that closes
// is reported gone after the resume timeout.
func TestBusEvents(t *testing.T) {
	ctx := testContext(t)
	a := newSocket(t, Bus, WithResumeTimeout(50*time.Millisecond))
	b := newSocket(t, Bus)
	ep, err := a.Bind("tcp://127.0.0.1:0")
	if err != nil {
		t.Fatalf("Bind: got error %v, want nil", err)
	}
	if err := b.Connect(ep); err != nil {
		t.Fatalf("Connect: got error %v, want nil", err)
	}
	if e := waitKind(t, ctx, a, EventConnected); e.Session != b.Session() {
		t.Fatalf("connected event: got session %s, want %s", e.Session, b.Session())
	}
	b.Close()
	if e := waitKind(t, ctx, a, EventPeerGone); e.Session != b.Session() {
		t.Fatalf("gone event: got session %s, want %s", e.Session, b.Session())
	}
}

// TestBusCrossedConnectionsAcknowledge: members that dial each other send
// on whichever connection attaches first, and resend on the one both keep.
// A member that only receives must still acknowledge there, though Recv
// armed its delayed ACK on the connection that was closed: the senders'
// Flush returns. Many small meshes at once, since the race is narrow.
func TestBusCrossedConnectionsAcknowledge(t *testing.T) {
	for i := range 20 {
		t.Run(fmt.Sprint(i), func(t *testing.T) {
			t.Parallel()
			ctx := testContext(t)
			nodes := busMesh(t, newNetwork(t, "tcp"), 3, WithReconnectInterval(time.Millisecond, 20*time.Millisecond))
			for id, s := range nodes[:2] {
				wait(t, sendTagged(ctx, s, id, 10))
			}
			busRecv(t, ctx, nodes[0], "member 0", 10, map[int]int{})
			busRecv(t, ctx, nodes[1], "member 1", 10, map[int]int{})
			busRecv(t, ctx, nodes[2], "member 2", 20, map[int]int{})
			for id, s := range nodes[:2] {
				fctx, cancel := context.WithTimeout(ctx, 5*time.Second)
				err := s.Flush(fctx)
				cancel()
				if err != nil {
					t.Fatalf("member %d: Flush: got %v, want nil (an ACK owed on a replaced connection never went out on the new one)", id, err)
				}
			}
		})
	}
}
