package wire

import (
	"bytes"
	"errors"
	"math"
	"reflect"
	"strings"
	"testing"
)

func TestCommandRoundTrip(t *testing.T) {
	for _, c := range []Command{
		{ID: CmdResume, Seq: 1},
		{ID: CmdResume, Seq: math.MaxUint64},
		{ID: CmdAck, Seq: 0},
		{ID: CmdAck, Seq: 1 << 40},
		{ID: CmdPing, Data: []byte{}},
		{ID: CmdPing, Data: bytes.Repeat([]byte{1}, MaxPingContext)},
		{ID: CmdPong, Data: []byte("ctx")},
		{ID: CmdError, Data: bytes.Repeat([]byte{'e'}, MaxErrorReason)},
		{ID: CmdSubscribe, Data: bytes.Repeat([]byte{'p'}, MaxPrefixLen)},
		{ID: CmdCancel, Data: []byte("topic")},
	} {
		b := c.Append(nil)
		f, n, h, err := ParseFrameHeader(b)
		if err != nil || f&FlagCommand == 0 || h+n != len(b) {
			t.Fatalf("%v: header got (%v, %d, %d, %v), want a command header for %d bytes", c.ID, f, n, h, err, len(b))
		}
		got, err := ParseCommand(b[h:])
		if err != nil || !reflect.DeepEqual(got, c) {
			t.Errorf("%v: round trip got (%+v, %v), want (%+v, nil)", c.ID, got, err, c)
		}
	}
}

func TestCommandAppendErrorTruncates(t *testing.T) {
	for _, tc := range []struct {
		reason string
		want   string
	}{
		{strings.Repeat("a", 300), strings.Repeat("a", 255)},
		{strings.Repeat("a", 254) + "é", strings.Repeat("a", 254)},  // é is 2 bytes
		{strings.Repeat("a", 253) + "€x", strings.Repeat("a", 253)}, // € is 3 bytes
		{strings.Repeat("a", 252) + "😀", strings.Repeat("a", 252)},  // 4 bytes
		{strings.Repeat("\x80", 300), strings.Repeat("\x80", 255)},  // not UTF-8: plain cut
	} {
		b := Command{ID: CmdError, Data: []byte(tc.reason)}.Append(nil)
		_, _, h, _ := ParseFrameHeader(b)
		c, err := ParseCommand(b[h:])
		if err != nil || string(c.Data) != tc.want {
			t.Errorf("reason of %d bytes: got %d bytes (%v), want %d bytes", len(tc.reason), len(c.Data), err, len(tc.want))
		}
	}
}

func TestCommandValidate(t *testing.T) {
	for _, tc := range []struct {
		c    Command
		want error
	}{
		{Command{ID: 0}, ErrUnknownCommand},
		{Command{ID: 8}, ErrUnknownCommand},
		{Command{ID: CmdResume, Seq: 0}, ErrMalformed},
		{Command{ID: CmdPing, Data: make([]byte, MaxPingContext+1)}, ErrMalformed},
		{Command{ID: CmdPong, Data: make([]byte, MaxPingContext+1)}, ErrMalformed},
		{Command{ID: CmdError, Data: make([]byte, MaxErrorReason+1)}, ErrMalformed},
		{Command{ID: CmdSubscribe, Data: make([]byte, MaxPrefixLen+1)}, ErrMalformed},
		{Command{ID: CmdCancel, Data: make([]byte, MaxPrefixLen+1)}, ErrMalformed},
		{Command{ID: CmdAck, Seq: 0}, nil},
		{Command{ID: CmdAck, Data: []byte("ignored")}, nil},
	} {
		if err := tc.c.Validate(); !errors.Is(err, tc.want) || (tc.want == nil) != (err == nil) {
			t.Errorf("Validate(%v, %d bytes) got %v, want %v", tc.c.ID, len(tc.c.Data), err, tc.want)
		}
		if tc.want == nil || tc.c.ID == CmdError {
			continue
		}
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("Append(%v, %d bytes) got no panic, want one", tc.c.ID, len(tc.c.Data))
				}
			}()
			tc.c.Append(nil)
		}()
	}
}

func TestParseCommandMalformed(t *testing.T) {
	seq := func(id CommandID, n int) []byte { return append([]byte{byte(id)}, make([]byte, n)...) }
	for _, tc := range []struct {
		name string
		in   []byte
		want error
	}{
		{"empty", nil, ErrMalformed},
		{"too long", seq(CmdSubscribe, MaxCommandLen), ErrFrameTooLarge},
		{"id 0", []byte{0}, ErrUnknownCommand},
		{"id 8", []byte{8, 1, 2}, ErrUnknownCommand},
		{"id 255", []byte{255}, ErrUnknownCommand},
		{"RESUME 7 bytes", seq(CmdResume, 7), ErrMalformed},
		{"RESUME 9 bytes", seq(CmdResume, 9), ErrMalformed},
		{"RESUME seq 0", seq(CmdResume, 8), ErrMalformed},
		{"ACK empty", seq(CmdAck, 0), ErrMalformed},
		{"PING 17", seq(CmdPing, MaxPingContext+1), ErrMalformed},
		{"PONG 17", seq(CmdPong, MaxPingContext+1), ErrMalformed},
		{"ERROR 256", seq(CmdError, MaxErrorReason+1), ErrMalformed},
	} {
		if _, err := ParseCommand(tc.in); !errors.Is(err, tc.want) {
			t.Errorf("%s: got %v, want %v", tc.name, err, tc.want)
		}
	}
	if c, err := ParseCommand(seq(CmdCancel, MaxPrefixLen)); err != nil || len(c.Data) != MaxPrefixLen {
		t.Errorf("CANCEL of 1023: got (%d bytes, %v), want (1023, nil)", len(c.Data), err)
	}
}

func TestCommandIDString(t *testing.T) {
	want := []string{"CommandID(0)", "RESUME", "ACK", "PING", "PONG", "ERROR", "SUBSCRIBE", "CANCEL", "CommandID(8)"}
	for i, w := range want {
		if got := CommandID(i).String(); got != w {
			t.Errorf("CommandID(%d).String() got %q, want %q", i, got, w)
		}
	}
}

func TestCommandNoAllocs(t *testing.T) {
	buf := make([]byte, 0, 64)
	ack := Command{ID: CmdAck, Seq: 77}
	sub := Command{ID: CmdSubscribe, Data: []byte("weather.")}
	long := Command{ID: CmdError, Data: make([]byte, 300)}
	payload := sub.Append(nil)[2:]
	for name, f := range map[string]func(){
		"Append ACK":       func() { buf = ack.Append(buf[:0]) },
		"Append SUBSCRIBE": func() { buf = sub.Append(buf[:0]) },
		"Append ERROR cut": func() { buf = long.Append(buf[:0]) },
		"ParseCommand":     func() { ParseCommand(payload) },
	} {
		if a := testing.AllocsPerRun(100, f); a != 0 {
			t.Errorf("%s allocs got %v, want 0", name, a)
		}
	}
}
