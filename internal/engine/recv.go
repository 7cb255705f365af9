package engine

import (
	"context"
	"math"
	"sync/atomic"

	"github.com/wispmq/wisp/internal/lockorder"

	"github.com/wispmq/wisp/patterns"
)

// entry is a received message waiting for Recv, with its sequence number in
// its sender's stream (0 when the sender does not ask for acks).
type entry struct {
	m    Message
	seq  uint64
	size int
}

// inbox holds what the socket received until the application takes it,
// fair-queued across senders.
type inbox struct {
	s       *Engine
	mu      lockorder.Mutex
	closed  bool
	done    chan struct{} // closed by close: readers waiting for room stop
	ready   []*Peer       // peers with queued messages, in fair-queue order
	fq      patterns.FairQueue
	queued  int
	wait    chan struct{} // closed and replaced when messages arrive and someone waits
	waiters int
	// directConn is the connection a Recv is reading from directly, if
	// any: a message that arrives on another one must interrupt it.
	directConn atomic.Pointer[conn]

	// The consumer's batch, guarded by recvMu (taken before mu).
	recvMu      lockorder.Mutex
	closedFlag  atomic.Bool
	batch       []entry
	head        int
	from        *Peer // the peer the batch came from
	fromDrained bool  // its queue was empty after the batch was taken
	pending     taken // WithDeferredAck: the last message returned, not yet acknowledged
	run         takes // messages taken from one peer, not yet recorded in its window
}

// takes are messages Recv took from one peer, recorded in the peer's
// receive window together: when the batch ends, when the window's budget
// runs out (so no ACK is due any later for it), and whenever the peer's
// writer or delayed ACK looks while Recv is not running (flushTakes), so
// an application that pauses in the middle of a batch has its takes
// acknowledged as before. One lock per batch, not one per message.
type takes struct {
	p      *Peer
	seq    uint64 // the last one taken
	n      uint64 // how many since the last record
	size   uint64 // and their bytes
	dueSeq uint64 // taking this sequence spends the window's budget
	bytes  uint64 // and so does taking this many bytes
}

func (in *inbox) init(s *Engine) {
	in.s = s
	in.mu.Init(rankInbox, "inbox.mu")
	in.recvMu.Init(rankRecv, "inbox.recvMu")
	in.wait = make(chan struct{})
	in.done = make(chan struct{})
}

func (in *inbox) close() {
	in.closedFlag.Store(true)
	in.recvMu.Lock()
	defer in.recvMu.Unlock()
	in.record(true) // what the application took gets its final ACK
	clear(in.batch)
	in.batch, in.head = in.batch[:0], 0
	in.pending = taken{} // not handled: its sender gives it to another receiver
	in.mu.Lock()
	defer in.mu.Unlock()
	if in.closed {
		return
	}
	in.closed = true
	for _, p := range in.ready {
		p.q.Clear()
		p.ready = false
	}
	clear(in.ready)
	in.ready = nil
	in.queued = 0
	close(in.done)
	close(in.wait)
	if dc := in.directConn.Load(); dc != nil {
		dc.returnRead() // a Recv blocked in a direct read returns ErrClosed now
	}
}

// deliver queues messages that connection c read from its peer p. seq
// numbers them when the peer asks for acks (*next is the next sequence);
// those the peer's window already accepted are dropped as duplicates. When
// the peer's queue reaches the receive high-water mark, deliver waits until
// Recv has drained half of it or c closes: the reader stops reading and TCP
// pushes back on the sender.
func (in *inbox) deliver(c *conn, p *Peer, msgs []Message, seqOn bool, next *uint64) error {
	in.mu.Lock()
	if in.closed {
		// Keep the connection until Close has written its final ACKs; the
		// sender resends these elsewhere.
		in.mu.Unlock()
		return nil
	}
	added, bytes, dups := 0, 0, 0
	if seqOn {
		p.ackMu.Lock()
	}
	for _, m := range msgs {
		var seq uint64
		if seqOn {
			seq = *next
			*next++
			if !p.win.Accept(seq) {
				dups++
				continue
			}
		}
		size := m.Size()
		p.q.Push(entry{m: m, seq: seq, size: size})
		added++
		bytes += size
	}
	if seqOn {
		p.ackMu.Unlock()
	}
	if added > 0 {
		in.queued += added
		if !p.ready {
			p.ready = true
			in.ready = append(in.ready, p)
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
		if p.q.Len() > int(c.info.Window) {
			overrun = protocolErrorf("%d messages queued, beyond the window of %d the peer stated", p.q.Len(), c.info.Window)
		}
	case p.q.Len() >= in.s.opts.RecvHWM:
		if p.space == nil {
			p.space = make(chan struct{})
		}
		room = p.space
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
		p.msgsIn.Add(uint64(added))
		p.bytesIn.Add(uint64(bytes))
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
		case <-in.done:
		}
	}
	return nil
}

// Recv is the socket's Recv: its behaviour's.
func (s *Engine) Recv(ctx context.Context) (Message, error) { return s.b.Recv(ctx) }

