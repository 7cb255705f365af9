package spool

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// errSequence: a record whose checksum is good carries the wrong number,
// so records are missing or out of place.
var errSequence = errors.New("record out of sequence")

// scan walks the records of one file's bytes, which must be numbered from
// first on, and calls fn for each good one with its number, payload and
// offset. It returns where the good records end and whether the bytes
// after that are a torn tail to cut.
//
// A bad record (short, bad checksum, impossible length) is a torn tail
// only in the newest file (newest) and only if no good record can be
// found after it: a crash tears the last write, never one in the middle.
// Anything else is ErrCorrupt, naming path and the offset, because cutting
// there would drop good records and resending around it would deliver
// what the damage hides out of order.
func scan(path string, data []byte, first uint64, newest bool, fn func(seq uint64, payload []byte, off int64) error) (end int64, torn bool, err error) {
	off := 0
	want := first
	for off < len(data) {
		seq, payload, n, derr := decodeRecord(data[off:])
		if derr != nil {
			if !newest {
				return int64(off), false, corruptAt(path, int64(off), derr)
			}
			if at, ok := goodRecordAfter(data, off, want); ok {
				return int64(off), false, corruptAt(path, int64(off), fmt.Errorf("%w, and a good record follows at offset %d", derr, at))
			}
			return int64(off), true, nil
		}
		if seq != want {
			return int64(off), false, corruptAt(path, int64(off), fmt.Errorf("%w: record %d where %d belongs", errSequence, seq, want))
		}
		if err := fn(seq, payload, int64(off)); err != nil {
			return int64(off), false, err
		}
		off += n
		want++
	}
	return int64(off), false, nil
}

// goodRecordAfter looks past a bad record at off for a good one that could
// belong to the file (numbered from want on, no further than the bytes
// left could hold), and returns its offset. The number is checked first,
// so the checksum runs only where a record plausibly starts.
func goodRecordAfter(data []byte, off int, want uint64) (int, bool) {
	for i := off + 1; i+headerSize <= len(data); i++ {
		seq := binary.LittleEndian.Uint64(data[i+8 : i+16])
		if seq < want || seq-want > uint64(len(data)-off)/headerSize {
			continue
		}
		if _, _, _, err := decodeRecord(data[i:]); err == nil {
			return i, true
		}
	}
	return 0, false
}
