package engine

import (
	"context"
	"math"
	"sync/atomic"
	"time"

	"github.com/wispmq/wisp/internal/lockorder"

	"github.com/wispmq/wisp/patterns"
)

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

	// The receive budget (budget.go).
	queuedBytes int64       // payload bytes queued, not yet in the consumer's batch
	over        atomic.Bool // overBudgetLocked, for readers to look at without the lock
	granted     int64       // room granted to woken readers, not yet spent
	grantGen    uint64
	budgetWait  []*budgetWaiter // readers stopped by the budget, oldest first
	lapse       *time.Timer     // lets grants lapse (grantLapse)
	lapseArmed  bool
	// directConn is the connection a Recv is reading from directly, if
	// any: a message that arrives on another one must interrupt it.
	directConn atomic.Pointer[conn]

	// The consumer's delivery, guarded by recvMu (taken before mu).
	recvMu     lockorder.Mutex
	closedFlag atomic.Bool
	cur        delivery           // what Recv takes messages from first
	from       *Peer              // the peer cur came from
	pending    taken              // WithDeferredAck: the last message returned, not yet acknowledged
	keep       func(Message) bool // the behaviour's RecvFilter, called under recvMu
}

// takes are messages Recv took from one peer and has not recorded in the
// peer's window yet. Recording takes the window's lock, so Recv records
// only when the window's budget runs out (an ACK is due: it is never
// recorded later than that), and otherwise leaves it to the peer's writer
// and delayed ACK, which record it whenever they look and Recv is not
// running (lockWindow): the first unrecorded take arms the delayed ACK, so
// an application that pauses has what it took acknowledged as before. In
// the common case a message costs Recv no lock at all.
type takes struct {
	seq       uint64 // the last one taken
	n         uint64 // how many since the last record
	size      uint64 // and their bytes
	dueSeq    uint64 // taking this sequence spends the window's budget
	bytes     uint64 // and so does taking this many bytes
	budgetSet bool   // dueSeq and bytes are the window's
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
	in.recordAll() // what the application took gets its final ACK
	in.cur = delivery{}
	in.pending = taken{} // not handled: its sender gives it to another receiver
	in.mu.Lock()
	defer in.mu.Unlock()
	if in.closed {
		return
	}
	in.closed = true
	for _, p := range in.ready {
		p.q.Clear()
		p.queued = 0
		p.ready = false
	}
	clear(in.ready)
	in.ready = nil
	in.queued, in.queuedBytes = 0, 0
	in.over.Store(false)
	clear(in.budgetWait) // their readers see done
	in.budgetWait = nil
	if in.lapse != nil {
		in.lapse.Stop()
	}
	close(in.done)
	close(in.wait)
	if dc := in.directConn.Load(); dc != nil {
		dc.returnRead() // a Recv blocked in a direct read returns ErrClosed now
	}
}

// deliver queues deliveries of messages that connection c read from its
// peer p. seq numbers them when the peer asks for acks (*next is the next
// sequence); those the peer's window already accepted are dropped as
// duplicates. When the peer's queue reaches the receive high-water mark,
// deliver waits until Recv has taken half of it into its delivery, or c
// closes: the reader stops reading and TCP pushes back on the sender.
func (in *inbox) deliver(c *conn, p *Peer, units []delivery, seqOn bool, next *uint64) error {
	in.mu.Lock()
	if in.closed {
		// Keep the connection until Close has written its final ACKs; the
		// sender resends these elsewhere.
		in.mu.Unlock()
		return nil
	}
	in.spendGrantLocked(c)
	added, bytes, dups := 0, 0, 0
	if seqOn {
		p.ackMu.Lock()
	}
	for _, d := range units {
		if seqOn {
			// Sequence numbers only grow within a connection, so what the
			// window already accepted is a prefix of the delivery.
			d.seq = *next
			*next += uint64(d.msgs)
			last := d.seq + uint64(d.msgs) - 1
			if old := p.win.Last(); old >= d.seq {
				k := int(min(old, last) - d.seq + 1)
				dups += k
				d.skip(k)
			}
			if d.msgs == 0 {
				continue
			}
			p.win.Accept(last)
		}
		p.q.Push(d)
		added += d.msgs
		bytes += d.bytes
	}
	if seqOn {
		p.ackMu.Unlock()
	}
	if dups > 0 {
		// Before the new messages can be taken, as they are counted.
		in.s.stats.duplicates.Add(uint64(dups))
	}
	if added > 0 {
		// Counted before a Recv can take them: Stats never trails Recv.
		p.msgsIn.Add(uint64(added))
		p.bytesIn.Add(uint64(bytes))
		in.s.stats.msgsIn.Add(uint64(added))
		in.s.stats.bytesIn.Add(uint64(bytes))
		p.queued += added
		in.queued += added
		in.queuedBytes += int64(bytes)
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
		if p.queued > int(c.info.Window) {
			overrun = protocolErrorf("%d messages queued, beyond the window of %d the peer stated", p.queued, c.info.Window)
		}
	case p.queued >= in.s.opts.RecvHWM:
		if p.space == nil {
			p.space = make(chan struct{})
		}
		room = p.space
	}
	if len(in.budgetWait) > 0 {
		in.wakeBudgetLocked() // a grant spent on less than it held leaves room
	}
	in.noteBudgetLocked()
	in.mu.Unlock()
	if overrun != nil {
		return overrun
	}

	s := in.s
	if added > 0 {
		if dc := in.directConn.Load(); dc != nil && dc != c {
			dc.returnRead()
		}
		s.NotifyReadable()
	}
	if room != nil && !c.direct {
		// A Recv reading directly must return to drain the queue itself.
		select {
		case <-room:
		case <-c.done:
		case <-in.done:
		}
	}
	if c.link != nil && in.over.Load() {
		c.awaitBudget(bytes) // an inproc link has no read to wait before
	}
	return nil
}

