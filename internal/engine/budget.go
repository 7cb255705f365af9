package engine

import (
	"slices"
	"time"
)

// The receive budget (Options.RecvQueueBytes) bounds the payload bytes a
// socket queues for Recv across all its peers. The per-peer high-water mark
// alone lets a socket with ten thousand peers queue ten thousand queues:
// a fan-in burst would then sit in the heap, and the Go runtime keeps
// the pages it grew into long after Recv has taken the messages.
//
// A reader that finds the socket over budget before it reads waits in line
// instead; TCP pushes back on its sender. Waiting before the read rather
// than after a delivery matters when many peers burst at once: each
// reader would otherwise bring a whole read buffer's worth past the budget
// (ten thousand of them, hundreds of megabytes); waiting, it holds at most
// the part of a message it has. An inproc link, which has no read, waits
// after its delivery.
//
// When Recv has drained the queue to half the budget, waiters are woken
// in the order they stopped, each granted room for about what it brought
// last time, until the grants fill the budget: waking them all at once
// would let every one of them deliver a read's worth, which with many
// peers is many budgets. A grant is spent by the woken reader's next
// delivery; a peer with nothing more to send never spends it, so grants
// lapse after grantLapse, and the next waiters get their turn.
//
// Connections whose peer's ACKs arrive on the same stream (a socket that
// sends, to a peer with acks on) are stopped only while the socket awaits
// no ACK on them (see awaitBudget); otherwise the peer's window bounds
// their queue (see deliver).

// grantLapse is how long a woken reader's grant counts against the budget
// without a delivery.
const grantLapse = 5 * time.Millisecond

// minGrant is the least room a waiter is granted: a read of a medium
// buffer.
const minGrant = 8 << 10

// budgetWaiter is a reader stopped by the budget.
type budgetWaiter struct {
	c     *conn
	wake  chan struct{} // closed when the waiter is granted room
	grant int64         // the room it asks for, then holds
	gen   uint64        // the grant generation it was woken in
}

// overBudgetLocked reports whether the queue and the outstanding grants
// exceed the budget. Callers hold in.mu.
func (in *inbox) overBudgetLocked() bool {
	limit := in.s.opts.RecvQueueBytes
	return limit > 0 && in.queuedBytes+in.granted > limit
}

// noteBudgetLocked publishes overBudgetLocked for readers to look at
// without the lock. Callers hold in.mu, after changing the queue's bytes
// or the grants.
func (in *inbox) noteBudgetLocked() {
	if o := in.overBudgetLocked(); in.over.Load() != o {
		in.over.Store(o)
	}
}

// awaitBudget is where a stream's reader stops, before it reads, while
// the socket is over budget, unless it holds a grant; an inproc link's,
// after it delivered. brought is what its last read or delivery brought.
// It returns when the reader may go on, or when the connection or the
// socket closes. Reader role.
//
// A connection whose peer's ACKs arrive on the same stream (a socket that
// sends, to an acknowledged peer) stops only while the socket awaits no
// ACK from it: nothing sent or queued for the peer. A message pushed for
// the peer while its reader waits sends the reader back to reading
// (resumeReader); Engine.mu, held from the look at the ledger until the
// reader is in line, orders the two.
func (c *conn) awaitBudget(brought int) {
	s := c.s
	in := &s.in
	if !in.over.Load() || c.direct {
		return
	}
	var p *Peer
	if c.windowBounded() {
		if p = c.p; p == nil {
			return
		}
		s.mu.Lock()
		if p.ledger.Len() > 0 {
			s.mu.Unlock()
			return
		}
	}
	in.mu.Lock()
	if in.closed || !in.overBudgetLocked() || (c.budgetGrant != nil && c.budgetGrant.gen == in.grantGen) {
		in.mu.Unlock()
		if p != nil {
			s.mu.Unlock()
		}
		return
	}
	wake := in.waitBudgetLocked(c, brought)
	in.mu.Unlock()
	if p != nil {
		p.readerPaused = true
		s.mu.Unlock()
	}
	if c.link == nil && c.r == c.w {
		// The wait may be long, and with thousands waiting their buffers
		// would be most of the heap: give them up, as the heart has an idle
		// connection do (restRead).
		c.dropMid.Store(true)
		c.restRead()
	}
	select {
	case <-wake:
	case <-c.done:
	case <-in.done:
	}
}

