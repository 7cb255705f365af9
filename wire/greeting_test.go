package wire

import (
	"bytes"
	"errors"
	"io"
	"math"
	"reflect"
	"strings"
	"testing"
	"testing/iotest"
	"time"
)

// fullGreeting sets every field, so round trips cover every property.
var fullGreeting = Greeting{
	Major: 1, Minor: 3, Type: Dealer, Acks: true, Session: seq16(7),
	MaxMessageSize: math.MaxUint64, HeartbeatInterval: 250 * time.Millisecond,
	HeartbeatTimeout: math.MaxUint32 * time.Millisecond, Window: math.MaxUint32,
	RoutingID: bytes.Repeat([]byte{0xee}, 255),
}

func TestGreetingRoundTrip(t *testing.T) {
	for _, g := range []Greeting{
		fullGreeting,
		{Major: 1},
		{Major: 1, Type: Router, RoutingID: []byte{}},
		{Major: 1, Type: XSub, Window: 1, HeartbeatTimeout: time.Millisecond},
	} {
		b := g.Append([]byte("prefix"))
		got, n, err := ParseGreeting(b[len("prefix"):])
		if err != nil || n != len(b)-len("prefix") {
			t.Fatalf("ParseGreeting(%+v) got (n=%d, %v), want (n=%d, nil)", g, n, err, len(b)-len("prefix"))
		}
		if !reflect.DeepEqual(got, g) {
			t.Errorf("round trip got %+v, want %+v", got, g)
		}
		// Trailing bytes (the first frames) are not part of the greeting.
		if _, n2, err := ParseGreeting(append(b[len("prefix"):], 0, 1, 2)); n2 != n || err != nil {
			t.Errorf("with trailing bytes got (n=%d, %v), want (n=%d, nil)", n2, err, n)
		}
	}
}

// TestGreetingAppendAllocatesOnce: Append sizes its buffer once, however
// many properties the greeting carries, and not at all into room enough.
func TestGreetingAppendAllocatesOnce(t *testing.T) {
	g := fullGreeting
	if a := testing.AllocsPerRun(100, func() { g.Append(nil) }); a != 1 {
		t.Errorf("Append(nil) got %v allocations, want 1", a)
	}
	buf := make([]byte, 0, 512)
	if a := testing.AllocsPerRun(100, func() { g.Append(buf[:0]) }); a != 0 {
		t.Errorf("Append into 512 bytes of room got %v allocations, want 0", a)
	}
}

func TestGreetingEmptyRoutingIDIsPresent(t *testing.T) {
	g := Greeting{Major: 1, RoutingID: []byte{}}
	got, _, err := ParseGreeting(g.Append(nil))
	if err != nil || got.RoutingID == nil || len(got.RoutingID) != 0 {
		t.Errorf("got RoutingID %#v (err %v), want non-nil empty", got.RoutingID, err)
	}
}

func TestGreetingRoutingIDAliasesInput(t *testing.T) {
	b := (&Greeting{Major: 1, RoutingID: []byte("abc")}).Append(nil)
	b = append(b, "next"...)
	g, _, err := ParseGreeting(b)
	if err != nil {
		t.Fatal(err)
	}
	b[len(b)-len("next")-1] = 'X'
	if got, want := string(g.RoutingID), "abX"; got != want {
		t.Errorf("RoutingID after changing input got %q, want %q (aliased)", got, want)
	}
	if cap(g.RoutingID) != 3 {
		t.Errorf("cap(RoutingID) got %d, want 3 so appends cannot overwrite the input", cap(g.RoutingID))
	}
}

func TestGreetingAppendDurations(t *testing.T) {
	for _, tc := range []struct {
		d    time.Duration
		want time.Duration
	}{
		{-time.Second, 0},
		{0, 0},
		{1, time.Millisecond},
		{1500 * time.Microsecond, 2 * time.Millisecond},
		{time.Hour, time.Hour},
		{math.MaxInt64, math.MaxUint32 * time.Millisecond},
	} {
		g := Greeting{Major: 1, HeartbeatInterval: tc.d, HeartbeatTimeout: tc.d}
		got, _, err := ParseGreeting(g.Append(nil))
		if err != nil || got.HeartbeatInterval != tc.want || got.HeartbeatTimeout != tc.want {
			t.Errorf("duration %v: got (%v, %v, %v), want (%v, %v, nil)", tc.d, got.HeartbeatInterval, got.HeartbeatTimeout, err, tc.want, tc.want)
		}
	}
}

func TestGreetingAppendPanicsOnLongRoutingID(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Errorf("Append with a 256-byte RoutingID got no panic, want one")
		}
	}()
	(&Greeting{RoutingID: make([]byte, 256)}).Append(nil)
}

func TestParseGreetingTruncated(t *testing.T) {
	b := fullGreeting.Append(nil)
	for i := range len(b) {
		if _, n, err := ParseGreeting(b[:i]); err != io.ErrUnexpectedEOF || n != 0 {
			t.Fatalf("prefix of %d/%d bytes: got (n=%d, %v), want (0, io.ErrUnexpectedEOF)", i, len(b), n, err)
		}
	}
}

func TestParseGreetingBadMagicEarly(t *testing.T) {
	for _, in := range []string{"G", "GET ", "GET / HTTP/1.1\r\n", "WIX", "wisp\x01\x00", "\x00"} {
		if _, _, err := ParseGreeting([]byte(in)); !errors.Is(err, ErrBadMagic) {
			t.Errorf("ParseGreeting(%q) got %v, want ErrBadMagic", in, err)
		}
	}
}

