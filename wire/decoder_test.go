package wire

import (
	"bytes"
	"errors"
	"io"
	"reflect"
	"testing"
)

// mixedItems is a valid stream exercising every kind of frame.
var mixedItems = []Item{
	{IsCommand: true, Command: Command{ID: CmdResume, Seq: 5}},
	{Frame: []byte("single")},
	{Frame: []byte{}, More: true},
	{Frame: bytes.Repeat([]byte{'L'}, 1000), More: true},
	{Frame: []byte("end")},
	{IsCommand: true, Command: Command{ID: CmdPing, Data: []byte("p")}},
	{Frame: []byte{}},
	{IsCommand: true, Command: Command{ID: CmdError, Data: []byte("bye")}},
}

func encodeItems(items []Item) []byte {
	var b []byte
	for _, it := range items {
		b = appendItem(b, it)
	}
	return b
}

func TestDecoderWhole(t *testing.T) {
	b := encodeItems(mixedItems)
	var d Decoder
	for i, want := range mixedItems {
		it, n, err := d.Decode(b)
		if err != nil || !reflect.DeepEqual(it, want) {
			t.Fatalf("item %d: got (%+v, %v), want (%+v, nil)", i, it, err, want)
		}
		if d.Need() != 0 {
			t.Errorf("item %d: Need() after success got %d, want 0", i, d.Need())
		}
		b = b[n:]
	}
	if _, n, err := d.Decode(b); err != io.ErrUnexpectedEOF || n != 0 || len(b) != 0 {
		t.Errorf("at end got (n=%d, %v, %d bytes left), want (0, io.ErrUnexpectedEOF, 0)", n, err, len(b))
	}
}

// TestDecoderTruncated feeds the stream one byte at a time, as a slow
// connection would, and checks that Need never asks for less than is
// missing nor more than the frame it is in.
func TestDecoderTruncated(t *testing.T) {
	stream := encodeItems(mixedItems)
	var d Decoder
	var got []Item
	start := 0 // start of the frame being decoded in stream
	for end := start; end <= len(stream); end++ {
		it, n, err := d.Decode(stream[start:end])
		if err == io.ErrUnexpectedEOF {
			if n != 0 {
				t.Fatalf("EOF with n=%d, want 0", n)
			}
			if need := d.Need(); need <= end-start || start+need > len(stream) {
				t.Fatalf("at %d..%d: Need() got %d, want > %d and within the stream", start, end, need, end-start)
			}
			continue
		}
		if err != nil {
			t.Fatalf("at %d..%d: got %v, want nil", start, end, err)
		}
		if n != end-start {
			t.Fatalf("at %d..%d: consumed %d, want the whole %d (nothing earlier was whole)", start, end, n, end-start)
		}
		got = append(got, it)
		start = end
	}
	if !reflect.DeepEqual(got, mixedItems) {
		t.Errorf("got %+v, want %+v", got, mixedItems)
	}
}

func TestDecoderNeed(t *testing.T) {
	for _, tc := range []struct {
		in   []byte
		want int
	}{
		{nil, 1},
		{[]byte{0x00}, 2},
		{[]byte{0x04}, 5},
		{[]byte{0x04, 0, 0}, 5},
		{[]byte{0x00, 0x05, 'h'}, 7},
		{[]byte{0x05, 0, 0, 1, 0, 'x'}, 261},
		{[]byte{0x02, 0x09, 0x02}, 11},
	} {
		var d Decoder
		if _, _, err := d.Decode(tc.in); err != io.ErrUnexpectedEOF || d.Need() != tc.want {
			t.Errorf("Decode(% x) got (%v, Need %d), want (io.ErrUnexpectedEOF, Need %d)", tc.in, err, d.Need(), tc.want)
		}
	}
}

// headers builds data frame headers without payloads: enough to trigger the
// limits, which must fire before the payload is present.
func header(more bool, n int) []byte {
	f := Flags(0)
	if more {
		f = FlagMore
	}
	return AppendFrameHeader(nil, f, n)
}

