package engine

import (
	"fmt"
	"sync"
	"time"
)

// Heartbeats. Every stream connection of the process with heartbeats is
// looked after by one goroutine on one timer, rather than by a ticker and
// a read deadline of its own: with a hundred thousand idle connections,
// per-connection timers cost more CPU than the PINGs. Each tick it finds
// the connections whose peer has been silent for their read timeout, and
// ends them, and those that have written nothing for nearly their ping
// interval, and has their writer send a PING. Reads and writes only store
// a clock reading.

// beatsPerInterval is how many ticks the shortest interval among the
// connections spans: detection and PINGs are late by at most one tick.
const beatsPerInterval = 10

// minBeat bounds how often the heart ticks, whatever the intervals.
const minBeat = time.Millisecond

// beats looks after the process's connections.
var beats heart

type heart struct {
	mu    sync.Mutex // a leaf: held with no other lock, and taking none
	conns []*conn
	tick  time.Duration
	quit  chan struct{} // closed when the last connection leaves; nil while stopped
	poke  chan struct{} // capacity 1: the tick got shorter
}

// add starts looking after c, and starts the heart's goroutine if c is the
// only connection. A connection without heartbeats is not added.
func (h *heart) add(c *conn) {
	if c.readTimeout == 0 && c.pingEvery == 0 {
		return
	}
	now := nanotime()
	c.lastWrite.Store(now)
	tick := beatTick(c)
	c.pingAfter = c.pingEvery
	if c.dialer == nil {
		// The accepting side waits two ticks longer, so that between two
		// idle wisp sockets only the dialing side pings: the PONGs count
		// as the accepting side's writes, and an idle connection costs one
		// PING and one PONG an interval. The silence stays well within the
		// peer's timeout, at least three intervals (SPEC.md section 7).
		c.pingAfter += 2 * tick
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	c.beatIdx = len(h.conns)
	h.conns = append(h.conns, c)
	if h.quit == nil {
		h.quit, h.poke, h.tick = make(chan struct{}), make(chan struct{}, 1), tick
		go h.run(h.quit, h.poke)
		return
	}
	if tick < h.tick {
		h.tick = tick
		select {
		case h.poke <- struct{}{}:
		default:
		}
	}
}

// remove stops looking after c; the heart's goroutine ends with the last
// connection.
func (h *heart) remove(c *conn) {
	h.mu.Lock()
	defer h.mu.Unlock()
	i := c.beatIdx
	if i < 0 || i >= len(h.conns) || h.conns[i] != c {
		return // never added
	}
	last := len(h.conns) - 1
	h.conns[i] = h.conns[last]
	h.conns[i].beatIdx = i
	h.conns[last] = nil
	h.conns = h.conns[:last]
	c.beatIdx = -1
	if len(h.conns) == 0 {
		close(h.quit)
		h.quit, h.poke = nil, nil
	}
}

// beatTick is the tick c needs.
func beatTick(c *conn) time.Duration {
	shortest := c.pingEvery
	if c.readTimeout > 0 && (shortest == 0 || c.readTimeout < shortest) {
		shortest = c.readTimeout
	}
	return max(shortest/beatsPerInterval, minBeat)
}

// run ticks until quit is closed.
func (h *heart) run(quit, poke chan struct{}) {
	h.mu.Lock()
	t := time.NewTimer(h.tick)
	h.mu.Unlock()
	defer t.Stop()
	var silent, due, idle, quiet []*conn
	for {
		select {
		case <-quit:
			return
		case <-poke:
		case <-t.C:
			silent, due, idle, quiet = h.beat(silent[:0], due[:0], idle[:0], quiet[:0])
			for _, c := range silent {
				c.close(fmt.Errorf("%w: nothing received for %v", ErrHeartbeatTimeout, c.readTimeout))
			}
			for _, c := range idle {
				c.dlMu.Lock()
				c.interruptLocked() // the reader wakes, gives the buffer up, and reads on
				c.dlMu.Unlock()
			}
			for _, c := range quiet {
				c.spareWrite()
			}
			for _, c := range due {
				if !c.tryCommand(Command{Kind: CmdPing}) {
					c.pingWanted.Store(true)
					c.signal()
				}
			}
			clear(silent)
			clear(due)
			clear(idle)
			clear(quiet)
		}
		h.mu.Lock()
		t.Reset(h.tick)
		h.mu.Unlock()
	}
}

// beat finds the connections whose peer has been silent too long, those
// that must PING, those idle on a medium read buffer, and those keeping a
// write buffer they have not written from for two ticks, and recomputes
// the tick from the connections left.
func (h *heart) beat(silent, due, idle, quiet []*conn) ([]*conn, []*conn, []*conn, []*conn) {
	h.mu.Lock()
	defer h.mu.Unlock()
	now := nanotime()
	tick := time.Duration(1<<63 - 1)
	for _, c := range h.conns {
		tick = min(tick, beatTick(c))
		since := c.readSince.Load()
		if c.readTimeout > 0 && since != 0 && time.Duration(now-since) >= c.readTimeout {
			silent = append(silent, c)
			continue
		}
		if c.pingEvery > 0 && time.Duration(now-c.lastWrite.Load()) >= c.pingAfter && !c.pingWanted.Load() {
			due = append(due, c)
		}
		if since != 0 && c.midHeld.Load() && !c.dropMid.Load() && time.Duration(now-since) >= 2*h.tick {
			c.dropMid.Store(true)
			idle = append(idle, c)
		}
		if c.wbufHeld.Load() && time.Duration(now-c.lastWrite.Load()) >= 2*h.tick {
			quiet = append(quiet, c)
		}
	}
	if len(h.conns) > 0 {
		h.tick = tick
	}
	return silent, due, idle, quiet
}
