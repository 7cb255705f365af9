package wire

import (
	"bytes"
	"errors"
	"io"
	"reflect"
	"testing"
)

// Seed corpora live in testdata/fuzz/<FuzzName>/. Run for example
//	go test -run '^$' -fuzz FuzzDecoder -fuzztime 30s ./wire

func FuzzParseGreeting(f *testing.F) {
	f.Fuzz(func(t *testing.T, b []byte) {
		g, n, err := ParseGreeting(b)
		if n < 0 || n > len(b) {
			t.Fatalf("n got %d, want 0..%d", n, len(b))
		}
		if errors.Is(err, ErrVersion) && g.Major == VersionMajor {
			t.Fatalf("ErrVersion with Major %d", g.Major)
		}
		if err != nil {
			return
		}
		if n < GreetingFixedLen {
			t.Fatalf("n got %d, want >= %d", n, GreetingFixedLen)
		}
		if _, _, err := ParseGreeting(b[:n-1]); err != io.ErrUnexpectedEOF {
			t.Fatalf("greeting minus its last byte: got %v, want io.ErrUnexpectedEOF", err)
		}
		enc := g.Append(nil)
		g2, n2, err := ParseGreeting(enc)
		if err != nil || n2 != len(enc) || !reflect.DeepEqual(g, g2) {
			t.Fatalf("re-encoded greeting got (%+v, %d, %v), want (%+v, %d, nil)", g2, n2, err, g, len(enc))
		}
	})
}

func FuzzParseFrameHeader(f *testing.F) {
	f.Fuzz(func(t *testing.T, b []byte) {
		fl, l, h, err := ParseFrameHeader(b)
		if err != nil {
			return
		}
		if (h != 2 && h != 5) || h > len(b) || l < 0 || (fl&FlagLong != 0) != (h == 5) {
			t.Fatalf("got (%v, %d, %d), want a consistent header within %d bytes", fl, l, h, len(b))
		}
		enc := AppendFrameHeader(nil, fl, l)
		fl2, l2, h2, err := ParseFrameHeader(enc)
		if err != nil || fl2&^FlagLong != fl&^FlagLong || l2 != l || h2 != len(enc) {
			t.Fatalf("re-encoded header % x got (%v, %d, %d, %v), want (%v, %d)", enc, fl2, l2, h2, err, fl, l)
		}
		if h == FrameHeaderLen(l) && !bytes.Equal(enc, b[:h]) {
			t.Fatalf("canonical header got % x, want % x", enc, b[:h])
		}
	})
}

func FuzzParseCommand(f *testing.F) {
	f.Fuzz(func(t *testing.T, payload []byte) {
		c, err := ParseCommand(payload)
		if err != nil {
			return
		}
		if err := c.Validate(); err != nil {
			t.Fatalf("parsed command fails Validate: %v", err)
		}
		enc := c.Append(nil)
		_, l, h, err := ParseFrameHeader(enc)
		if err != nil || h+l != len(enc) || !bytes.Equal(enc[h:], payload) {
			t.Fatalf("re-encoded command got % x, want payload % x", enc, payload)
		}
	})
}

// sentinel names the sentinel err wraps, so errors can be compared by kind.
func sentinel(err error) error {
	for _, s := range []error{io.ErrUnexpectedEOF, ErrBadMagic, ErrVersion, ErrMalformed, ErrFrameTooLarge, ErrUnknownCommand} {
		if errors.Is(err, s) {
			return s
		}
	}
	return err
}

