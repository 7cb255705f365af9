package wire

import (
	"strconv"
	"testing"
)

// benchStream is 1000 two-frame messages of 8+64 bytes, and an ACK each.
func benchStream() []byte {
	var b []byte
	topic, body := make([]byte, 8), make([]byte, 64)
	for i := range 1000 {
		b = AppendFrame(b, true, topic)
		b = AppendFrame(b, false, body)
		b = Command{ID: CmdAck, Seq: uint64(i + 1)}.Append(b)
	}
	return b
}

func BenchmarkDecode(b *testing.B) {
	stream := benchStream()
	d := Decoder{MaxMessageSize: 1 << 20}
	b.SetBytes(int64(len(stream)))
	b.ReportAllocs()
	for b.Loop() {
		decodeAll(b, &d, stream)
	}
}

// decodeAll decodes every frame of stream with Decode.
func decodeAll(b *testing.B, d *Decoder, stream []byte) {
	for rest := stream; len(rest) > 0; {
		_, n, err := d.Decode(rest)
		if err != nil {
			b.Fatal(err)
		}
		rest = rest[n:]
	}
}

func BenchmarkAppendFrame(b *testing.B) {
	for _, size := range []int{16, 256, 4096} {
		b.Run(strconv.Itoa(size), func(b *testing.B) {
			payload := make([]byte, size)
			buf := make([]byte, 0, 1000*(size+5))
			b.SetBytes(int64(1000 * size))
			b.ReportAllocs()
			for b.Loop() {
				buf = buf[:0]
				for range 1000 {
					buf = AppendFrame(buf, false, payload)
				}
			}
		})
	}
}

func BenchmarkCommandAppend(b *testing.B) {
	buf := make([]byte, 0, 64)
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		buf = Command{ID: CmdAck, Seq: uint64(i)}.Append(buf[:0])
	}
}

func BenchmarkParseGreeting(b *testing.B) {
	enc := fullGreeting.Append(nil)
	b.ReportAllocs()
	for b.Loop() {
		if _, _, err := ParseGreeting(enc); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkDataFrames decodes 1000 one-frame messages of 16 bytes, as a
// reader of a stream of small messages does, through Decode and through
// DataFrame.
func BenchmarkDataFrames(b *testing.B) {
	var stream []byte
	for range 1000 {
		stream = AppendFrame(stream, false, make([]byte, 16))
	}
	b.Run("Decode", func(b *testing.B) {
		var d Decoder
		b.SetBytes(int64(len(stream)))
		for b.Loop() {
			decodeAll(b, &d, stream)
		}
	})
	b.Run("DataFrame", func(b *testing.B) {
		var d Decoder
		b.SetBytes(int64(len(stream)))
		for b.Loop() {
			for rest := stream; len(rest) > 0; {
				_, _, n, _, err := d.DataFrame(rest)
				if err != nil {
					b.Fatal(err)
				}
				rest = rest[n:]
			}
		}
	})
}
