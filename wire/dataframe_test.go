package wire

import (
	"bytes"
	"errors"
	"testing"
)

// sameAsDecode feeds data to two decoders, one through Decode and one
// through DataFrame, a frame at a time until an error or a command, and
// fails on the first difference: payload, bytes consumed, MORE, error and
// Need. Decode's items are the reference.
func sameAsDecode(t *testing.T, data []byte, maxMsg uint64, checksum bool) {
	t.Helper()
	ref := Decoder{MaxMessageSize: maxMsg, Checksum: checksum}
	got := Decoder{MaxMessageSize: maxMsg, Checksum: checksum}
	for rest, i := data, 0; ; i++ {
		if len(rest) > 0 && Flags(rest[0])&FlagCommand != 0 {
			_, _, _, _, err := got.DataFrame(rest)
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("frame %d: DataFrame on a command got %v, want ErrMalformed", i, err)
			}
			return
		}
		it, n, err := ref.Decode(rest)
		start, end, k, more, gerr := got.DataFrame(rest)
		if (err == nil) != (gerr == nil) || (err != nil && err.Error() != gerr.Error()) {
			t.Fatalf("frame %d: DataFrame got error %v, Decode %v", i, gerr, err)
		}
		if ref.Need() != got.Need() {
			t.Fatalf("frame %d: Need after DataFrame %d, after Decode %d", i, got.Need(), ref.Need())
		}
		if err != nil {
			if start != 0 || end != 0 || k != 0 || more {
				t.Fatalf("frame %d: DataFrame failed with %v but returned %d:%d n=%d more=%v", i, gerr, start, end, k, more)
			}
			return
		}
		aliased := len(it.Frame) == 0 || (end > start && &rest[start] == &it.Frame[0])
		if k != n || more != it.More || !bytes.Equal(rest[start:end], it.Frame) || !aliased {
			t.Fatalf("frame %d: DataFrame got payload [%d:%d] n=%d more=%v, Decode %d bytes n=%d more=%v", i, start, end, k, more, len(it.Frame), n, it.More)
		}
		rest = rest[n:]
	}
}

func TestDataFrameLikeDecode(t *testing.T) {
	long := make([]byte, 300)
	for i := range long {
		long[i] = byte(i)
	}
	var msgs []byte
	msgs = AppendFrame(msgs, true, []byte("topic"))
	msgs = AppendFrame(msgs, true, nil)
	msgs = AppendFrame(msgs, false, long)
	msgs = AppendFrame(msgs, false, []byte("x"))
	msgs = AppendFrame(msgs, true, long[:255])
	msgs = AppendFrame(msgs, false, long[:256])
	withCmd := Command{ID: CmdAck, Seq: 9}.Append(append([]byte(nil), msgs...))
	for _, tc := range []struct {
		name     string
		data     []byte
		maxMsg   uint64
		checksum bool
	}{
		{"short and long frames", msgs, 0, false},
		{"a command after them", withCmd, 0, false},
		{"message too large", msgs, 100, false},
		{"checksums", appendSummed(t, msgs), 0, true},
		{"garbage", []byte{0x08, 0x01, 0x02}, 0, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for cut := 0; cut <= len(tc.data); cut++ {
				sameAsDecode(t, tc.data[:cut], tc.maxMsg, tc.checksum)
			}
		})
	}
}

// appendSummed re-frames the messages of a stream without checksums as a
// stream with them (SPEC.md section 3.1).
func appendSummed(t *testing.T, plain []byte) []byte {
	t.Helper()
	var d Decoder
	var out []byte
	var crc uint32
	for rest := plain; len(rest) > 0; {
		it, n, err := d.Decode(rest)
		if err != nil {
			t.Fatal(err)
		}
		start := len(out)
		out = AppendFrame(out, it.More, it.Frame)
		crc = UpdateChecksum(crc, out[start:])
		if !it.More {
			out = AppendChecksum(out, crc)
			crc = 0
		}
		rest = rest[n:]
	}
	return out
}

func FuzzDataFrame(f *testing.F) {
	f.Add(AppendFrame(AppendFrame(nil, true, []byte("ab")), false, make([]byte, 300)), uint32(0), false)
	f.Add([]byte{0x01, 0x05, 'a'}, uint32(4), false)
	f.Add([]byte{0x02, 0, 0, 0, 1, 'z'}, uint32(0), true)
	f.Fuzz(func(t *testing.T, data []byte, maxMsg uint32, checksum bool) {
		sameAsDecode(t, data, uint64(maxMsg), checksum)
	})
}
