package spool

import (
	"bytes"
	"testing"
)

// FuzzDecodeRecord feeds the record decoder arbitrary bytes: it must never
// panic or read out of bounds, a record it accepts must encode back to the
// same bytes (so nothing unchecked slips through), and its frames, if any,
// must re-encode to the payload. The seed corpus is in
// testdata/fuzz/FuzzDecodeRecord.
func FuzzDecodeRecord(f *testing.F) {
	f.Add(appendFramesRecord(nil, 1, [][]byte{[]byte("hello")}))
	f.Add(appendFramesRecord(nil, 1<<40, [][]byte{{}, []byte("b"), bytes.Repeat([]byte("c"), 300)}))
	f.Fuzz(func(t *testing.T, b []byte) {
		if frames, err := splitFrames(b); err == nil {
			// The frame decoder on its own, as if a checksum had passed.
			if again := appendFrames(nil, frames); !bytes.Equal(again, b) && !nonMinimalVarints(b) {
				t.Fatalf("frames %q of %x encode as %x", frames, b, again)
			}
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
		frames, err := splitFrames(payload)
		if err != nil {
			return
		}
		if again := appendFrames(nil, frames); !bytes.Equal(again, payload) && !nonMinimalVarints(payload) {
			t.Fatalf("frames %q of payload %x encode as %x", frames, payload, again)
		}
	})
}

// nonMinimalVarints reports whether a payload's lengths could be written
// in more bytes than needed (0x80 0x00 for 0): such a payload decodes, but
// differently encoded. The spool never writes one; the checksum would have
// to be forged for one to be read.
func nonMinimalVarints(p []byte) bool {
	return bytes.Contains(p, []byte{0x80})
}
