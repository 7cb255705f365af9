package z85

import (
	"bytes"
	"errors"
	"testing"
)

// Seed corpora live in testdata/fuzz/<FuzzName>/. Run for example
//	go test -run '^$' -fuzz FuzzDecode -fuzztime 30s ./wire/z85

// FuzzDecode checks that Decode never panics, fails only with its
// sentinels, and that what it accepts is canonical: encoding the result
// gives the input back.
func FuzzDecode(f *testing.F) {
	f.Add("HelloWorld")
	f.Fuzz(func(t *testing.T, s string) {
		b, err := Decode(s)
		if err != nil {
			if !errors.Is(err, ErrLength) && !errors.Is(err, ErrChar) {
				t.Fatalf("Decode(%q): error %v wraps no sentinel", s, err)
			}
			if b != nil {
				t.Fatalf("Decode(%q) failed but returned %X", s, b)
			}
			return
		}
		if len(b) != len(s)/5*4 {
			t.Fatalf("Decode(%q) gave %d bytes, want %d", s, len(b), len(s)/5*4)
		}
		back, err := Encode(b)
		if err != nil || back != s {
			t.Fatalf("Encode(Decode(%q)) = %q, %v", s, back, err)
		}
	})
}

// FuzzEncode checks that Decode undoes Encode for any input of a valid
// length, and that Encode refuses any other.
func FuzzEncode(f *testing.F) {
	f.Add([]byte("\x86\x4f\xd2\x6f\xb5\x59\xf7\x5b"))
	f.Add([]byte{0xff, 0xff, 0xff, 0xff})
	f.Fuzz(func(t *testing.T, b []byte) {
		s, err := Encode(b)
		if len(b)%4 != 0 {
			if !errors.Is(err, ErrLength) {
				t.Fatalf("Encode(%d bytes): got %v, want ErrLength", len(b), err)
			}
			return
		}
		if err != nil {
			t.Fatalf("Encode(%X): %v", b, err)
		}
		back, err := Decode(s)
		if err != nil || !bytes.Equal(back, b) {
			t.Fatalf("Decode(Encode(%X)) = %X, %v", b, back, err)
		}
	})
}
