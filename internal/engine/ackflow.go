package engine

// ACKs on a busy machine. A sender may have a window of messages
// unacknowledged (its SendHWM); the receiver acknowledges when the
// application has taken a quarter of it. A PULL writes nothing on its
// connections but ACKs and PONGs, so waking its writer goroutine for an
// ACK is a goroutine handoff for one small write, and on a machine whose
// cores are all busy (two processes streaming on two cores) the handoff
// waits for a thread while the sender, its window full, waits for the ACK:
// at 16 B over loopback tcp the sender spent a third of its time so. So a
// socket that sends no data on its connections has Recv write a due ACK
// itself when nobody else is writing on the connection. 16 B PUSH/PULL
// went 1.04-1.07x the messages per second; other sizes did not move
// (bench/README.md, "ACKs on a busy machine"). A socket that sends data
// too (a broker's ROUTER and DEALER, REP) leaves its ACKs to its writer,
// which writes them along with its data: written by Recv, a broker's
// proxy loop paid system calls its writers had made beside it (4 % fewer
// requests per second).

// tryAck writes the ACK Recv found due from Recv's goroutine, if the
// socket sends no data, nobody writes on c and the write need not wait (a
// kernel socket). It reports whether the ACK is taken care of: written
// (what the socket buffer did not take goes out with the writer's next
// write, ahead of anything else), or not c's to write any more (the peer
// went on over another connection, which states the last ACK again). On
// false the caller wakes the writer. Callers hold recvMu, and have folded
// what Recv took into the window; never Engine.mu (a system call under it
// would stall the socket).
func (c *conn) tryAck() bool {
	if c.s.caps.SendsData {
		return false
	}
	return c.tryCommandOf(func() (Command, bool) {
		p := c.p
		p.ackMu.Lock()
		defer p.ackMu.Unlock()
		if p.conn.Load() != c {
			return Command{}, false
		}
		seq, ok := p.win.AckNow(true)
		if ok {
			c.s.inlineAcks.Add(1)
		}
		return Command{Kind: CmdAck, Seq: seq}, ok
	})
}
