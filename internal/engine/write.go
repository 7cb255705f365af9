package engine

import (
	"bytes"
	"time"
)

// The writer's states. A connection has a writer goroutine only while it
// has something to write: an idle connection, most of a large socket's,
// costs no goroutine (see writeLoop).
const (
	writerNew     int32 = iota // not begun: signals wait for beginWriting
	writerIdle                 // no goroutine; signal starts one
	writerRunning              // a goroutine writes
	writerWoken                // a goroutine writes, and must look again before it stops
	writerStopped              // the connection is over; writerDone is closed or closing
)

// signal tells the writer there is work, starting a writer goroutine if
// none runs. It never blocks.
func (c *conn) signal() {
	for {
		switch c.wstate.Load() {
		case writerIdle:
			if c.wstate.CompareAndSwap(writerIdle, writerRunning) {
				c.s.wg.Add(1) // the connection's serving goroutine is counted: never from zero
				go c.writer() // made once (newConn): starting it allocates nothing
				return
			}
		case writerRunning:
			if c.wstate.CompareAndSwap(writerRunning, writerWoken) {
				return
			}
		default:
			return // woken already, not begun (beginWriting looks), or over
		}
	}
}

// beginWriting lets signals start the writer, and starts it once for what
// was queued before (commands of a behaviour's attach, a RESUME). The
// connection's serving goroutine calls it when the connection is ready.
func (c *conn) beginWriting() {
	if c.wstate.CompareAndSwap(writerNew, writerIdle) {
		c.signal()
	}
}

// stopWriter waits for a running writer to finish and keeps another from
// starting. The serving goroutine calls it after closing the connection.
func (c *conn) stopWriter() {
	c.stopIfIdle()
	<-c.writerDone
	c.stopAckTimer()
}

// stopIfIdle stops the writer for good if no writer goroutine runs; one
// that runs stops itself once it sees the connection closing.
func (c *conn) stopIfIdle() {
	for {
		st := c.wstate.Load()
		if st != writerIdle && st != writerNew {
			return
		}
		if c.wstate.CompareAndSwap(st, writerStopped) {
			close(c.writerDone)
			return
		}
	}
}

// kickLocked tells p's connection that p has a new message of size bytes,
// and returns the connection when the caller should write it itself after
// releasing Engine.mu (see inlineFlush). Callers hold Engine.mu.
func (s *Engine) kickLocked(p *Peer, size int) *conn {
	s.mu.AssertHeld()
	c := p.conn.Load()
	if c == nil {
		return nil
	}
	// Without writes that never wait (noWait), only a peer that acknowledged
	// everything has read it all, so a small write finds room; and not
	// while the connection streams (the writer's last batch held several
	// messages): a peer that keeps up with a stream acknowledges everything
	// often, and a write of each message that found it so cost a broker a
	// quarter of its requests. The writer's next batch of one makes small
	// writes inline again. Without acknowledgements, only a connection that
	// wrote nothing lately: in a stream the writer batches, and a write a
	// message would cost the sender a system call each.
	if c.idle && size <= maxInlineWrite && p.ledger.Unsent() == 1 {
		var mayWrite bool
		if s.opts.Acks {
			mayWrite = c.inlineOK && !c.streaming && p.ledger.Unacked() == 0
		} else {
			mayWrite = c.noWait != nil && nanotime()-c.lastWrite.Load() > int64(inlineQuiet)
		}
		if mayWrite {
			c.idle = false // the caller writes; nobody needs to wake the writer
			return c
		}
	}
	c.wakeLocked()
	return nil
}

// wakeLocked wakes the writer if it is waiting for work. Callers hold Engine.mu.
func (c *conn) wakeLocked() {
	c.s.mu.AssertHeld()
	if c.idle {
		c.idle = false
		c.signal()
	}
}