// resumeReader takes the peer's connection's reader out of the budget's
// line: the socket will wait for the peer's ACKs. readerPaused may still be
// set after the reader was woken in turn; the look costs one scan of the
// line, once. Callers hold Engine.mu.
func (p *Peer) resumeReader() {
	p.readerPaused = false
	c := p.conn.Load()
	if c == nil {
		return
	}
	in := &p.e.in
	in.mu.Lock()
	defer in.mu.Unlock()
	for i, w := range in.budgetWait {
		if w.c == c {
			in.budgetWait = slices.Delete(in.budgetWait, i, i+1)
			close(w.wake) // no grant: it reads while the socket awaits ACKs
			return
		}
	}
}

// waitBudgetLocked puts c's reader in line and returns what it waits on.
// brought is what the reader's last read or delivery brought: the room it
// is granted when its turn comes. Callers hold in.mu.
func (in *inbox) waitBudgetLocked(c *conn, brought int) chan struct{} {
	w := &budgetWaiter{c: c, wake: make(chan struct{}), grant: max(int64(brought), minGrant)}
	in.budgetWait = append(in.budgetWait, w)
	in.armLapseLocked()
	return w.wake
}

// spendGrantLocked ends c's grant, if it holds one: its delivery counts
// as queued bytes now. Callers hold in.mu.
func (in *inbox) spendGrantLocked(c *conn) {
	w := c.budgetGrant
	if w == nil {
		return
	}
	c.budgetGrant = nil
	if w.gen == in.grantGen {
		in.granted -= w.grant
	}
}

// wakeBudgetLocked grants room to waiters once the queue is down to half
// the budget, oldest first, until the grants fill it; at least one waiter
// is woken, however much it asks for. Callers hold in.mu.
func (in *inbox) wakeBudgetLocked() {
	limit := in.s.opts.RecvQueueBytes
	if len(in.budgetWait) == 0 || in.queuedBytes+in.granted > limit/2 {
		return
	}
	woke := 0
	for woke < len(in.budgetWait) && (woke == 0 || in.queuedBytes+in.granted < limit) {
		w := in.budgetWait[woke]
		in.budgetWait[woke] = nil
		woke++
		select {
		case <-w.c.done:
			continue // the connection is closing: its reader is gone
		default:
		}
		w.gen = in.grantGen
		in.granted += w.grant
		w.c.budgetGrant = w
		close(w.wake)
	}
	n := copy(in.budgetWait, in.budgetWait[woke:])
	clear(in.budgetWait[n:])
	in.budgetWait = in.budgetWait[:n]
	in.armLapseLocked()
	in.noteBudgetLocked()
}

// armLapseLocked starts the timer that lets grants lapse, while there are
// grants and waiters behind them. Callers hold in.mu.
func (in *inbox) armLapseLocked() {
	if in.lapseArmed || in.granted == 0 || len(in.budgetWait) == 0 {
		return
	}
	in.lapseArmed = true
	if in.lapse == nil {
		in.lapse = time.AfterFunc(grantLapse, in.lapseGrants)
		return
	}
	in.lapse.Reset(grantLapse)
}

// lapseGrants forgets the outstanding grants and wakes the next waiters.
func (in *inbox) lapseGrants() {
	in.mu.Lock()
	defer in.mu.Unlock()
	in.lapseArmed = false
	if in.closed {
		return
	}
	in.grantGen++
	in.granted = 0
	in.wakeBudgetLocked()
	in.noteBudgetLocked()
}
