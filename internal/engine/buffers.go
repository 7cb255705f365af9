package engine

import "sync/atomic"

// Buffers. A socket may hold a hundred thousand connections, most of them
// idle most of the time, so a connection's buffers are sized to what it is
// doing now rather than the most it ever did: an idle connection blocks in
// Read on a small buffer of its own and holds no write buffer; a burst
// borrows a large buffer from a pool the whole process shares and gives it
// back as soon as it has nothing left in it. The cost is a second read
// when a read fills the small buffer, at most once per burst.
const (
	// smallReadBuf is what an idle connection reads into: a PING, an ACK
	// or a small request fits.
	smallReadBuf = 256
	// midReadBuf is the read buffer a connection exchanging medium-sized
	// messages keeps while it does (see restRead).
	midReadBuf = 8 << 10
	// largeReadBuf is a busy connection's read buffer, from readBufs.
	largeReadBuf = 64 << 10
	// keepWriteBuf is the largest write buffer a connection keeps between
	// writes; a larger one goes back to its free list after its write.
	keepWriteBuf = 2 << 10
	// minWriteBuf is the step a connection's own write buffer grows by.
	minWriteBuf = 128
	// maxPooledWriteBuf is the largest pooled write buffer: a batch's
	// payload (maxBatchBytes) and its frame headers fit. What the free
	// lists keep is bounded: 12 MiB at most, a few hundred kilobytes
	// unless several connections write large batches at once.
	maxPooledWriteBuf = maxBatchBytes + maxBatchBytes/4
)

// largeReads counts the large read buffers connections hold now. Past
// maxLargeReads, a connection whose reads fill its buffer moves to a
// medium one instead (see readStep): ten thousand peers bursting at once
// would otherwise each take 64 KiB, and the Go runtime keeps that heap
// long after the burst. A few busy connections, the throughput case, get
// large buffers as before.
var largeReads atomic.Int32

const maxLargeReads = 64 // 4 MiB of large read buffers

// The pools: bounded free lists rather than sync.Pools, so that what they
// keep is bounded (a megabyte or so of read buffers) and reuse does not
// depend on the race detector, which drops a quarter of what sync.Pool
// is given.
var (
	readBufs = freeList{ch: make(chan *[]byte, 16)} // largeReadBuf each
)

// freeList keeps up to cap(ch) buffers for reuse.
type freeList struct{ ch chan *[]byte }

// get returns a buffer, or nil when the list is empty.
func (f *freeList) get() *[]byte {
	select {
	case b := <-f.ch:
		return b
	default:
		return nil
	}
}

// put keeps b, unless the list is full.
func (f *freeList) put(b *[]byte) {
	select {
	case f.ch <- b:
	default:
	}
}

// growRead moves the unread bytes into a buffer of at least need bytes:
// a pooled large buffer, or, for a frame larger than that, one of its own
// (bounded: the decoder checked the frame against the maximum message
// size). Reader role.
func (c *conn) growRead(need int) {
	old := c.pooled // given back only once its bytes are copied out
	c.pooled = nil
	var nb []byte
	switch {
	case need <= largeReadBuf && largeReads.Load() >= maxLargeReads:
		// Many connections are reading at once (growFilled): this one
		// gets room for the frame it needs, not a large buffer's worth.
		nb = make([]byte, max(need, midReadBuf))
	case need <= largeReadBuf:
		c.pooled = readBufs.get()
		if c.pooled == nil {
			b := make([]byte, largeReadBuf)
			c.pooled = &b
		}
		largeReads.Add(1)
		nb = *c.pooled
	default:
		nb = make([]byte, max(need, 2*len(c.rbuf)))
	}
	c.w = copy(nb, c.rbuf[c.r:c.w])
	c.r = 0
	c.rbuf = nb
	if old != nil {
		largeReads.Add(-1)
		readBufs.put(old)
	}
}

// growFilled picks a larger buffer after a read filled rbuf, since more is
// likely waiting: a large one while few connections hold one, else a
// medium one (and a connection already on its medium one keeps it).
// Reader role.
func (c *conn) growFilled() {
	if largeReads.Load() < maxLargeReads {
		c.growRead(largeReadBuf)
		return
	}
	if len(c.rbuf) >= midReadBuf {
		return
	}
	mid := c.midBuf()
	c.w = copy(mid, c.rbuf[c.r:c.w])
	c.r = 0
	c.rbuf = mid
}

// midBuf returns the connection's medium read buffer, made on first use;
// the heart takes it back (see restRead). Reader role.
func (c *conn) midBuf() []byte {
	if c.mid == nil {
		c.mid = make([]byte, midReadBuf)
		c.midHeld.Store(true)
	}
	return c.mid
}