func TestParseGreetingVersion(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want Greeting
	}{
		{"WISP\x02", Greeting{Major: 2}},
		{"WISP\x00\x05", Greeting{Major: 0, Minor: 5}},
		{"WISP\x02\x07\x08\xff", Greeting{Major: 2, Minor: 7, Type: Push, Acks: true}},
		{"WISP\x02\x07\x08\x01" + strings.Repeat("z", 100), Greeting{Major: 2, Minor: 7, Type: Push, Acks: true}},
	} {
		g, n, err := ParseGreeting([]byte(tc.in))
		if !errors.Is(err, ErrVersion) || n != 0 || !reflect.DeepEqual(g, tc.want) {
			t.Errorf("ParseGreeting(%q) got (%+v, %d, %v), want (%+v, 0, ErrVersion)", tc.in, g, n, err, tc.want)
		}
	}
}

// greetingWithProps builds a v1.0 greeting around a raw properties block,
// whose declared length may differ from its actual one.
func greetingWithProps(declared int, props ...byte) []byte {
	b := (&Greeting{Major: 1, Type: Push}).Append(nil)
	b[24], b[25] = byte(declared>>8), byte(declared)
	return append(b, props...)
}

func TestParseGreetingMalformed(t *testing.T) {
	for _, tc := range []struct {
		name string
		in   []byte
		want error
	}{
		{"properties too long, rejected before they arrive", greetingWithProps(1025), ErrMalformed},
		{"properties length 0xffff", greetingWithProps(0xffff), ErrMalformed},
		{"half a property header", greetingWithProps(1, 9), ErrMalformed},
		{"value runs past the block", greetingWithProps(3, 9, 2, 0), ErrMalformed},
		{"duplicate known key", greetingWithProps(12, 4, 4, 0, 0, 0, 1, 4, 4, 0, 0, 0, 1), ErrMalformed},
		{"duplicate unknown key", greetingWithProps(4, 200, 0, 200, 0), ErrMalformed},
		{"duplicate routing-id", greetingWithProps(4, 5, 0, 5, 0), ErrMalformed},
		{"max-message-size of 4 bytes", greetingWithProps(6, 1, 4, 0, 0, 0, 1), ErrMalformed},
		{"heartbeat-interval of 8 bytes", greetingWithProps(10, 2, 8, 0, 0, 0, 0, 0, 0, 0, 1), ErrMalformed},
		{"heartbeat-timeout of 0 bytes", greetingWithProps(2, 3, 0), ErrMalformed},
		{"window of 5 bytes", greetingWithProps(7, 4, 5, 0, 0, 0, 0, 1), ErrMalformed},
	} {
		if _, n, err := ParseGreeting(tc.in); !errors.Is(err, tc.want) || n != 0 {
			t.Errorf("%s: got (n=%d, %v), want (0, %v)", tc.name, n, err, tc.want)
		}
	}
}

func TestParseGreetingIgnoresUnknown(t *testing.T) {
	in := greetingWithProps(11, 200, 3, 1, 2, 3, 4, 4, 0, 0, 0, 9)
	in[7] = 0xfe // every flag but ACKS
	g, n, err := ParseGreeting(in)
	want := Greeting{Major: 1, Type: Push, Window: 9}
	if err != nil || n != len(in) || !reflect.DeepEqual(g, want) {
		t.Errorf("got (%+v, %d, %v), want (%+v, %d, nil)", g, n, err, want, len(in))
	}
}

func TestGreetingNoAllocs(t *testing.T) {
	buf := make([]byte, 0, 512)
	enc := fullGreeting.Append(nil)
	if a := testing.AllocsPerRun(100, func() { buf = fullGreeting.Append(buf[:0]) }); a != 0 {
		t.Errorf("Greeting.Append allocs got %v, want 0", a)
	}
	if a := testing.AllocsPerRun(100, func() { ParseGreeting(enc) }); a != 0 {
		t.Errorf("ParseGreeting allocs got %v, want 0", a)
	}
}

func TestReadGreeting(t *testing.T) {
	enc := fullGreeting.Append(nil)
	for _, name := range []string{"whole", "one byte at a time"} {
		var r io.Reader = bytes.NewReader(append(enc[:len(enc):len(enc)], "frames"...))
		if name != "whole" {
			r = iotest.OneByteReader(r)
		}
		g, err := ReadGreeting(r)
		if err != nil || !reflect.DeepEqual(g, fullGreeting) {
			t.Errorf("%s: got (%+v, %v), want (%+v, nil)", name, g, err, fullGreeting)
		}
		rest, _ := io.ReadAll(r)
		if string(rest) != "frames" {
			t.Errorf("%s: bytes left after the greeting got %q, want %q", name, rest, "frames")
		}
	}
}

func TestReadGreetingErrors(t *testing.T) {
	enc := fullGreeting.Append(nil)
	for _, tc := range []struct {
		name string
		in   []byte
		want error
	}{
		{"http", []byte("GET / HTTP/1.1\r\n\r\n"), ErrBadMagic},
		{"short garbage then EOF", []byte("GE"), ErrBadMagic},
		{"version 2", []byte("WISP\x02\x00\x08\x00"), ErrVersion},
		{"properties too long", greetingWithProps(2000), ErrMalformed},
		{"bad property", greetingWithProps(2, 1, 0), ErrMalformed},
		{"empty", nil, io.EOF},
		{"truncated fixed part", enc[:20], io.ErrUnexpectedEOF},
		{"truncated properties", enc[:len(enc)-1], io.ErrUnexpectedEOF},
	} {
		if _, err := ReadGreeting(bytes.NewReader(tc.in)); !errors.Is(err, tc.want) {
			t.Errorf("%s: got %v, want %v", tc.name, err, tc.want)
		}
	}
}
