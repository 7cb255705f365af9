package engine

import (
	"bytes"
	"testing"
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