func FuzzDecoder(f *testing.F) {
	f.Fuzz(func(t *testing.T, data, chunks []byte, maxMsg uint32) {
		// Reference: the whole input at once.
		ref := Decoder{MaxMessageSize: uint64(maxMsg)}
		var want []Item
		var wantErr error
		for rest := data; ; {
			it, n, err := ref.Decode(rest)
			if n < 0 || n > len(rest) || (err != nil && n != 0) || (err == nil && n < 2) {
				t.Fatalf("Decode got n=%d, err %v for %d bytes", n, err, len(rest))
			}
			if err != nil {
				wantErr = err
				break
			}
			checkReencode(t, it, rest[:n])
			want = append(want, it)
			rest = rest[n:]
		}

		// The same bytes arriving in chunks must give the same items and the
		// same final error, and Need must always ask for more than it has.
		d := Decoder{MaxMessageSize: uint64(maxMsg)}
		var got []Item
		var gotErr error
		var buf []byte
		for pos, ci := 0, 0; gotErr == nil || gotErr == io.ErrUnexpectedEOF; ci++ {
			if pos == len(data) {
				break
			}
			size := len(data) - pos
			if len(chunks) > 0 {
				size = min(size, 1+int(chunks[ci%len(chunks)]))
			}
			buf = append(buf, data[pos:pos+size]...)
			pos += size
			for { // each pass consumes at least 2 bytes or stops
				it, n, err := d.Decode(buf)
				gotErr = err
				if err != nil {
					if err == io.ErrUnexpectedEOF && d.Need() <= len(buf) {
						t.Fatalf("Need() got %d with %d bytes buffered, want more", d.Need(), len(buf))
					}
					break
				}
				got = append(got, it)
				buf = buf[n:]
			}
		}
		if len(data) == 0 {
			gotErr = io.ErrUnexpectedEOF
		}
		if !reflect.DeepEqual(got, want) || sentinel(gotErr) != sentinel(wantErr) {
			t.Fatalf("chunked got %d items and %v, whole got %d items and %v", len(got), gotErr, len(want), wantErr)
		}
	})
}

// checkReencode encodes it again and checks that it decodes to the same item,
// and to the same bytes when the original header was in canonical form.
func checkReencode(t *testing.T, it Item, orig []byte) {
	t.Helper()
	enc := appendItem(nil, it)
	var d Decoder
	it2, n, err := d.Decode(enc)
	if err != nil || n != len(enc) || !reflect.DeepEqual(it, it2) {
		t.Fatalf("re-encoded % x got (%+v, %v), want (%+v, nil)", enc, it2, err, it)
	}
	if Flags(orig[0])&FlagLong == 0 || len(orig)-5 > 255 {
		if !bytes.Equal(enc, orig) {
			t.Fatalf("re-encoded got % x, want % x", enc, orig)
		}
	}
}

// FuzzDecoderChecksum encodes the messages data describes with checksums,
// flips one bit of the stream, and decodes it: every message the Decoder
// completes must be one that was sent, unchanged and in order. A changed
// message must end in an error, never arrive.
func FuzzDecoderChecksum(f *testing.F) {
	f.Fuzz(func(t *testing.T, data []byte, pos uint32, bit uint8) {
		var sent [][]Item
		var stream []byte
		for rest := data; len(rest) > 0 && len(sent) < 16; {
			// The first byte shapes the message: up to 4 frames of up to
			// 300 bytes, so that long headers appear too.
			frames, size := 1+int(rest[0]%4), 1+int(rest[0])*3/2
			rest = rest[1:]
			var msg []Item
			for i := range frames {
				n := min(size, len(rest))
				msg = append(msg, Item{Frame: rest[:n:n], More: i < frames-1})
				rest = rest[n:]
			}
			sent = append(sent, msg)
			stream = appendItems(stream, msg, true)
		}
		if len(stream) == 0 {
			return
		}
		stream[int(pos)%len(stream)] ^= 1 << (bit % 8)

		d := Decoder{Checksum: true}
		var msg []Item
		got := 0
		for rest := stream; ; {
			it, n, err := d.Decode(rest)
			if err != nil {
				return
			}
			rest = rest[n:]
			if it.IsCommand {
				t.Fatalf("a flipped bit made a command that passed its checksum: %+v", it.Command)
			}
			msg = append(msg, it)
			if it.More {
				continue
			}
			if got >= len(sent) || !reflect.DeepEqual(msg, sent[got]) {
				t.Fatalf("message %d: got %+v, want it as sent or an error", got, msg)
			}
			got, msg = got+1, nil
		}
	})
}
