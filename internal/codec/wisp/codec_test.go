package wisp_test

import (
	"bytes"
	"errors"
	"io"
	"math"
	"net"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/wispmq/wisp/internal/codec/wisp"
	"github.com/wispmq/wisp/internal/engine"
	"github.com/wispmq/wisp/wire"
)

func cmdItem(kind engine.CommandKind, seq uint64, data []byte) engine.Item {
	return engine.Item{IsCommand: true, Command: engine.Command{Kind: kind, Seq: seq, Data: data}}
}

// specItems are SPEC.md's frame and command vectors as the codec must
// decode them; encode says whether the codec must also produce exactly
// these bytes.
var specItems = map[string]struct {
	items  []engine.Item
	encode bool
}{
	"frame-short":                  {[]engine.Item{{Frame: []byte("hello")}}, true},
	"frame-long-form-short-length": {[]engine.Item{{Frame: []byte("hi")}}, false},
	"message-multi": {[]engine.Item{
		{Frame: []byte("a"), More: true}, {Frame: []byte{}, More: true}, {Frame: []byte("bc")},
	}, true},
	"message-request": {[]engine.Item{
		{Frame: []byte{0, 0, 0, 42}, More: true}, {Frame: []byte{}, More: true}, {Frame: []byte("hello")},
	}, true},
	"message-request-routed": {[]engine.Item{
		{Frame: []byte("c1"), More: true}, {Frame: []byte{0, 0, 0, 42}, More: true},
		{Frame: []byte{}, More: true}, {Frame: []byte("hello")},
	}, true},
	"message-reply-routed": {[]engine.Item{
		{Frame: []byte("c1"), More: true}, {Frame: []byte{0, 0, 0, 42}, More: true},
		{Frame: []byte{}, More: true}, {Frame: []byte("hi")},
	}, true},
	"cmd-resume":        {[]engine.Item{cmdItem(engine.CmdResume, 1, nil)}, true},
	"cmd-ack":           {[]engine.Item{cmdItem(engine.CmdAck, 1000, nil)}, true},
	"cmd-ping":          {[]engine.Item{cmdItem(engine.CmdPing, 0, []byte{0, 0, 0, 42})}, true},
	"cmd-pong":          {[]engine.Item{cmdItem(engine.CmdPong, 0, []byte{0, 0, 0, 42})}, true},
	"cmd-error":         {[]engine.Item{cmdItem(engine.CmdError, 0, []byte("unsupported version 2.0"))}, true},
	"cmd-subscribe":     {[]engine.Item{cmdItem(engine.CmdSubscribe, 0, []byte("weather."))}, true},
	"cmd-cancel":        {[]engine.Item{cmdItem(engine.CmdCancel, 0, []byte("weather."))}, true},
	"cmd-subscribe-all": {[]engine.Item{cmdItem(engine.CmdSubscribe, 0, []byte{})}, true},
}

// TestSpecVectors: the codec encodes SPEC.md's frames and commands to its
// bytes and decodes its bytes to them.
func TestSpecVectors(t *testing.T) {
	vecs := specVectors(t)
	for name, tc := range specItems {
		want := vector(t, vecs, name)
		c := newCodec(t, 0)
		items, n, err := decodeAll(c, want)
		if err != io.ErrUnexpectedEOF || n != len(want) || !reflect.DeepEqual(items, tc.items) {
			t.Errorf("%s: decode got (%+v, n=%d, %v), want (%+v, n=%d, io.ErrUnexpectedEOF at the end)", name, items, n, err, tc.items, len(want))
		}
		if !tc.encode {
			continue
		}
		var got []byte
		for _, it := range tc.items {
			got = appendItem(c, got, it)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("%s: encode got % x, want % x", name, got, want)
		}
	}
	// frame-long-header is a header alone.
	c := newCodec(t, 0)
	want := vector(t, vecs, "frame-long-header")
	if got := c.AppendFrameHeader(nil, true, 300); !bytes.Equal(got, want) {
		t.Errorf("AppendFrameHeader(more, 300) got % x, want % x", got, want)
	}
	if l, more, h, err := c.DecodeHeader(want); l != 300 || !more || h != len(want) || err != nil {
		t.Errorf("DecodeHeader(% x) got (%d, %v, %d, %v), want (300, true, %d, nil)", want, l, more, h, err, len(want))
	}
}

