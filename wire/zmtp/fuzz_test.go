package zmtp

import (
	"errors"
	"io"
	"testing"
)

// FuzzDecoder feeds arbitrary bytes to a Decoder with limits: it never
// panics, never returns a frame past its limits, and every error is
// incomplete input or one of the package's sentinels.
func FuzzDecoder(f *testing.F) {
	f.Add(AppendCommand(AppendFrame(AppendFrame(nil, true, []byte("a")), false, []byte("bc")), CmdPing, []byte{0, 1}))
	f.Add(AppendFrame(nil, false, make([]byte, 300)))
	f.Add([]byte{0x02, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff})
	f.Fuzz(func(t *testing.T, b []byte) {
		d := Decoder{MaxMessageSize: 1000, MaxCommandSize: 100}
		frames := 0
		for len(b) > 0 {
			fr, n, err := d.Decode(b)
			if err == io.ErrUnexpectedEOF {
				if d.Need() <= len(b) {
					t.Fatalf("incomplete with %d bytes, but Need is %d", len(b), d.Need())
				}
				return
			}
			if err != nil {
				if !errors.Is(err, ErrMalformed) && !errors.Is(err, ErrFrameTooLarge) {
					t.Fatalf("error %v is no sentinel", err)
				}
				return
			}
			if n <= 0 || n > len(b) || (fr.Command && len(fr.Body) > 100) || (!fr.Command && len(fr.Body) > 1000) {
				t.Fatalf("frame of %d bytes taking %d of %d", len(fr.Body), n, len(b))
			}
			if !fr.Command {
				frames++
				if frames > MaxFramesPerMessage {
					t.Fatal("more frames than a message may have")
				}
				if !fr.More {
					frames = 0
				}
			}
			b = b[n:]
		}
	})
}

// FuzzParseGreeting: no panic, and what parses encodes back the same way.
func FuzzParseGreeting(f *testing.F) {
	f.Add(Greeting{Major: 3, Minor: 1, Mechanism: "NULL"}.Append(nil))
	f.Add(Greeting{Major: 3, Minor: 0, Mechanism: "CURVE", AsServer: true}.Append(nil))
	f.Fuzz(func(t *testing.T, b []byte) {
		g, err := ParseGreeting(b)
		if err != nil {
			return
		}
		again, err := ParseGreeting(g.Append(nil))
		if err != nil || again != g {
			t.Fatalf("%+v re-parsed as %+v, %v", g, again, err)
		}
	})
}

// FuzzParseMetadata: no panic, and what parses encodes back to the input.
func FuzzParseMetadata(f *testing.F) {
	f.Add(Metadata{{Name: "Socket-Type", Value: []byte("REQ")}, {Name: "Identity", Value: []byte("x")}}.Append(nil))
	f.Add([]byte{5, 'a'})
	f.Fuzz(func(t *testing.T, b []byte) {
		md, err := ParseMetadata(b)
		if err != nil {
			return
		}
		if got := md.Append(nil); string(got) != string(b) {
			t.Fatalf("re-encoded %x, want %x", got, b)
		}
	})
}
