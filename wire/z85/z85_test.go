package z85

import (
	"bytes"
	"encoding/hex"
	"errors"
	"math/rand/v2"
	"testing"
)

// vectors are RFC 32's test vector, the edges of a group's range, and the
// test keys of libzmq's zmq_curve(7) man page.
var vectors = []struct {
	hex, text string
}{
	{"", ""},
	{"864FD26FB559F75B", "HelloWorld"},
	{"00000000", "00000"},
	{"FFFFFFFF", "%nSc0"},
	{"BB88471D65E2659B30C55A5321CEBB5AAB2B70A398645C26DCA2B2FCB43FC518", "Yne@$w-vo<fVvi]a<NY6T1ed:M$fCG*[IaLV{hID"},
	{"7BB864B489AFA3671FBE69101F94B38972F24816DFB01B51656B3FEC8DFD0888", "D:)Q[IlAW!ahhC2ac:9*A}h:p?([4%wOTJ%JR%cs"},
	{"54FCBA24E93249969316FB617C872BB0C1D1FF14800427C594CBFACF1BC2D652", "rq:rM>}U?@Lns47E1%kR.o@n%FcmmsL/@{H8]yf7"},
	{"8E0BDD697628B91D8F245587EE95C5B04D48963F79259877B49CD9063AEAD3B7", "JTKVSB%%)wK0E.X)V>+}o?pNmC{O&4W4b!Ni{Lh6"},
}

func TestVectors(t *testing.T) {
	for _, v := range vectors {
		raw, err := hex.DecodeString(v.hex)
		if err != nil {
			t.Fatal(err)
		}
		got, err := Encode(raw)
		if err != nil || got != v.text {
			t.Errorf("Encode(%s) = %q, %v; want %q", v.hex, got, err, v.text)
		}
		back, err := Decode(v.text)
		if err != nil || !bytes.Equal(back, raw) {
			t.Errorf("Decode(%q) = %X, %v; want %s", v.text, back, err, v.hex)
		}
	}
}

func TestRoundTrip(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for n := 0; n <= 256; n += 4 {
		src := make([]byte, n)
		for i := range src {
			src[i] = byte(r.Uint32())
		}
		s, err := Encode(src)
		if err != nil {
			t.Fatalf("Encode(%d bytes): %v", n, err)
		}
		if len(s) != n/4*5 {
			t.Fatalf("Encode(%d bytes) gave %d characters, want %d", n, len(s), n/4*5)
		}
		for i := 0; i < len(s); i++ {
			if values[s[i]] == invalid {
				t.Fatalf("Encode gave %q, outside the alphabet", s[i])
			}
		}
		back, err := Decode(s)
		if err != nil || !bytes.Equal(back, src) {
			t.Fatalf("Decode(Encode(%X)) = %X, %v", src, back, err)
		}
	}
}

func TestAlphabet(t *testing.T) {
	if len(alphabet) != 85 {
		t.Fatalf("alphabet of %d characters", len(alphabet))
	}
	seen := map[byte]bool{}
	for i := 0; i < len(alphabet); i++ {
		c := alphabet[i]
		if seen[c] || c <= ' ' || c >= 0x7f || c == '"' || c == '\'' || c == '\\' || c == ',' || c == ';' || c == '_' || c == '`' || c == '|' || c == '~' {
			t.Errorf("alphabet character %q repeated or not in RFC 32's set", c)
		}
		seen[c] = true
	}
}

func TestEncodeLength(t *testing.T) {
	for _, n := range []int{1, 2, 3, 5, 31, 33} {
		if s, err := Encode(make([]byte, n)); !errors.Is(err, ErrLength) || s != "" {
			t.Errorf("Encode(%d bytes) = %q, %v; want ErrLength", n, s, err)
		}
	}
}

func TestDecodeErrors(t *testing.T) {
	for _, c := range []struct {
		in   string
		want error
	}{
		{"Hell", ErrLength},
		{"HelloWorl", ErrLength},
		{"HelloWorld!", ErrLength},
		{"Hello Worl", ErrChar},    // space
		{"Hell\"World", ErrChar},   // a quote: not in the alphabet
		{"Hello\x00orld", ErrChar}, // NUL
		{"Hello\xffor\xe9d", ErrChar},
		{"%nSc1", ErrChar}, // 2^32: one past the largest group
		{"#####", ErrChar}, // 85^5 - 1
		{"00000%nSc1", ErrChar},
	} {
		got, err := Decode(c.in)
		if !errors.Is(err, c.want) || got != nil {
			t.Errorf("Decode(%q) = %X, %v; want %v", c.in, got, err, c.want)
		}
	}
}

func BenchmarkEncode(b *testing.B) {
	src := make([]byte, 32)
	b.SetBytes(int64(len(src)))
	for b.Loop() {
		Encode(src)
	}
}

func BenchmarkDecode(b *testing.B) {
	s := "rq:rM>}U?@Lns47E1%kR.o@n%FcmmsL/@{H8]yf7"
	b.SetBytes(int64(len(s)))
	for b.Loop() {
		Decode(s)
	}
}
