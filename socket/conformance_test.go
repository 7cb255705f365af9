package socket

import (
	"bytes"
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

	"github.com/wispmq/wisp/transport"
)

// The conformance suite: what a PUSH/PULL pair promises, checked the same
// way over every transport.

func TestFramesPreserved(t *testing.T) {
	big := bytes.Repeat([]byte("0123456789abcdef"), 1<<16) // 1 MiB
	cases := []struct {
		name   string
		frames [][]byte
	}{
		{"single", [][]byte{[]byte("hello")}},
		{"empty", [][]byte{{}}},
		{"multi", [][]byte{[]byte("a"), []byte("bc"), []byte("def")}},
		{"empty frames", [][]byte{{}, []byte("x"), {}, {}}},
		{"1MiB", [][]byte{big}},
		{"1MiB between small", [][]byte{[]byte("head"), big, []byte("tail")}},
		{"many frames", manyFrames(300)},
	}
	forEachTransport(t, func(t *testing.T, nw *network) {
		ctx := testContext(t)
		push, pull := newPair(t, nw)
		for _, c := range cases {
			if err := push.Send(ctx, c.frames...); err != nil {
				t.Fatalf("Send %s: got error %v, want nil", c.name, err)
			}
		}
		for _, c := range cases {
			m, err := pull.Recv(ctx)
			if err != nil {
				t.Fatalf("Recv %s: got error %v, want nil", c.name, err)
			}
			if len(m) != len(c.frames) {
				t.Fatalf("%s: got %d frames, want %d", c.name, len(m), len(c.frames))
			}
			for i := range m {
				if !bytes.Equal(m[i], c.frames[i]) {
					t.Fatalf("%s: frame %d: got %d bytes %.20q, want %d bytes %.20q", c.name, i, len(m[i]), m[i], len(c.frames[i]), c.frames[i])
				}
			}
			if got, want := m.Size(), (Message(c.frames)).Size(); got != want {
				t.Fatalf("%s: got Size %d, want %d", c.name, got, want)
			}
		}
		if err := push.Flush(ctx); err != nil {
			t.Fatalf("Flush: got error %v, want nil", err)
		}
	})
}

func manyFrames(n int) [][]byte {
	f := make([][]byte, n)
	for i := range f {
		f[i] = []byte(strconv.Itoa(i))
	}
	return f
}

func TestManyMessagesExactlyOnceInOrder(t *testing.T) {
	const n = 100_000
	forEachTransport(t, func(t *testing.T, nw *network) {
		ctx := testContext(t)
		push, pull := newPair(t, nw)
		sent := sendAll(ctx, push, 0, n)
		for i := range n {
			m, err := pull.Recv(ctx)
			if err != nil {
				t.Fatalf("Recv %d: got error %v, want nil", i, err)
			}
			if got := number(t, m); got != i {
				t.Fatalf("message %d: got %d, want %d", i, got, i)
			}
		}
		wait(t, sent)
		if err := push.Flush(ctx); err != nil {
			t.Fatalf("Flush after receiving all: got error %v, want nil", err)
		}
		if st := pull.Stats(); st.RecvQueue != 0 || st.Duplicates != 0 {
			t.Fatalf("got RecvQueue %d, Duplicates %d, want 0, 0", st.RecvQueue, st.Duplicates)
		}
		if st := push.Stats(); st.SendQueue != 0 || st.Unacked != 0 {
			t.Fatalf("got SendQueue %d, Unacked %d after Flush, want 0, 0", st.SendQueue, st.Unacked)
		}
	})
}

func TestOrderPerSender(t *testing.T) {
	const senders, n = 3, 2000
	forEachTransport(t, func(t *testing.T, nw *network) {
		ctx := testContext(t)
		pull := newSocket(t, Pull)
		ep := nw.bind(pull)
		var sends []<-chan error
		for id := range senders {
			push := newSocket(t, Push)
			nw.connect(push, ep)
			sends = append(sends, sendTagged(ctx, push, id, n))
		}
		next := make([]int, senders)
		for range senders * n {
			m, err := pull.Recv(ctx)
			if err != nil {
				t.Fatalf("Recv: got error %v, want nil", err)
			}
			id, i := tagged(t, m)
			if i != next[id] {
				t.Fatalf("sender %d: got message %d, want %d", id, i, next[id])
			}
			next[id]++
		}
		for _, ch := range sends {
			wait(t, ch)
		}
	})
}

