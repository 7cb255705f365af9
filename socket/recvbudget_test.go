package socket

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"strconv"
	"testing"
	"time"
)

// budgetLoad is the fan-in the receive-budget tests send: each of peers
// PUSH sockets sends msgs numbered messages of size bytes.
type budgetLoad struct {
	peers, msgs, size int
}

func (l budgetLoad) total() int64 { return int64(l.peers) * int64(l.msgs) * int64(l.size) }

// startFanIn connects l.peers PUSH sockets to pull and has each send its
// messages from its own goroutine: 8 bytes of peer, 8 of sequence, padding.
// The returned channel carries each sender's error and is closed when all
// are done.
func startFanIn(t *testing.T, ctx context.Context, nw *network, pull *Socket, ep string, l budgetLoad, opts ...Option) <-chan error {
	t.Helper()
	errs := make(chan error, l.peers)
	pushes := make([]*Socket, l.peers)
	for i := range pushes {
		pushes[i] = newSocket(t, Push, opts...)
		nw.connect(pushes[i], ep)
	}
	waitConnected(t, ctx, pull, l.peers)
	done := make(chan struct{})
	for i, push := range pushes {
		go func() {
			defer func() { done <- struct{}{} }()
			for n := range l.msgs {
				b := make([]byte, l.size)
				binary.BigEndian.PutUint64(b, uint64(i))
				binary.BigEndian.PutUint64(b[8:], uint64(n))
				if err := push.Send(ctx, b); err != nil {
					errs <- fmt.Errorf("peer %d, Send %d: %w", i, n, err)
					return
				}
			}
		}()
	}
	out := make(chan error, l.peers)
	go func() {
		defer close(out)
		for range pushes {
			<-done
		}
		close(errs)
		for err := range errs {
			out <- err
		}
	}()
	return out
}

// drainInOrder receives everything l sends and fails unless each peer's
// messages arrive once each, in order.
func drainInOrder(t *testing.T, ctx context.Context, pull *Socket, l budgetLoad) {
	t.Helper()
	next := make([]uint64, l.peers)
	for i := range l.peers * l.msgs {
		m, err := pull.Recv(ctx)
		if err != nil {
			t.Fatalf("Recv %d of %d: got error %v, want nil", i+1, l.peers*l.msgs, err)
		}
		if len(m) != 1 || len(m[0]) != l.size {
			t.Fatalf("Recv %d: got %d frames of %d bytes, want 1 of %d", i+1, len(m), m.Size(), l.size)
		}
		peer, seq := binary.BigEndian.Uint64(m[0]), binary.BigEndian.Uint64(m[0][8:])
		if peer >= uint64(l.peers) || seq != next[peer] {
			t.Fatalf("Recv %d: got peer %d message %d, want message %d of that peer (lost, duplicated or reordered)", i+1, peer, seq, next[min(peer, uint64(l.peers-1))])
		}
		next[peer]++
	}
}

// settledQueue polls pull's queued bytes until they have not changed for
// a while: the readers have stopped.
func settledQueue(t *testing.T, ctx context.Context, pull *Socket) int64 {
	t.Helper()
	last, since := int64(-1), time.Now()
	for {
		q := pull.Stats().RecvQueueBytes
		if q != last {
			last, since = q, time.Now()
		}
		if q > 0 && time.Since(since) >= 300*time.Millisecond {
			return q
		}
		select {
		case <-ctx.Done():
			t.Fatalf("waiting for the receive queue to settle: %v (at %d bytes)", ctx.Err(), q)
		case <-time.After(5 * time.Millisecond):
		}
	}
}

// TestRecvQueueBytesBoundsFanIn: many peers sending at once, with no one
// receiving, fill the socket's queue only up to WithRecvQueueBytes and
// about one read per connection past it, far less than they send; the
// rest waits in the kernel and the senders. Stopped readers keep their
// connections through several heartbeat timeouts, and then everything
// arrives once, in each peer's order.
func TestRecvQueueBytesBoundsFanIn(t *testing.T) {
	for _, name := range []string{"tcp", "ipc"} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			nw := newNetwork(t, name)
			ctx := testContext(t)
			const budget = 256 << 10
			l := budgetLoad{peers: 16, msgs: 256, size: 4 << 10} // 16 MiB
			// A timeout short enough to pass three times while the
			// readers wait, long enough for a race-detector build on a
			// busy machine.
			heartbeat := WithHeartbeat(100*time.Millisecond, 400*time.Millisecond)
			pull := newSocket(t, Pull, WithRecvQueueBytes(budget), heartbeat)
			sent := startFanIn(t, ctx, nw, pull, nw.bind(pull), l, heartbeat)

			queued := settledQueue(t, ctx, pull)
			// Past the budget: at most one read per connection (a large
			// read buffer) and the message it completes.
			limit := int64(budget) + int64(l.peers)*(64<<10+int64(l.size))
			t.Logf("queued %d bytes of %d sent (budget %d)", queued, l.total(), budget)
			if queued > limit {
				t.Errorf("queued %d bytes of the %d sent, want at most %d (budget %d and a read per peer)", queued, l.total(), limit, budget)
			}
			time.Sleep(1200 * time.Millisecond) // three heartbeat timeouts, stopped
			drainInOrder(t, ctx, pull, l)
			for err := range sent {
				t.Error(err)
			}
			for _, p := range pull.Stats().Peers {
				if !p.Connected {
					t.Errorf("peer %s: not connected after the drain, want its connection kept while its reader waited", p.Session)
				}
			}
		events:
			for {
				select {
				case e := <-pull.Events():
					if e.Kind == EventDisconnected {
						t.Errorf("got %v while readers waited for room, want connections kept", e)
					}
				default:
					break events
				}
			}
		})
	}
}