func TestDecoderMaxMessageSize(t *testing.T) {
	d := Decoder{MaxMessageSize: 10}
	five := AppendFrame(nil, true, []byte("12345"))
	if _, _, err := d.Decode(five); err != nil {
		t.Fatal(err)
	}
	// 5 + 6 > 10: refused on the header alone.
	if _, n, err := d.Decode(header(false, 6)); !errors.Is(err, ErrFrameTooLarge) || n != 0 {
		t.Errorf("frame taking message to 11: got (n=%d, %v), want (0, ErrFrameTooLarge)", n, err)
	}
	// 5 + 5 == 10 is fine, and completes the message.
	if _, _, err := d.Decode(AppendFrame(nil, false, []byte("67890"))); err != nil {
		t.Errorf("frame taking message to 10: got %v, want nil", err)
	}
	// A new message starts from 0 again.
	if _, _, err := d.Decode(AppendFrame(nil, false, make([]byte, 10))); err != nil {
		t.Errorf("new message of 10: got %v, want nil", err)
	}
	if _, _, err := d.Decode(header(true, 1<<30)); !errors.Is(err, ErrFrameTooLarge) {
		t.Errorf("1 GiB header: got %v, want ErrFrameTooLarge", err)
	}
	// Commands do not count towards messages.
	if _, _, err := d.Decode(Command{ID: CmdPing, Data: make([]byte, 16)}.Append(nil)); err != nil {
		t.Errorf("PING with a small MaxMessageSize: got %v, want nil", err)
	}
	// Lowering the limit below a message in progress must not wrap around.
	d.Reset()
	d.MaxMessageSize = 100
	if _, _, err := d.Decode(AppendFrame(nil, true, make([]byte, 50))); err != nil {
		t.Fatal(err)
	}
	d.MaxMessageSize = 10
	if _, _, err := d.Decode(header(false, 0)); !errors.Is(err, ErrFrameTooLarge) {
		t.Errorf("after lowering the limit: got %v, want ErrFrameTooLarge", err)
	}
}

func TestDecoderFramesPerMessage(t *testing.T) {
	var d Decoder
	more := AppendFrame(nil, true, nil)
	for i := range MaxFramesPerMessage - 1 {
		if _, _, err := d.Decode(more); err != nil {
			t.Fatalf("frame %d: %v", i+1, err)
		}
	}
	// Frame 1024 may only be the last one.
	if _, _, err := d.Decode(header(true, 0)); !errors.Is(err, ErrFrameTooLarge) {
		t.Errorf("frame 1024 with MORE: got %v, want ErrFrameTooLarge", err)
	}
	if it, _, err := d.Decode(AppendFrame(nil, false, []byte("x"))); err != nil || it.More {
		t.Errorf("frame 1024 without MORE: got (%+v, %v), want last frame, nil", it, err)
	}
	// And the count starts over.
	if _, _, err := d.Decode(more); err != nil {
		t.Errorf("first frame of the next message: got %v, want nil", err)
	}
}

func TestDecoderCommandInsideMessage(t *testing.T) {
	var d Decoder
	if _, _, err := d.Decode(AppendFrame(nil, true, []byte("a"))); err != nil {
		t.Fatal(err)
	}
	ack := Command{ID: CmdAck, Seq: 1}.Append(nil)
	// Detected on the header, before the payload.
	if _, n, err := d.Decode(ack[:2]); !errors.Is(err, ErrMalformed) || n != 0 {
		t.Errorf("command inside a message: got (n=%d, %v), want (0, ErrMalformed)", n, err)
	}
	d.Reset()
	if it, _, err := d.Decode(ack); err != nil || !it.IsCommand {
		t.Errorf("command after Reset: got (%+v, %v), want the ACK", it, err)
	}
}

func TestDecoderErrors(t *testing.T) {
	for _, tc := range []struct {
		name string
		in   []byte
		want error
	}{
		{"reserved flag", []byte{0x20}, ErrMalformed},
		{"command with MORE", []byte{0x03}, ErrMalformed},
		{"oversized command, header only", []byte{0x06, 0, 0, 0x10, 0}, ErrFrameTooLarge},
		{"unknown command", []byte{0x02, 0x01, 0x09}, ErrUnknownCommand},
		{"bad RESUME", []byte{0x02, 0x02, 0x01, 0x00}, ErrMalformed},
		{"empty command", []byte{0x02, 0x00}, ErrMalformed},
	} {
		var d Decoder
		if _, n, err := d.Decode(tc.in); !errors.Is(err, tc.want) || n != 0 {
			t.Errorf("%s: got (n=%d, %v), want (0, %v)", tc.name, n, err, tc.want)
		}
	}
}

func TestDecoderFrameCapped(t *testing.T) {
	b := append(AppendFrame(nil, false, []byte("ab")), 0x00, 0x00)
	var d Decoder
	it, _, err := d.Decode(b)
	if err != nil || cap(it.Frame) != 2 {
		t.Errorf("got (cap %d, %v), want (cap 2, nil) so appends cannot overwrite the next frame", cap(it.Frame), err)
	}
}

func TestDecoderNoAllocs(t *testing.T) {
	stream := encodeItems(mixedItems)
	var d Decoder
	if a := testing.AllocsPerRun(100, func() {
		for b := stream; len(b) > 0; {
			_, n, err := d.Decode(b)
			if err != nil {
				panic(err)
			}
			b = b[n:]
		}
		d.Decode(stream[:3]) // the EOF path too
	}); a != 0 {
		t.Errorf("Decode allocs got %v, want 0", a)
	}
}