// sendTagged sends n messages "id:i" from its own goroutine.
func sendTagged(ctx context.Context, s *Socket, id, n int) <-chan error {
	ch := make(chan error, 1)
	go func() {
		defer close(ch)
		for i := range n {
			if err := s.Send(ctx, []byte(fmt.Sprintf("%d:%d", id, i))); err != nil {
				ch <- fmt.Errorf("sender %d, Send %d: %w", id, i, err)
				return
			}
		}
	}()
	return ch
}

func tagged(t *testing.T, m Message) (id, i int) {
	t.Helper()
	if _, err := fmt.Sscanf(string(m.Bytes()), "%d:%d", &id, &i); err != nil {
		t.Fatalf("got message %q, want id:i", m.Bytes())
	}
	return id, i
}

// TestBindConnectOrder checks that either side may bind, and that the
// connecting side may come first: messages sent before the peer exists all
// arrive.
func TestBindConnectOrder(t *testing.T) {
	const n = 50
	for _, pushBinds := range []bool{false, true} {
		for _, connectFirst := range []bool{false, true} {
			name := fmt.Sprintf("pushBinds=%v/connectFirst=%v", pushBinds, connectFirst)
			t.Run(name, func(t *testing.T) {
				forEachTransport(t, func(t *testing.T, nw *network) {
					ctx := testContext(t)
					push := newSocket(t, Push)
					pull := newSocket(t, Pull)
					binder, connector := pull, push
					if pushBinds {
						binder, connector = push, pull
					}
					var sent <-chan error
					if connectFirst {
						ep := nw.reserve()
						nw.connect(connector, ep)
						sent = sendAll(ctx, push, 0, n)
						if !pushBinds && nw.name != "conn" {
							// A connecting PUSH queues for its endpoint: every
							// Send returns before the PULL even exists.
							wait(t, sent)
						}
						nw.bindAt(binder, ep)
					} else {
						nw.connect(connector, nw.bind(binder))
						sent = sendAll(ctx, push, 0, n)
					}
					for i, m := range recvN(t, ctx, pull, n) {
						if got := number(t, m); got != i {
							t.Fatalf("message %d: got %d, want %d", i, got, i)
						}
					}
					wait(t, sent)
					if err := push.Flush(ctx); err != nil {
						t.Fatalf("Flush: got error %v, want nil", err)
					}
				})
			})
		}
	}
}

func TestPushRoundRobin(t *testing.T) {
	const peers, n = 3, 3000
	forEachTransport(t, func(t *testing.T, nw *network) {
		ctx := testContext(t)
		push := newSocket(t, Push)
		pulls := make([]*Socket, peers)
		for i := range pulls {
			pulls[i] = newSocket(t, Pull)
			nw.connect(push, nw.bind(pulls[i]))
		}
		// Wait for every peer, or the first messages go to whoever connects
		// first, which is right but not what this test measures.
		waitConnected(t, ctx, push, peers)
		sent := sendAll(ctx, push, 0, n)

		type got struct{ peer, num int }
		ch := make(chan got, n)
		rctx, stop := context.WithCancel(ctx)
		var wg sync.WaitGroup
		for p, pull := range pulls {
			wg.Go(func() {
				for {
					m, err := pull.Recv(rctx)
					if err != nil {
						return
					}
					ch <- got{p, number(t, m)}
				}
			})
		}
		counts := make([]int, peers)
		seen := make([]bool, n)
		last := make([]int, peers)
		for i := range last {
			last[i] = -1
		}
		for range n {
			var g got
			select {
			case g = <-ch:
			case <-ctx.Done():
				stop()
				wg.Wait()
				t.Fatalf("got %v messages per peer, then %v; want %d in all", counts, ctx.Err(), n)
			}
			if seen[g.num] {
				t.Fatalf("got message %d twice, want once", g.num)
			}
			if g.num <= last[g.peer] {
				t.Fatalf("peer %d: got %d after %d, want increasing", g.peer, g.num, last[g.peer])
			}
			seen[g.num], last[g.peer] = true, g.num
			counts[g.peer]++
		}
		stop()
		wg.Wait()
		wait(t, sent)
		for p, c := range counts {
			if c < n/peers*9/10 || c > n/peers*11/10 {
				t.Errorf("peer %d: got %d messages, want about %d (counts %v)", p, c, n/peers, counts)
			}
		}
		if err := push.Flush(ctx); err != nil {
			t.Fatalf("Flush: got error %v, want nil", err)
		}
	})
}