// writeLoop sends commands and queued messages, draining everything that is
// ready into one write, until there is nothing left to write, and then
// ends: the next signal starts another. A connection that ends stops it
// for good.
func (c *conn) writeLoop() {
	for {
		if c.closing() {
			c.writerOver()
			return
		}
		c.wmu.Lock()
		wrote, stop := c.writeOnce(false)
		c.wmu.Unlock()
		if stop {
			c.writerOver()
			return
		}
		if wrote {
			continue
		}
		if c.wstate.CompareAndSwap(writerRunning, writerIdle) {
			if c.closing() {
				c.stopIfIdle() // stopWriter may have seen us running
			}
			return
		}
		c.wstate.Store(writerRunning) // woken meanwhile: look again
	}
}

// runWriter is the writer goroutine's body.
func (c *conn) runWriter() {
	defer c.s.wg.Done()
	c.writeLoop()
}

// writerOver marks the writer stopped for good. Only the running writer
// calls it, so writerDone is closed once.
func (c *conn) writerOver() {
	c.wstate.Store(writerStopped)
	close(c.writerDone)
}

// tryCommand writes cmd from the calling goroutine, at once and without
// waiting for room in the socket, and reports whether it took cmd. The
// reader answers a PING this way and the heart sends one: on a socket with
// many idle connections, a writer goroutine started for each costs more
// than the write. What the socket had no room for goes out first with the
// writer's next write. It takes nothing when the writer is busy or the
// connection is not a kernel socket.
func (c *conn) tryCommand(cmd Command) bool {
	return c.tryCommandOf(func() (Command, bool) { return cmd, true })
}

// tryCommandOf is tryCommand for a command decided only once the writer
// role is held (an ACK: decided and written under one hold, ACKs go out in
// order). next reports false when there is nothing to write after all,
// which counts as taken.
func (c *conn) tryCommandOf(next func() (Command, bool)) bool {
	if c.noWait == nil || !c.wmu.TryLock() {
		return false
	}
	defer c.wmu.Unlock()
	if c.closing() || c.fatal.Load() != nil {
		return false
	}
	cmd, ok := next()
	if !ok {
		return true
	}
	c.cmds = append(c.cmds[:0], cmd) // after any carry (flushStream)
	c.flushStream(c.cmds, nil, true) // a write that never waits reports no error: the writer meets it
	clear(c.cmds)
	return true
}

// inlineQuiet is how long a connection without acknowledgements must have
// written nothing before Send writes to it itself (see kickLocked).
const inlineQuiet = 20 * time.Millisecond

// maxInlineWrite bounds the messages Send writes itself (see inlineFlush).
const maxInlineWrite = 8 << 10

// inlineFlush writes what the peer holds from the sending goroutine instead
// of waking the writer. Handing work between goroutines makes the runtime
// wake another thread, which costs more than the write itself: a
// request-reply round trip without handoffs takes a third of the time, and
// a PUB publishing to ten thousand idle subscribers would start ten
// thousand writer goroutines. Send asks for it only when the writer was
// idle, the message is small and alone in its queue, and (with
// acknowledgements) the peer has acknowledged everything before it and the
// connection does not stream (see kickLocked); the write never waits for
// room (flushStream).
func (c *conn) inlineFlush() {
	if !c.wmu.TryLock() {
		c.signal() // the writer is busy and takes the message along
		return
	}
	for range 2 {
		wrote, stop := c.writeOnce(true)
		if stop || !wrote {
			c.wmu.Unlock()
			if stop {
				c.signal()
			}
			return // nothing more: takeBatch marked the writer idle
		}
	}
	c.wmu.Unlock()
	c.signal() // more came in meanwhile: the writer takes it from here
}

