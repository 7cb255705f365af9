package wisp_test

import (
	"encoding/hex"
	"errors"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/wispmq/wisp/internal/codec/wisp"
	"github.com/wispmq/wisp/internal/engine"
	"github.com/wispmq/wisp/wire"
	"github.com/wispmq/wisp/wire/wiretest"
)

// specPath is wire/SPEC.md, whose test vectors this package must produce
// and accept too.
const specPath = "../../../wire/SPEC.md"

// specVectors reads the ```hex name=... blocks of SPEC.md section 9, as
// package wire's own tests do.
func specVectors(t testing.TB) map[string][]byte {
	t.Helper()
	vecs, err := wiretest.File(specPath)
	if err != nil {
		t.Fatal(err)
	}
	return vecs
}

// vector returns the SPEC.md vector called name, failing if it is missing.
func vector(t testing.TB, vecs map[string][]byte, name string) []byte {
	t.Helper()
	v, ok := vecs[name]
	if !ok {
		t.Fatalf("SPEC.md has no vector %q", name)
	}
	return v
}

func unhex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(strings.Join(strings.Fields(s), ""))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func seq16(start byte) (s engine.SessionID) {
	for i := range s {
		s[i] = start + byte(i)
	}
	return s
}

func fill16(b byte) (s engine.SessionID) {
	for i := range s {
		s[i] = b
	}
	return s
}

// networks are the transports every handshake test runs over: a
// synchronous in-memory pipe, where a write blocks until the peer reads,
// and a real loopback TCP connection, where it does not.
var networks = []string{"pipe", "tcp"}

// connPair returns the two ends of a fresh connection; the test's cleanup
// closes both.
func connPair(t testing.TB, network string) (local, remote net.Conn) {
	t.Helper()
	switch network {
	case "pipe":
		local, remote = net.Pipe()
	case "tcp":
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatalf("listen on loopback: %v", err)
		}
		type accepted struct {
			c   net.Conn
			err error
		}
		ch := make(chan accepted, 1)
		go func() {
			c, err := ln.Accept()
			ch <- accepted{c, err}
		}()
		local, err = net.Dial("tcp", ln.Addr().String())
		a := <-ch
		ln.Close()
		if err != nil || a.err != nil {
			if local != nil {
				local.Close()
			}
			if a.c != nil {
				a.c.Close()
			}
			t.Fatalf("loopback connection: dial %v, accept %v", err, a.err)
		}
		remote = a.c
	default:
		t.Fatalf("unknown network %q", network)
	}
	t.Cleanup(func() {
		local.Close()
		remote.Close()
	})
	return local, remote
}

type hsResult struct {
	h   engine.Handshake
	err error
}

// startHandshake runs Protocol{}.Handshake on nc in the background after
// setting the deadline the engine sets, and returns where its outcome
// arrives. Every test receives from the channel (see await) before it ends.
func startHandshake(nc net.Conn, self *engine.PeerInfo, timeout time.Duration) <-chan hsResult {
	nc.SetDeadline(time.Now().Add(timeout))
	ch := make(chan hsResult, 1)
	go func() {
		h, err := wisp.Protocol{}.Handshake(nc, self)
		ch <- hsResult{h, err}
	}()
	return ch
}

// await receives one value from ch, failing the test rather than hanging
// when nothing arrives in time.
func await[T any](t testing.TB, ch <-chan T, what string) T {
	t.Helper()
	return awaitWithin(t, ch, what, 10*time.Second)
}

// awaitWithin is await with a bound of its own.
func awaitWithin[T any](t testing.TB, ch <-chan T, what string, d time.Duration) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(d):
		t.Fatalf("%s: no result after %v", what, d)
		panic("unreachable")
	}
}

// goPeer runs a raw peer in the background and returns where its result
// arrives.
func goPeer[T any](f func() T) <-chan T {
	ch := make(chan T, 1)
	go func() { ch <- f() }()
	return ch
}

type peerResult struct {
	got []byte
	err error
}

