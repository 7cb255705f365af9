package socket

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"

	"github.com/wispmq/wisp/internal/queue"
	"github.com/wispmq/wisp/patterns"
	"github.com/wispmq/wisp/wire"
)

// maxIdleFlows bounds how many departed senders a receiving socket
// remembers for duplicate suppression when they come back.
const maxIdleFlows = 1024

// entry is a received message waiting for Recv, with its sequence number in
// its sender's stream (0 when the sender does not ask for acks).
type entry struct {
	m   Message
	seq uint64
}

// inflow is the receive side of one peer session. It outlives connections
// so that a sender that reconnects is neither duplicated nor lost.
type inflow struct {
	session wire.SessionID

	// Guarded by inbox.mu.
	q        queue.FIFO[entry]
	lastSeq  uint64        // highest sequence accepted from this sender
	ready    bool          // listed in inbox.ready
	room     chan struct{} // non-nil while the connection's reader waits for the queue to drain
	ackEvery uint64        // acknowledge at least every this many messages

	delivered atomic.Uint64 // highest sequence the application took with Recv
	ackSent   atomic.Uint64 // highest sequence acknowledged; written by the writer
	conn      atomic.Pointer[conn]
	endpoint  atomic.Pointer[string]

	msgsIn, bytesIn atomic.Uint64
}

// inbox holds what the socket received until the application takes it,
// fair-queued across senders.
type inbox struct {
	s       *Socket
	mu      sync.Mutex
	closed  bool
	flows   map[wire.SessionID]*inflow
	ready   []*inflow // flows with queued messages, in fair-queue order
	fq      patterns.FairQueue
	queued  int
	wait    chan struct{} // closed and replaced when messages arrive and someone waits
	waiters int
}

func (in *inbox) init(s *Socket) {
	in.s = s
	in.flows = make(map[wire.SessionID]*inflow)
	in.wait = make(chan struct{})
}

func (in *inbox) close() {
	in.mu.Lock()
	defer in.mu.Unlock()
	if in.closed {
		return
	}
	in.closed = true
	for _, f := range in.flows {
		f.q.Clear()
		f.ready = false
		if f.room != nil {
			close(f.room)
			f.room = nil
		}
	}
	in.ready = nil
	in.queued = 0
	close(in.wait)
}

// attach returns the flow of c's peer session, creating it if needed.
func (in *inbox) attach(c *conn) *inflow {
	in.mu.Lock()
	defer in.mu.Unlock()
	f := in.flows[c.peer.Session]
	if f == nil {
		if len(in.flows) >= maxIdleFlows {
			in.evictLocked()
		}
		f = &inflow{session: c.peer.Session}
		in.flows[f.session] = f
	}
	f.ackEvery = uint64(c.peer.Window / 4)
	if f.ackEvery == 0 {
		f.ackEvery = 1
	}
	ep := c.endpoint
	f.endpoint.Store(&ep)
	f.conn.Store(c)
	return f
}

// evictLocked forgets departed senders whose messages were all taken.
func (in *inbox) evictLocked() {
	for k, f := range in.flows {
		if f.conn.Load() == nil && f.q.Len() == 0 {
			delete(in.flows, k)
		}
	}
}

func (in *inbox) detach(c *conn, f *inflow) {
	f.conn.CompareAndSwap(c, nil)
}

