package discovery

import (
	"bytes"
	"errors"
	"net/netip"
	"strings"
	"testing"
)

var testID = ID{0x01, 0x23, 0x45, 0x67, 0x89, 0xab, 0xcd, 0xef, 0xfe, 0xdc, 0xba, 0x98, 0x76, 0x54, 0x32, 0x10}

// TestDatagramGolden: an announcement's bytes, field by field, and back.
func TestDatagramGolden(t *testing.T) {
	d := Datagram{Kind: KindAnnounce, ID: testID, Group: "chat", Endpoint: "tcp://0.0.0.0:7001"}
	want := []byte("WSPD\x01\x01" +
		"\x01\x23\x45\x67\x89\xab\xcd\xef\xfe\xdc\xba\x98\x76\x54\x32\x10" +
		"\x04chat" +
		"\x12tcp://0.0.0.0:7001")
	got := d.Append(nil)
	if !bytes.Equal(got, want) {
		t.Fatalf("Append: got %q, want %q", got, want)
	}
	back, err := Parse(got)
	if err != nil || back != d {
		t.Fatalf("Parse: got %+v, %v, want %+v, nil", back, err, d)
	}
	w := Datagram{Kind: KindWithdraw, ID: testID, Group: "chat"}
	wb := w.Append(nil)
	if want := "WSPD\x01\x02"; string(wb[:6]) != want || len(wb) != 24+4 || wb[len(wb)-1] != 0 {
		t.Fatalf("withdraw: got %q, want %q..., %d bytes ending in a 0 length", wb, want, 28)
	}
	if back, err := Parse(wb); err != nil || back != w {
		t.Fatalf("Parse withdraw: got %+v, %v, want %+v, nil", back, err, w)
	}
}

// TestDatagramLargest: the largest valid datagram is MaxDatagramSize.
func TestDatagramLargest(t *testing.T) {
	d := Datagram{Kind: KindAnnounce, ID: testID, Group: strings.Repeat("g", MaxGroupLen),
		Endpoint: "tcp://" + strings.Repeat("h", MaxEndpointLen-len("tcp://"))}
	b := d.Append(nil)
	if len(b) != MaxDatagramSize {
		t.Fatalf("got %d bytes, want MaxDatagramSize %d", len(b), MaxDatagramSize)
	}
	if _, err := Parse(b); err != nil {
		t.Fatalf("Parse: got %v, want nil", err)
	}
	if _, err := Parse(append(b, 0)); !errors.Is(err, ErrMalformed) {
		t.Fatalf("Parse of one byte more: got %v, want ErrMalformed", err)
	}
}

// TestDatagramTruncated: every proper prefix of a valid datagram is
// rejected, and so is every extension.
func TestDatagramTruncated(t *testing.T) {
	b := Datagram{Kind: KindAnnounce, ID: testID, Group: "chat", Endpoint: "tcp://127.0.0.1:7001"}.Append(nil)
	for n := range len(b) {
		if _, err := Parse(b[:n]); !errors.Is(err, ErrBadDatagram) {
			t.Errorf("Parse of the first %d bytes: got %v, want ErrBadDatagram", n, err)
		}
	}
	if _, err := Parse(append(b, 'x')); !errors.Is(err, ErrMalformed) {
		t.Errorf("Parse with a trailing byte: got %v, want ErrMalformed", err)
	}
}

