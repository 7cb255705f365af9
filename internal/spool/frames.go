package spool

import (
	"encoding/binary"
	"errors"
)

// A message's frames are stored in a record's payload as the number of
// frames and then each frame's length and bytes, all lengths as uvarints:
// one byte of overhead per frame for small frames.

// errFrames reports a payload whose frame encoding does not add up. The
// checksum makes this unreachable for records the spool wrote; it guards
// the decoder against anything else.
var errFrames = errors.New("record payload is not a list of frames")

// appendFrames appends the encoding of frames to dst.
func appendFrames(dst []byte, frames [][]byte) []byte {
	dst = binary.AppendUvarint(dst, uint64(len(frames)))
	for _, f := range frames {
		dst = binary.AppendUvarint(dst, uint64(len(f)))
		dst = append(dst, f...)
	}
	return dst
}

// framesSize is the length appendFrames adds.
func framesSize(frames [][]byte) int {
	n := uvarintLen(uint64(len(frames)))
	for _, f := range frames {
		n += uvarintLen(uint64(len(f))) + len(f)
	}
	return n
}

func uvarintLen(v uint64) int {
	n := 1
	for v >= 0x80 {
		v >>= 7
		n++
	}
	return n
}

// splitFrames decodes a payload into frames that share its memory.
func splitFrames(p []byte) ([][]byte, error) {
	count, k := binary.Uvarint(p)
	if k <= 0 || count == 0 || count > uint64(len(p)) {
		return nil, errFrames
	}
	p = p[k:]
	frames := make([][]byte, 0, count)
	for range count {
		size, k := binary.Uvarint(p)
		if k <= 0 || size > uint64(len(p)-k) {
			return nil, errFrames
		}
		frames = append(frames, p[k:k+int(size)])
		p = p[k+int(size):]
	}
	if len(p) != 0 {
		return nil, errFrames
	}
	return frames, nil
}
