package zmtp

import (
	"errors"
	"fmt"
	"io"
	"net"
	"testing"
	"time"

	"github.com/wispmq/wisp/internal/engine"
	"github.com/wispmq/wisp/wire/zmtp"
)

// handshakeWith runs proto's Handshake against a fake peer that sends
// script after draining whatever we write, and returns the outcome, a
// panic included, so that the test can report it.
func handshakeWith(t *testing.T, proto *Protocol, script []byte) (hs engine.Handshake, err error, panicked any) {
	t.Helper()
	ours, theirs := net.Pipe()
	defer ours.Close()
	defer theirs.Close()
	go io.Copy(io.Discard, theirs)
	go theirs.Write(script)
	ours.SetDeadline(time.Now().Add(5 * time.Second))
	func() {
		defer func() { panicked = recover() }()
		hs, err = proto.Handshake(ours, &engine.PeerInfo{Type: engine.Pull})
	}()
	return hs, err, panicked
}

// TestDataFrameBeforeHandshakeEnds: a data frame before the handshake
// ended is refused at its header, whatever size it announces: nothing
// bounds a message before then (a 2^62-byte header once made the buffer
// allocation panic, and a 2^33-byte one was allocated).
func TestDataFrameBeforeHandshakeEnds(t *testing.T) {
	for _, mech := range []string{zmtp.MechanismNull, zmtp.MechanismCurve} {
		t.Run(mech, func(t *testing.T) {
			var script []byte
			script = zmtp.Greeting{Major: 3, Minor: 1, Mechanism: mech}.Append(script)
			script = zmtp.AppendFrameHeader(script, 0, 1<<62)
			proto := &Protocol{}
			if mech == zmtp.MechanismCurve {
				k := curveTestKeys(t)
				proto = curveTestServer(k, nil)
			}
			_, err, p := handshakeWith(t, proto, script)
			if p != nil {
				t.Fatalf("Handshake panicked on a 2^62-byte data frame header before READY: %v", p)
			}
			if !errors.Is(err, engine.ErrProtocol) {
				t.Fatalf("got %v, want ErrProtocol", err)
			}
		})
	}
}

// TestPendingCommandIsConsumed: on a CURVE connection DecodeData hands a
// command it opened to Decode through pending, and the engine's parse loop
// always calls Decode next.
func TestPendingCommandIsConsumed(t *testing.T) {
	client, server := curveTestBoxes(t)
	var b []byte
	b = client.seal(b, true, false, []byte("a"))
	b = client.seal(b, false, false, []byte("bc"))
	body := zmtp.AppendPing(nil, 0, []byte("ctx"))
	_, _, h, _ := zmtp.ParseFrameHeader(body)
	b = client.seal(b, false, true, body[h:])
	b = client.seal(b, false, false, []byte("d"))
	c := &codec{box: server}
	c.dec.MaxCommandSize = 1 << 20
	got, err := decodeAll(t, c, b, true)
	if err != nil {
		t.Fatal(err)
	}
	var s string
	for _, it := range got {
		if it.Cmd.Kind != 0 {
			s += fmt.Sprintf("[%v %s]", it.Cmd.Kind, it.Cmd.Data)
		} else {
			s += fmt.Sprintf("[%s %v]", it.Data, it.More)
		}
	}
	if s != "[a true][bc false][PING ctx][d false]" {
		t.Fatalf("got %s", s)
	}
}
