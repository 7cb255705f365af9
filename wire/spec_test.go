package wire

import (
	"bytes"
	"reflect"
	"testing"
	"time"

	"github.com/wispmq/wisp/wire/wiretest"
)

// specVectors reads the ```hex name=... blocks of SPEC.md, so that the spec's
// test vectors and the code cannot drift apart.
func specVectors(t *testing.T) map[string][]byte {
	t.Helper()
	vecs, err := wiretest.File("SPEC.md")
	if err != nil {
		t.Fatal(err)
	}
	return vecs
}

func seq16(start byte) (s SessionID) {
	for i := range s {
		s[i] = start + byte(i)
	}
	return s
}

// specGreetings are the greetings of SPEC.md section 9.
var specGreetings = map[string]Greeting{
	"greeting-push-acks": {
		Major: 1, Minor: 1, Type: Push, Acks: true, Session: seq16(0),
		MaxMessageSize: 1 << 20, HeartbeatInterval: time.Second,
		HeartbeatTimeout: 3 * time.Second, Window: 1000,
	},
	"greeting-router-id": {
		Major: 1, Minor: 1, Type: Router, Session: seq16(0xa0), RoutingID: []byte("peer-1"),
	},
	"greeting-window-bytes": {
		Major: 1, Minor: 1, Type: Push, Acks: true, Session: SessionID(bytes.Repeat([]byte{0x22}, 16)),
		Window: 10000, WindowBytes: 16 << 20,
	},
	"greeting-pull-bare": {
		Major: 1, Minor: 1, Type: Pull, Session: SessionID(bytes.Repeat([]byte{0x11}, 16)),
	},
	"greeting-pull-checksum": {
		Major: 1, Minor: 1, Type: Pull, Checksum: true, Session: SessionID(bytes.Repeat([]byte{0x33}, 16)),
	},
	"greeting-bus": {
		Major: 1, Minor: 1, Type: Bus, Acks: true, Session: seq16(0xb0), Window: 1000,
	},
	"greeting-pull-1-0": {
		Major: 1, Minor: 0, Type: Pull, Session: SessionID(bytes.Repeat([]byte{0x11}, 16)),
	},
}

// specItems are the frame and command vectors of SPEC.md as the Decoder
// must return them; encode says whether encoders produce exactly these bytes.
// checksum says the vector is of a connection with frame checksums.
var specItems = map[string]struct {
	items    []Item
	encode   bool
	checksum bool
}{
	"frame-short":                  {[]Item{{Frame: []byte("hello")}}, true, false},
	"frame-long-form-short-length": {[]Item{{Frame: []byte("hi")}}, false, false},
	"message-multi": {[]Item{
		{Frame: []byte("a"), More: true}, {Frame: []byte{}, More: true}, {Frame: []byte("bc")},
	}, true, false},
	"message-request": {[]Item{
		{Frame: []byte{0, 0, 0, 42}, More: true}, {Frame: []byte{}, More: true}, {Frame: []byte("hello")},
	}, true, false},
	"message-request-routed": {[]Item{
		{Frame: []byte("c1"), More: true}, {Frame: []byte{0, 0, 0, 42}, More: true},
		{Frame: []byte{}, More: true}, {Frame: []byte("hello")},
	}, true, false},
	"message-reply-routed": {[]Item{
		{Frame: []byte("c1"), More: true}, {Frame: []byte{0, 0, 0, 42}, More: true},
		{Frame: []byte{}, More: true}, {Frame: []byte("hi")},
	}, true, false},
	"cmd-resume":        {[]Item{{IsCommand: true, Command: Command{ID: CmdResume, Seq: 1}}}, true, false},
	"cmd-ack":           {[]Item{{IsCommand: true, Command: Command{ID: CmdAck, Seq: 1000}}}, true, false},
	"cmd-ping":          {[]Item{{IsCommand: true, Command: Command{ID: CmdPing, Data: []byte{0, 0, 0, 42}}}}, true, false},
	"cmd-pong":          {[]Item{{IsCommand: true, Command: Command{ID: CmdPong, Data: []byte{0, 0, 0, 42}}}}, true, false},
	"cmd-error":         {[]Item{{IsCommand: true, Command: Command{ID: CmdError, Data: []byte("unsupported version 2.0")}}}, true, false},
	"cmd-subscribe":     {[]Item{{IsCommand: true, Command: Command{ID: CmdSubscribe, Data: []byte("weather.")}}}, true, false},
	"cmd-cancel":        {[]Item{{IsCommand: true, Command: Command{ID: CmdCancel, Data: []byte("weather.")}}}, true, false},
	"cmd-subscribe-all": {[]Item{{IsCommand: true, Command: Command{ID: CmdSubscribe, Data: []byte{}}}}, true, false},
	"message-multi-checksum": {[]Item{
		{Frame: []byte("a"), More: true}, {Frame: []byte{}, More: true}, {Frame: []byte("bc")},
	}, true, true},
	"cmd-ack-checksum": {[]Item{{IsCommand: true, Command: Command{ID: CmdAck, Seq: 1000}}}, true, true},
}

