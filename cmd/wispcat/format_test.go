package main

import (
	"bufio"
	"bytes"
	"testing"

	"github.com/wispmq/wisp/socket"
)

// TestFormats: each -format writes a message, a ROUTER's message and a
// subscription change as documented; raw is the output as it always was.
func TestFormats(t *testing.T) {
	text := socket.Message{[]byte("hello"), []byte("a b")}
	binary := socket.Message{{0xff, 0x00}, []byte("x")}
	routed := socket.Message{{0xab, 0x01}, []byte("hi")}
	sub := socket.Message{{socket.SubscriptionAdd, 'w', '.'}}
	for _, tc := range []struct {
		f                          format
		text, binary, routed, subs string
	}{
		{formatRaw, "hello a b\n", "\xff\x00 x\n", "ab01\thi\n", "subscribe w.\n"},
		{formatQuoted, "\"hello\" \"a b\"\n", "\"\\xff\\x00\" \"x\"\n", "ab01\t\"hi\"\n", "subscribe \"w.\"\n"},
		{formatHex, "68656c6c6f 612062\n", "ff00 78\n", "ab01\t6869\n", "subscribe 772e\n"},
		{formatJSON, `{"frames":["hello","a b"],"encoding":"utf8"}` + "\n",
			`{"frames":["ff00","78"],"encoding":"hex"}` + "\n",
			`{"peer":"ab01","frames":["hi"],"encoding":"utf8"}` + "\n",
			`{"subscribe":"w."}` + "\n"},
	} {
		for _, c := range []struct {
			name  string
			write func(*bufio.Writer, socket.Message)
			m     socket.Message
			want  string
		}{
			{"text", tc.f.message, text, tc.text},
			{"binary", tc.f.message, binary, tc.binary},
			{"routed", tc.f.routed, routed, tc.routed},
			{"subscription", tc.f.subscription, sub, tc.subs},
		} {
			var b bytes.Buffer
			w := bufio.NewWriter(&b)
			c.write(w, c.m)
			w.Flush()
			if b.String() != c.want {
				t.Errorf("format %d, %s: got %q, want %q", tc.f, c.name, b.String(), c.want)
			}
		}
	}
	if _, err := parseFormat("xml"); err == nil {
		t.Error("parseFormat(xml): got nil error")
	}
}
