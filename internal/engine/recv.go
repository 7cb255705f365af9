package engine

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"

	"github.com/wispmq/wisp/internal/queue"
	"github.com/wispmq/wisp/patterns"
)

// maxIdleFlows bounds how many departed senders a receiving socket
// remembers for duplicate suppression when they come back.
const maxIdleFlows = 1024

// entry is a received message waiting for Recv, with its sequence number in
// its sender's stream (0 when the sender does not ask for acks).
type entry struct {
	m    Message
	seq  uint64
	size int
}

// inflow is the receive side of one peer session. It outlives connections
// so that a sender that reconnects is neither duplicated nor lost.
type inflow struct {
	session SessionID

	// Guarded by inbox.mu.
	q        queue.FIFO[entry]
	lastSeq  uint64        // highest sequence accepted from this sender
	ready    bool          // listed in inbox.ready
	room     chan struct{} // non-nil while the connection's reader waits for the queue to drain
	ackEvery uint64        // acknowledge at least every this many messages

	routingID []byte // ROUTER: the id the application sees for this peer; set once

	delivered  atomic.Uint64 // highest sequence the application took with Recv
	ackSent    atomic.Uint64 // highest sequence acknowledged; written by the writer
	taken      atomic.Int64  // payload bytes the application took
	ackedBytes atomic.Int64  // taken at the last ACK; written by the writer
	conn       atomic.Pointer[conn]
	endpoint   atomic.Pointer[string]

	msgsIn, bytesIn atomic.Uint64
}

// inbox holds what the socket received until the application takes it,
// fair-queued across senders.
type inbox struct {
	s       *Engine
	mu      sync.Mutex
	closed  bool
	flows   map[SessionID]*inflow
	ready   []*inflow // flows with queued messages, in fair-queue order
	fq      patterns.FairQueue
	queued  int
	wait    chan struct{} // closed and replaced when messages arrive and someone waits
	waiters int
	// directConn is the connection a Recv is reading from directly, if
	// any: a message that arrives on another one must interrupt it.
	directConn atomic.Pointer[conn]

	// The consumer's batch, guarded by recvMu (taken before mu).
	recvMu      sync.Mutex
	closedFlag  atomic.Bool
	batch       []entry
	head        int
	flow        *inflow // the flow the batch came from
	flowDrained bool    // the flow's queue was empty after the batch was taken
	pending     taken   // WithDeferredAck: the last message returned, not yet acknowledged
	ackEvery    uint64
}

func (in *inbox) init(s *Engine) {
	in.s = s
	in.flows = make(map[SessionID]*inflow)
	in.wait = make(chan struct{})
}