func TestPullFairQueue(t *testing.T) {
	const senders, n = 3, 200
	forEachTransport(t, func(t *testing.T, nw *network) {
		ctx := testContext(t)
		pull := newSocket(t, Pull)
		ep := nw.bind(pull)
		var sends []<-chan error
		for id := range senders {
			push := newSocket(t, Push)
			nw.connect(push, ep)
			sends = append(sends, sendTagged(ctx, push, id, n))
		}
		for _, ch := range sends {
			wait(t, ch)
		}
		// Let every sender's messages arrive before taking any, so the order
		// of Recv is the fair queue's choice and not the network's.
		waitFor(t, ctx, "every message queued", func() bool { return pull.Stats().RecvQueue == senders*n })

		counts := make([]int, senders)
		next := make([]int, senders)
		var order []byte
		for k := range senders * n {
			m, err := pull.Recv(ctx)
			if err != nil {
				t.Fatalf("Recv: got error %v, want nil", err)
			}
			id, i := tagged(t, m)
			if i != next[id] {
				t.Fatalf("sender %d: got message %d, want %d", id, i, next[id])
			}
			next[id]++
			counts[id]++
			order = append(order, byte('0'+id))
			if k+1 == senders*n/2 {
				for id, c := range counts {
					if c < n/2*9/10 || c > n/2*11/10 {
						t.Errorf("after %d messages: sender %d got %d, want about %d (order %s)", k+1, id, c, n/2, order)
					}
				}
			}
		}
	})
}

// TestSendHWM checks that Send blocks once the sender holds the high-water
// mark for its peer. The sender holds a message until the receiving
// application takes it, so what the PULL has read into its own queue still
// counts, whatever its receive high-water mark.
func TestSendHWM(t *testing.T) {
	const hwm = 10
	for _, recvHWM := range []int{3, 1000} {
		t.Run("recvHWM="+strconv.Itoa(recvHWM), func(t *testing.T) {
			forEachTransport(t, func(t *testing.T, nw *network) {
				ctx := testContext(t)
				push, pull := newPairOpts(t, nw,
					[]Option{WithSendHWM(hwm), WithLinger(0)}, []Option{WithRecvHWM(recvHWM)})
				for i := range hwm {
					if err := push.Send(ctx, []byte(strconv.Itoa(i))); err != nil {
						t.Fatalf("Send %d: got error %v, want nil", i, err)
					}
				}
				waitConnected(t, ctx, push, 1)
				short, cancel := context.WithTimeout(ctx, 20*time.Millisecond)
				err := push.Send(short, []byte("over"))
				cancel()
				if !errors.Is(err, context.DeadlineExceeded) {
					t.Fatalf("Send at the mark: got error %v, want %v", err, context.DeadlineExceeded)
				}
				st := push.Stats()
				if st.SendQueue != hwm {
					t.Fatalf("got SendQueue %d at the mark, want %d", st.SendQueue, hwm)
				}
				if len(st.Peers) != 1 || st.Peers[0].SendQueue != hwm {
					t.Fatalf("got peers %+v, want one with SendQueue %d", st.Peers, hwm)
				}
				if got := pull.Stats().RecvQueue; got > hwm {
					t.Fatalf("got RecvQueue %d, want at most %d: the sender holds no more", got, hwm)
				}
				// Taking the messages acknowledges them and makes room.
				for i, m := range recvN(t, ctx, pull, hwm) {
					if got := number(t, m); got != i {
						t.Fatalf("message %d: got %d, want %d", i, got, i)
					}
				}
				if err := push.Send(ctx, []byte(strconv.Itoa(hwm))); err != nil {
					t.Fatalf("Send after Recv: got error %v, want nil", err)
				}
				if got := number(t, recvN(t, ctx, pull, 1)[0]); got != hwm {
					t.Fatalf("got %d, want %d", got, hwm)
				}
				if err := push.Flush(ctx); err != nil {
					t.Fatalf("Flush: got error %v, want nil", err)
				}
			})
		})
	}
}

func TestCloseUndelivered(t *testing.T) {
	const n = 7
	forEachTransport(t, func(t *testing.T, nw *network) {
		ctx := testContext(t)
		push, _ := newPairOpts(t, nw, []Option{WithLinger(100 * time.Millisecond)}, nil)
		for i := range n {
			if err := push.Send(ctx, []byte(strconv.Itoa(i))); err != nil {
				t.Fatalf("Send %d: got error %v, want nil", i, err)
			}
		}
		waitConnected(t, ctx, push, 1)
		// The PULL never calls Recv, so nothing is acknowledged.
		err := push.Close()
		if !errors.Is(err, ErrUndelivered) {
			t.Fatalf("Close: got error %v, want one wrapping %v", err, ErrUndelivered)
		}
		if !strings.Contains(err.Error(), strconv.Itoa(n)) {
			t.Fatalf("Close: got %q, want it to say %d", err, n)
		}
		if again := push.Close(); again != err {
			t.Fatalf("second Close: got %v, want the first result %v", again, err)
		}
		ferr := push.Flush(ctx)
		if !errors.Is(ferr, ErrUndelivered) || !isClosed(ferr) {
			t.Fatalf("Flush after Close: got %v, want ErrUndelivered and ErrClosed", ferr)
		}
	})
}