// TestCommandTable: every engine command has its own WISP/1 command id,
// of the same name, and survives AppendCommand and Decode unchanged.
// CmdSkip, the last, is a decoder's answer only, which WISP/1 never gives:
// it defines no command to ignore.
func TestCommandTable(t *testing.T) {
	if engine.CmdSkip != engine.CmdCancel+1 {
		t.Fatalf("a new engine command precedes CmdSkip: extend this test and the protocol's table")
	}
	if k := engine.CmdSkip + 1; !strings.HasPrefix(k.String(), "CommandKind(") {
		t.Fatalf("engine command %v follows CmdSkip: extend this test and the protocol's table", k)
	}
	samples := map[engine.CommandKind][]engine.Command{
		engine.CmdResume:    {{Seq: 1}, {Seq: math.MaxUint64}},
		engine.CmdAck:       {{Seq: 0}, {Seq: 1000}, {Seq: math.MaxUint64}},
		engine.CmdPing:      {{Data: []byte{}}, {Data: []byte("0123456789abcdef")}},
		engine.CmdPong:      {{Data: []byte{}}, {Data: []byte{0, 0, 0, 42}}},
		engine.CmdError:     {{Data: []byte{}}, {Data: []byte(strings.Repeat("é", 127) + "x")}},
		engine.CmdSubscribe: {{Data: []byte{}}, {Data: bytes.Repeat([]byte{'p'}, engine.MaxPrefixLen)}},
		engine.CmdCancel:    {{Data: []byte{}}, {Data: []byte("weather.")}},
	}
	c := newCodec(t, 0)
	ids := make(map[wire.CommandID]engine.CommandKind)
	for kind := engine.CmdResume; kind <= engine.CmdCancel; kind++ {
		if len(samples[kind]) == 0 {
			t.Fatalf("%v: no samples", kind)
		}
		for _, cmd := range samples[kind] {
			cmd.Kind = kind
			enc := c.AppendCommand([]byte("prefix"), cmd)
			if !bytes.HasPrefix(enc, []byte("prefix")) {
				t.Fatalf("%v: AppendCommand lost the bytes before it", kind)
			}
			enc = enc[len("prefix"):]
			f, l, h, err := wire.ParseFrameHeader(enc)
			if err != nil || f&wire.FlagCommand == 0 || h+l != len(enc) {
				t.Fatalf("%v: AppendCommand got % x, want one command frame", kind, enc)
			}
			wc, err := wire.ParseCommand(enc[h:])
			if err != nil {
				t.Fatalf("%v: wire.ParseCommand(% x) got %v, want nil", kind, enc[h:], err)
			}
			if wc.ID.String() != kind.String() {
				t.Errorf("%v: wire command id got %v, want %v", kind, wc.ID, kind)
			}
			if prev, ok := ids[wc.ID]; ok && prev != kind {
				t.Errorf("%v and %v: both got wire id %v, want distinct", prev, kind, wc.ID)
			}
			ids[wc.ID] = kind
			it, n, err := c.Decode(enc)
			if want := (engine.Item{IsCommand: true, Command: cmd}); err != nil || n != len(enc) || !reflect.DeepEqual(it, want) {
				t.Errorf("%v: Decode(AppendCommand(%+v)) got (%+v, %d, %v), want (%+v, %d, nil)", kind, cmd, it, n, err, want, len(enc))
			}
		}
	}
}

// TestAppendCommandLongErrorReason: an ERROR reason longer than WISP/1
// allows is cut at a character boundary rather than refused, as the engine
// sends whatever reason it has.
func TestAppendCommandLongErrorReason(t *testing.T) {
	c := newCodec(t, 0)
	reason := []byte(strings.Repeat("€", 100)) // 300 bytes
	it, _, err := c.Decode(c.AppendCommand(nil, engine.Command{Kind: engine.CmdError, Data: reason}))
	if err != nil {
		t.Fatalf("Decode got %v, want nil", err)
	}
	got := it.Command.Data
	if len(got) > engine.MaxErrorReason || !utf8.Valid(got) || !bytes.HasPrefix(reason, got) || len(got) < engine.MaxErrorReason-3 {
		t.Errorf("reason got %d bytes (valid UTF-8 %v), want a prefix of at most %d whole characters", len(got), utf8.Valid(got), engine.MaxErrorReason)
	}
}