// writeOnce writes one round of commands and messages and reports whether
// it wrote anything and whether the writer must stop (the connection is
// over). inline says the caller is a sending goroutine, which leaves the
// end of the connection to the writer. Callers hold wmu.
func (c *conn) writeOnce(inline bool) (wrote, stop bool) {
	if f := c.fatal.Load(); f != nil {
		if inline {
			return false, true
		}
		// The peer broke the protocol: tell it why, best effort (the
		// reader set a write deadline), then stop.
		c.flushStream([]Command{errorCommand(*f)}, nil, false)
		return false, true
	}
	acking := c.s.caps.ReceivesData && c.info.Acks
	if !c.finishedClosed && c.finishing.Load() && len(c.carry) == 0 && (!acking || c.settled()) {
		// Everything the application took is acknowledged, and written
		// (the rest of an ACK Recv began, tryAck, may wait in carry): the
		// socket may now close this connection.
		close(c.finished)
		c.finishedClosed = true
	}
	cmds := c.cmds[:0]
	c.pongMu.Lock()
	if c.pongPending {
		// Copied: the reader may overwrite pongCtx before the write. Rare:
		// the reader answers most PINGs itself (tryCommand).
		cmds = append(cmds, Command{Kind: CmdPong, Data: bytes.Clone(c.pongCtx[:c.pongLen])})
		c.pongPending = false
	}
	c.pongMu.Unlock()
	if c.pingWanted.Load() && c.pingWanted.Swap(false) {
		cmds = append(cmds, Command{Kind: CmdPing})
	}
	if c.cmdsQueued.Load() {
		cmds = c.takeQueuedCommands(cmds)
	}
	batch := c.batch[:0]
	if c.s.caps.SendsData {
		var resumeAt uint64
		batch, resumeAt = c.takeBatch(batch, len(cmds) == 0, inline)
		if resumeAt != 0 {
			// Commands go out before data, so RESUME precedes its batch.
			cmds = append(cmds, Command{Kind: CmdResume, Seq: resumeAt})
		}
	}
	// The window is worth a look when an ACK is wanted (the delayed ACK
	// fired, or Recv found one due), the socket closes, data goes out
	// anyway (a reply, say: an ACK riding along costs no write of its
	// own), or the connection is new and the last ACK may have to be
	// stated again. Otherwise what is owed waits for the delayed ACK,
	// which Recv armed.
	wanted := c.ackWanted.Load() && c.ackWanted.Swap(false)
	if urgent := wanted || c.finishing.Load() || len(batch) > 0; acking && (urgent || !c.ackLooked) {
		c.ackLooked = true
		seq, ok, owed := c.ackNow(urgent)
		if ok {
			cmds = append(cmds, Command{Kind: CmdAck, Seq: seq})
		} else if owed {
			// Armed stays armed and finds nothing to do: stopping and
			// re-arming a timer for every reply would wake the runtime's
			// poller each time.
			c.armAck()
		}
	}
	c.cmds = cmds
	if len(batch) == 0 && len(cmds) == 0 && len(c.carry) == 0 {
		return false, false
	}
	err := c.flush(cmds, batch, inline)
	wroteMsgs := len(batch) > 0
	clear(batch) // the ledger keeps what it needs; drop our references
	c.batch = batch[:0]
	if err != nil {
		if c.fatal.Load() == nil { // else the reader closes with the better reason
			c.close(err)
		}
		return false, true
	}
	if wroteMsgs && !c.s.opts.Acks {
		c.s.releaseWritten(c)
	}
	return true, false
}

// releaseWritten releases what c's writer has written, for a socket
// without acks: such a message is done once written, and not before, so
// Flush and Close's linger wait for the write. The writer calls it.
func (s *Engine) releaseWritten(c *conn) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if p := c.p; p.conn.Load() == c {
		p.ack(p.ledger.FirstUnsentSeq() - 1)
		s.broadcastRoomLocked()
	}
}

// ackNow asks the peer's receive window for the ACK to write now (urgent:
// the delayed ACK fired, the socket is closing, or data goes out anyway)
// and reports whether one is still owed otherwise. A connection that is no
// longer its peer's writes none: the ACK belongs on the new one.
func (c *conn) ackNow(urgent bool) (seq uint64, ok, owed bool) {
	p := c.p
	c.s.in.lockWindow(p)
	if p.conn.Load() == c {
		seq, ok = p.win.AckNow(urgent)
		owed = p.win.Owed()
	}
	p.ackMu.Unlock()
	return seq, ok, owed
}