func TestClose(t *testing.T) {
	forEachTransport(t, func(t *testing.T, nw *network) {
		ctx := testContext(t)
		push, pull := newPair(t, nw)
		if err := push.Send(ctx, []byte("x")); err != nil {
			t.Fatalf("Send: got error %v, want nil", err)
		}
		recvN(t, ctx, pull, 1)
		if err := push.Flush(ctx); err != nil {
			t.Fatalf("Flush: got error %v, want nil", err)
		}

		// A Recv waiting for a message returns when the socket closes.
		recvErr := make(chan error, 1)
		go func() {
			_, err := pull.Recv(ctx)
			recvErr <- err
		}()
		for _, s := range []*Socket{push, pull} {
			if err := s.Close(); err != nil {
				t.Fatalf("Close %v: got error %v, want nil", s.Type(), err)
			}
			if err := s.Close(); err != nil {
				t.Fatalf("second Close %v: got error %v, want nil", s.Type(), err)
			}
		}
		if err := <-recvErr; !isClosed(err) {
			t.Fatalf("blocked Recv: got %v, want ErrClosed matching net.ErrClosed", err)
		}
		if err := push.Send(ctx, []byte("x")); !isClosed(err) {
			t.Fatalf("Send after Close: got %v, want ErrClosed matching net.ErrClosed", err)
		}
		if _, err := pull.Recv(ctx); !isClosed(err) {
			t.Fatalf("Recv after Close: got %v, want ErrClosed matching net.ErrClosed", err)
		}
		if err := push.Flush(ctx); err != nil {
			t.Fatalf("Flush after Close with nothing held: got %v, want nil", err)
		}
		if _, err := pull.Bind(nw.fresh()); nw.name != "conn" && !isClosed(err) {
			t.Fatalf("Bind after Close: got %v, want ErrClosed", err)
		}
		if err := push.Connect("inproc://after-close"); !isClosed(err) {
			t.Fatalf("Connect after Close: got %v, want ErrClosed", err)
		}
		a, b := tcpPair(t)
		defer b.Close()
		if err := push.ConnectConn(a); !isClosed(err) {
			t.Fatalf("ConnectConn after Close: got %v, want ErrClosed", err)
		}
		// The events channel ends with EventClosed and is then closed.
		var last Event
		for e := range pull.Events() {
			last = e
		}
		if last.Kind != EventClosed {
			t.Fatalf("got last event %v, want %v", last, EventClosed)
		}
	})
}

