package wire

import (
	"bytes"
	"errors"
	"io"
	"math"
	"strconv"
	"testing"
)

func TestFrameHeaderGolden(t *testing.T) {
	for _, tc := range []struct {
		f    Flags
		n    int
		want []byte
	}{
		{0, 0, []byte{0x00, 0x00}},
		{FlagMore, 255, []byte{0x01, 0xff}},
		{0, 256, []byte{0x04, 0x00, 0x00, 0x01, 0x00}},
		{FlagMore, 1 << 24, []byte{0x05, 0x01, 0x00, 0x00, 0x00}},
		{FlagCommand, 9, []byte{0x02, 0x09}},
		{FlagLong, 1, []byte{0x00, 0x01}}, // FlagLong in f is ignored
		{FlagMore | FlagLong, math.MaxInt32, []byte{0x05, 0x7f, 0xff, 0xff, 0xff}},
	} {
		got := AppendFrameHeader([]byte{0xaa}, tc.f, tc.n)
		if !bytes.Equal(got[1:], tc.want) || got[0] != 0xaa {
			t.Errorf("AppendFrameHeader(%v, %d) got % x, want aa % x", tc.f, tc.n, got, tc.want)
		}
		if got, want := FrameHeaderLen(tc.n), len(tc.want); got != want {
			t.Errorf("FrameHeaderLen(%d) got %d, want %d", tc.n, got, want)
		}
		f, n, h, err := ParseFrameHeader(append(tc.want, 0xbb))
		wantF := tc.f &^ FlagLong
		if len(tc.want) == 5 {
			wantF |= FlagLong
		}
		if f != wantF || n != tc.n || h != len(tc.want) || err != nil {
			t.Errorf("ParseFrameHeader(% x) got (%v, %d, %d, %v), want (%v, %d, %d, nil)", tc.want, f, n, h, err, wantF, tc.n, len(tc.want))
		}
	}
}

func TestAppendFrameHeaderPanics(t *testing.T) {
	cases := []struct {
		f Flags
		n int
	}{{0, -1}, {0x08, 1}, {0x80, 1}}
	if strconv.IntSize == 64 {
		var tooLong uint64 = MaxFrameLen + 1
		cases = append(cases, struct {
			f Flags
			n int
		}{0, int(tooLong)})
	}
	for _, tc := range cases {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("AppendFrameHeader(%v, %d) got no panic, want one", tc.f, tc.n)
				}
			}()
			AppendFrameHeader(nil, tc.f, tc.n)
		}()
	}
}

func TestAppendFrame(t *testing.T) {
	long := bytes.Repeat([]byte{'x'}, 300)
	for _, tc := range []struct {
		more    bool
		payload []byte
		want    []byte
	}{
		{false, nil, []byte{0, 0}},
		{true, []byte("ab"), []byte{1, 2, 'a', 'b'}},
		{false, long, append([]byte{4, 0, 0, 1, 0x2c}, long...)},
	} {
		if got := AppendFrame(nil, tc.more, tc.payload); !bytes.Equal(got, tc.want) {
			t.Errorf("AppendFrame(%v, %d bytes) got % x, want % x", tc.more, len(tc.payload), got, tc.want)
		}
	}
}

func TestParseFrameHeaderTruncated(t *testing.T) {
	for _, hdr := range [][]byte{{0x01, 0x05}, {0x04, 0, 0, 1, 0}, {0x06, 0, 0, 0, 9}} {
		for i := range len(hdr) {
			if _, _, h, err := ParseFrameHeader(hdr[:i]); err != io.ErrUnexpectedEOF || h != 0 {
				t.Errorf("ParseFrameHeader(% x) got (hdrLen %d, %v), want (0, io.ErrUnexpectedEOF)", hdr[:i], h, err)
			}
		}
	}
}

func TestParseFrameHeaderMalformed(t *testing.T) {
	for _, tc := range []struct {
		in   []byte
		want error
	}{
		// Detected from the flags byte alone.
		{[]byte{0x08}, ErrMalformed},
		{[]byte{0x10}, ErrMalformed},
		{[]byte{0x80}, ErrMalformed},
		{[]byte{0xff}, ErrMalformed},
		{[]byte{0x03}, ErrMalformed}, // COMMAND|MORE
		{[]byte{0x07}, ErrMalformed}, // COMMAND|MORE|LONG
		// Detected once the length is read, before any payload.
		{[]byte{0x02, 0x00}, ErrMalformed},
		{[]byte{0x06, 0, 0, 0, 0}, ErrMalformed},
		{[]byte{0x06, 0, 0, 0x04, 0x01}, ErrFrameTooLarge},
		{[]byte{0x06, 0xff, 0xff, 0xff, 0xff}, ErrFrameTooLarge},
	} {
		if _, _, _, err := ParseFrameHeader(tc.in); !errors.Is(err, tc.want) {
			t.Errorf("ParseFrameHeader(% x) got %v, want %v", tc.in, err, tc.want)
		}
	}
	// The largest command header is fine.
	if _, n, _, err := ParseFrameHeader([]byte{0x06, 0, 0, 0x04, 0x00}); n != MaxCommandLen || err != nil {
		t.Errorf("command header of 1024 got (%d, %v), want (1024, nil)", n, err)
	}
}

func TestFlagsString(t *testing.T) {
	for _, tc := range []struct {
		f    Flags
		want string
	}{
		{0, "0"}, {FlagMore, "MORE"}, {FlagCommand, "COMMAND"},
		{FlagMore | FlagLong, "MORE|LONG"}, {0x7, "MORE|COMMAND|LONG"}, {0x18 | FlagMore, "MORE|0x18"},
	} {
		if got := tc.f.String(); got != tc.want {
			t.Errorf("Flags(%#x).String() got %q, want %q", uint8(tc.f), got, tc.want)
		}
	}
}

func TestFrameNoAllocs(t *testing.T) {
	buf := make([]byte, 0, 1024)
	payload := make([]byte, 300)
	hdr := []byte{0x05, 0, 0, 1, 0}
	if a := testing.AllocsPerRun(100, func() { buf = AppendFrame(buf[:0], true, payload) }); a != 0 {
		t.Errorf("AppendFrame allocs got %v, want 0", a)
	}
	if a := testing.AllocsPerRun(100, func() { buf = AppendFrameHeader(buf[:0], FlagMore, 7) }); a != 0 {
		t.Errorf("AppendFrameHeader allocs got %v, want 0", a)
	}
	if a := testing.AllocsPerRun(100, func() { ParseFrameHeader(hdr) }); a != 0 {
		t.Errorf("ParseFrameHeader allocs got %v, want 0", a)
	}
}