// settled reports whether every message the application took is
// acknowledged, so that a closing socket may end the connection.
func (c *conn) settled() bool {
	p := c.p
	c.s.in.lockWindow(p)
	defer p.ackMu.Unlock()
	return p.conn.Load() != c || p.win.Settled()
}

// armAck starts the delayed ACK unless it is running. Recv calls it too,
// so taking a message does not wake the writer just to start a timer.
func (c *conn) armAck() {
	if c.ackArmed.CompareAndSwap(false, true) {
		c.ackTimer.Reset(ackDelay)
	}
}

// ackTimerFired runs when the delayed ACK is due, and wakes the writer if
// no ACK went out meanwhile.
func (c *conn) ackTimerFired() {
	c.ackArmed.Store(false)
	p := c.p
	if cur := p.conn.Load(); cur != c {
		// The peer went on over another connection (a reconnect, or two
		// crossed connections settling on one) after Recv armed this
		// one's timer, and Recv arms none for the rest of its batch: the
		// ACK is the new connection's to send, so its timer takes over.
		// Without it the ACK would wait for the next data to ride along,
		// and a sender with none would wait in Flush forever.
		if cur != nil && cur.ackTimer != nil {
			cur.armAck()
		}
		return
	}
	busy := c.s.in.lockWindow(p)
	owed := p.win.Owed()
	p.ackMu.Unlock()
	if owed {
		c.ackWanted.Store(true)
		c.signal()
	}
	if busy {
		c.armAck() // Recv is running, and may have taken more: look again shortly
	}
}

func (c *conn) stopAckTimer() {
	if c.ackTimer != nil {
		c.ackTimer.Stop()
	}
}

// takeBatch moves the next unsent messages of the peer into batch, and says
// where RESUME must place them when the receiver cannot count on (0 when it
// can). With no commands to send either, it marks the writer idle so the
// next Send wakes it. inline says a Send writing inline takes the batch.
func (c *conn) takeBatch(batch []Msg, mayIdle, inline bool) (_ []Msg, resumeAt uint64) {
	s := c.s
	s.mu.Lock()
	defer s.mu.Unlock()
	p := c.p
	if p.conn.Load() != c {
		return batch, 0
	}
	if p.ledger.Unsent() > 0 {
		first := p.ledger.FirstUnsentSeq()
		limit := maxBatchMsgs
		// Streams bound a batch's bytes too; an inproc link copies none.
		if m := p.ledger.Peek(p.ledger.Unacked()); c.link == nil && m.Size() > maxBatchBytes/maxBatchMsgs {
			limit = max(1, maxBatchBytes/m.Size())
		}
		batch = p.ledger.TakeUnsent(batch, limit)
		if !inline {
			// Only the writer's batches say whether the connection streams
			// (kickLocked): a Send writing inline takes along what its own
			// SendMany queued.
			c.streaming = len(batch) > 1
		}
		p.sentHigh = max(p.sentHigh, p.ledger.FirstUnsentSeq()-1)
		if s.opts.Acks && (c.needResume || p.resumeNeeded) {
			resumeAt, c.needResume, p.resumeNeeded = first, false, false
		}

	} else if mayIdle {
		c.idle = true
	}
	return batch, resumeAt
}

// flush writes commands, then messages, to the peer. The messages are
// counted before the write, since the peer may acknowledge them (and a
// Flush return) before this goroutine runs again: Stats never trails an
// acknowledgement. A failed write takes the count back.
func (c *conn) flush(cmds []Command, batch []Msg, inline bool) error {
	n, bytes := uint64(len(batch)), uint64(0)
	if n > 0 {
		// The ledger's running totals give the batch's bytes without a
		// walk over its frames: the batch is consecutive messages.
		first, last := &batch[0], &batch[n-1]
		bytes = uint64(last.cum - first.cum + int64(first.Size()))
	}
	c.countOut(n, bytes)
	var err error
	if c.link != nil {
		err = c.flushInproc(cmds, batch)
	} else {
		err = c.flushStream(cmds, batch, inline)
	}
	if err != nil {
		c.countOut(-n, -bytes) // two's complement: subtracts
	}
	return err
}