func (in *inbox) close() {
	in.closedFlag.Store(true)
	in.recvMu.Lock()
	defer in.recvMu.Unlock()
	clear(in.batch)
	in.batch, in.head = in.batch[:0], 0
	in.pending = taken{} // not handled: its sender gives it to another receiver
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
	if dc := in.directConn.Load(); dc != nil {
		dc.returnRead() // a Recv blocked in a direct read returns ErrClosed now
	}
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
		f = &inflow{session: c.peer.Session, routingID: peerRoutingID(&c.peer)}
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

// deliver queues messages that connection c read from its peer. seq numbers
// them when the peer asks for acks (*next is the next sequence); those at or
// below what was already accepted are dropped as duplicates. When the peer's
// queue reaches the receive high-water mark, deliver waits until Recv has
// drained half of it or c closes: the reader stops reading and TCP pushes
// back on the sender.
func (in *inbox) deliver(c *conn, f *inflow, msgs []Message, seqOn bool, next *uint64) error {
	in.mu.Lock()
	if in.closed {
		// Keep the connection until Close has written its final ACKs; the
		// sender resends these elsewhere.
		in.mu.Unlock()
		return nil
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
		size := m.Size()
		f.q.Push(entry{m: m, seq: seq, size: size})
		added++
		bytes += size
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
	var overrun error
	switch {
	case seqOn && c.windowBounded():
		// This socket sends on the same connection (REP, DEALER...): a
		// reader that stopped here would also stop reading the peer's
		// ACKs, and a Send waiting for them would never return while the
		// peer waits for us to read. The peer's window bounds the queue
		// instead: it may not have more messages unacknowledged.
		if f.q.Len() > int(c.peer.Window) {
			overrun = protocolErrorf("%d messages queued, beyond the window of %d the peer stated", f.q.Len(), c.peer.Window)
		}
	case f.q.Len() >= in.s.opts.RecvHWM:
		if f.room == nil {
			f.room = make(chan struct{})
		}
		room = f.room
	}
	in.mu.Unlock()
	if overrun != nil {
		return overrun
	}

	s := in.s
	if added > 0 {
		if dc := in.directConn.Load(); dc != nil && dc != c {
			dc.returnRead()
		}
		f.msgsIn.Add(uint64(added))
		f.bytesIn.Add(uint64(bytes))
		s.stats.msgsIn.Add(uint64(added))
		s.stats.bytesIn.Add(uint64(bytes))
	}
	if dups > 0 {
		s.stats.duplicates.Add(uint64(dups))
	}
	if room != nil && !c.direct {
		// A Recv reading directly must return to drain the queue itself.
		select {
		case <-room:
		case <-c.done:
		}
	}
	return nil
}

// Recv returns the next message, waiting until one arrives, ctx ends
// (returning ctx's error) or the socket closes (ErrClosed). Messages are
// taken from the socket's peers in turn, one from each (fair queuing).
// Taking a message with Recv is what acknowledges it to its sender.
//
// What Recv returns depends on the type: PULL, DEALER and PAIR return the
// message as sent; ROUTER puts the sending peer's routing id in front of
// it; REP returns the request without its envelope and remembers whom to
// answer; REQ returns the reply to its outstanding request, dropping any
// other.
//
// The frames of a received message belong to the caller.
func (s *Engine) Recv(ctx context.Context) (Message, error) {
	if s.typ == XPub {
		return s.recvSubscription(ctx)
	}
	if !s.receives {
		return nil, fmt.Errorf("%w: Recv on %v", ErrNotSupported, s.typ)
	}
	switch s.typ {
	case Sub:
		for {
			m, _, err := s.in.next(ctx)
			if err != nil || s.wanted(m) {
				return m, err
			}
		}
	case Req:
		return s.recvReply(ctx)
	case Rep:
		return s.recvRequest(ctx)
	case Router:
		m, f, err := s.in.next(ctx)
		if err != nil {
			return nil, err
		}
		out := make(Message, 0, len(m)+1)
		// A copy: the caller owns what Recv returns and may change it.
		out = append(out, append([]byte(nil), f.routingID...))
		return append(out, m...), nil
	}
	m, _, err := s.in.next(ctx)
	return m, err
}

// next returns the next message and the flow it came from.
func (in *inbox) next(ctx context.Context) (Message, *inflow, error) {
	triedDirect := false
	for {
		in.recvMu.Lock()
		if in.closedFlag.Load() {
			in.recvMu.Unlock()
			return nil, nil, ErrClosed
		}
		// Asking for the next message is what acknowledges the last one
		// (WithDeferredAck), whether or not the next is there yet.
		in.commitPending()
		if in.head < len(in.batch) || in.refill() {
			return in.pop()
		}
		// Nothing queued: read it ourselves where we may (directread.go),
		// else wait without holding recvMu, so other callers' contexts
		// still work.
		if !triedDirect && ctx.Err() == nil {
			in.recvMu.Unlock()
			if c := in.s.directConn(); c != nil && c.readDirect(ctx, in) {
				continue
			}
			triedDirect = true
			continue
		}
		in.mu.Lock()
		if len(in.ready) > 0 || in.closed {
			// Arrived between refill and here: no wakeup will come for it.
			in.mu.Unlock()
			in.recvMu.Unlock()
			continue
		}
		ch := in.wait
		in.waiters++
		in.mu.Unlock()
		in.recvMu.Unlock()
		canceled := false
		select {
		case <-ch:
		case <-ctx.Done():
			canceled = true
		}
		in.mu.Lock()
		in.waiters--
		in.mu.Unlock()
		if canceled {
			return nil, nil, ctx.Err()
		}
	}
}

// recvBatch is how many messages Recv moves at a time from the queue of a
// peer that is the only one with messages: the inbox lock is then taken once
// per batch, not once per message.
const recvBatch = 64

// refill moves the next batch, from the next peer in fair-queue order,
// into the consumer's batch. Callers hold recvMu.
func (in *inbox) refill() bool {
	in.mu.Lock()
	if in.closed || len(in.ready) == 0 {
		in.mu.Unlock()
		return false
	}
	i := in.fq.Pick(len(in.ready), func(int) bool { return true })
	f := in.ready[i]
	in.batch, in.head = in.batch[:0], 0
	// One message per peer in turn while several have messages; a batch
	// when only one has, which is where the lock per message would cost.
	n := 1
	if len(in.ready) == 1 {
		n = recvBatch
	}
	for k := 0; k < n && f.q.Len() > 0; k++ {
		in.batch = append(in.batch, f.q.Pop())
	}
	in.queued -= len(in.batch)
	left := f.q.Len()
	if left == 0 {
		f.ready = false
		copy(in.ready[i:], in.ready[i+1:])
		in.ready[len(in.ready)-1] = nil
		in.ready = in.ready[:len(in.ready)-1]
		in.fq.Removed(i)
	}
	var room chan struct{}
	if f.room != nil && left <= in.s.opts.RecvHWM/2 {
		room, f.room = f.room, nil
	}
	in.flow, in.flowDrained, in.ackEvery = f, left == 0, f.ackEvery
	in.mu.Unlock()
	if room != nil {
		close(room) // the flow's reader may read again
	}
	return true
}

// pop returns the next message of the batch, records it as delivered, and
// wakes the flow's writer when an ACK is due. Callers hold recvMu; pop
// releases it.
func (in *inbox) pop() (Message, *inflow, error) {
	e := in.batch[in.head]
	in.batch[in.head] = entry{}
	in.head++
	f := in.flow
	last := in.head == len(in.batch)
	drained := last && in.flowDrained
	ackEvery := in.ackEvery
	if in.s.opts.DeferAck {
		// The previous message is handled now that the application asks
		// for the next: acknowledge it, and hold this one until then.
		in.commitPending()
		if e.seq != 0 {
			in.pending = taken{f: f, seq: e.seq, size: e.size, ackEvery: ackEvery}
		}
		in.recvMu.Unlock()
		return e.m, f, nil
	}
	in.recvMu.Unlock()
	if e.seq != 0 {
		in.acknowledge(f, e.seq, e.size, ackEvery, drained)
	}
	return e.m, f, nil
}

// taken is a message the application took whose acknowledgement waits
// (WithDeferredAck).
type taken struct {
	f        *inflow
	seq      uint64
	size     int
	ackEvery uint64
}

// commitPending acknowledges the message Recv returned last under
// WithDeferredAck. Callers hold recvMu.
func (in *inbox) commitPending() {
	if p := in.pending; p.f != nil {
		in.pending = taken{}
		in.acknowledge(p.f, p.seq, p.size, p.ackEvery, true)
	}
}

// acknowledge records that the application took message seq of flow f
// and gets the ACK on its way: at once after a full ack interval (in
// messages or bytes), else, when the queue drained, by the short delayed
// ACK, which a reply going out soon makes unnecessary.
func (in *inbox) acknowledge(f *inflow, seq uint64, size int, ackEvery uint64, drained bool) {
	f.delivered.Store(seq)
	total := f.taken.Add(int64(size))
	c := f.conn.Load()
	if c == nil {
		return
	}
	if seq-f.ackSent.Load() >= ackEvery || total-f.ackedBytes.Load() >= c.ackEveryBytes {
		c.signal()
	} else if drained && !c.ackArmed.Load() {
		c.armAck()
	}
}

// Ack acknowledges every message Recv has returned so far. It is needed
// only with WithDeferredAck, where Recv acknowledges the previous message
// rather than the one it returns: call Ack once a message is handled when
// no Recv follows soon (before a pause, say). Without WithDeferredAck it
// does nothing.
func (s *Engine) Ack() error {
	if !s.receives {
		return fmt.Errorf("%w: Ack on %v", ErrNotSupported, s.typ)
	}
	s.in.recvMu.Lock()
	s.in.commitPending()
	s.in.recvMu.Unlock()
	return nil
}

// stats adds the receive side to the per-peer list and returns the total
// queued.
// A peer the send side already listed (a socket that sends and receives)
// gets its receive counters added to that entry.
func (in *inbox) stats(peers []PeerStats) (int, []PeerStats) {
	batched := in.batched() // recvMu is taken before mu, never inside it
	in.mu.Lock()
	defer in.mu.Unlock()
	sent := make(map[string]int, len(peers))
	for i, ps := range peers {
		if ps.Session != "" {
			sent[ps.Session] = i
		}
	}
	for _, f := range in.flows {
		if i, ok := sent[f.session.String()]; ok {
			peers[i].MsgsIn = f.msgsIn.Load()
			peers[i].BytesIn = f.bytesIn.Load()
			peers[i].RecvQueue = f.q.Len()
			continue
		}
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
	return in.queued + batched, peers
}

// batched counts messages taken into the consumer's batch but not yet
// returned by Recv.
func (in *inbox) batched() int {
	in.recvMu.Lock()
	defer in.recvMu.Unlock()
	return len(in.batch) - in.head
}