// deliver queues messages that connection c read from its peer. seq numbers
// them when the peer asks for acks (*next is the next sequence); those at or
// below what was already accepted are dropped as duplicates. When the peer's
// queue reaches the receive high-water mark, deliver waits until Recv has
// drained half of it or c closes: the reader stops reading and TCP pushes
// back on the sender.
func (in *inbox) deliver(c *conn, f *inflow, msgs []Message, seqOn bool, next *uint64) error {
	in.mu.Lock()
	if in.closed {
		in.mu.Unlock()
		return ErrClosed
	}
	added, bytes, dups := 0, 0, 0
	for _, m := range msgs {
		var seq uint64
		if seqOn {
			seq = *next
			*next++
			if seq <= f.lastSeq {
				dups++
				continue
			}
			f.lastSeq = seq
		}
		f.q.Push(entry{m: m, seq: seq})
		added++
		bytes += m.Size()
	}
	if added > 0 {
		in.queued += added
		if !f.ready {
			f.ready = true
			in.ready = append(in.ready, f)
		}
		if in.waiters > 0 {
			close(in.wait)
			in.wait = make(chan struct{})
		}
	}
	var room chan struct{}
	if f.q.Len() >= in.s.opts.recvHWM {
		if f.room == nil {
			f.room = make(chan struct{})
		}
		room = f.room
	}
	in.mu.Unlock()

	s := in.s
	if added > 0 {
		f.msgsIn.Add(uint64(added))
		f.bytesIn.Add(uint64(bytes))
		s.stats.msgsIn.Add(uint64(added))
		s.stats.bytesIn.Add(uint64(bytes))
	}
	if dups > 0 {
		s.stats.duplicates.Add(uint64(dups))
	}
	if room != nil {
		select {
		case <-room:
		case <-c.done:
		}
	}
	return nil
}

// Recv returns the next message, waiting until one arrives, ctx ends
// (returning ctx's error) or the socket closes (ErrClosed). PULL takes
// messages from its peers in turn. Taking a message with Recv is what
// acknowledges it to its sender.
//
// The frames of a received message belong to the caller.
func (s *Socket) Recv(ctx context.Context) (Message, error) {
	if !s.receives {
		return nil, fmt.Errorf("%w: Recv on %v", ErrNotSupported, s.typ)
	}
	in := &s.in
	in.mu.Lock()
	for {
		if in.closed {
			in.mu.Unlock()
			return nil, ErrClosed
		}
		if len(in.ready) > 0 {
			return in.popLocked()
		}
		if err := ctx.Err(); err != nil {
			in.mu.Unlock()
			return nil, err
		}
		ch := in.wait
		in.waiters++
		in.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
		}
		in.mu.Lock()
		in.waiters--
	}
}

// popLocked takes the next message in fair-queue order, then releases the
// lock and tells the flow's reader and writer what changed.
func (in *inbox) popLocked() (Message, error) {
	i := in.fq.Pick(len(in.ready), func(int) bool { return true })
	f := in.ready[i]
	e := f.q.Pop()
	in.queued--
	left := f.q.Len()
	if left == 0 {
		f.ready = false
		copy(in.ready[i:], in.ready[i+1:])
		in.ready[len(in.ready)-1] = nil
		in.ready = in.ready[:len(in.ready)-1]
		in.fq.Removed(i)
	}
	var room chan struct{}
	if f.room != nil && left <= in.s.opts.recvHWM/2 {
		room, f.room = f.room, nil
	}
	ackEvery := f.ackEvery
	if e.seq != 0 {
		f.delivered.Store(e.seq)
	}
	in.mu.Unlock()

	if room != nil {
		close(room)
	}
	if e.seq != 0 {
		if c := f.conn.Load(); c != nil {
			// A full ack interval is acknowledged at once; an emptied queue
			// arms the writer's short delayed ack, once.
			if e.seq-f.ackSent.Load() >= ackEvery || (left == 0 && !c.ackArmed.Load()) {
				c.signal()
			}
		}
	}
	return e.m, nil
}

// stats adds the receive side to the per-peer list and returns the total
// queued.
func (in *inbox) stats(peers []PeerStats) (int, []PeerStats) {
	in.mu.Lock()
	defer in.mu.Unlock()
	for _, f := range in.flows {
		ps := PeerStats{
			Session:   f.session.String(),
			Connected: f.conn.Load() != nil,
			MsgsIn:    f.msgsIn.Load(),
			BytesIn:   f.bytesIn.Load(),
			RecvQueue: f.q.Len(),
		}
		if c := f.conn.Load(); c != nil {
			ps.Remote = c.remote
		}
		if ep := f.endpoint.Load(); ep != nil {
			ps.Endpoint = *ep
		}
		peers = append(peers, ps)
	}
	return in.queued, peers
}