func TestUnbindDisconnect(t *testing.T) {
	forEachTransport(t, func(t *testing.T, nw *network) {
		ctx := testContext(t)
		push := newSocket(t, Push, WithReconnectInterval(time.Millisecond, 20*time.Millisecond))
		pull := newSocket(t, Pull)
		var ep, bound string
		if nw.name == "conn" {
			// A user's listener, bound with BindListener, stands in for an
			// endpoint the socket opened itself.
			l, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatalf("listen: got error %v, want nil", err)
			}
			bound, err = pull.BindListener(l)
			if err != nil {
				t.Fatalf("BindListener: got error %v, want nil", err)
			}
			if want := "tcp://" + l.Addr().String(); bound != want {
				t.Fatalf("BindListener: got endpoint %q, want %q", bound, want)
			}
			ep = bound
		} else {
			ep = nw.fresh()
			var err error
			if bound, err = pull.Bind(ep); err != nil {
				t.Fatalf("Bind: got error %v, want nil", err)
			}
		}
		if err := push.Connect(bound); err != nil {
			t.Fatalf("Connect: got error %v, want nil", err)
		}
		if err := push.Connect(bound); !errors.Is(err, ErrEndpointInUse) {
			t.Fatalf("second Connect: got %v, want %v", err, ErrEndpointInUse)
		}
		if _, err := pull.Bind(bound); nw.name != "conn" && err == nil {
			t.Fatalf("second Bind of %s: got nil error, want one", bound)
		}
		exchange(t, ctx, push, pull, "one")
		waitKind(t, ctx, pull, EventConnected)

		if err := pull.Unbind(ep); err != nil {
			t.Fatalf("Unbind(%q): got error %v, want nil", ep, err)
		}
		if e := waitKind(t, ctx, pull, EventDisconnected); !isClosed(e.Err) {
			t.Fatalf("Unbind: got disconnect reason %v, want ErrClosed", e.Err)
		}
		if err := pull.Unbind(ep); !errors.Is(err, ErrUnknownEndpoint) {
			t.Fatalf("second Unbind: got %v, want %v", err, ErrUnknownEndpoint)
		}
		waitKind(t, ctx, push, EventDisconnected)
		waitKind(t, ctx, push, EventRetrying)

		// Bound again, the endpoint serves the PUSH that kept redialing.
		if nw.name != "conn" {
			if _, err := pull.Bind(bound); err != nil {
				t.Fatalf("Bind again: got error %v, want nil", err)
			}
			exchange(t, ctx, push, pull, "two")
		}

		// Bounded: Disconnect waits for the endpoint's connection to end.
		err := bounded(t, ctx, push, "Disconnect", func() error { return push.Disconnect(bound) })
		if err != nil {
			t.Fatalf("Disconnect: got error %v, want nil", err)
		}
		if err := push.Disconnect(bound); !errors.Is(err, ErrUnknownEndpoint) {
			t.Fatalf("second Disconnect: got %v, want %v", err, ErrUnknownEndpoint)
		}
		if nw.name != "conn" {
			waitKind(t, ctx, pull, EventDisconnected)
		}
		if err := push.Disconnect("tcp://127.0.0.1:1"); !errors.Is(err, ErrUnknownEndpoint) {
			t.Fatalf("Disconnect of a stranger: got %v, want %v", err, ErrUnknownEndpoint)
		}
	})
}

// exchange sends one message, receives it, and waits for the sender to
// learn that it was taken.
func exchange(t *testing.T, ctx context.Context, push, pull *Socket, body string) {
	t.Helper()
	if err := push.Send(ctx, []byte(body)); err != nil {
		t.Fatalf("Send: got error %v, want nil", err)
	}
	m, err := pull.Recv(ctx)
	if err != nil {
		t.Fatalf("Recv: got error %v, want nil", err)
	}
	if string(m.Bytes()) != body {
		t.Fatalf("got %q, want %q", m.Bytes(), body)
	}
	if err := push.Flush(ctx); err != nil {
		t.Fatalf("Flush: got error %v, want nil", err)
	}
}

func TestStats(t *testing.T) {
	const n, size = 100, 10
	forEachTransport(t, func(t *testing.T, nw *network) {
		ctx := testContext(t)
		push, pull := newPair(t, nw)
		body := bytes.Repeat([]byte("s"), size)
		for range n {
			if err := push.Send(ctx, body[:size/2], body[size/2:]); err != nil {
				t.Fatalf("Send: got error %v, want nil", err)
			}
		}
		recvN(t, ctx, pull, n)
		if err := push.Flush(ctx); err != nil {
			t.Fatalf("Flush: got error %v, want nil", err)
		}
		// The writer counts a batch after writing it, which may be a moment
		// after the receiver acknowledged it.
		waitFor(t, ctx, "MsgsOut to count every message", func() bool { return push.Stats().MsgsOut == n })

		ps := push.Stats()
		if ps.MsgsOut != n || ps.BytesOut != n*size || ps.MsgsIn != 0 {
			t.Errorf("PUSH: got MsgsOut %d, BytesOut %d, MsgsIn %d, want %d, %d, 0", ps.MsgsOut, ps.BytesOut, ps.MsgsIn, n, n*size)
		}
		if ps.Unacked != 0 || ps.SendQueue != 0 || ps.Resends != 0 || ps.Drops != 0 {
			t.Errorf("PUSH: got Unacked %d, SendQueue %d, Resends %d, Drops %d, want all 0", ps.Unacked, ps.SendQueue, ps.Resends, ps.Drops)
		}
		if len(ps.Peers) != 1 {
			t.Fatalf("PUSH: got %d peers, want 1: %+v", len(ps.Peers), ps.Peers)
		}
		if p := ps.Peers[0]; !p.Connected || p.Session != pull.Session() || p.MsgsOut != n || p.BytesOut != n*size || p.Endpoint == "" {
			t.Errorf("PUSH peer: got %+v, want connected to session %s with %d msgs, %d bytes out and an endpoint", p, pull.Session(), n, n*size)
		}

		qs := pull.Stats()
		if qs.MsgsIn != n || qs.BytesIn != n*size || qs.MsgsOut != 0 || qs.RecvQueue != 0 || qs.Duplicates != 0 {
			t.Errorf("PULL: got MsgsIn %d, BytesIn %d, MsgsOut %d, RecvQueue %d, Duplicates %d, want %d, %d, 0, 0, 0",
				qs.MsgsIn, qs.BytesIn, qs.MsgsOut, qs.RecvQueue, qs.Duplicates, n, n*size)
		}
		if len(qs.Peers) != 1 {
			t.Fatalf("PULL: got %d peers, want 1: %+v", len(qs.Peers), qs.Peers)
		}
		if p := qs.Peers[0]; !p.Connected || p.Session != push.Session() || p.MsgsIn != n || p.BytesIn != n*size {
			t.Errorf("PULL peer: got %+v, want connected to session %s with %d msgs, %d bytes in", p, push.Session(), n, n*size)
		}
		if qs.HandshakeFailures != 0 || qs.ProtocolErrors != 0 || ps.HandshakeFailures != 0 || ps.ProtocolErrors != 0 {
			t.Errorf("got failures %+v / %+v, want none", ps, qs)
		}
	})
}

