package engine

// Liveness probes. A TCP connection into a partition stays up: what was
// written to it is retransmitted on the kernel's backoff (seconds apart
// after a few losses) and the heartbeat notices the silence only after its
// timeout. A behaviour that waits for an answer (REQ under
// WithRequestRetry) probes the connection instead: a PING, and whether
// anything at all arrived since.

// Probe is a PING sent on one connection at a known time.
type Probe struct {
	c    *conn
	sent int64 // nanotime before the PING was handed to the writer
}

// ProbeLocked sends a PING on p's connection, and returns the zero Probe
// when p has none that answers PINGs (no connection, inproc, ZMTP 3.0).
// Callers hold the lock.
func (p *Peer) ProbeLocked() Probe {
	p.e.mu.AssertHeld()
	c := p.conn.Load()
	if c == nil || c.link != nil || c.info.NoHeartbeats {
		return Probe{}
	}
	pr := Probe{c: c, sent: nanotime()}
	// The writer sends it: a write here could wait while the lock is held.
	c.pingWanted.Store(true)
	c.signal()
	return pr
}

// Silent reports whether the probed connection is still open and has
// received nothing since the PING went out: its reader is still in the
// read it began before then.
func (pr Probe) Silent() bool {
	if pr.c == nil || pr.c.closing() {
		return false
	}
	since := pr.c.readSince.Load()
	return since != 0 && since <= pr.sent
}

// End ends the probed connection with reason err, as the heart ends a
// silent one: the socket detaches it and its endpoint dials again.
func (pr Probe) End(err error) {
	if pr.c != nil {
		pr.c.close(err)
	}
}
