package rendezvous

import (
	"errors"
	"reflect"
	"testing"
)

func frames(s ...string) [][]byte {
	f := make([][]byte, len(s))
	for i := range s {
		f[i] = []byte(s[i])
	}
	return f
}

// TestParseValid: each kind's frames parse into its fields, and encode
// back to the same frames.
func TestParseValid(t *testing.T) {
	for _, c := range []struct {
		in   [][]byte
		want message
	}{
		{frames("REGISTER", "alice"), message{kind: kindRegister, name: "alice"}},
		{frames("REGISTERED", "198.51.100.2:7001"), message{kind: kindRegistered, endpoint: "198.51.100.2:7001"}},
		{frames("CONNECT", "bob"), message{kind: kindConnect, name: "bob"}},
		{frames("PEER", "bob", "[2001:db8::1]:9"), message{kind: kindPeer, name: "bob", endpoint: "[2001:db8::1]:9"}},
		{frames("PATH", "direct"), message{kind: kindPath, path: Direct}},
		{frames("PATH", "relayed"), message{kind: kindPath, path: Relayed}},
		{frames("RELAY", "", "x"), message{kind: kindRelay, payload: frames("", "x")}},
		{frames("ERROR", "busy", "bob"), message{kind: kindError, code: "busy", text: "bob"}},
	} {
		got, err := parse(c.in)
		if err != nil {
			t.Fatalf("parse %q: got error %v, want nil", c.in, err)
		}
		if !reflect.DeepEqual(got, c.want) {
			t.Fatalf("parse %q: got %+v, want %+v", c.in, got, c.want)
		}
		if back := got.frames(); !reflect.DeepEqual(back, c.in) {
			t.Fatalf("frames of %+v: got %q, want %q", got, back, c.in)
		}
	}
}

// TestParseInvalid: every malformed message is an ErrProtocol.
func TestParseInvalid(t *testing.T) {
	for _, in := range [][][]byte{
		nil,
		frames("register", "alice"),
		frames("REGISTER"),
		frames("REGISTER", ""),
		frames("REGISTER", "a", "b"),
		frames("REGISTER", string(make([]byte, MaxNameLen+1))),
		frames("REGISTER", "tab\there"),
		frames("REGISTER", "\xff"),
		frames("REGISTERED", "198.51.100.2"),
		frames("REGISTERED", "198.51.100.2:0"),
		frames("REGISTERED", "host.example:80"),
		frames("REGISTERED", "010.1.1.1:80"),
		frames("PEER", "bob"),
		frames("PEER", "bob", "1.2.3.4:5", "x"),
		frames("PATH", "maybe"),
		frames("RELAY"),
		frames("ERROR", "busy"),
		frames("ERROR", "busy", string(make([]byte, maxTextLen+1))),
	} {
		if _, err := parse(in); !errors.Is(err, ErrProtocol) {
			t.Errorf("parse %q: got %v, want ErrProtocol", in, err)
		}
	}
}

// TestErrorOf: each ERROR code maps to its sentinel; an unknown one to
// ErrRefused.
func TestErrorOf(t *testing.T) {
	for code, want := range map[string]error{
		codeNameTaken: ErrNameTaken, codeUnknownPeer: ErrUnknownPeer, codeBusy: ErrBusy,
		codeNotRegistered: ErrNotRegistered, codeProtocol: ErrProtocol, "later": ErrRefused,
	} {
		if err := errorOf(message{kind: kindError, code: code, text: "t"}); !errors.Is(err, want) {
			t.Errorf("ERROR %s: got %v, want %v", code, err, want)
		}
	}
	if got := cleanText("a\nb\xff" + string(make([]byte, 300))); len(got) > maxTextLen {
		t.Errorf("cleanText: %d bytes, want at most %d", len(got), maxTextLen)
	} else if _, err := parseText([]byte(got), maxTextLen); err != nil {
		t.Errorf("cleanText: %q does not parse: %v", got, err)
	}
}

// FuzzParse: whatever the frames, parse never panics, and what it accepts
// encodes to frames that parse to the same message.
func FuzzParse(f *testing.F) {
	f.Add(uint8(2), []byte("REGISTER"), []byte("alice"), []byte(""))
	f.Add(uint8(3), []byte("PEER"), []byte("bob"), []byte("198.51.100.3:7002"))
	f.Add(uint8(3), []byte("RELAY"), []byte{0, 1, 2}, []byte("x"))
	f.Add(uint8(3), []byte("ERROR"), []byte("busy"), []byte("bob"))
	f.Fuzz(func(t *testing.T, n uint8, a, b, c []byte) {
		in := [][]byte{a, b, c}[:n%4]
		m, err := parse(in)
		if err != nil {
			if !errors.Is(err, ErrProtocol) {
				t.Fatalf("parse %q: error %v does not wrap ErrProtocol", in, err)
			}
			return
		}
		again, err := parse(m.frames())
		if err != nil || !reflect.DeepEqual(again, m) {
			t.Fatalf("parse %q gave %+v; its frames parse to %+v, %v", in, m, again, err)
		}
	})
}