// restRead picks the buffer for the next read when the read buffer is
// empty: the small one while the connection's reads are small, or, once a
// read brought more than the small buffer holds, a medium one of its own,
// so that a request-reply exchange of 4 KiB messages, or a broker's
// stream of requests, takes one read where a small buffer would take two.
// A small read moves back to the small buffer but keeps the medium one:
// a broker's reads alternate, and dropping it each time made one 8 KiB
// allocation per larger read. A connection that has held it, reading,
// for two heartbeat ticks gives it up (heart.go). Reader role.
func (c *conn) restRead() {
	if c.r != c.w {
		return
	}
	drop := c.dropMid.Load()
	if drop {
		c.dropMid.Store(false)
		c.lastN = 0
	}
	if c.lastN > smallReadBuf {
		if len(c.rbuf) == midReadBuf && c.mid != nil {
			return
		}
		c.releaseRead()
		c.rbuf, c.r, c.w = c.midBuf(), 0, 0
		return
	}
	if len(c.rbuf) > smallReadBuf {
		c.releaseRead()
		if c.small == nil {
			c.small = make([]byte, smallReadBuf)
		}
		c.rbuf, c.r, c.w = c.small, 0, 0
	}
	if drop && c.mid != nil {
		c.mid = nil
		c.midHeld.Store(false)
	}
}

// releaseRead gives the pooled read buffer back, when rbuf is one (pooled
// is set exactly then). Nothing may refer to it afterwards: parse copies
// payloads out (deliverRefs). Reader role.
func (c *conn) releaseRead() {
	if c.pooled != nil {
		largeReads.Add(-1)
		readBufs.put(c.pooled)
		c.pooled = nil
	}
}

// writeClasses are the sizes of the pooled write buffers, one free list
// each, so that a write finds a buffer large enough without taking, and
// putting back, smaller ones: a list holding only small buffers would make
// every large write allocate.
var writeClasses = [...]struct {
	size int
	free freeList
}{
	{16 << 10, freeList{ch: make(chan *[]byte, 16)}},
	{128 << 10, freeList{ch: make(chan *[]byte, 16)}},
	{maxPooledWriteBuf, freeList{ch: make(chan *[]byte, 8)}},
}

// writeBuf returns an empty buffer for a write of about size bytes: the
// connection's own small one, or a pooled one. Writer role.
func (c *conn) writeBuf(size int) []byte {
	if size <= keepWriteBuf {
		if cap(c.wbuf) < size {
			// Grown in steps, so that a connection that only ever writes
			// ACKs or PONGs holds a few bytes.
			c.wbuf = make([]byte, 0, (size+minWriteBuf-1)/minWriteBuf*minWriteBuf)
		}
		return c.wbuf[:0]
	}
	for i := range writeClasses {
		wc := &writeClasses[i]
		if size > wc.size {
			continue
		}
		p := wc.free.get()
		if p == nil {
			b := make([]byte, 0, wc.size)
			p = &b
		}
		c.wpooled = p
		return (*p)[:0]
	}
	return make([]byte, 0, size) // larger than any class: not pooled
}

// doneWriting keeps a small write buffer for the next write and gives a
// larger one back to the free list of the largest class it can serve.
// Writer role.
func (c *conn) doneWriting(wb []byte) {
	p := c.wpooled
	c.wpooled = nil
	if cap(wb) <= keepWriteBuf {
		c.wbuf = wb
		c.wbufHeld.Store(cap(wb) > 0)
		return
	}
	for i := len(writeClasses) - 1; i >= 0; i-- {
		wc := &writeClasses[i]
		if cap(wb) < wc.size || cap(wb) > 2*wc.size {
			continue
		}
		if p == nil {
			p = new([]byte) // a buffer append grew: rare
		}
		*p = wb[:0]
		wc.free.put(p)
		return
	}
}

// spareWrite drops the small write buffer (and the writer's scratch
// lists) of a connection that has not written for a while, unless it is
// writing now: a reply or a burst left them, and a hundred thousand idle
// peers would each keep them. PINGs and
// PONGs need none (tryCommand); the next write makes a new one.
func (c *conn) spareWrite() {
	if !c.wmu.TryLock() {
		return // writing: it is not idle after all
	}
	c.wbuf = nil
	c.batch, c.bufs, c.cmds = nil, nil, nil // scratch, empty between writes
	c.wbufHeld.Store(false)
	c.wmu.Unlock()
}