func TestDatagramBad(t *testing.T) {
	good := Datagram{Kind: KindAnnounce, ID: testID, Group: "chat", Endpoint: "tcp://127.0.0.1:7001"}
	mod := func(f func(b []byte) []byte) []byte { return f(good.Append(nil)) }
	for _, c := range []struct {
		name string
		b    []byte
		want error
	}{
		{"empty", nil, ErrNotBeacon},
		{"other magic", []byte("ZRE\x01xxxxxxxxxxxxxxxxxxxxxx"), ErrNotBeacon},
		{"version 2", mod(func(b []byte) []byte { b[4] = 2; return b }), ErrVersion},
		{"version 0", mod(func(b []byte) []byte { b[4] = 0; return b }), ErrVersion},
		{"kind 0", mod(func(b []byte) []byte { b[5] = 0; return b }), ErrMalformed},
		{"kind 3", mod(func(b []byte) []byte { b[5] = 3; return b }), ErrMalformed},
		{"empty group", Datagram{Kind: KindAnnounce, Group: "", Endpoint: "tcp://a:1"}.Append(nil), ErrMalformed},
		{"group too long", Datagram{Kind: KindAnnounce, Group: strings.Repeat("g", MaxGroupLen+1), Endpoint: "tcp://a:1"}.Append(nil), ErrMalformed},
		{"group length past the end", mod(func(b []byte) []byte { b[22] = 200; return b }), ErrMalformed},
		{"endpoint length past the end", mod(func(b []byte) []byte { b[27]++; return b }), ErrMalformed},
		{"endpoint length short", mod(func(b []byte) []byte { b[27]--; return b }), ErrMalformed},
		{"announce without endpoint", Datagram{Kind: KindAnnounce, Group: "chat"}.Append(nil), ErrMalformed},
		{"endpoint without scheme", Datagram{Kind: KindAnnounce, Group: "chat", Endpoint: "127.0.0.1:1"}.Append(nil), ErrMalformed},
		{"endpoint with a space", Datagram{Kind: KindAnnounce, Group: "chat", Endpoint: "tcp://a b:1"}.Append(nil), ErrMalformed},
		{"endpoint with a control byte", Datagram{Kind: KindAnnounce, Group: "chat", Endpoint: "tcp://a\n:1"}.Append(nil), ErrMalformed},
		{"endpoint not ASCII", Datagram{Kind: KindAnnounce, Group: "chat", Endpoint: "tcp://é:1"}.Append(nil), ErrMalformed},
	} {
		if _, err := Parse(c.b); !errors.Is(err, c.want) || !errors.Is(err, ErrBadDatagram) {
			t.Errorf("%s: got %v, want %v (an ErrBadDatagram)", c.name, err, c.want)
		}
	}
}

func TestIDString(t *testing.T) {
	s := testID.String()
	if s != "0123456789abcdeffedcba9876543210" {
		t.Fatalf("String: got %q", s)
	}
	if id, err := ParseID(s); err != nil || id != testID {
		t.Fatalf("ParseID(%q): got %v, %v, want %v", s, id, err, testID)
	}
	for _, bad := range []string{"", "0123", s + "00", "0123456789abcdeffedcba987654321x"} {
		if _, err := ParseID(bad); err == nil {
			t.Errorf("ParseID(%q): got nil error, want one", bad)
		}
	}
}

func TestFillHost(t *testing.T) {
	v4 := netip.MustParseAddr("192.0.2.7")
	v6 := netip.MustParseAddr("fd00::7")
	for _, c := range []struct {
		ep   string
		from netip.Addr
		want string
	}{
		{"tcp://0.0.0.0:7001", v4, "tcp://192.0.2.7:7001"},
		{"tcp://*:7001", v4, "tcp://192.0.2.7:7001"},
		{"tcp://[::]:7001", v4, "tcp://192.0.2.7:7001"},
		{"tcp://:7001", v4, "tcp://192.0.2.7:7001"},
		{"tls://0.0.0.0:7001", v6, "tls://[fd00::7]:7001"},
		{"ws://0.0.0.0:80/wisp", v4, "ws://192.0.2.7:80/wisp"},
		{"tcp://10.1.1.1:7001", v4, "tcp://10.1.1.1:7001"},
		{"tcp://[fd00::1]:7001", v4, "tcp://[fd00::1]:7001"},
		{"tcp://host.example:7001", v4, "tcp://host.example:7001"},
		{"ipc:///tmp/x.sock", v4, "ipc:///tmp/x.sock"},
		{"inproc://name", v4, "inproc://name"},
		{"tcp://::ffff:1.2.3.4", netip.MustParseAddr("::ffff:10.0.0.1"), "tcp://::ffff:1.2.3.4"},
	} {
		if got := fillHost(c.ep, c.from); got != c.want {
			t.Errorf("fillHost(%q, %v): got %q, want %q", c.ep, c.from, got, c.want)
		}
	}
}

// FuzzParse: Parse never panics, accepts only what Check accepts, and
// what it accepts encodes back to the same bytes.
func FuzzParse(f *testing.F) {
	f.Add(Datagram{Kind: KindAnnounce, ID: testID, Group: "chat", Endpoint: "tcp://0.0.0.0:7001"}.Append(nil))
	f.Add(Datagram{Kind: KindWithdraw, ID: testID, Group: "chat"}.Append(nil))
	f.Add([]byte("WSPD\x01"))
	f.Add([]byte("WSPD\x02\x01"))
	f.Fuzz(func(t *testing.T, b []byte) {
		d, err := Parse(b)
		if err != nil {
			if !errors.Is(err, ErrBadDatagram) {
				t.Fatalf("Parse: got %v, want an ErrBadDatagram", err)
			}
			return
		}
		if err := d.Check(); err != nil {
			t.Fatalf("Parse accepted %+v, which Check rejects: %v", d, err)
		}
		if again := d.Append(nil); !bytes.Equal(again, b) {
			t.Fatalf("Append(Parse(%q)) = %q, want the same bytes", b, again)
		}
	})
}
