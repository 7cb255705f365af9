package engine

import (
	"context"
	"errors"
	"net"
	"runtime"
	"sync/atomic"
	"time"
)

// Direct reads. A message normally travels from the connection's serving
// goroutine, which reads it, to the goroutine blocked in Recv. On a machine
// with idle processors every such handoff makes the Go runtime wake another
// thread, and for a request-reply round trip that costs more than the
// network: measured on loopback, a ping-pong without handoffs takes a third
// of the time of one with them. So a REQ or REP socket with a single stream
// connection lets Recv read from the connection itself when nothing is
// queued: the serving goroutine lends it the read side (readLoop's lend)
// and takes it back once Recv has not used it for reclaimAfter. Whoever
// reads holds conn.rmu; a reader that wants the read side asks the current
// one to yield with a flag and a past read deadline.

// Busy polling (Options.BusyPoll). Even a direct read sleeps in the Go
// runtime's poller until the reply arrives, and on a virtual machine
// waking a sleeping thread takes longer than the round trip over loopback
// (a 16-byte REQ/REP round trip over tcp: about 35 µs with the wakeups,
// 10 µs without). A socket that polls tries the read without sleeping
// until data comes or BusyPoll has passed, and only then sleeps: it
// spends that CPU instead of waiting for a wakeup.

// pollReads is a polling Recv's state on its connection (noWaitConn.poll),
// made only for a connection whose Recv polls: an idle peer carries none.
// The read side's holder owns it.
type pollReads struct {
	nc    net.Conn // for the errors tryRead makes
	b     []byte   // tryRead's, kept here so that its callback is made once
	n     int
	err   error
	call  func(fd uintptr) bool
	until int64 // nanotime the polling ends at; 0 while no Recv polls
}

// pollers counts the Recvs of the process that poll now. At most
// GOMAXPROCS-1 do: a polling goroutine keeps its processor busy, and the
// goroutines the runtime's network poller wakes (a peer in the same
// process, say) need another one. With GOMAXPROCS=1 nothing polls.
var pollers atomic.Int32

// startPolling lets the Recv reading directly poll, for BusyPoll from now
// over all its reads, if the socket polls (a kernel socket and BusyPoll
// set) and a polling slot is free; stop, nil otherwise, undoes it.
func (c *conn) startPolling() (stop func()) {
	if c.s.opts.BusyPoll == 0 || c.noWait == nil {
		return nil
	}
	if pollers.Add(1) > int32(runtime.GOMAXPROCS(0)-1) {
		pollers.Add(-1)
		return nil
	}
	c.noWait.beginPoll(c.nc, nanotime()+int64(c.s.opts.BusyPoll))
	return func() {
		c.noWait.poll.until = 0
		pollers.Add(-1)
	}
}

// polling reports whether the Recv reading directly polls now.
func (c *conn) polling() bool {
	return c.noWait != nil && c.noWait.poll != nil && c.noWait.poll.until != 0
}

// pollRead reads into b, trying without sleeping until the polling Recv's
// time is up and then as Read does. An interrupt (a past deadline) ends
// the polling at once, with Read's error. Callers hold the read side.
func (c *conn) pollRead(b []byte) (int, error) {
	until := c.noWait.poll.until
	for {
		if n, err, ok := c.noWait.tryRead(b); ok {
			if n > 0 {
				c.s.polledReads.Add(1)
			}
			return n, err
		}
		if nanotime() >= until {
			return c.nc.Read(b)
		}
		// Whatever else this processor has to run (the writer with the
		// request just sent, a timer) runs first.
		runtime.Gosched()
	}
}

// errYield tells a reader that another one asked for the read side.
var errYield = errors.New("wisp: read side requested by another reader")

// reclaimAfter is how long the serving goroutine leaves the read side to
// Recv after Recv last used it. Meanwhile commands from the peer (ACKs,
// PINGs) wait in the socket buffer until the next Recv, well within any
// heartbeat timeout.
const reclaimAfter = 5 * time.Millisecond

// longAgo is a read deadline in the past: it makes a blocked Read return.
var longAgo = time.Unix(1, 0)

// askToRead tells the serving goroutine that a Recv wants the read side,
// and interrupts its Read. The request holds until the Recv has it
// (tookRead) or gives up (gaveUpRead).
func (c *conn) askToRead() {
	c.dlMu.Lock()
	c.wantRead++
	c.interruptLocked()
	c.dlMu.Unlock()
}

// tookRead records that a Recv that asked holds the read side now.
func (c *conn) tookRead() {
	c.dlMu.Lock()
	c.wantRead--
	c.stopDirect = false
	c.dlMu.Unlock()
}

// returnRead makes a Recv reading directly return (its context ended, or a
// message arrived on another connection).
func (c *conn) returnRead() {
	c.dlMu.Lock()
	c.stopDirect = true
	c.interruptLocked()
	c.dlMu.Unlock()
}