// TestAppendFrameGolden covers both header forms, with and without MORE.
func TestAppendFrameGolden(t *testing.T) {
	x := func(n int) []byte { return bytes.Repeat([]byte{'x'}, n) }
	for _, tc := range []struct {
		more    bool
		payload []byte
		header  string
	}{
		{false, []byte("hello"), "00 05"},
		{true, []byte("hello"), "01 05"},
		{false, nil, "00 00"},
		{true, []byte{}, "01 00"},
		{false, x(255), "00 ff"},
		{true, x(255), "01 ff"},
		{false, x(256), "04 00 00 01 00"},
		{true, x(300), "05 00 00 01 2c"},
		{false, x(70000), "04 00 01 11 70"},
	} {
		c := newCodec(t, 0)
		hdr := unhex(t, tc.header)
		if got := c.AppendFrameHeader(nil, tc.more, len(tc.payload)); !bytes.Equal(got, hdr) {
			t.Errorf("AppendFrameHeader(%v, %d) got % x, want % x", tc.more, len(tc.payload), got, hdr)
		}
		want := append([]byte("pre"), hdr...)
		want = append(want, tc.payload...)
		if got := c.AppendFrame([]byte("pre"), tc.more, tc.payload); !bytes.Equal(got, want) {
			t.Errorf("AppendFrame(%v, %d bytes) got % x..., want % x...", tc.more, len(tc.payload), got[:min(len(got), 10)], want[:min(len(want), 10)])
		}
		it, n, err := c.Decode(want[len("pre"):])
		if err != nil || n != len(want)-len("pre") || it.IsCommand || it.More != tc.more || !bytes.Equal(it.Frame, tc.payload) {
			t.Errorf("Decode(AppendFrame(%v, %d bytes)) got (more %v, %d bytes, n=%d, %v), want (more %v, %d bytes, n=%d, nil)",
				tc.more, len(tc.payload), it.More, len(it.Frame), n, err, tc.more, len(tc.payload), len(want)-len("pre"))
		}
	}
}

// mixedItems is a valid stream with every kind of command and both header
// forms.
var mixedItems = []engine.Item{
	cmdItem(engine.CmdResume, 5, nil),
	{Frame: []byte("single")},
	{Frame: []byte{}, More: true},
	{Frame: bytes.Repeat([]byte{'L'}, 1000), More: true},
	{Frame: []byte("end")},
	cmdItem(engine.CmdAck, 4, nil),
	cmdItem(engine.CmdPing, 0, []byte("p")),
	cmdItem(engine.CmdPong, 0, []byte{}),
	cmdItem(engine.CmdSubscribe, 0, []byte("topic")),
	cmdItem(engine.CmdCancel, 0, []byte("topic")),
	{Frame: []byte{}},
	cmdItem(engine.CmdError, 0, []byte("bye")),
}

func encodeItems(c engine.Codec, items []engine.Item) []byte {
	var b []byte
	for _, it := range items {
		b = appendItem(c, b, it)
	}
	return b
}

// TestDecodeRoundTrip decodes a stream of messages and commands, checking
// each n and that frames alias the input.
func TestDecodeRoundTrip(t *testing.T) {
	c := newCodec(t, 0)
	stream := encodeItems(c, mixedItems)
	stream = append(stream, 0x00) // the start of a frame not yet complete
	b := stream
	for i, want := range mixedItems {
		it, n, err := c.Decode(b)
		if err != nil || !reflect.DeepEqual(it, want) {
			t.Fatalf("item %d: got (%+v, %v), want (%+v, nil)", i, it, err, want)
		}
		if n != len(appendItem(c, nil, want)) {
			t.Errorf("item %d: n got %d, want %d", i, n, len(appendItem(c, nil, want)))
		}
		if c.Need() != 0 {
			t.Errorf("item %d: Need() after success got %d, want 0", i, c.Need())
		}
		data := it.Frame
		if it.IsCommand {
			data = it.Command.Data
		}
		if len(data) > 0 && &data[len(data)-1] != &b[n-1] {
			t.Errorf("item %d: payload does not alias the input, want it to", i)
		}
		b = b[n:]
	}
	if _, n, err := c.Decode(b); err != io.ErrUnexpectedEOF || n != 0 || c.Need() != 2 {
		t.Errorf("at the end got (n=%d, %v, Need %d), want (0, io.ErrUnexpectedEOF, Need 2)", n, err, c.Need())
	}
}

// TestDecodeTruncated feeds the stream one byte at a time, as a slow
// connection would: until a frame is whole, Decode returns
// io.ErrUnexpectedEOF and Need asks for more than there is, but no more
// than the frame.
func TestDecodeTruncated(t *testing.T) {
	c := newCodec(t, 0)
	stream := encodeItems(c, mixedItems)
	var got []engine.Item
	start := 0 // where the frame being decoded starts in stream
	for end := start; end <= len(stream); end++ {
		it, n, err := c.Decode(stream[start:end])
		if err == io.ErrUnexpectedEOF {
			if n != 0 {
				t.Fatalf("at %d..%d: io.ErrUnexpectedEOF with n=%d, want 0", start, end, n)
			}
			if need := c.Need(); need <= end-start || start+need > len(stream) {
				t.Fatalf("at %d..%d: Need() got %d, want > %d and within the stream", start, end, need, end-start)
			}
			continue
		}
		if err != nil {
			t.Fatalf("at %d..%d: got %v, want nil", start, end, err)
		}
		if n != end-start {
			t.Fatalf("at %d..%d: n got %d, want the whole %d (no shorter prefix was whole)", start, end, n, end-start)
		}
		got = append(got, cloneItem(it))
		start = end
	}
	if start != len(stream) || !reflect.DeepEqual(got, mixedItems) {
		t.Errorf("got %+v ending at %d, want %+v ending at %d", got, start, mixedItems, len(stream))
	}
}

