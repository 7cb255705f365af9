package zmtp

import (
	"bytes"
	"encoding/hex"
	"errors"
	"io"
	"strings"
	"testing"
	"time"
)

// libzmqGreeting is the greeting libzmq 4.3 sends for NULL as a client,
// byte for byte.
const libzmqGreeting = "ff00000000000000017f" + "0301" +
	"4e554c4c0000000000000000000000000000000000" + // "NULL", padded to 20, then as-server 0
	"00000000000000000000000000000000000000000000000000000000000000"

func TestGreeting(t *testing.T) {
	want, _ := hex.DecodeString(libzmqGreeting)
	got := Greeting{Major: 3, Minor: 1, Mechanism: "NULL"}.Append(nil)
	if !bytes.Equal(got, want) {
		t.Fatalf("Append: got %x, want %x", got, want)
	}
	g, err := ParseGreeting(want)
	if err != nil || g != (Greeting{Major: 3, Minor: 1, Mechanism: "NULL"}) {
		t.Fatalf("ParseGreeting: got %+v, %v", g, err)
	}
	server := Greeting{Major: 3, Minor: 0, Mechanism: "CURVE", AsServer: true}
	if g, err := ParseGreeting(server.Append(nil)); err != nil || g != server {
		t.Fatalf("round trip of %+v: got %+v, %v", server, g, err)
	}
	for i := range GreetingLen {
		if _, err := ParseGreeting(want[:i]); err != io.ErrUnexpectedEOF {
			t.Fatalf("ParseGreeting of %d bytes: got %v, want io.ErrUnexpectedEOF", i, err)
		}
	}
	for _, tc := range []struct {
		name string
		b    []byte
		want error
	}{
		{"HTTP", []byte("GET / HTTP/1.1"), ErrSignature},
		{"WISP/1", []byte("WISP\x01\x00"), ErrSignature},
		{"ZMTP 1.0", []byte{0xff, 0, 0, 0, 0, 0, 0, 0, 1, 0x00}, ErrVersion},
		{"ZMTP 2.0", []byte{0xff, 0, 0, 0, 0, 0, 0, 0, 1, 0x7f, 1}, ErrVersion},
		{"bad byte 9", []byte{0xff, 0, 0, 0, 0, 0, 0, 0, 1, 0x7d}, ErrSignature},
		{"lowercase mechanism", Greeting{Major: 3, Mechanism: "null"}.Append(nil), ErrMalformed},
		{"empty mechanism", Greeting{Major: 3}.Append(nil), ErrMalformed},
		{"bad as-server", func() []byte { b := Greeting{Major: 3, Mechanism: "NULL"}.Append(nil); b[32] = 2; return b }(), ErrMalformed},
	} {
		if _, err := ParseGreeting(tc.b); !errors.Is(err, tc.want) {
			t.Errorf("%s: got %v, want %v", tc.name, err, tc.want)
		}
	}
	// A later version is accepted: the peer downgrades to ours.
	later := Greeting{Major: 4, Minor: 0, Mechanism: "NULL"}.Append(nil)
	if _, err := ParseGreeting(later); err != nil {
		t.Errorf("ZMTP 4.0: got %v, want nil", err)
	}
}