// TestRecvQueueBytesInproc: an inproc sender's writer waits after its
// delivery instead, so the queue goes past the budget by at most a write
// batch (4096 messages) per sender; nothing is lost, duplicated or
// reordered.
func TestRecvQueueBytesInproc(t *testing.T) {
	nw := newNetwork(t, "inproc")
	ctx := testContext(t)
	const budget = 64 << 10
	l := budgetLoad{peers: 4, msgs: 16384, size: 256} // 16 MiB
	// A per-peer mark high enough that only the budget holds the senders.
	pull := newSocket(t, Pull, WithRecvQueueBytes(budget), WithRecvHWM(l.msgs))
	sent := startFanIn(t, ctx, nw, pull, nw.bind(pull), l)
	queued := settledQueue(t, ctx, pull)
	if limit := int64(budget) + int64(l.peers)*4096*int64(l.size); queued > limit {
		t.Errorf("queued %d bytes of the %d sent, want at most %d (budget %d and a write batch per sender)", queued, l.total(), limit, budget)
	}
	drainInOrder(t, ctx, pull, l)
	for err := range sent {
		t.Error(err)
	}
}

// TestRecvQueueBytesIdlePeersDoNotStarve: readers woken in turn whose
// peers have nothing more to send (only heartbeats) hold room that lapses,
// so the one peer with data is read again. Without the lapse the grants of
// the idle ones would fill the budget for good and the drain would hang.
func TestRecvQueueBytesIdlePeersDoNotStarve(t *testing.T) {
	nw := newNetwork(t, "tcp")
	ctx := testContext(t)
	const budget = 32 << 10
	heartbeat := WithHeartbeat(5*time.Millisecond, time.Second)
	pull := newSocket(t, Pull, WithRecvQueueBytes(budget), heartbeat)
	ep := nw.bind(pull)
	for range 24 {
		idle := newSocket(t, Push, heartbeat)
		nw.connect(idle, ep)
	}
	l := budgetLoad{peers: 1, msgs: 400, size: 8 << 10}
	sent := startFanIn(t, ctx, nw, pull, ep, l, heartbeat)
	settledQueue(t, ctx, pull)
	// Slowly, so that the idle peers' readers come round to wait too.
	next := uint64(0)
	for i := range l.msgs {
		if i%50 == 0 {
			time.Sleep(20 * time.Millisecond)
		}
		m, err := pull.Recv(ctx)
		if err != nil {
			t.Fatalf("Recv %d of %d: got error %v, want nil", i+1, l.msgs, err)
		}
		if seq := binary.BigEndian.Uint64(m[0][8:]); seq != next {
			t.Fatalf("Recv %d: got message %d, want %d", i+1, seq, next)
		}
		next++
	}
	for err := range sent {
		t.Error(err)
	}
}

// TestRecvQueueBytesUnbounded: 0 lifts the bound; the per-peer mark still
// holds each queue.
func TestRecvQueueBytesUnbounded(t *testing.T) {
	nw := newNetwork(t, "tcp")
	ctx := testContext(t)
	l := budgetLoad{peers: 4, msgs: 64, size: 16 << 10} // 4 MiB
	pull := newSocket(t, Pull, WithRecvQueueBytes(0))
	sent := startFanIn(t, ctx, nw, pull, nw.bind(pull), l)
	waitFor(t, ctx, "every message queued", func() bool { return pull.Stats().RecvQueueBytes == l.total() })
	drainInOrder(t, ctx, pull, l)
	for err := range sent {
		t.Error(err)
	}
}

func TestRecvQueueBytesOption(t *testing.T) {
	if _, err := New(Pull, WithRecvQueueBytes(-1)); !errors.Is(err, ErrInvalidOption) {
		t.Errorf("WithRecvQueueBytes(-1): got %v, want ErrInvalidOption", err)
	}
}