// countOut adds to the messages and bytes written, the peer's and the
// socket's.
func (c *conn) countOut(n, bytes uint64) {
	if n == 0 {
		return
	}
	c.p.msgsOut.Add(n)
	c.p.bytesOut.Add(bytes)
	c.s.stats.msgsOut.Add(n)
	c.s.stats.bytesOut.Add(bytes)
}

// flushStream encodes and writes commands and messages to a byte stream.
// inline says a sending goroutine writes (inlineFlush): on a kernel socket
// it never waits for room, and what the socket cannot take now goes out
// first with the writer's next write, which it wakes.
func (c *conn) flushStream(cmds []Command, batch []Msg, inline bool) error {
	wb := c.writeBuf(len(c.carry) + writeSize(cmds, batch, c.codec.Vectored()))
	defer func() { c.doneWriting(wb) }()
	bufs := c.bufs[:0]
	mark := 0
	codec := c.codec
	wb = append(wb, c.carry...) // the rest of a command tryCommand began
	c.carry = c.carry[:0]
	for _, cmd := range cmds {
		wb = codec.AppendCommand(wb, cmd)
	}
	frame := func(f []byte, more bool) {
		if len(f) < largeFrame || !codec.Vectored() {
			wb = codec.AppendFrame(wb, more, f)
			return
		}
		wb = codec.AppendFrameHeader(wb, more, len(f))
		bufs = append(bufs, wb[mark:], f)
		mark = len(wb)
	}
	for i := range batch {
		m := &batch[i]
		frame(m.First, len(m.Rest) > 0)
		for j, f := range m.Rest {
			frame(f, j < len(m.Rest)-1)
		}
	}
	var err error
	switch {
	case inline && c.noWait != nil && len(bufs) == 0:
		if n := c.noWait.write(wb); n < len(wb) {
			c.carry = append(c.carry, wb[n:]...)
			c.signal()
		}
	case len(bufs) == 0:
		_, err = c.nc.Write(wb)
	default:
		if mark < len(wb) {
			bufs = append(bufs, wb[mark:])
		}
		v := bufs // WriteTo consumes its receiver
		_, err = v.WriteTo(c.nc)
		clear(bufs)
		c.bufs = bufs[:0]
	}
	if err != nil {
		if c.closing() {
			return c.closeErr
		}
		return err
	}
	c.lastWrite.Store(nanotime()) // for the heart: no PING is due
	return nil
}

// writeSize estimates how many bytes flushStream copies into its buffer for
// cmds and batch: with a vectored codec, frames of largeFrame bytes or more
// are written from the caller's memory and need room for their header only.
func writeSize(cmds []Command, batch []Msg, vectored bool) int {
	const perFrame = 16 // a frame header, generously
	n := len(cmds) * (perFrame + MaxPingContext)
	for i := range batch {
		m := &batch[i]
		if m.Size() < largeFrame || !vectored {
			n += m.Size()
		}
		n += perFrame * (1 + len(m.Rest))
	}
	return n
}

// flushInproc hands commands and messages to the peer's end of the link
// without encoding or copying them.
func (c *conn) flushInproc(cmds []Command, batch []Msg) error {
	peer := c.link // attached: no writer starts before both ends are ready
	for _, cmd := range cmds {
		if err := peer.handleCommand(cmd); err != nil {
			peer.close(err)
			return err
		}
	}
	if len(batch) == 0 {
		return nil
	}
	units := peer.inprocDeliveries(batch)
	err := peer.receive(units)
	clear(units)
	peer.units = units[:0]
	if err != nil {
		peer.close(err)
	}
	return err
}