func TestFrames(t *testing.T) {
	for _, tc := range []struct {
		name string
		b    []byte
		want string
	}{
		{"short", AppendFrame(nil, false, []byte("hi")), "00026869"},
		{"short more", AppendFrame(nil, true, nil), "0100"},
		{"long", AppendFrame(nil, false, make([]byte, 256))[:9], "020000000000000100"},
		{"ready", AppendCommand(nil, CmdReady, Metadata{{Name: "Socket-Type", Value: []byte("REQ")}}.Append(nil)),
			"0419055245414459" + "0b536f636b65742d54797065" + "00000003" + "524551"},
		{"ping", AppendPing(nil, 1500*time.Millisecond, []byte("c")), "0408" + "0450494e47" + "000f" + "63"},
		{"error", AppendError(nil, "no"), "0409" + "054552524f52" + "02" + "6e6f"},
	} {
		if got := hex.EncodeToString(tc.b); got != tc.want {
			t.Errorf("%s: got %s, want %s", tc.name, got, tc.want)
		}
	}
	var d Decoder
	in := AppendCommand(AppendFrame(AppendFrame(nil, true, []byte("a")), false, []byte("bc")), CmdPing, []byte{0, 1})
	var got []string
	for len(in) > 0 {
		f, n, err := d.Decode(in)
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, map[bool]string{true: "cmd:", false: "data:"}[f.Command]+string(f.Body))
		in = in[n:]
	}
	if strings.Join(got, ",") != "data:a,data:bc,cmd:\x04PING\x00\x01" {
		t.Fatalf("decoded %q", got)
	}
	// Incomplete input asks for what it needs.
	whole := AppendFrame(nil, false, make([]byte, 300))
	for _, cut := range []int{0, 1, 5, 9, 100} {
		if _, _, err := d.Decode(whole[:cut]); err != io.ErrUnexpectedEOF || d.Need() <= cut {
			t.Errorf("Decode of %d bytes: got %v, need %d", cut, err, d.Need())
		}
	}
	// Limits apply before the body arrives.
	d = Decoder{MaxMessageSize: 10}
	if _, _, err := d.Decode(AppendFrameHeader(nil, FlagMore, 6)); err != io.ErrUnexpectedEOF {
		t.Fatalf("got %v", err)
	}
	two := AppendFrame(AppendFrame(nil, true, make([]byte, 6)), false, make([]byte, 6))
	if _, n, err := d.Decode(two); err != nil || n != 8 {
		t.Fatalf("first frame: got %d, %v", n, err)
	}
	if _, _, err := d.Decode(two[8:]); !errors.Is(err, ErrFrameTooLarge) {
		t.Fatalf("second frame past the message limit: got %v, want ErrFrameTooLarge", err)
	}
	if _, _, err := (&Decoder{}).Decode([]byte{byte(FlagCommand | FlagMore), 0}); !errors.Is(err, ErrMalformed) {
		t.Fatalf("command flagged MORE: got %v, want ErrMalformed", err)
	}
}

func TestMetadataAndCommands(t *testing.T) {
	md := Metadata{{Name: "Socket-Type", Value: []byte("DEALER")}, {Name: "Identity", Value: nil}, {Name: "X-Custom", Value: []byte("v")}}
	got, err := ParseMetadata(md.Append(nil))
	if err != nil || len(got) != 3 {
		t.Fatalf("got %v, %v", got, err)
	}
	if v, ok := got.Get("socket-type"); !ok || string(v) != "DEALER" {
		t.Fatalf("Get is not case-insensitive: %q, %v", v, ok)
	}
	for _, bad := range [][]byte{{0}, {3, 'a', 'b', 'c', 0, 0, 0, 5, 'x'}, {2, 'a', ' ', 0, 0, 0, 0}, {5, 'a'}} {
		if _, err := ParseMetadata(bad); !errors.Is(err, ErrMalformed) {
			t.Errorf("ParseMetadata(%x): got %v, want ErrMalformed", bad, err)
		}
	}
	name, data, err := ParseCommand([]byte("\x04PINGxy"))
	if err != nil || name != "PING" || string(data) != "xy" {
		t.Fatalf("ParseCommand: %q %q %v", name, data, err)
	}
	for _, bad := range [][]byte{nil, {0}, {5, 'P'}} {
		if _, _, err := ParseCommand(bad); !errors.Is(err, ErrMalformed) {
			t.Errorf("ParseCommand(%x): got %v, want ErrMalformed", bad, err)
		}
	}
	ttl, ctx, err := ParsePing([]byte{0, 10, 'a'})
	if err != nil || ttl != time.Second || string(ctx) != "a" {
		t.Fatalf("ParsePing: %v %q %v", ttl, ctx, err)
	}
	if _, _, err := ParsePing(make([]byte, 19)); !errors.Is(err, ErrMalformed) {
		t.Fatalf("PING with a 17-byte context: got %v", err)
	}
	if r, err := ParseError([]byte{2, 'n', 'o'}); err != nil || string(r) != "no" {
		t.Fatalf("ParseError: %q %v", r, err)
	}
	if _, err := ParseError([]byte{3, 'n', 'o'}); !errors.Is(err, ErrMalformed) {
		t.Fatalf("ERROR cut short: got %v", err)
	}
}
