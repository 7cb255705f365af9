package engine

import (
	"bytes"
	"testing"
	"time"
)

// TestGrowFilledBudget: a connection whose read filled its buffer gets a
// large one while few connections hold one, a medium one of its own past
// the budget, and keeps the bytes it had not parsed either way; releasing
// a large buffer gives its place in the budget back.
func TestGrowFilledBudget(t *testing.T) {
	held := largeReads.Load()
	t.Cleanup(func() { largeReads.Store(held) })
	unread := []byte("half a frame")
	fill := func() *conn {
		c := &conn{small: make([]byte, smallReadBuf)}
		c.rbuf = c.small
		c.r = 3
		c.w = 3 + copy(c.rbuf[3:], unread)
		return c
	}

	largeReads.Store(0)
	c := fill()
	c.growFilled()
	if len(c.rbuf) != largeReadBuf || c.pooled == nil || largeReads.Load() != 1 {
		t.Fatalf("under the budget: got a %d-byte buffer (pooled %v), %d held; want %d, pooled, 1 held", len(c.rbuf), c.pooled != nil, largeReads.Load(), largeReadBuf)
	}
	if !bytes.Equal(c.rbuf[c.r:c.w], unread) {
		t.Fatalf("under the budget: unread bytes %q, want %q", c.rbuf[c.r:c.w], unread)
	}
	c.releaseRead()
	if largeReads.Load() != 0 {
		t.Fatalf("after releasing: %d large buffers held, want 0", largeReads.Load())
	}

	largeReads.Store(maxLargeReads)
	c = fill()
	c.growFilled()
	if len(c.rbuf) != midReadBuf || c.pooled != nil || largeReads.Load() != maxLargeReads {
		t.Fatalf("past the budget: got a %d-byte buffer (pooled %v), %d held; want %d, its own, %d held", len(c.rbuf), c.pooled != nil, largeReads.Load(), midReadBuf, maxLargeReads)
	}
	if !bytes.Equal(c.rbuf[c.r:c.w], unread) {
		t.Fatalf("past the budget: unread bytes %q, want %q", c.rbuf[c.r:c.w], unread)
	}
	c.growFilled() // filled again: the medium buffer stays
	if len(c.rbuf) != midReadBuf {
		t.Fatalf("past the budget, filled again: got a %d-byte buffer, want the medium one", len(c.rbuf))
	}
}

// TestQuietConnectionsSpareTheirWriteBuffer: the heart finds connections
// that keep a write buffer and have not written for two ticks, and they
// drop it, unless they are writing; one that wrote recently keeps it.
func TestQuietConnectionsSpareTheirWriteBuffer(t *testing.T) {
	const tick = 10 * time.Millisecond
	mk := func(wroteAgo time.Duration) *conn {
		c := &conn{}
		c.wmu.Init(rankWriter, "conn.wmu")
		c.doneWriting(make([]byte, 0, minWriteBuf))
		c.lastWrite.Store(nanotime() - int64(wroteAgo))
		return c
	}
	quiet, busy, writing := mk(3*tick), mk(0), mk(3*tick)
	h := &heart{tick: tick, conns: []*conn{quiet, busy, writing}}
	_, _, _, found := h.beat(nil, nil, nil, nil)
	if len(found) != 2 || found[0] != quiet || found[1] != writing {
		t.Fatalf("beat: got %d quiet connections, want the two that wrote 3 ticks ago", len(found))
	}
	writing.wmu.Lock()
	for _, c := range found {
		c.spareWrite()
	}
	writing.wmu.Unlock()
	if quiet.wbuf != nil || quiet.wbufHeld.Load() {
		t.Fatal("quiet connection: kept its write buffer, want it dropped")
	}
	if writing.wbuf == nil || !writing.wbufHeld.Load() {
		t.Fatal("connection writing now: lost its write buffer, want it kept")
	}
	if busy.wbuf == nil {
		t.Fatal("connection that just wrote: lost its write buffer, want it kept")
	}
}

// TestRestReadKeepsTheMediumBuffer: reads that alternate between small
// and larger ones reuse one medium buffer; the heart's request drops it.
func TestRestReadKeepsTheMediumBuffer(t *testing.T) {
	c := &conn{small: make([]byte, smallReadBuf)}
	c.rbuf = c.small
	c.lastN = smallReadBuf + 1
	c.restRead()
	mid := c.mid
	if len(c.rbuf) != midReadBuf || mid == nil {
		t.Fatalf("after a larger read: got a %d-byte buffer, want the medium one", len(c.rbuf))
	}
	c.lastN = 10
	c.restRead()
	if len(c.rbuf) != smallReadBuf || c.mid == nil || !c.midHeld.Load() {
		t.Fatalf("after a small read: got a %d-byte buffer, medium kept %v; want the small one, the medium kept", len(c.rbuf), c.mid != nil)
	}
	c.lastN = smallReadBuf + 1
	c.restRead()
	if len(c.rbuf) != midReadBuf || &c.rbuf[0] != &mid[0] {
		t.Fatal("after another larger read: got another buffer, want the same medium one")
	}
	c.lastN = 10
	c.restRead()
	c.dropMid.Store(true) // the heart found it held too long
	c.restRead()
	if c.mid != nil || c.midHeld.Load() || len(c.rbuf) != smallReadBuf {
		t.Fatal("after the heart's request: medium buffer kept, want it dropped")
	}
}