// next returns the next message and the peer it came from.
func (in *inbox) next(ctx context.Context) (Message, *Peer, error) {
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
	p := in.ready[i]
	in.batch, in.head = in.batch[:0], 0
	// One message per peer in turn while several have messages; a batch
	// when only one has, which is where the lock per message would cost.
	n := 1
	if len(in.ready) == 1 {
		n = recvBatch
	}
	for k := 0; k < n && p.q.Len() > 0; k++ {
		in.batch = append(in.batch, p.q.Pop())
	}
	in.queued -= len(in.batch)
	left := p.q.Len()
	if left == 0 {
		p.ready = false
		copy(in.ready[i:], in.ready[i+1:])
		in.ready[len(in.ready)-1] = nil
		in.ready = in.ready[:len(in.ready)-1]
		in.fq.Removed(i)
	}
	var room chan struct{}
	if p.space != nil && left <= in.s.opts.RecvHWM/2 {
		room, p.space = p.space, nil
	}
	in.from, in.fromDrained = p, left == 0
	in.mu.Unlock()
	if room != nil {
		close(room) // the peer's reader may read again
	}
	return true
}

// pop returns the next message of the batch and records it as taken.
// Callers hold recvMu; pop releases it.
func (in *inbox) pop() (Message, *Peer, error) {
	e := in.batch[in.head]
	in.batch[in.head] = entry{}
	in.head++
	p := in.from
	last := in.head == len(in.batch)
	if in.s.opts.DeferAck {
		// The previous message is handled now that the application asks
		// for the next: acknowledge it, and hold this one until then.
		in.commitPending()
		if e.seq != 0 {
			in.pending = taken{p: p, seq: e.seq, size: e.size}
		}
		if last {
			in.record(in.fromDrained)
		}
		in.recvMu.Unlock()
		return e.m, p, nil
	}
	if e.seq != 0 {
		in.take(p, e.seq, e.size, last, last && in.fromDrained)
	}
	in.recvMu.Unlock()
	return e.m, p, nil
}

// taken is a message the application took whose acknowledgement waits
// (WithDeferredAck).
type taken struct {
	p    *Peer
	seq  uint64
	size int
}

// commitPending acknowledges the message Recv returned last under
// WithDeferredAck. Callers hold recvMu.
func (in *inbox) commitPending() {
	if t := in.pending; t.p != nil {
		in.pending = taken{}
		last := in.head == len(in.batch)
		in.take(t.p, t.seq, t.size, last, last)
	}
}

// take notes that the application took message seq of peer p, and
// records what it took from p in p's window when the window's budget is
// spent, or flush says the batch is over. Callers hold recvMu.
func (in *inbox) take(p *Peer, seq uint64, size int, flush, drained bool) {
	r := &in.run
	if r.p != p || p.winChanged.Load() {
		in.record(false)
		p.ackMu.Lock()
		p.winChanged.Store(false)
		r.setBudget(&p.win)
		p.ackMu.Unlock()
		r.p = p
	}
	r.seq, r.n, r.size = seq, r.n+1, r.size+uint64(size)
	if flush || seq >= r.dueSeq || r.size >= r.bytes {
		in.record(drained)
		return
	}
	if r.n == 1 {
		// Not recorded yet: should the application pause here, the delayed
		// ACK finds it (flushTakes) and acknowledges it all the same.
		if c := p.conn.Load(); c != nil && !c.ackArmed.Load() {
			c.armAck()
		}
	}
}

// setBudget notes when the window's budget runs out. Callers hold the
// window's peer's ackMu.
func (r *takes) setBudget(w *patterns.RecvWindow) {
	msgs, bytes := w.Budget()
	r.dueSeq, r.bytes = w.Taken()+msgs, bytes
}

// record writes the takes noted so far into their peer's window and gets
// the ACK on its way: at once when the window says one is due, else, when
// the peer's queue drained, by the short delayed ACK, which a reply going
// out soon makes unnecessary. Callers hold recvMu.
func (in *inbox) record(drained bool) {
	r := &in.run
	p := r.p
	if p == nil || r.n == 0 {
		return
	}
	p.ackMu.Lock()
	due := p.win.Take(r.seq, int(min(r.size, math.MaxInt)))
	r.setBudget(&p.win)
	p.ackMu.Unlock()
	r.n, r.size = 0, 0
	c := p.conn.Load()
	if c == nil {
		return
	}
	if due {
		c.signal()
	} else if drained && !c.ackArmed.Load() {
		c.armAck()
	}
}

// flushTakes records what the application took from p and Recv has not
// recorded yet, unless Recv is running (it records at the end of its
// batch), which it reports. The writer and the delayed ACK call it before
// they look at p's window. It takes recvMu with TryLock, which cannot
// wait: the writer holds locks ranked after recvMu.
func (in *inbox) flushTakes(p *Peer) (busy bool) {
	if !in.recvMu.TryLock() {
		return true
	}
	if in.run.p == p {
		in.record(false)
	}
	in.recvMu.Unlock()
	return false
}

// Ack acknowledges every message Recv has returned so far
// (WithDeferredAck).
func (s *Engine) Ack() error {
	if !s.caps.ReceivesData {
		return NotSupported(s.typ, "Ack")
	}
	s.in.recvMu.Lock()
	s.in.commitPending()
	s.in.record(true)
	s.in.recvMu.Unlock()
	return nil
}

// batched counts messages taken into the consumer's batch but not yet
// returned by Recv.
func (in *inbox) batched() int {
	in.recvMu.Lock()
	defer in.recvMu.Unlock()
	return len(in.batch) - in.head
}
