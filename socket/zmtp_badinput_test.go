package socket

import (
	"errors"
	"io"
	"net"
	"testing"
	"time"

	"github.com/wispmq/wisp/wire/zmtp"
)

// TestZMTPBadInput attacks a ZMTP PULL with peers that break ZMTP in one
// way each, over loopback TCP, while a good ZMTP PUSH streams through the
// same socket. Each bad peer loses its own connection with an event
// naming the reason; the good stream goes on in order.
func TestZMTPBadInput(t *testing.T) {
	ctx := testContext(t)
	pull := zmtpSocket(t, Pull, WithMaxMessageSize(1<<20), WithHandshakeTimeout(300*time.Millisecond), WithEventBuffer(1024))
	ep, err := pull.Bind("tcp://127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	good := zmtpSocket(t, Push)
	if err := good.Connect(ep); err != nil {
		t.Fatal(err)
	}
	next := 0
	stream := func() {
		t.Helper()
		wait(t, sendAll(ctx, good, next, 100))
		for range 100 {
			m, err := pull.Recv(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if n := number(t, m); n != next {
				t.Fatalf("good stream: got %d, want %d", n, next)
			}
			next++
		}
	}
	stream()
	addr := ep[len("tcp://"):]
	greeting := zmtp.Greeting{Major: 3, Minor: 1, Mechanism: "NULL"}.Append(nil)
	ready := func(typ string) []byte {
		return zmtp.AppendCommand(nil, zmtp.CmdReady, zmtp.Metadata{{Name: "Socket-Type", Value: []byte(typ)}}.Append(nil))
	}
	cat := func(parts ...[]byte) []byte {
		var b []byte
		for _, p := range parts {
			b = append(b, p...)
		}
		return b
	}
	huge := zmtp.AppendFrameHeader(nil, 0, 1<<40)
	for _, tc := range []struct {
		name      string
		send      []byte
		handshake bool // the connection fails in its handshake, not after
		want      error
	}{
		{"not ZMTP", []byte("GET / HTTP/1.1\r\n\r\n"), true, ErrIncompatiblePeer},
		{"ZMTP 2.0", []byte{0xff, 0, 0, 0, 0, 0, 0, 0, 1, 0x7f, 1, 0}, true, ErrIncompatiblePeer},
		{"stalled handshake", greeting[:30], true, ErrHandshakeTimeout},
		{"other mechanism", zmtp.Greeting{Major: 3, Minor: 1, Mechanism: "CURVE", AsServer: true}.Append(nil), true, ErrAuth},
		{"incompatible type", cat(greeting, ready("PUB")), true, ErrIncompatiblePeer},
		{"unknown type", cat(greeting, ready("TOASTER")), true, ErrIncompatiblePeer},
		{"data before READY", cat(greeting, zmtp.AppendFrame(nil, false, []byte("x"))), true, ErrProtocol},
		{"2^62 bytes before READY", cat(greeting, zmtp.AppendFrameHeader(nil, 0, 1<<62)), true, ErrProtocol},
		{"oversized frame", cat(greeting, ready("PUSH"), huge), false, zmtp.ErrFrameTooLarge},
		{"reserved flags", cat(greeting, ready("PUSH"), []byte{0x80, 0}), false, zmtp.ErrMalformed},
		{"oversized command", cat(greeting, ready("PUSH"), zmtp.AppendFrameHeader(nil, zmtp.FlagCommand, 1<<20)), false, zmtp.ErrFrameTooLarge},
		{"READY again", cat(greeting, ready("PUSH"), ready("PUSH")), false, ErrProtocol},
		{"cut mid-message", cat(greeting, ready("PUSH"), zmtp.AppendFrame(nil, true, []byte("a"))), false, io.ErrUnexpectedEOF},
	} {
		t.Run(tc.name, func(t *testing.T) {
			nc, err := net.Dial("tcp", addr)
			if err != nil {
				t.Fatal(err)
			}
			defer nc.Close()
			if _, err := nc.Write(tc.send); err != nil {
				t.Fatal(err)
			}
			if tc.name == "cut mid-message" {
				time.Sleep(50 * time.Millisecond)
				nc.(*net.TCPConn).CloseWrite()
			}
			kind := EventDisconnected
			if tc.handshake {
				kind = EventHandshakeFailed
			}
			ev, _ := waitEvent(t, ctx, pull, kind.String(), func(e Event) bool { return e.Kind == kind && e.Peer == nc.LocalAddr().String() })
			if !errors.Is(ev.Err, tc.want) {
				t.Fatalf("got %v, want %v", ev.Err, tc.want)
			}
			t.Logf("%s: %v", tc.name, ev.Err)
			stream()
		})
	}
}