// TestDataHeader: the payload length of a data frame whose header is whole,
// and false for anything else; it checks no limit and changes no state.
func TestDataHeader(t *testing.T) {
	for _, tc := range []struct {
		in     string
		length int
		ok     bool
	}{
		{"", 0, false},
		{"00", 0, false},
		{"00 05", 5, true},
		{"00 05 68 65", 5, true},
		{"01 00", 0, true},
		{"04 00 00 01", 0, false},
		{"04 00 00 01 2c", 300, true},
		{"05 00 00 01 2c 00", 300, true},
		{"05 ff ff ff ff", math.MaxUint32, true},
		{"04 00 00 00 02 68 69", 2, true}, // long form, short length
		{"02", 0, false},                  // command
		{"02 09 02 00 00 00 00 00 00 03 e8", 0, false},
		{"06 00 00 00 09", 0, false}, // long-form command
		{"03 01", 0, false},          // COMMAND|MORE
		{"08 01", 0, false},          // reserved bit
		{"80 01 00", 0, false},
	} {
		// A small limit: DataHeader must not apply it.
		c := newCodec(t, 10)
		in := unhex(t, tc.in)
		if _, _, err := c.Decode([]byte{0x04, 0, 0}); err != io.ErrUnexpectedEOF || c.Need() != 5 {
			t.Fatalf("Decode of a partial header got (%v, Need %d), want (io.ErrUnexpectedEOF, Need 5)", err, c.Need())
		}
		length, ok := c.DataHeader(in)
		if ok != tc.ok || (ok && length != tc.length) {
			t.Errorf("DataHeader(%s) got (%d, %v), want (%d, %v)", tc.in, length, ok, tc.length, tc.ok)
		}
		if c.Need() != 5 {
			t.Errorf("DataHeader(%s) changed Need from 5 to %d, want unchanged", tc.in, c.Need())
		}
	}
	// Nor does it count the frame: the message can still take the limit.
	c := newCodec(t, 10)
	if _, ok := c.DataHeader(unhex(t, "01 0a")); !ok {
		t.Fatal("DataHeader(01 0a) got false, want true")
	}
	if _, _, err := c.Decode(wire.AppendFrame(nil, false, make([]byte, 10))); err != nil {
		t.Errorf("10-byte message after DataHeader got %v, want nil", err)
	}
}

// TestDecodeHeader: the caller reads the payload itself after the header,
// which counts towards the message exactly as Decode would count it.
func TestDecodeHeader(t *testing.T) {
	c := newCodec(t, 310)
	big := bytes.Repeat([]byte{'B'}, 300)
	stream := c.AppendFrame(nil, true, big)
	stream = c.AppendFrame(stream, true, []byte("0123456789"))
	stream = c.AppendFrame(stream, false, []byte{})

	length, more, h, err := c.DecodeHeader(stream)
	if length != 300 || !more || h != 5 || err != nil {
		t.Fatalf("DecodeHeader got (%d, %v, %d, %v), want (300, true, 5, nil)", length, more, h, err)
	}
	if payload := stream[h : h+length]; !bytes.Equal(payload, big) {
		t.Errorf("payload after the header got %q..., want %q...", payload[:8], big[:8])
	}
	rest := stream[h+length:]
	it, n, err := c.Decode(rest)
	if err != nil || !bytes.Equal(it.Frame, []byte("0123456789")) || !it.More {
		t.Fatalf("Decode after DecodeHeader got (%+v, %v), want the second frame", it, err)
	}
	rest = rest[n:]
	if length, more, h, err := c.DecodeHeader(rest); length != 0 || more || h != 2 || err != nil {
		t.Errorf("DecodeHeader of the last frame got (%d, %v, %d, %v), want (0, false, 2, nil)", length, more, h, err)
	}

	// The header counted: 300 + 10 fills the limit of 310.
	c = newCodec(t, 310)
	if _, _, _, err := c.DecodeHeader(stream); err != nil {
		t.Fatal(err)
	}
	if _, _, err := c.Decode(c.AppendFrame(nil, false, make([]byte, 11))); !errors.Is(err, wire.ErrFrameTooLarge) {
		t.Errorf("frame taking the message to 311 after DecodeHeader got %v, want wire.ErrFrameTooLarge", err)
	}

	c = newCodec(t, 0)
	if _, _, _, err := c.DecodeHeader(unhex(t, "04 00 00")); err != io.ErrUnexpectedEOF || c.Need() != 5 {
		t.Errorf("DecodeHeader of a partial header got (%v, Need %d), want (io.ErrUnexpectedEOF, Need 5)", err, c.Need())
	}
	if _, _, _, err := c.DecodeHeader(c.AppendCommand(nil, engine.Command{Kind: engine.CmdAck, Seq: 1})); err == nil || err == io.ErrUnexpectedEOF {
		t.Errorf("DecodeHeader of a command got %v, want a protocol error", err)
	}
}

