package spool

import (
	"encoding/binary"
	"fmt"
	"os"
)

// readChunk is how much the cursor reads at a time: enough that reading
// back a backlog of small messages costs few system calls.
const readChunk = 256 << 10

// cursor reads records back from the segments for Next, in order, with
// its own file handle, so appends and syncs never wait for it. Only Next
// uses it.
type cursor struct {
	seg    *segment
	f      *os.File
	buf    []byte
	bufOff int64  // the file offset of buf[0]
	off    int64  // the offset of record id
	id     uint64 // the record the cursor is at
}

// forget closes the cursor's file.
func (c *cursor) forget() {
	if c.f != nil {
		c.f.Close()
	}
	*c = cursor{buf: c.buf[:0]}
}

// read returns the frames of record id of seg, whose records end at end;
// from is the nearest indexed record at or before id, where reading starts
// unless the cursor is already between it and id.
func (c *cursor) read(seg *segment, end int64, from indexEntry, id uint64) ([][]byte, error) {
	if c.seg != seg {
		c.forget()
		f, err := os.Open(seg.path)
		if err != nil {
			return nil, err
		}
		c.seg, c.f = seg, f
	}
	if c.id > id || c.id < from.id {
		c.off, c.id = from.off, from.id
	}
	for {
		rec, err := c.record(end)
		if err != nil {
			return nil, err
		}
		seq, payload, n, err := decodeRecord(rec)
		if err != nil {
			return nil, corruptAt(seg.path, c.off, err)
		}
		if seq != c.id {
			return nil, corruptAt(seg.path, c.off, fmt.Errorf("%w: record %d where %d belongs", errSequence, seq, c.id))
		}
		c.off += int64(n)
		c.id++
		if seq == id {
			// The engine keeps a message until it is acknowledged, so it
			// gets its own copy, not the cursor's buffer.
			frames, err := splitFrames(append([]byte(nil), payload...))
			if err != nil {
				return nil, corruptAt(seg.path, c.off-int64(n), err)
			}
			return frames, nil
		}
	}
}

// record returns the bytes of the whole record at c.off, reading them in
// if the buffer does not hold them.
func (c *cursor) record(end int64) ([]byte, error) {
	rel := c.off - c.bufOff
	if rel < 0 || rel+headerSize > int64(len(c.buf)) {
		if err := c.fill(end, headerSize); err != nil {
			return nil, err
		}
		rel = 0
	}
	need := headerSize + int64(binary.LittleEndian.Uint32(c.buf[rel:]))
	if rel+need > int64(len(c.buf)) {
		if err := c.fill(end, need); err != nil {
			return nil, err
		}
		rel = 0
	}
	return c.buf[rel : rel+need], nil
}

// fill reads from c.off on, at least need bytes.
func (c *cursor) fill(end, need int64) error {
	n := min(max(readChunk, need), end-c.off)
	if n < need {
		return corruptAt(c.seg.path, c.off, errShort)
	}
	if int64(cap(c.buf)) < n {
		c.buf = make([]byte, n)
	}
	c.buf = c.buf[:n]
	if _, err := c.f.ReadAt(c.buf, c.off); err != nil {
		return fmt.Errorf("spool: reading %s: %w", c.seg.path, err)
	}
	c.bufOff = c.off
	return nil
}
