package engine

import "runtime"

// ACKs on a busy machine. A sender may have a window of messages
// unacknowledged (its SendHWM); the receiver acknowledges when the
// application has taken a quarter of it. On a machine whose cores are all
// busy (two processes streaming on two cores), two hops of that ACK's
// way wait for a thread: the receiver's writer goroutine, woken to write
// it, and the sender's reader, which the Go runtime readies only when one
// of the sender's processors has nothing else to run. Meanwhile the sender
// fills its window and stops: 16-byte messages over loopback tcp spent a
// third of their time so. So a socket that sends no data on the
// connection (PULL) has Recv write a due ACK itself when nobody else is
// writing on it, and a sender three quarters into its window makes its
// connection's reader read now, once per ACK, and yields to it. A socket
// that sends data too (a broker's ROUTER and DEALER) leaves its ACKs to
// its writer, which writes them along with its data: written by Recv, a
// broker's proxy loop paid a system call its writers had made beside it
// (4 % fewer requests per second).
// Together: 16 B PUSH/PULL 1.13x over tcp and 1.05x over ipc, 256 B and
// 4 KiB within noise (bench/README.md, "ACKs on a busy machine").

// tryAck writes the ACK Recv found due from Recv's goroutine, if the
// socket sends no data, nobody writes on c and the write need not wait (a
// kernel socket). It reports whether the ACK is taken care of: written,
// or already sent by someone else. Callers hold recvMu, and have folded
// what Recv took into the window; never Engine.mu (a system call under it
// would stall the socket).
func (c *conn) tryAck() bool {
	if c.s.caps.SendsData || c.noWait == nil || !c.wmu.TryLock() {
		return false
	}
	defer c.wmu.Unlock()
	if c.closing() || c.fatal.Load() != nil {
		return false
	}
	p := c.p
	p.ackMu.Lock()
	var seq uint64
	ok := false
	if p.conn.Load() == c {
		seq, ok = p.win.AckNow(true)
	}
	p.ackMu.Unlock()
	if !ok {
		return true
	}
	c.s.inlineAcks.Add(1)
	c.cmds = append(c.cmds[:0], Command{Kind: CmdAck, Seq: seq}) // after any carry (flushStream)
	c.flushStream(c.cmds, nil, true)                             // a write that never waits reports no error: the writer meets it
	clear(c.cmds)
	return true
}

// ackPokeLocked returns the connection whose reader a sender should poke
// (pokeReader) after queuing for p: three quarters of p's window are held
// unacknowledged, and the reader was not poked since p's last ACK. An
// inproc link has no reader to poke: its ACKs arrive as calls. Callers
// hold Engine.mu.
func (s *Engine) ackPokeLocked(p *Peer) *conn {
	if !s.opts.Acks || p.ackPoked || p.ledger.Len() < s.opts.SendHWM-s.opts.SendHWM/4 {
		return nil
	}
	c := p.conn.Load()
	if c == nil || c.noWait == nil {
		return nil
	}
	p.ackPoked = true
	return c
}

// pokeReader makes c's reader read at once, with what arrived (an ACK,
// most likely), and yields the processor to it: interrupting its read
// readies it on this processor, where it runs next.
func (c *conn) pokeReader() {
	c.s.ackPokes.Add(1)
	c.dlMu.Lock()
	c.interruptLocked() // read sees an interrupt for no one in particular, and reads again
	c.dlMu.Unlock()
	runtime.Gosched()
}