// TestDecodeEnforcesOwnMaxMessageSize: the codec holds the peer to the
// max-message-size this side stated, not the peer's, and refuses a frame
// on its header, before the payload arrives.
func TestDecodeEnforcesOwnMaxMessageSize(t *testing.T) {
	mine, theirs := newHandshake(t,
		&engine.PeerInfo{Type: engine.Pull, Session: seq16(1), MaxMessageSize: 100},
		&engine.PeerInfo{Type: engine.Push, Session: seq16(2), MaxMessageSize: 10})
	c := mine.Codec
	// The peer stated 10: that binds what we send it, not what we accept.
	if _, _, err := c.Decode(c.AppendFrame(nil, false, make([]byte, 50))); err != nil {
		t.Errorf("50-byte frame, the peer having stated 10: got %v, want nil", err)
	}
	if _, _, err := c.Decode(c.AppendFrame(nil, false, make([]byte, 100))); err != nil {
		t.Errorf("100-byte frame got %v, want nil", err)
	}
	if _, n, err := c.Decode(c.AppendFrameHeader(nil, false, 101)); !errors.Is(err, wire.ErrFrameTooLarge) || n != 0 {
		t.Errorf("header of a 101-byte frame, no payload: got (n=%d, %v), want (0, wire.ErrFrameTooLarge)", n, err)
	}
	if _, _, _, err := c.DecodeHeader(c.AppendFrameHeader(nil, true, 101)); !errors.Is(err, wire.ErrFrameTooLarge) {
		t.Errorf("DecodeHeader of a 101-byte frame got %v, want wire.ErrFrameTooLarge", err)
	}
	if _, _, err := c.Decode(c.AppendFrame(nil, true, make([]byte, 60))); err != nil {
		t.Fatal(err)
	}
	if _, _, err := c.Decode(c.AppendFrameHeader(nil, false, 41)); !errors.Is(err, wire.ErrFrameTooLarge) {
		t.Errorf("second frame taking the message to 101 got %v, want wire.ErrFrameTooLarge", err)
	}
	// And the peer holds us to the 10 it stated.
	if _, _, err := theirs.Codec.Decode(c.AppendFrameHeader(nil, false, 11)); !errors.Is(err, wire.ErrFrameTooLarge) {
		t.Errorf("peer that stated 10, 11-byte header: got %v, want wire.ErrFrameTooLarge", err)
	}
	// Stating nothing means the frame format's own limit.
	c = newCodec(t, 0)
	if _, _, err := c.Decode(c.AppendFrameHeader(nil, false, 1<<30)); err != io.ErrUnexpectedEOF || c.Need() != 5+1<<30 {
		t.Errorf("1 GiB header with no limit got (%v, Need %d), want (io.ErrUnexpectedEOF, Need %d)", err, c.Need(), 5+1<<30)
	}
}

// TestOversizedFrameInRest: a peer that sends an oversized frame header
// with its greeting is refused from Rest, without the payload.
func TestOversizedFrameInRest(t *testing.T) {
	for _, network := range networks {
		t.Run(network, func(t *testing.T) {
			self := engine.PeerInfo{Type: engine.Pull, Session: seq16(1), MaxMessageSize: 1000}
			send := (&wire.Greeting{Major: 1, Type: wire.Push, Session: wire.SessionID(seq16(2))}).Append(nil)
			send = wire.AppendFrameHeader(send, 0, 1001)
			local, remote := connPair(t, network)
			peer := goPeer(func() error {
				remote.SetDeadline(time.Now().Add(5 * time.Second))
				if _, err := remote.Write(send); err != nil {
					return err
				}
				_, err := io.ReadFull(remote, make([]byte, len(wisp.AppendGreeting(nil, &self))))
				return err
			})
			r := await(t, startHandshake(local, &self, 5*time.Second), "handshake")
			if err := await(t, peer, "peer"); err != nil {
				t.Fatal(err)
			}
			if r.err != nil {
				t.Fatalf("Handshake got %v, want nil", r.err)
			}
			rest, err := readHeader(local, r.h.Rest, 5)
			if err != nil {
				t.Fatal(err)
			}
			if _, _, err := r.h.Codec.Decode(rest); !errors.Is(err, wire.ErrFrameTooLarge) {
				t.Errorf("Decode(% x) got %v, want wire.ErrFrameTooLarge", rest, err)
			}
		})
	}
}