// newHandshake returns both sides of a successful handshake over net.Pipe
// between self and peer, and closes the connection: the codecs are then
// ready to use on bytes the test supplies.
func newHandshake(t testing.TB, self, peer *engine.PeerInfo) (mine, theirs engine.Handshake) {
	t.Helper()
	a, b := net.Pipe()
	defer a.Close()
	defer b.Close()
	// Generous: the fuzz targets run several per input, and a loaded
	// machine stalled one past 5 s. What they test is not the timeout.
	ca := startHandshake(a, self, 30*time.Second)
	cb := startHandshake(b, peer, 30*time.Second)
	ra, rb := awaitWithin(t, ca, "handshake", time.Minute), awaitWithin(t, cb, "peer handshake", time.Minute)
	if ra.err != nil || rb.err != nil {
		t.Fatalf("handshake got errors (%v, %v), want (nil, nil)", ra.err, rb.err)
	}
	return ra.h, rb.h
}

// newCodec returns the codec of a real handshake in which this side stated
// maxMsg as its max-message-size.
func newCodec(t testing.TB, maxMsg uint64) engine.Codec {
	t.Helper()
	h, _ := newHandshake(t,
		&engine.PeerInfo{Type: engine.Pull, Session: seq16(1), MaxMessageSize: maxMsg},
		&engine.PeerInfo{Type: engine.Push, Session: seq16(2), Acks: true})
	return h.Codec
}

// cloneItem copies the bytes an item aliases, keeping nil and empty apart.
func cloneItem(it engine.Item) engine.Item {
	clone := func(b []byte) []byte {
		if b == nil {
			return nil
		}
		return append([]byte{}, b...)
	}
	it.Frame = clone(it.Frame)
	it.Command.Data = clone(it.Command.Data)
	return it
}

// appendItem encodes it with c the way the engine's writer does.
func appendItem(c engine.Codec, b []byte, it engine.Item) []byte {
	if it.IsCommand {
		return c.AppendCommand(b, it.Command)
	}
	return c.AppendFrame(b, it.More, it.Frame)
}

// decodeAll decodes every whole frame of b with c and returns the items
// (copied), the bytes consumed and the error that stopped it.
func decodeAll(c engine.Codec, b []byte) (items []engine.Item, consumed int, err error) {
	for {
		it, n, err := c.Decode(b[consumed:])
		if err != nil {
			return items, consumed, err
		}
		items = append(items, cloneItem(it))
		consumed += n
	}
}

// readFrames reads from nc, as the engine's reader does, starting with the
// bytes in rest, until c has decoded want items or an error occurs.
func readFrames(nc net.Conn, c engine.Codec, rest []byte, want int) ([]engine.Item, error) {
	buf := append([]byte(nil), rest...)
	var items []engine.Item
	tmp := make([]byte, 4096)
	for len(items) < want {
		it, n, err := c.Decode(buf)
		if err == nil {
			items = append(items, cloneItem(it))
			buf = buf[n:]
			continue
		}
		if err != io.ErrUnexpectedEOF {
			return items, err
		}
		m, rerr := nc.Read(tmp)
		buf = append(buf, tmp[:m]...)
		if rerr != nil && m == 0 {
			return items, rerr
		}
	}
	if len(buf) != 0 {
		return items, errors.New("bytes left after the last expected frame")
	}
	return items, nil
}

// wireGreeting is what AppendGreeting should make of self, in wire's terms.
func wireGreeting(self *engine.PeerInfo, typ wire.SocketType) wire.Greeting {
	return wire.Greeting{
		Major: wire.VersionMajor, Minor: wire.VersionMinor, Type: typ,
		Acks: self.Acks, Session: wire.SessionID(self.Session),
		MaxMessageSize:    self.MaxMessageSize,
		HeartbeatInterval: self.HeartbeatInterval, HeartbeatTimeout: self.HeartbeatTimeout,
		Window: self.Window, WindowBytes: self.WindowBytes, RoutingID: self.RoutingID,
	}
}