func TestEvents(t *testing.T) {
	forEachTransport(t, func(t *testing.T, nw *network) {
		ctx := testContext(t)
		push := newSocket(t, Push)
		pull := newSocket(t, Pull)
		ep := nw.bind(pull)
		nw.connect(push, ep)
		exchange(t, ctx, push, pull, "hi")

		// PULL: listening, accepted (for what it accepts itself), connected.
		if nw.name != "conn" {
			e, before := waitEvent(t, ctx, pull, "listening", func(e Event) bool { return e.Kind == EventListening })
			if e.Endpoint != ep || len(before) != 0 {
				t.Errorf("got %v after %v, want listening %s first", e, before, ep)
			}
		}
		if nw.name == "tcp" || nw.name == "ipc" {
			e := waitKind(t, ctx, pull, EventAccepted)
			if e.Endpoint != ep {
				t.Errorf("got %v, want accepted on %s", e, ep)
			}
			if nw.name == "tcp" && e.Peer == "" {
				t.Errorf("got %v, want the peer's address", e)
			}
		}
		e := waitKind(t, ctx, pull, EventConnected)
		if e.Session != push.Session() {
			t.Errorf("PULL: got %v, want connected to session %s", e, push.Session())
		}
		if nw.name != "conn" && e.Endpoint != ep {
			t.Errorf("PULL: got %v, want connected on %s", e, ep)
		}
		if nw.name != "ipc" && e.Peer == "" {
			t.Errorf("PULL: got %v, want a peer address", e)
		}

		// PUSH: connected, with the endpoint it connected.
		e = waitKind(t, ctx, push, EventConnected)
		if e.Session != pull.Session() {
			t.Errorf("PUSH: got %v, want connected to session %s", e, pull.Session())
		}
		if nw.name != "conn" && e.Endpoint != ep {
			t.Errorf("PUSH: got %v, want connected to %s", e, ep)
		}

		if err := push.Close(); err != nil {
			t.Fatalf("Close: got error %v, want nil", err)
		}
		e = waitKind(t, ctx, pull, EventDisconnected)
		if e.Session != push.Session() || e.Err == nil {
			t.Errorf("PULL: got %v, want disconnected from session %s with a reason", e, push.Session())
		}
		var rest []Event
		for e := range push.Events() {
			rest = append(rest, e)
		}
		if len(rest) < 2 || rest[len(rest)-2].Kind != EventDisconnected || rest[len(rest)-1].Kind != EventClosed {
			t.Fatalf("PUSH after Close: got %v, want ... disconnected, closed", rest)
		}
		if e := rest[len(rest)-2]; e.Session != pull.Session() {
			t.Errorf("PUSH: got %v, want disconnected from session %s", e, pull.Session())
		}
		if st := push.Stats(); st.EventsDropped != 0 {
			t.Errorf("got EventsDropped %d, want 0", st.EventsDropped)
		}
	})
}

func TestEventsDropped(t *testing.T) {
	pull := newSocket(t, Pull, WithEventBuffer(0))
	if _, err := pull.Bind(fmt.Sprintf("inproc://%s", t.Name())); err != nil {
		t.Fatalf("Bind: got error %v, want nil", err)
	}
	if got := pull.Stats().EventsDropped; got != 1 {
		t.Fatalf("got EventsDropped %d, want 1 (the listening event)", got)
	}
	pull.Close()
	if _, ok := <-pull.Events(); ok {
		t.Fatalf("got an event from an unbuffered channel nobody read, want it closed")
	}
}

