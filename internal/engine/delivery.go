package engine

import (
	"encoding/binary"
	"math"
)

// A delivery is a run of complete messages from one peer, queued for Recv
// as one unit: the inbox takes one lock and makes one queue entry per
// read, not per message. Most deliveries are what one read of a stream
// brought: the frames' bytes copied into one chunk, followed by where each
// frame lies in it (placeSize bytes a frame, no pointers), and a frame list
// with a slot per frame that Recv fills as it takes each message. The
// reader thus makes no pointer write per message; the consumer makes the
// one a Message needs. Other deliveries carry frame lists filled already:
// a message with a list of its own (a large frame read on its own, one
// whose first frames came in an earlier read, a run too large to
// describe), or an inproc batch of one-frame messages:
//   - chunk != nil: frame i is described at place i (see place);
//   - chunk == nil and msgs == 1: the one message is hdrs[next:];
//   - chunk == nil and msgs > 1: every message is one frame, hdrs[next].
//
// The messages of a read's delivery share its chunk and frame list and
// nothing else, so an application that keeps one of them keeps that
// read's bytes (and, for a message begun in an earlier read, its first
// frames in that read's). An inproc link carves its small messages' frame
// lists from chunks it shares across batches (conn.carve).
type delivery struct {
	chunk []byte   // the frames' bytes, then their places
	hdrs  [][]byte // a slot per frame
	next  int      // the next message's first frame
	msgs  int      // messages left
	bytes int      // their payload bytes
	seq   uint64   // the next message's sequence number, 0 when unnumbered
}

// placeSize is the size of a frame's place at the end of a chunk: its
// start and end offsets, little-endian uint32s, with placeMore set in the
// start when more frames of the same message follow.
const (
	placeSize = 8
	placeMore = 1 << 31
	// maxChunk bounds the bytes a chunk may describe; a larger run is
	// delivered message by message.
	maxChunk = placeMore - 1
)

// place returns where frame i of d lies in d.chunk, and whether more
// frames of its message follow.
func (d *delivery) place(i int) (start, end int, more bool) {
	at := len(d.chunk) - placeSize*(len(d.hdrs)-i)
	s := binary.LittleEndian.Uint32(d.chunk[at:])
	e := binary.LittleEndian.Uint32(d.chunk[at+4:])
	return int(s &^ placeMore), int(e), s&placeMore != 0
}

// setPlace records where frame i lies. Reader role, before d is queued.
func (d *delivery) setPlace(i, start, end int, more bool) {
	at := len(d.chunk) - placeSize*(len(d.hdrs)-i)
	s := uint32(start)
	if more {
		s |= placeMore
	}
	binary.LittleEndian.PutUint32(d.chunk[at:], s)
	binary.LittleEndian.PutUint32(d.chunk[at+4:], uint32(end))
}

// frames returns how many frames the next message has, and its size.
func (d *delivery) frames() (n, size int) {
	if d.chunk == nil {
		if d.msgs == 1 {
			n = len(d.hdrs) - d.next
		} else {
			n = 1
		}
		for _, f := range d.hdrs[d.next : d.next+n] {
			size += len(f)
		}
		return n, size
	}
	for i := d.next; ; i++ {
		start, end, more := d.place(i)
		size += end - start
		if !more {
			return i + 1 - d.next, size
		}
	}
}

// take returns the next message and its size and sequence number.
// Callers hold the inbox's recvMu, or own d (the reader, before d is
// queued).
func (d *delivery) take() (m Message, size int, seq uint64) {
	start := d.next
	if d.chunk == nil {
		var n int
		n, size = d.frames()
		d.next += n
	} else {
		for i := start; ; i++ {
			s, e, more := d.place(i)
			d.hdrs[i] = d.chunk[s:e:e]
			size += e - s
			if !more {
				d.next = i + 1
				break
			}
		}
	}
	m = Message(d.hdrs[start:d.next:d.next])
	seq = d.seq
	d.advance(size)
	return m, size, seq
}

// skip drops the next n messages (duplicates of ones already accepted).
func (d *delivery) skip(n int) {
	for range n {
		k, size := d.frames()
		d.next += k
		d.advance(size)
	}
}

// advance accounts for the next message having left d.
func (d *delivery) advance(size int) {
	d.msgs--
	d.bytes -= size
	if d.seq != 0 {
		d.seq++
	}
}

// split takes the next n messages off d, which has more, into a delivery
// of their own that shares d's chunk and frame list.
func (d *delivery) split(n int) delivery {
	part := *d
	part.msgs, part.bytes = n, 0
	for range n {
		k, size := d.frames()
		d.next += k
		d.advance(size)
		part.bytes += size
	}
	if d.chunk == nil {
		// Its last message is hdrs[next:] once it is the only one left.
		part.hdrs = d.hdrs[:d.next]
	}
	return part
}

// fitsChunk reports whether a run of span bytes and n frames can be
// described in one chunk.
func fitsChunk(span, n int) bool {
	return span <= maxChunk && n <= (math.MaxInt-span)/placeSize
}