// interruptLocked makes a Read in progress, or the next one, return at
// once. Callers hold dlMu.
func (c *conn) interruptLocked() {
	c.nc.SetReadDeadline(longAgo)
	c.deadlineSet = true
}

// mustYieldLocked reports whether the reader must hand over the read side.
// Callers hold dlMu.
func (c *conn) mustYieldLocked(direct bool) bool {
	if direct {
		return c.stopDirect
	}
	return c.wantRead > 0
}

// wanted reports whether a Recv waits for the read side.
func (c *conn) wanted() bool {
	c.dlMu.Lock()
	defer c.dlMu.Unlock()
	return c.wantRead > 0
}

// lend gives the read side to Recv until Recv has left it unused for
// reclaimAfter, the connection closes, or a direct read ended it with an
// error, which lend returns. Callers hold rmu; it is held again on return.
func (c *conn) lend() error {
	c.rmu.Unlock()
	t := time.NewTimer(reclaimAfter)
	defer t.Stop()
	for {
		select {
		case err := <-c.directErr:
			c.rmu.Lock()
			return err
		case <-c.done:
			c.rmu.Lock()
			return c.closeErr
		case <-t.C:
		}
		if c.rmu.TryLock() {
			idle := time.Duration(nanotime() - c.lastDirect.Load())
			if idle >= reclaimAfter && !c.wanted() {
				select {
				case err := <-c.directErr:
					return err
				default:
				}
				return nil
			}
			c.rmu.Unlock()
			t.Reset(max(reclaimAfter-idle, time.Millisecond))
			continue
		}
		t.Reset(reclaimAfter)
	}
}

// windowBounded reports whether the peer's queue at this socket is bounded
// by the peer's window rather than by WithRecvHWM, so that deliver never
// waits for room: an acknowledged sender with a stated window, at a socket
// that sends on the same connection.
func (c *conn) windowBounded() bool {
	return c.s.caps.SendsData && c.info.Acks && c.info.Window > 0
}

// directConn returns the connection Recv may read from itself: that of a
// REQ or REP socket with exactly one connected peer over a kernel socket.
func (s *Engine) directConn() *conn {
	if !s.caps.DirectReads {
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.connected != 1 || s.in.directConn.Load() != nil {
		return nil // a second Recv waits for the first to deliver
	}
	for _, p := range s.peers {
		// Only a peer whose queue deliver never waits on (an acknowledged
		// sender, bounded by its window): a reader waiting for room would
		// hold the read side while Recv waits for it.
		if c := p.conn.Load(); c != nil && c.inlineOK && s.caps.ReceivesData && c.windowBounded() && !c.closing() {
			return c
		}
	}
	return nil
}

// readDirect reads from the connection in the calling Recv until a message
// is queued, ctx ends, or the connection fails (the serving goroutine then
// ends it as usual). It reports whether it read; false means the caller
// should wait as usual.
func (c *conn) readDirect(ctx context.Context, in *inbox) bool {
	c.askToRead() // the serving goroutine yields at its next read
	c.rmu.Lock()  // held briefly by a lending serving goroutine, or another Recv
	c.tookRead()
	defer c.rmu.Unlock()
	if c.closing() || c.readDone {
		return false
	}
	if ctx.Done() != nil {
		// Only a context that can end needs watching: registering costs
		// three allocations per Recv, and a background one never ends.
		stop := context.AfterFunc(ctx, c.returnRead)
		defer stop()
	}
	if ctx.Err() != nil {
		return true // the caller returns ctx's error
	}
	if err := c.readInit(); err != nil {
		c.failDirect(err)
		return false
	}
	c.direct = true
	if stop := c.startPolling(); stop != nil {
		defer stop()
	}
	in.directConn.Store(c) // a message from another connection interrupts us
	defer func() {
		in.directConn.Store(nil)
		c.direct = false
		c.lastDirect.Store(nanotime())
	}()
	for !in.hasReady() {
		err := c.readStep()
		if err == errYield {
			return true // ctx ended, or the serving goroutine wants it back
		}
		if err != nil {
			c.failDirect(err)
			return false
		}
	}
	return true
}

// failDirect hands the error a direct read ended with to the serving
// goroutine, which ends the connection with it.
func (c *conn) failDirect(err error) {
	select {
	case c.directErr <- err:
	default: // one reason is enough
	}
	c.dlMu.Lock()
	c.interruptLocked() // a serving goroutine in Read sees it too
	c.dlMu.Unlock()
}

// hasReady reports whether a message waits for Recv, or the inbox closed.
func (in *inbox) hasReady() bool {
	in.mu.Lock()
	defer in.mu.Unlock()
	return len(in.ready) > 0 || in.closed
}

// epoch anchors nanotime.
var epoch = time.Now()

// nanotime is a monotonic clock reading in nanoseconds.
func nanotime() int64 { return int64(time.Since(epoch)) }