func TestInvalidOptions(t *testing.T) {
	dial := func(context.Context, string, string) (net.Conn, error) { return nil, nil }
	cases := []struct {
		name string
		opt  Option
	}{
		{"WithSendHWM", WithSendHWM(0)},
		{"WithRecvHWM", WithRecvHWM(-1)},
		{"WithLinger", WithLinger(-time.Second)},
		{"WithReconnectInterval", WithReconnectInterval(0, time.Second)},
		{"WithReconnectInterval", WithReconnectInterval(time.Second, time.Millisecond)},
		{"WithMaxMessageSize", WithMaxMessageSize(0)},
		{"WithMaxMessageSize", WithMaxMessageSize(1 << 32)},
		{"WithHandshakeTimeout", WithHandshakeTimeout(0)},
		{"WithHeartbeat", WithHeartbeat(-1, 0)},
		{"WithHeartbeat", WithHeartbeat(time.Second, time.Second)},
		{"WithResumeTimeout", WithResumeTimeout(0)},
		{"WithLocalAddr", WithLocalAddr("no port")},
		{"WithDialer", WithDialer(nil)},
		{"WithListener", WithListener(nil)},
		{"WithEventBuffer", WithEventBuffer(-1)},
	}
	for _, c := range cases {
		for _, typ := range []Type{Push, Pull} {
			s, err := New(typ, WithDialer(dial), c.opt)
			if s != nil {
				s.Close()
			}
			if !errors.Is(err, ErrInvalidOption) {
				t.Errorf("New(%v, %s): got %v, want %v", typ, c.name, err, ErrInvalidOption)
			} else if !strings.Contains(err.Error(), c.name) {
				t.Errorf("New(%v, %s): got %q, want it to name %s", typ, c.name, err, c.name)
			}
		}
	}
}

func TestUnsupported(t *testing.T) {
	ctx := testContext(t)
	for _, typ := range []Type{Type(12), Type(200)} {
		s, err := New(typ)
		if !errors.Is(err, ErrUnsupportedType) || s != nil {
			t.Errorf("New(%v): got %v, %v, want nil, %v", typ, s, err, ErrUnsupportedType)
		}
	}
	push := newSocket(t, Push)
	pull := newSocket(t, Pull)
	if err := pull.Send(ctx, []byte("x")); !errors.Is(err, ErrNotSupported) {
		t.Errorf("Send on PULL: got %v, want %v", err, ErrNotSupported)
	}
	if _, err := push.Recv(ctx); !errors.Is(err, ErrNotSupported) {
		t.Errorf("Recv on PUSH: got %v, want %v", err, ErrNotSupported)
	}
	if err := pull.Flush(ctx); err != nil {
		t.Errorf("Flush on PULL: got %v, want nil", err)
	}
	if err := push.Send(ctx); !errors.Is(err, ErrInvalidMessage) {
		t.Errorf("Send of no frames: got %v, want %v", err, ErrInvalidMessage)
	}
	if err := push.Send(ctx, manyFrames(1025)...); !errors.Is(err, ErrInvalidMessage) {
		t.Errorf("Send of 1025 frames: got %v, want %v", err, ErrInvalidMessage)
	}
	if err := push.Connect("bogus://x"); err == nil {
		t.Errorf("Connect(bogus://x): got nil error, want one")
	}
	if _, err := pull.Bind("tcp://127.0.0.1"); err == nil {
		t.Errorf("Bind without a port: got nil error, want one")
	}
	if push.Type() != Push || pull.Type() != Pull || push.Session() == pull.Session() {
		t.Errorf("got types %v, %v and sessions %s, %s, want PUSH, PULL and two sessions", push.Type(), pull.Type(), push.Session(), pull.Session())
	}
}

func TestMessageTooLarge(t *testing.T) {
	const limit = 1024
	forEachTransport(t, func(t *testing.T, nw *network) {
		ctx := testContext(t)
		push, pull := newPair(t, nw, WithMaxMessageSize(limit))
		big := make([]byte, limit+1)
		if err := push.Send(ctx, big); !errors.Is(err, ErrMessageTooLarge) {
			t.Fatalf("Send of %d bytes: got %v, want %v", len(big), err, ErrMessageTooLarge)
		}
		// The limit is on the sum of the frames.
		if err := push.Send(ctx, big[:limit/2], big[:limit/2+1]); !errors.Is(err, ErrMessageTooLarge) {
			t.Fatalf("Send of two frames summing to %d bytes: got %v, want %v", limit+1, err, ErrMessageTooLarge)
		}
		if err := push.Send(ctx, big[:limit/2], big[:limit/2]); err != nil {
			t.Fatalf("Send of %d bytes: got error %v, want nil", limit, err)
		}
		if m := recvN(t, ctx, pull, 1)[0]; m.Size() != limit {
			t.Fatalf("got %d bytes, want %d", m.Size(), limit)
		}
	})
}