// Recv is the socket's Recv: its behaviour's.
func (s *Engine) Recv(ctx context.Context) (Message, error) { return s.b.Recv(ctx) }

// RecvMany is the socket's RecvMany: a batch from a type that takes them
// (ManyReceiver), otherwise one message, as Recv returns it.
func (s *Engine) RecvMany(ctx context.Context, dst []Message) (int, error) {
	if !s.caps.CanRecv {
		return 0, NotSupported(s.typ, "Recv")
	}
	if len(dst) == 0 {
		return 0, nil
	}
	if mr, ok := s.b.(ManyReceiver); ok {
		return mr.RecvMany(ctx, dst)
	}
	m, err := s.b.Recv(ctx)
	if err != nil {
		return 0, err
	}
	dst[0] = m
	return 1, nil
}

// next returns the next message and the peer it came from.
func (in *inbox) next(ctx context.Context) (Message, *Peer, error) {
	m, p, err := in.nextLocked(ctx)
	if err == nil {
		in.recvMu.Unlock()
	}
	return m, p, err
}

// nextLocked is next, returning with recvMu held when it returns a
// message, so that nextMany takes the rest of its batch under the same
// hold.
func (in *inbox) nextLocked(ctx context.Context) (Message, *Peer, error) {
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
		if m, p, ok := in.popKept(); ok {
			return m, p, nil
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

// nextMany is next for up to len(dst) messages: it waits for the first as
// next does, then takes what else is queued without waiting, from peers
// in turn, and returns how many it took. peers, if not nil, gets each
// message's peer, and is at least as long as dst. The lock per message
// that next takes is what a batch saves. dst is not empty (RecvMany).
func (in *inbox) nextMany(ctx context.Context, dst []Message, peers []*Peer) (int, error) {
	m, p, err := in.nextLocked(ctx)
	if err != nil {
		return 0, err
	}
	dst[0] = m
	if peers != nil {
		peers[0] = p
	}
	n := 1
	for n < len(dst) && !in.closedFlag.Load() {
		m, p, ok := in.popKept()
		if !ok {
			break
		}
		dst[n] = m
		if peers != nil {
			peers[n] = p
		}
		n++
	}
	in.recvMu.Unlock()
	return n, nil
}

// recvBatch is how many messages Recv moves at a time from the queue of a
// peer that is the only one with messages: the inbox lock is then taken
// once per batch, not once per message. It also bounds what a peer that
// becomes ready waits behind, and what has left the queues' counts
// (RecvHWM, the receive budget) before the application took it.
const recvBatch = 64

// refill moves the next messages, from the next peer in fair-queue order,
// into the consumer's delivery: up to recvBatch when only that peer has
// messages, which is where a lock per message would cost, otherwise one,
// so that peers take turns message by message. Callers hold recvMu.
func (in *inbox) refill() bool {
	in.mu.Lock()
	if in.closed || len(in.ready) == 0 {
		in.mu.Unlock()
		return false
	}
	i := in.fq.Pick(len(in.ready), func(int) bool { return true })
	p := in.ready[i]
	n := 1
	if len(in.ready) == 1 {
		n = recvBatch
	}
	if d := p.q.Front(); d.msgs <= n {
		in.cur = p.q.Pop()
	} else {
		in.cur = d.split(n)
	}
	p.queued -= in.cur.msgs
	in.queued -= in.cur.msgs
	in.queuedBytes -= int64(in.cur.bytes)
	if len(in.budgetWait) > 0 {
		in.wakeBudgetLocked()
	}
	in.noteBudgetLocked()
	left := p.queued
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
	in.from = p
	in.mu.Unlock()
	if room != nil {
		close(room) // the peer's reader may read again
	}
	return true
}

// popKept pops the next queued message the receive filter keeps, if there
// is one, without waiting; those it refuses are taken and dropped on the
// way, as if the application had received them. Callers hold recvMu.
func (in *inbox) popKept() (Message, *Peer, bool) {
	for in.cur.msgs > 0 || in.refill() {
		m, p := in.pop()
		if in.keep == nil || in.keep(m) {
			return m, p, true
		}
		// Never the application's: WithDeferredAck must not hold it.
		in.commitPending()
	}
	return nil, nil, false
}

// pop returns the next message of the consumer's delivery and records it
// as taken. Callers hold recvMu.
func (in *inbox) pop() (Message, *Peer) {
	m, size, seq := in.cur.take()
	if in.cur.msgs == 0 {
		in.cur = delivery{} // nothing the application drops stays reachable from here
	}
	p := in.from
	if in.s.opts.DeferAck {
		// The previous message is handled now that the application asks
		// for the next: acknowledge it, and hold this one until then.
		in.commitPending()
		if seq != 0 {
			in.pending = taken{p: p, seq: seq, size: size}
		}
		return m, p
	}
	if seq != 0 {
		in.take(p, seq, size)
	}
	return m, p
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
		in.take(t.p, t.seq, t.size)
	}
}

// take notes that the application took message seq of peer p, and records
// what it took from p in p's window when the window's budget is spent (see
// takes). Callers hold recvMu.
func (in *inbox) take(p *Peer, seq uint64, size int) {
	t := &p.takes
	if !t.budgetSet || p.winChanged.Load() {
		p.ackMu.Lock()
		p.winChanged.Store(false)
		t.setBudget(&p.win)
		p.ackMu.Unlock()
	}
	t.seq, t.n, t.size = seq, t.n+1, t.size+uint64(size)
	if seq >= t.dueSeq || t.size >= t.bytes {
		in.record(p, true)
		return
	}
	if t.n == 1 {
		// Should the application pause now, the delayed ACK records this
		// (lockWindow) and acknowledges it.
		if c := p.conn.Load(); c != nil && !c.ackArmed.Load() {
			c.armAck()
		}
	}
}

// setBudget notes when the window's budget runs out. Callers hold the
// window's peer's ackMu.
func (t *takes) setBudget(w *patterns.RecvWindow) {
	msgs, bytes := w.Budget()
	t.dueSeq, t.bytes, t.budgetSet = w.Taken()+msgs, bytes, true
}

// record writes p's unrecorded takes into its window, and when an ACK is
// due writes it (inline: Recv records, holding no other lock; tryAck) or
// wakes p's writer. Callers hold recvMu.
func (in *inbox) record(p *Peer, inline bool) {
	if p.takes.n == 0 {
		return
	}
	p.ackMu.Lock()
	due := p.takes.foldLocked(&p.win)
	p.ackMu.Unlock()
	if c := p.conn.Load(); c != nil {
		if due {
			if !inline || !c.tryAck() {
				c.ackWanted.Store(true)
				c.signal()
			}
		} else if !c.ackArmed.Load() {
			c.armAck()
		}
	}
}

// foldLocked writes the takes into w and reports whether an ACK is due.
// Callers hold recvMu and the window's peer's ackMu.
func (t *takes) foldLocked(w *patterns.RecvWindow) bool {
	if t.n == 0 {
		return false
	}
	due := w.Take(t.seq, int(min(t.size, math.MaxInt)))
	t.setBudget(w)
	t.n, t.size = 0, 0
	return due
}

// recordAll records every peer's unrecorded takes (Ack, Close). Callers
// hold recvMu, which is taken before Engine.mu and Peer.ackMu.
func (in *inbox) recordAll() {
	s := in.s
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, p := range s.peers {
		in.record(p, false) // Engine.mu is held: the writers write
	}
}

// lockWindow takes p's ackMu with what the application took from p and
// Recv has not recorded folded into p's window, unless the receive lock is
// held (by Recv, or by a change to a receive filter), which it reports
// (Recv records when an ACK falls due; the caller looks again later). The
// writer, the delayed ACK and the resume timeout call it before they read
// the window; the caller unlocks p.ackMu. recvMu ranks before the locks
// they hold, so it is taken with TryLock, which cannot wait.
func (in *inbox) lockWindow(p *Peer) (busy bool) {
	busy = !in.recvMu.TryLock()
	p.ackMu.Lock()
	if !busy {
		p.takes.foldLocked(&p.win)
		in.recvMu.Unlock()
	}
	return busy
}

// Ack acknowledges every message Recv has returned so far
// (WithDeferredAck).
func (s *Engine) Ack() error {
	if !s.caps.ReceivesData {
		return NotSupported(s.typ, "Ack")
	}
	s.in.recvMu.Lock()
	s.in.commitPending()
	s.in.recordAll()
	s.in.recvMu.Unlock()
	return nil
}

// batched counts messages taken into the consumer's batch but not yet
// returned by Recv.
func (in *inbox) batched() (n int, bytes int64) {
	in.recvMu.Lock()
	defer in.recvMu.Unlock()
	return in.cur.msgs, int64(in.cur.bytes)
}
