package spool

import (
	"bytes"
	"testing"
)

// FuzzDecodeRecord feeds the record decoder arbitrary bytes: it must never
// panic or read out of bounds, and a record it accepts must encode back to
// the same bytes (so nothing unchecked slips through). The frame decoder
// gets the bytes too: frames it accepts must survive encoding and decoding
// again unchanged. The seed corpus is in testdata/fuzz/FuzzDecodeRecord.
func FuzzDecodeRecord(f *testing.F) {
	f.Add(appendFramesRecord(nil, 1, [][]byte{[]byte("hello")}))
	f.Add(appendFramesRecord(nil, 1<<40, [][]byte{{}, []byte("b"), bytes.Repeat([]byte("c"), 300)}))
	f.Fuzz(func(t *testing.T, b []byte) {
		if frames, err := splitFrames(b); err == nil {
			// The frame decoder on its own, as if a checksum had passed.
			checkFrames(t, frames)
		}
		seq, payload, n, err := decodeRecord(b)
		if err != nil {
			if n != 0 || payload != nil {
				t.Fatalf("error %v with n=%d", err, n)
			}
			return
		}
		if n > len(b) || n != headerSize+len(payload) {
			t.Fatalf("n=%d of %d bytes, payload %d", n, len(b), len(payload))
		}
		if again := appendRecord(nil, seq, payload); !bytes.Equal(again, b[:n]) {
			t.Fatalf("accepted %x, which encodes as %x", b[:n], again)
		}
		if frames, err := splitFrames(payload); err == nil {
			checkFrames(t, frames)
		}
	})
}

// checkFrames checks that frames encode and decode back to themselves.
// (Bytes are not compared: a length written with more bytes than needed
// decodes, and encodes shorter.)
func checkFrames(t *testing.T, frames [][]byte) {
	t.Helper()
	enc := appendFrames(nil, frames)
	if len(enc) != framesSize(frames) {
		t.Fatalf("framesSize %d, encoding %d bytes", framesSize(frames), len(enc))
	}
	again, err := splitFrames(enc)
	if err != nil || len(again) != len(frames) {
		t.Fatalf("frames %q encode as %x, which decodes as %q, %v", frames, enc, again, err)
	}
	for i := range frames {
		if !bytes.Equal(again[i], frames[i]) {
			t.Fatalf("frame %d: %q became %q", i, frames[i], again[i])
		}
	}
}