// readHeader returns rest completed to n bytes from nc.
func readHeader(nc net.Conn, rest []byte, n int) ([]byte, error) {
	b := append([]byte(nil), rest...)
	if len(b) < n {
		more := make([]byte, n-len(b))
		if _, err := io.ReadFull(nc, more); err != nil {
			return nil, err
		}
		b = append(b, more...)
	}
	return b, nil
}

// TestConversation: two handshakes, then each side writes with its codec
// and reads with its codec what the other wrote.
func TestConversation(t *testing.T) {
	for _, network := range networks {
		t.Run(network, func(t *testing.T) {
			a := engine.PeerInfo{Type: engine.Dealer, Session: seq16(1), Acks: true, MaxMessageSize: 1 << 20}
			b := engine.PeerInfo{Type: engine.Router, Session: seq16(2), Acks: true}
			ca, cb := connPair(t, network)
			ra, rb := startHandshake(ca, &a, 5*time.Second), startHandshake(cb, &b, 5*time.Second)
			ha, hb := await(t, ra, "handshake a"), await(t, rb, "handshake b")
			if ha.err != nil || hb.err != nil {
				t.Fatalf("handshakes got (%v, %v), want (nil, nil)", ha.err, hb.err)
			}
			ca.SetDeadline(time.Now().Add(5 * time.Second))
			cb.SetDeadline(time.Now().Add(5 * time.Second))

			big := bytes.Repeat([]byte("0123456789"), 7000)
			fromA := []engine.Item{
				cmdItem(engine.CmdResume, 1, nil),
				{Frame: []byte("a"), More: true}, {Frame: []byte{}, More: true}, {Frame: []byte("bc")},
				{Frame: big},
				cmdItem(engine.CmdAck, 7, nil),
				cmdItem(engine.CmdPing, 0, []byte("ctx")),
			}
			fromB := []engine.Item{cmdItem(engine.CmdPong, 0, []byte("ctx")), cmdItem(engine.CmdAck, 2, nil)}

			// The large frame goes as header then payload, as the engine
			// writes it.
			var out []byte
			for _, it := range fromA {
				if !it.IsCommand && len(it.Frame) > 1000 {
					out = ha.h.Codec.AppendFrameHeader(out, it.More, len(it.Frame))
					out = append(out, it.Frame...)
					continue
				}
				out = appendItem(ha.h.Codec, out, it)
			}
			written := goPeer(func() error { _, err := ca.Write(out); return err })
			got, err := readFrames(cb, hb.h.Codec, hb.h.Rest, len(fromA))
			if err != nil || !reflect.DeepEqual(got, fromA) {
				t.Fatalf("b read %d items (%v), want %d", len(got), err, len(fromA))
			}
			if err := await(t, written, "a's write"); err != nil {
				t.Fatal(err)
			}
			written = goPeer(func() error { _, err := cb.Write(encodeItems(hb.h.Codec, fromB)); return err })
			got, err = readFrames(ca, ha.h.Codec, ha.h.Rest, len(fromB))
			if err != nil || !reflect.DeepEqual(got, fromB) {
				t.Errorf("a read (%+v, %v), want (%+v, nil)", got, err, fromB)
			}
			if err := await(t, written, "b's write"); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// TestCodecConcurrentReadWrite: decoding is the reader's and encoding the
// writer's, so they may run at the same time on one codec (run with -race).
func TestCodecConcurrentReadWrite(t *testing.T) {
	c := newCodec(t, 1<<20)
	stream := encodeItems(c, mixedItems)
	var wg sync.WaitGroup
	wg.Add(2)
	go func() {
		defer wg.Done()
		for range 200 {
			if _, _, err := decodeAll(c, stream); err != io.ErrUnexpectedEOF {
				t.Errorf("decode got %v, want io.ErrUnexpectedEOF at the end", err)
				return
			}
		}
	}()
	go func() {
		defer wg.Done()
		for range 200 {
			buf := encodeItems(c, mixedItems)
			if len(c.AppendFrameHeader(buf[:0], true, 1<<16)) != 5 {
				t.Error("AppendFrameHeader of a 64 KiB frame: got a header other than 5 bytes, want 5")
				return
			}
		}
	}()
	wg.Wait()
}

// TestNoAllocs: the per-frame paths allocate nothing.
func TestNoAllocs(t *testing.T) {
	c := newCodec(t, 1<<20)
	frame := c.AppendFrame(nil, true, bytes.Repeat([]byte{'x'}, 100))
	last := c.AppendFrame(nil, false, bytes.Repeat([]byte{'y'}, 1000))
	ping := c.AppendCommand(nil, engine.Command{Kind: engine.CmdPing, Data: []byte("ctx")})
	ack := c.AppendCommand(nil, engine.Command{Kind: engine.CmdAck, Seq: 99})
	buf := make([]byte, 0, 4096)
	payload := make([]byte, 1000)
	run := append(append(append([]byte(nil), frame...), frame...), last...)
	refs := make([]engine.FrameRef, 0, 8)
	for _, tc := range []struct {
		name string
		f    func()
	}{
		{"Decode of a data frame", func() {
			if _, _, err := c.Decode(frame); err != nil {
				t.Fatal(err)
			}
			if _, _, err := c.Decode(last); err != nil {
				t.Fatal(err)
			}
		}},
		{"Decode of a command", func() {
			if _, _, err := c.Decode(ping); err != nil {
				t.Fatal(err)
			}
			if _, _, err := c.Decode(ack); err != nil {
				t.Fatal(err)
			}
		}},
		{"Decode of a partial frame", func() { c.Decode(frame[:50]); c.Need() }},
		{"DataHeader", func() { c.DataHeader(last) }},
		{"DecodeHeader", func() {
			if _, _, _, err := c.DecodeHeader(last); err != nil {
				t.Fatal(err)
			}
		}},
		{"DecodeData", func() {
			got, _, err := c.DecodeData(run, 0, refs[:0])
			if err != nil || len(got) != 3 {
				t.Fatalf("DecodeData got (%+v, %v), want 3 frames", got, err)
			}
		}},
		{"AppendFrame", func() { buf = c.AppendFrame(buf[:0], true, payload) }},
		{"AppendFrameHeader", func() { buf = c.AppendFrameHeader(buf[:0], false, 1<<20) }},
		{"AppendCommand", func() {
			buf = c.AppendCommand(buf[:0], engine.Command{Kind: engine.CmdAck, Seq: 7})
			buf = c.AppendCommand(buf, engine.Command{Kind: engine.CmdPong, Data: payload[:16]})
		}},
	} {
		if a := testing.AllocsPerRun(100, tc.f); a != 0 {
			t.Errorf("%s: allocs got %v, want 0", tc.name, a)
		}
	}
}

// TestDecodeData: the run of data frames at the start of b, located by
// offsets plus base, up to a command or the end of b.
func TestDecodeData(t *testing.T) {
	c := newCodec(t, 0)
	long := bytes.Repeat([]byte{'L'}, 300)
	var b []byte
	b = c.AppendFrame(b, true, []byte("a"))  // payload at 2..3
	b = c.AppendFrame(b, true, nil)          // 5..5
	b = c.AppendFrame(b, false, long)        // 10..310
	b = c.AppendFrame(b, false, []byte("z")) // 312..313
	atCmd := len(b)
	b = c.AppendCommand(b, engine.Command{Kind: engine.CmdPing, Data: []byte("p")})
	afterCmd := len(b)
	b = c.AppendFrame(b, false, []byte("after"))

	const base = 1000
	old := engine.FrameRef{Start: 1, End: 2}
	refs, n, err := c.DecodeData(b, base, []engine.FrameRef{old})
	want := []engine.FrameRef{old,
		{Start: base + 2, End: base + 3, More: true}, {Start: base + 5, End: base + 5, More: true},
		{Start: base + 10, End: base + 310}, {Start: base + 312, End: base + 313},
	}
	if err != nil || n != atCmd || !reflect.DeepEqual(refs, want) {
		t.Fatalf("DecodeData got (%+v, %d, %v), want (%+v, %d, nil): stop before the command", refs, n, err, want, atCmd)
	}
	for i, payload := range [][]byte{[]byte("a"), {}, long, []byte("z")} {
		r := refs[i+1]
		if got := b[r.Start-base : r.End-base]; !bytes.Equal(got, payload) {
			t.Errorf("frame %d at %d..%d got %q, want %q", i, r.Start, r.End, got, payload)
		}
	}
	if refs, n, err := c.DecodeData(b[atCmd:], 0, nil); err != nil || n != 0 || len(refs) != 0 {
		t.Errorf("DecodeData at a command got (%+v, %d, %v), want (none, 0, nil)", refs, n, err)
	}
	it, k, err := c.Decode(b[atCmd:])
	if err != nil || !it.IsCommand || atCmd+k != afterCmd {
		t.Fatalf("Decode of the command got (%+v, %d, %v)", it, k, err)
	}
	refs, n, err = c.DecodeData(b[afterCmd:], afterCmd, nil)
	if want := []engine.FrameRef{{Start: afterCmd + 2, End: len(b)}}; err != nil || n != len(b)-afterCmd || !reflect.DeepEqual(refs, want) {
		t.Errorf("DecodeData to the end got (%+v, %d, %v), want (%+v, %d, nil)", refs, n, err, want, len(b)-afterCmd)
	}
	if refs, n, err := c.DecodeData(nil, 0, nil); err != nil || n != 0 || len(refs) != 0 {
		t.Errorf("DecodeData(nil) got (%+v, %d, %v), want (none, 0, nil)", refs, n, err)
	}
}

// TestDecodeDataTruncated: on every prefix of a run of data frames,
// DecodeData takes the whole frames and reports io.ErrUnexpectedEOF for an
// incomplete one, with Need counted from where it stopped.
func TestDecodeDataTruncated(t *testing.T) {
	enc := newCodec(t, 0)
	var stream []byte
	var ends []int // where each frame ends
	for _, f := range []struct {
		more bool
		n    int
	}{{true, 3}, {true, 0}, {true, 260}, {false, 1}, {false, 0}} {
		stream = enc.AppendFrame(stream, f.more, bytes.Repeat([]byte{'x'}, f.n))
		ends = append(ends, len(stream))
	}
	for i := 0; i <= len(stream); i++ {
		whole := 0 // bytes of the whole frames in stream[:i]
		frames := 0
		for _, e := range ends {
			if e <= i {
				whole, frames = e, frames+1
			}
		}
		c := newCodec(t, 0)
		refs, n, err := c.DecodeData(stream[:i], 0, nil)
		if len(refs) != frames || n != whole {
			t.Fatalf("prefix of %d: got %d frames in %d bytes, want %d in %d", i, len(refs), n, frames, whole)
		}
		if whole == i {
			if err != nil {
				t.Errorf("prefix of %d, on a frame boundary: got %v, want nil", i, err)
			}
			continue
		}
		if err != io.ErrUnexpectedEOF {
			t.Fatalf("prefix of %d: got %v, want io.ErrUnexpectedEOF", i, err)
		}
		if need := c.Need(); need <= i-n || n+need > ends[frames] {
			t.Errorf("prefix of %d, stopped at %d: Need() got %d, want > %d and <= %d", i, n, need, i-n, ends[frames]-n)
		}
	}
}

// TestDecodeDataErrors: the frames before a protocol error are taken, and
// the limits hold as in Decode.
func TestDecodeDataErrors(t *testing.T) {
	c := newCodec(t, 10)
	first := c.AppendFrame(nil, false, []byte("ok"))
	for _, tc := range []struct {
		name string
		next []byte
		want error
	}{
		{"reserved flag", []byte{0x08, 0}, wire.ErrMalformed},
		{"over max-message-size", c.AppendFrameHeader(nil, false, 11), wire.ErrFrameTooLarge},
		{"message over max-message-size", append(c.AppendFrame(nil, true, make([]byte, 6)), c.AppendFrameHeader(nil, false, 5)...), wire.ErrFrameTooLarge},
	} {
		c := newCodec(t, 10)
		b := append(append([]byte(nil), first...), tc.next...)
		refs, n, err := c.DecodeData(b, 0, nil)
		if !errors.Is(err, tc.want) || len(refs) == 0 || refs[0] != (engine.FrameRef{Start: 2, End: 4}) || n < len(first) {
			t.Errorf("%s: got (%+v, %d, %v), want the first frame and %v", tc.name, refs, n, err, tc.want)
		}
	}

	// A command inside a message: DecodeData stops before it, and Decode
	// refuses it.
	c = newCodec(t, 0)
	b := c.AppendFrame(nil, true, []byte("a"))
	b = c.AppendCommand(b, engine.Command{Kind: engine.CmdAck, Seq: 1})
	refs, n, err := c.DecodeData(b, 0, nil)
	if err != nil || n != 3 || len(refs) != 1 {
		t.Fatalf("got (%+v, %d, %v), want one frame, stopping before the command", refs, n, err)
	}
	if _, _, err := c.Decode(b[n:]); !errors.Is(err, wire.ErrMalformed) {
		t.Errorf("Decode of a command inside a message got %v, want wire.ErrMalformed", err)
	}

	// Frames per message: the 1024th frame must be the last.
	c = newCodec(t, 0)
	b = bytes.Repeat([]byte{0x01, 0x00}, engine.MaxFramesPerMessage)
	refs, n, err = c.DecodeData(b, 0, nil)
	if !errors.Is(err, wire.ErrFrameTooLarge) || len(refs) != engine.MaxFramesPerMessage-1 || n != 2*len(refs) {
		t.Errorf("1024 frames with MORE: got (%d frames, %d, %v), want (1023, 2046, wire.ErrFrameTooLarge)", len(refs), n, err)
	}
}