func TestEndpointInUse(t *testing.T) {
	pull := newSocket(t, Pull)
	ep := "inproc://" + t.Name()
	if _, err := pull.Bind(ep); err != nil {
		t.Fatalf("Bind: got error %v, want nil", err)
	}
	if _, err := pull.Bind(ep); !errors.Is(err, ErrEndpointInUse) {
		t.Fatalf("second Bind: got %v, want %v", err, ErrEndpointInUse)
	}
	other := newSocket(t, Pull)
	if _, err := other.Bind(ep); !errors.Is(err, transport.ErrAddressInUse) {
		t.Fatalf("Bind of a name another socket holds: got %v, want %v", err, transport.ErrAddressInUse)
	}
	real, err := pull.Bind("tcp://127.0.0.1:0")
	if err != nil {
		t.Fatalf("Bind: got error %v, want nil", err)
	}
	if _, err := other.Bind(real); !errors.Is(err, ErrAddressInUse) {
		t.Fatalf("Bind of a port another socket holds: got %v, want %v", err, ErrAddressInUse)
	}
	if _, err := pull.Bind(real); !errors.Is(err, ErrEndpointInUse) {
		t.Fatalf("Bind again of the port Bind returned: got %v, want %v", err, ErrEndpointInUse)
	}
	if again, err := pull.Bind("tcp://127.0.0.1:0"); err != nil || again == real {
		t.Fatalf("Bind of port 0 again: got %q, %v; want another port", again, err)
	}
	if err := pull.Connect("tcp://127.0.0.1:0"); !errors.Is(err, ErrInvalidEndpoint) {
		t.Fatalf("Connect to port 0: got %v, want %v", err, ErrInvalidEndpoint)
	}
}

// TestStaleIPC checks that Bind replaces a socket file a dead process left
// behind.
func TestStaleIPC(t *testing.T) {
	ctx := testContext(t)
	path := filepath.Join(t.TempDir(), "stale")
	l, err := net.ListenUnix("unix", &net.UnixAddr{Name: path, Net: "unix"})
	if err != nil {
		t.Fatalf("listen: got error %v, want nil", err)
	}
	l.SetUnlinkOnClose(false) // what a killed process leaves
	l.Close()
	nw := newNetwork(t, "ipc")
	push := newSocket(t, Push)
	pull := newSocket(t, Pull)
	ep := nw.bindAt(pull, "ipc://"+path)
	nw.connect(push, ep)
	exchange(t, ctx, push, pull, "after stale")

	// A live one is not replaced.
	other := newSocket(t, Pull)
	if _, err := other.Bind(ep); !errors.Is(err, transport.ErrAddressInUse) {
		t.Fatalf("Bind of a live ipc path: got %v, want %v", err, transport.ErrAddressInUse)
	}
}

func TestTCPPortZero(t *testing.T) {
	for _, host := range []string{"127.0.0.1", "*"} {
		t.Run(host, func(t *testing.T) {
			ctx := testContext(t)
			pull := newSocket(t, Pull)
			real, err := pull.Bind("tcp://" + host + ":0")
			if err != nil {
				t.Fatalf("Bind: got error %v, want nil", err)
			}
			hostport, ok := strings.CutPrefix(real, "tcp://")
			h, port, err := net.SplitHostPort(hostport)
			if !ok || err != nil || port == "0" || h != strings.Trim(host, "*") && h != host {
				t.Fatalf("Bind: got endpoint %q, want tcp://%s:<real port>", real, host)
			}
			if e := waitKind(t, ctx, pull, EventListening); e.Endpoint != real {
				t.Fatalf("got %v, want listening on %s", e, real)
			}
			push := newSocket(t, Push)
			if err := push.Connect("tcp://127.0.0.1:" + port); err != nil {
				t.Fatalf("Connect: got error %v, want nil", err)
			}
			exchange(t, ctx, push, pull, "port "+port)
			if err := pull.Unbind("tcp://" + host + ":0"); err != nil {
				t.Fatalf("Unbind of the endpoint as given: got error %v, want nil", err)
			}
		})
	}
}