// appendItem encodes it the way a sender would on a connection without
// checksums.
func appendItem(b []byte, it Item) []byte { return appendItems(b, []Item{it}, false) }

// appendItems encodes items the way a sender would, with a checksum after
// each command and message when checksum is set.
func appendItems(b []byte, items []Item, checksum bool) []byte {
	var crc uint32
	for _, it := range items {
		start := len(b)
		if it.IsCommand {
			b = it.Command.Append(b)
		} else {
			b = AppendFrame(b, it.More, it.Frame)
		}
		if !checksum {
			continue
		}
		crc = UpdateChecksum(crc, b[start:])
		if it.IsCommand || !it.More {
			b, crc = AppendChecksum(b, crc), 0
		}
	}
	return b
}

func TestSpecVectors(t *testing.T) {
	vecs := specVectors(t)
	checked := make(map[string]bool)

	for name, want := range specGreetings {
		checked[name] = true
		vec, ok := vecs[name]
		if !ok {
			t.Errorf("SPEC.md: vector %q missing", name)
			continue
		}
		if got := want.Append(nil); !bytes.Equal(got, vec) {
			t.Errorf("%s: Append got\n% x\nwant\n% x", name, got, vec)
		}
		got, n, err := ParseGreeting(vec)
		if err != nil || n != len(vec) || !reflect.DeepEqual(got, want) {
			t.Errorf("%s: ParseGreeting got (%+v, %d, %v), want (%+v, %d, nil)", name, got, n, err, want, len(vec))
		}
	}

	for name, want := range specItems {
		checked[name] = true
		vec, ok := vecs[name]
		if !ok {
			t.Errorf("SPEC.md: vector %q missing", name)
			continue
		}
		if want.encode {
			if got := appendItems(nil, want.items, want.checksum); !bytes.Equal(got, vec) {
				t.Errorf("%s: encoding got % x, want % x", name, got, vec)
			}
		}
		d := Decoder{Checksum: want.checksum}
		rest := vec
		for i, w := range want.items {
			it, n, err := d.Decode(rest)
			if err != nil || !reflect.DeepEqual(it, w) {
				t.Errorf("%s: item %d: Decode got (%+v, %v), want (%+v, nil)", name, i, it, err, w)
				break
			}
			rest = rest[n:]
		}
		if len(rest) != 0 {
			t.Errorf("%s: got %d bytes left after decoding, want 0", name, len(rest))
		}
	}

	const longName = "frame-long-header"
	checked[longName] = true
	if got, want := AppendFrameHeader(nil, FlagMore, 300), vecs[longName]; !bytes.Equal(got, want) {
		t.Errorf("%s: AppendFrameHeader got % x, want % x", longName, got, want)
	}
	if f, l, h, err := ParseFrameHeader(vecs[longName]); f != FlagMore|FlagLong || l != 300 || h != 5 || err != nil {
		t.Errorf("%s: ParseFrameHeader got (%v, %d, %d, %v), want (MORE|LONG, 300, 5, nil)", longName, f, l, h, err)
	}

	for name := range vecs {
		if !checked[name] {
			t.Errorf("SPEC.md: vector %q has no test; add it to spec_test.go", name)
		}
	}
}