// TestRecvQueueBytesRouter: a ROUTER stops reading DEALERs that send more
// than the budget while it owes them nothing, and a reply to one of them
// sends that reader back to reading, since the DEALER's ACKs arrive on the
// same connection: replies past the ROUTER's window are acknowledged and
// go through while the other readers still wait.
func TestRecvQueueBytesRouter(t *testing.T) {
	for _, name := range []string{"tcp", "inproc"} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			nw := newNetwork(t, name)
			ctx := testContext(t)
			const budget = 32 << 10
			const peers, msgs, size = 8, 128, 4 << 10 // 4 MiB
			const window, replies = 16, 200
			router := newSocket(t, Router, WithRecvQueueBytes(budget), WithSendHWM(window))
			ep := nw.bind(router)
			dealers := make([]*Socket, peers)
			for i := range dealers {
				dealers[i] = newSocket(t, Dealer, WithRoutingID([]byte{byte('a' + i)}))
				nw.connect(dealers[i], ep)
			}
			waitConnected(t, ctx, router, peers)
			sent := make(chan error, peers)
			for i, d := range dealers {
				go func() {
					for n := range msgs {
						b := make([]byte, size)
						binary.BigEndian.PutUint64(b, uint64(n))
						if err := d.Send(ctx, b); err != nil {
							sent <- fmt.Errorf("dealer %d, Send %d: %w", i, n, err)
							return
						}
					}
					sent <- nil
				}()
			}
			queued := settledQueue(t, ctx, router)
			if name == "tcp" {
				if limit := int64(budget) + peers*(64<<10+size); queued > limit {
					t.Errorf("queued %d bytes of %d sent, want at most %d", queued, peers*msgs*size, limit)
				}
			}

			// Replies to dealer 0, more than the window: each needs an ACK
			// read from a connection whose reader waited for the budget.
			got := make(chan error, 1)
			go func() {
				for n := range replies {
					m, err := dealers[0].Recv(ctx)
					if err != nil {
						got <- fmt.Errorf("dealer 0, Recv reply %d: %w", n, err)
						return
					}
					if len(m) != 1 || string(m[0]) != strconv.Itoa(n) {
						got <- fmt.Errorf("dealer 0, reply %d: got %q, want %q", n, m, strconv.Itoa(n))
						return
					}
				}
				got <- nil
			}()
			for n := range replies {
				if err := router.Send(ctx, []byte{'a'}, []byte(strconv.Itoa(n))); err != nil {
					t.Fatalf("reply %d to a waiting reader's peer: got error %v, want nil", n, err)
				}
			}
			if err := <-got; err != nil {
				t.Fatal(err)
			}

			next := make([]uint64, peers)
			for i := range peers * msgs {
				m, err := router.Recv(ctx)
				if err != nil {
					t.Fatalf("Recv %d of %d: got error %v, want nil", i+1, peers*msgs, err)
				}
				peer := int(m[0][0] - 'a')
				if seq := binary.BigEndian.Uint64(m[1]); peer < 0 || peer >= peers || seq != next[peer] {
					t.Fatalf("Recv %d: got message %d from %q, want that peer's next message", i+1, seq, m[0])
				}
				next[peer]++
			}
			for range peers {
				if err := <-sent; err != nil {
					t.Error(err)
				}
			}
		})
	}
}

// TestRecvQueueBytesLibzmqPeers: libzmq PUSH sockets (pyzmq, in their own
// processes) bursting at a wisp PULL over ZMTP fill it only to the budget
// and a read per connection; then every message arrives, in each sender's
// order. Heartbeats stay off on both sides: a pyzmq sender queues
// everything into the kernel, closes, and exits while the stopped reader
// still has its data to read, and a PING it never read would turn its
// close into a reset, which discards what the kernel still holds for us.
func TestRecvQueueBytesLibzmqPeers(t *testing.T) {
	ctx := testContext(t)
	const budget = 128 << 10
	const senders, msgs, pad = 4, 2000, 4 << 10 // 32 MiB
	pull := zmtpSocket(t, Pull, WithRecvQueueBytes(budget), WithHeartbeat(0, 0))
	ep, err := pull.Bind("tcp://127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	pys := make([]*pyPeer, senders)
	for i := range pys {
		pys[i] = startPy(t, ctx, "--type", "PUSH", "--identity", strconv.Itoa(i), "--connect", ep,
			"--job", "send", "--count", strconv.Itoa(msgs), "--pad", strconv.Itoa(pad),
			"--linger-ms", "20000") // libzmq's close waits for what the stopped reader has not taken yet
	}
	queued := settledQueue(t, ctx, pull)
	if limit := int64(budget) + senders*(64<<10+pad); queued > limit {
		t.Errorf("queued %d bytes of %d sent, want at most %d (budget %d and a read per sender)", queued, senders*msgs*pad, limit, budget)
	}
	time.Sleep(300 * time.Millisecond) // stopped
	next := make([]int, senders)
	for i := range senders * msgs {
		m, err := pull.Recv(ctx)
		if err != nil {
			t.Fatalf("Recv %d of %d: got error %v, want nil", i+1, senders*msgs, err)
		}
		if len(m) != 2 || len(m[0]) != pad {
			t.Fatalf("Recv %d: got %d frames, want a %d-byte tag and a number", i+1, len(m), pad)
		}
		from := int(m[0][0] - '0')
		if from < 0 || from >= senders || string(m[1]) != strconv.Itoa(next[from]) {
			t.Fatalf("Recv %d: got %q from sender %q, want that sender's next message", i+1, m[1], m[0][:1])
		}
		next[from]++
	}
	for _, py := range pys {
		py.finish(ctx)
	}
}
