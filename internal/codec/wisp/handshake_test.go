package wisp_test

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"reflect"
	"strings"
	"testing"
	"time"
	"unsafe"

	"go.uber.org/goleak"

	"github.com/wispmq/wisp/internal/codec/wisp"
	"github.com/wispmq/wisp/internal/engine"
	"github.com/wispmq/wisp/wire"
)

// TestHandshakeBothSides runs Handshake on both ends at once, as two
// sockets do, and checks that each learns every field the other stated.
func TestHandshakeBothSides(t *testing.T) {
	for _, network := range networks {
		t.Run(network, func(t *testing.T) {
			a := engine.PeerInfo{
				Type: engine.Dealer, Session: seq16(0x10), Acks: true,
				MaxMessageSize: 1 << 20,
				// Sent in whole milliseconds, rounded up.
				HeartbeatInterval: 1500 * time.Microsecond,
				HeartbeatTimeout:  3*time.Second + time.Nanosecond,
				Window:            1000, WindowBytes: 16 << 20,
				RoutingID: []byte("dealer-1"),
			}
			b := engine.PeerInfo{Type: engine.Router, Session: seq16(0x80)}
			aBefore := a
			aBefore.RoutingID = append([]byte(nil), a.RoutingID...)
			wantA := aBefore
			wantA.HeartbeatInterval = 2 * time.Millisecond
			wantA.HeartbeatTimeout = 3001 * time.Millisecond

			ca, cb := connPair(t, network)
			ra := startHandshake(ca, &a, 5*time.Second)
			rb := startHandshake(cb, &b, 5*time.Second)
			ha, hb := await(t, ra, "handshake a"), await(t, rb, "handshake b")
			if ha.err != nil || hb.err != nil {
				t.Fatalf("got errors (%v, %v), want (nil, nil)", ha.err, hb.err)
			}
			if !reflect.DeepEqual(ha.h.Peer, b) {
				t.Errorf("a's peer got %+v, want %+v", ha.h.Peer, b)
			}
			if !reflect.DeepEqual(hb.h.Peer, wantA) {
				t.Errorf("b's peer got %+v, want %+v", hb.h.Peer, wantA)
			}
			if ha.h.Codec == nil || hb.h.Codec == nil {
				t.Errorf("codecs got (%v, %v), want both non-nil", ha.h.Codec, hb.h.Codec)
			}
			if len(ha.h.Rest) != 0 || len(hb.h.Rest) != 0 {
				t.Errorf("Rest got (% x, % x), want both empty: nothing followed the greetings", ha.h.Rest, hb.h.Rest)
			}
			if !reflect.DeepEqual(a, aBefore) {
				t.Errorf("self after Handshake got %+v, want it unchanged %+v", a, aBefore)
			}
		})
	}
}

// TestHandshakeRawPeer plays the peer with bytes built by package wire: it
// sends its greeting and its first frames in one write, and reads what the
// handshake sends.
func TestHandshakeRawPeer(t *testing.T) {
	// A long routing id makes a greeting larger than the handshake's
	// first read buffer, which then grows in the middle of it.
	for _, id := range []string{"req-routing-id", strings.Repeat("r", 255)} {
		for _, network := range networks {
			t.Run(fmt.Sprintf("%s/id%d", network, len(id)), func(t *testing.T) {
				testHandshakeRawPeer(t, network, []byte(id))
			})
		}
	}
}

func testHandshakeRawPeer(t *testing.T, network string, id []byte) {
	self := engine.PeerInfo{
		Type: engine.Rep, Session: seq16(1), Acks: true, MaxMessageSize: 4096,
		HeartbeatInterval: time.Second, HeartbeatTimeout: 3 * time.Second,
		Window: 10, WindowBytes: 1 << 16, RoutingID: []byte("rep"),
	}
	peerG := wire.Greeting{
		Major: 1, Minor: 0, Type: wire.Req, Acks: true, Session: wire.SessionID(seq16(0x40)),
		MaxMessageSize: 1 << 20, HeartbeatInterval: 250 * time.Millisecond,
		HeartbeatTimeout: 750 * time.Millisecond, Window: 7, WindowBytes: 1 << 20,
		RoutingID: id,
	}
	wantPeer := engine.PeerInfo{
		Type: engine.Req, Session: engine.SessionID(peerG.Session), Acks: true,
		MaxMessageSize: 1 << 20, HeartbeatInterval: 250 * time.Millisecond,
		HeartbeatTimeout: 750 * time.Millisecond, Window: 7, WindowBytes: 1 << 20,
		RoutingID: id,
	}
	greeting := peerG.Append(nil)
	after := wire.AppendFrame(nil, true, []byte("hello"))
	after = wire.AppendFrame(after, false, []byte("world"))
	after = wire.Command{ID: wire.CmdPing, Data: []byte("ctx")}.Append(after)
	wantItems := []engine.Item{
		{Frame: []byte("hello"), More: true},
		{Frame: []byte("world")},
		{IsCommand: true, Command: engine.Command{Kind: engine.CmdPing, Data: []byte("ctx")}},
	}
	mine := wisp.AppendGreeting(nil, &self)
	reply := wire.AppendFrame(nil, false, []byte("ok"))

	local, remote := connPair(t, network)
	peer := goPeer(func() peerResult {
		remote.SetDeadline(time.Now().Add(5 * time.Second))
		if _, err := remote.Write(append(greeting[:len(greeting):len(greeting)], after...)); err != nil {
			return peerResult{err: err}
		}
		got := make([]byte, len(mine)+len(reply))
		_, err := io.ReadFull(remote, got)
		return peerResult{got, err}
	})
	r := await(t, startHandshake(local, &self, 5*time.Second), "handshake")
	if r.err != nil {
		t.Fatalf("Handshake got %v, want nil", r.err)
	}
	h := r.h
	if !reflect.DeepEqual(h.Peer, wantPeer) {
		t.Errorf("peer got %+v, want %+v", h.Peer, wantPeer)
	}
	if overlaps(h.Peer.RoutingID, h.Rest, len(greeting)) {
		t.Errorf("peer RoutingID aliases the handshake's read buffer, want a copy")
	}

	// Rest is what followed the greeting. A pipe hands the reader the
	// whole write at once; TCP may split it, so read what is missing.
	if network == "pipe" && !bytes.Equal(h.Rest, after) {
		t.Errorf("Rest got % x, want % x", h.Rest, after)
	}
	if !bytes.HasPrefix(after, h.Rest) {
		t.Fatalf("Rest got % x, want a prefix of % x", h.Rest, after)
	}
	rest := append([]byte(nil), h.Rest...) // the engine copies it out
	items, err := readFrames(local, h.Codec, rest, len(wantItems))
	if err != nil || !reflect.DeepEqual(items, wantItems) {
		t.Errorf("frames after the greeting got (%+v, %v), want (%+v, nil)", items, err, wantItems)
	}

	// The handshake sent exactly our greeting: the next bytes are
	// what we write after it.
	if _, err := local.Write(h.Codec.AppendFrame(nil, false, []byte("ok"))); err != nil {
		t.Fatal(err)
	}
	p := await(t, peer, "peer")
	if p.err != nil {
		t.Fatalf("peer got %v, want nil", p.err)
	}
	if !bytes.Equal(p.got[:len(mine)], mine) {
		t.Errorf("greeting sent got % x, want AppendGreeting's % x", p.got[:len(mine)], mine)
	}
	if !bytes.Equal(p.got[len(mine):], reply) {
		t.Errorf("bytes after the greeting got % x, want only our frame % x", p.got[len(mine):], reply)
	}
	g, n, err := wire.ParseGreeting(p.got[:len(mine)])
	if want := wireGreeting(&self, wire.Rep); err != nil || n != len(mine) || !reflect.DeepEqual(g, want) {
		t.Errorf("ParseGreeting(sent) got (%+v, %d, %v), want (%+v, %d, nil)", g, n, err, want, len(mine))
	}
}

// overlaps reports whether b lies in the handshake's read buffer, which
// starts greetingLen bytes before rest and ends at rest's capacity.
func overlaps(b, rest []byte, greetingLen int) bool {
	if len(b) == 0 {
		return false
	}
	p := uintptr(unsafe.Pointer(unsafe.SliceData(b)))
	r := uintptr(unsafe.Pointer(unsafe.SliceData(rest)))
	return p+uintptr(len(b)) > r-uintptr(greetingLen) && p < r+uintptr(cap(rest))
}

// TestHandshakeRoutingID: an absent routing id stays nil and an empty one
// stays present, so that a ROUTER can tell them apart.
func TestHandshakeRoutingID(t *testing.T) {
	for _, tc := range []struct {
		name string
		id   []byte
	}{{"absent", nil}, {"empty", []byte{}}, {"255 bytes", bytes.Repeat([]byte{0xee}, 255)}} {
		self := engine.PeerInfo{Type: engine.Router, Session: seq16(1), RoutingID: tc.id}
		_, theirs := newHandshake(t, &self, &engine.PeerInfo{Type: engine.Router, Session: seq16(2)})
		got := theirs.Peer.RoutingID
		if (got == nil) != (tc.id == nil) || !bytes.Equal(got, tc.id) {
			t.Errorf("%s: peer's RoutingID got %#v, want %#v", tc.name, got, tc.id)
		}
	}
}

// specGreetings are the greetings of SPEC.md section 9 as the engine states
// them.
var specGreetings = map[string]engine.PeerInfo{
	"greeting-push-acks": {
		Type: engine.Push, Acks: true, Session: seq16(0), MaxMessageSize: 1 << 20,
		HeartbeatInterval: time.Second, HeartbeatTimeout: 3 * time.Second, Window: 1000,
	},
	"greeting-router-id":     {Type: engine.Router, Session: seq16(0xa0), RoutingID: []byte("peer-1")},
	"greeting-window-bytes":  {Type: engine.Push, Acks: true, Session: fill16(0x22), Window: 10000, WindowBytes: 16 << 20},
	"greeting-pull-bare":     {Type: engine.Pull, Session: fill16(0x11)},
	"greeting-pull-checksum": {Type: engine.Pull, Session: fill16(0x33), Checksum: true},
	"greeting-bus":           {Type: engine.Bus, Acks: true, Session: seq16(0xb0), Window: 1000},
}

// TestGreetingSpecVectors: AppendGreeting produces SPEC.md's greetings
// byte for byte, and Handshake reads them back to the same PeerInfo.
func TestGreetingSpecVectors(t *testing.T) {
	vecs := specVectors(t)
	for name, info := range specGreetings {
		want := vector(t, vecs, name)
		if got := wisp.AppendGreeting(nil, &info); !bytes.Equal(got, want) {
			t.Errorf("%s: AppendGreeting got % x, want % x", name, got, want)
		}
		if got := wisp.AppendGreeting([]byte("prefix"), &info); !bytes.Equal(got, append([]byte("prefix"), want...)) {
			t.Errorf("%s: AppendGreeting after a prefix got % x, want the prefix and % x", name, got, want)
		}

		self := engine.PeerInfo{Type: info.Type, Session: seq16(0x99)}
		local, remote := connPair(t, "pipe")
		peer := goPeer(func() error {
			_, err := remote.Write(want)
			if err == nil {
				_, err = io.ReadFull(remote, make([]byte, len(wisp.AppendGreeting(nil, &self))))
			}
			return err
		})
		r := await(t, startHandshake(local, &self, 5*time.Second), name)
		if err := await(t, peer, name+": peer"); err != nil {
			t.Fatalf("%s: peer got %v", name, err)
		}
		if r.err != nil || !reflect.DeepEqual(r.h.Peer, info) {
			t.Errorf("%s: Handshake got (%+v, %v), want (%+v, nil)", name, r.h.Peer, r.err, info)
		}
	}
}

// TestTypeTable: every engine type maps to its own WISP/1 value (SPEC.md
// section 2.4) and every WISP/1 type maps back.
func TestTypeTable(t *testing.T) {
	spec := map[engine.Type]wire.SocketType{
		engine.Pair: 0, engine.Pub: 1, engine.Sub: 2, engine.Req: 3, engine.Rep: 4,
		engine.Dealer: 5, engine.Router: 6, engine.Pull: 7, engine.Push: 8,
		engine.XPub: 9, engine.XSub: 10, engine.Bus: 11,
	}
	if (engine.Bus + 1).Valid() {
		t.Fatalf("engine type %v follows BUS: extend this test and the protocol's table", engine.Bus+1)
	}
	seen := make(map[wire.SocketType]engine.Type)
	for typ := engine.Type(0); typ <= engine.Bus; typ++ {
		g, _, err := wire.ParseGreeting(wisp.AppendGreeting(nil, &engine.PeerInfo{Type: typ}))
		if err != nil {
			t.Fatalf("%v: ParseGreeting got %v, want nil", typ, err)
		}
		if g.Type != spec[typ] || g.Type.String() != typ.String() {
			t.Errorf("%v: wire type got %d (%v), want %d (%v)", typ, g.Type, g.Type, spec[typ], typ)
		}
		if prev, dup := seen[g.Type]; dup {
			t.Errorf("%v and %v: both got wire type %v, want distinct", prev, typ, g.Type)
		}
		seen[g.Type] = typ
	}

	// And back: a peer of each type is reported as that type.
	for typ := engine.Type(0); typ <= engine.Bus; typ++ {
		_, theirs := newHandshake(t,
			&engine.PeerInfo{Type: typ, Session: seq16(1)},
			&engine.PeerInfo{Type: engine.Pair, Session: seq16(2)})
		if theirs.Peer.Type != typ {
			t.Errorf("peer of type %v: PeerInfo.Type got %v, want %v", typ, theirs.Peer.Type, typ)
		}
	}
	// Every type WISP/1 defines has an engine type.
	for w := wire.SocketType(0); w.Valid(); w++ {
		if _, ok := seen[w]; !ok {
			t.Errorf("wire type %v: no engine type maps to it", w)
		}
	}
}

// TestHandshakeLeavesCompatibilityToEngine: two defined but incompatible
// types complete the handshake; the engine's checkPeer refuses them, with
// the codec the handshake returned.
func TestHandshakeLeavesCompatibilityToEngine(t *testing.T) {
	mine, theirs := newHandshake(t,
		&engine.PeerInfo{Type: engine.Push, Session: seq16(1)},
		&engine.PeerInfo{Type: engine.Push, Session: seq16(2)})
	if mine.Peer.Type != engine.Push || theirs.Peer.Type != engine.Push {
		t.Errorf("peer types got (%v, %v), want (PUSH, PUSH)", mine.Peer.Type, theirs.Peer.Type)
	}
}

// refusal plays a raw peer that sends send in one write and then reads
// everything until the connection ends. It returns what the peer read and
// the error Handshake returned.
func refusal(t *testing.T, network string, self *engine.PeerInfo, send []byte, timeout time.Duration) (got []byte, hsErr error) {
	t.Helper()
	local, remote := connPair(t, network)
	peer := goPeer(func() peerResult {
		remote.SetDeadline(time.Now().Add(10 * time.Second))
		if _, err := remote.Write(send); err != nil {
			return peerResult{err: err}
		}
		got, err := io.ReadAll(remote)
		return peerResult{got, err}
	})
	start := time.Now()
	r := await(t, startHandshake(local, self, timeout), "handshake")
	if r.err == nil {
		t.Errorf("Handshake got nil error, want a refusal")
	}
	if d := time.Since(start); d > timeout/2 {
		t.Errorf("Handshake took %v, want it to refuse without waiting for the %v deadline", d, timeout)
	}
	local.Close() // as the engine does after a failed handshake
	p := await(t, peer, "peer")
	if p.err != nil {
		t.Fatalf("peer got %v, want to read until EOF", p.err)
	}
	return p.got, r.err
}

// splitGreeting checks that got starts with self's greeting and decodes
// what follows it.
func splitGreeting(t *testing.T, self *engine.PeerInfo, got []byte) []wire.Item {
	t.Helper()
	mine := wisp.AppendGreeting(nil, self)
	if !bytes.HasPrefix(got, mine) {
		t.Fatalf("peer got % x, want our greeting % x first", got, mine)
	}
	var d wire.Decoder
	var items []wire.Item
	for b := got[len(mine):]; len(b) > 0; {
		it, n, err := d.Decode(b)
		if err != nil {
			t.Fatalf("after our greeting, peer got % x: %v", got[len(mine):], err)
		}
		items = append(items, it)
		b = b[n:]
	}
	return items
}

// TestHandshakeRefusesOtherVersion: SPEC.md 2.6 asks for an ERROR naming
// the peer's version, after our greeting, as soon as byte 4 is known.
func TestHandshakeRefusesOtherVersion(t *testing.T) {
	for _, network := range networks {
		for _, tc := range []struct {
			send   string
			reason string
		}{
			{"WISP\x02\x07\x08\x01", "unsupported version 2.7"},
			{"WISP\x00\x03\x08\x00" + strings.Repeat("\x00", 30), "unsupported version 0.3"},
			{"WISP\xff\x00", "unsupported version 255.0"},
		} {
			t.Run(network+"/"+tc.reason, func(t *testing.T) {
				self := engine.PeerInfo{Type: engine.Pull, Session: seq16(3), MaxMessageSize: 99}
				got, err := refusal(t, network, &self, []byte(tc.send), 5*time.Second)
				if !errors.Is(err, wire.ErrVersion) {
					t.Errorf("send %q: Handshake got %v, want wire.ErrVersion", tc.send, err)
				}
				items := splitGreeting(t, &self, got)
				want := []wire.Item{{IsCommand: true, Command: wire.Command{ID: wire.CmdError, Data: []byte(tc.reason)}}}
				if !reflect.DeepEqual(items, want) {
					t.Errorf("send %q: after our greeting got %+v, want only %+v", tc.send, items, want)
				}
			})
		}
	}
}

// TestHandshakeRefusesUnknownType: a WISP/1 greeting stating a socket type
// no engine type maps to gets an ERROR and ErrIncompatiblePeer.
func TestHandshakeRefusesUnknownType(t *testing.T) {
	for _, network := range networks {
		for _, typ := range []wire.SocketType{42, 12, 255} {
			t.Run(fmt.Sprintf("%s/type %d", network, typ), func(t *testing.T) {
				self := engine.PeerInfo{Type: engine.Push, Session: seq16(3)}
				g := wire.Greeting{Major: 1, Type: typ, Session: wire.SessionID(seq16(4))}
				got, err := refusal(t, network, &self, g.Append(nil), 5*time.Second)
				if !errors.Is(err, engine.ErrIncompatiblePeer) {
					t.Errorf("type %d: Handshake got %v, want engine.ErrIncompatiblePeer", typ, err)
				}
				items := splitGreeting(t, &self, got)
				if len(items) != 1 || !items[0].IsCommand || items[0].Command.ID != wire.CmdError {
					t.Fatalf("type %d: after our greeting got %+v, want one ERROR", typ, items)
				}
				if reason := string(items[0].Command.Data); !strings.Contains(reason, typ.String()) {
					t.Errorf("type %d: ERROR reason got %q, want it to name %v", typ, reason, typ)
				}
			})
		}
	}
}

// TestHandshakeRefusesBadMagic: a peer that does not speak WISP is refused
// from its first bytes and sent nothing but (part of) our greeting.
func TestHandshakeRefusesBadMagic(t *testing.T) {
	for _, network := range networks {
		for _, send := range []string{"GET / HTTP/1.1\r\nHost: x\r\n\r\n", "G", "WISx", "wisp\x01\x00"} {
			t.Run(fmt.Sprintf("%s/%q", network, send[:min(len(send), 5)]), func(t *testing.T) {
				self := engine.PeerInfo{Type: engine.Rep, Session: seq16(5)}
				got, err := refusal(t, network, &self, []byte(send), 5*time.Second)
				if !errors.Is(err, wire.ErrBadMagic) {
					t.Errorf("send %q: Handshake got %v, want wire.ErrBadMagic", send, err)
				}
				if mine := wisp.AppendGreeting(nil, &self); !bytes.HasPrefix(mine, got) {
					t.Errorf("send %q: peer got % x, want at most our greeting % x", send, got, mine)
				}
			})
		}
	}
}

// TestHandshakePeerHangsUp: a peer that closes before its greeting is
// complete gives io.ErrUnexpectedEOF.
func TestHandshakePeerHangsUp(t *testing.T) {
	full := (&wire.Greeting{Major: 1, Type: wire.Push, MaxMessageSize: 7, RoutingID: []byte("x")}).Append(nil)
	for _, network := range networks {
		for _, cut := range []int{0, 3, 5, 10, wire.GreetingFixedLen, len(full) - 1} {
			t.Run(fmt.Sprintf("%s/after %d bytes", network, cut), func(t *testing.T) {
				self := engine.PeerInfo{Type: engine.Pull, Session: seq16(6)}
				mine := wisp.AppendGreeting(nil, &self)
				local, remote := connPair(t, network)
				peer := goPeer(func() error {
					remote.SetDeadline(time.Now().Add(5 * time.Second))
					if cut > 0 {
						if _, err := remote.Write(full[:cut]); err != nil {
							return err
						}
					}
					if network == "tcp" {
						// Closing with unread data would reset the connection
						// instead of ending it.
						if _, err := io.ReadFull(remote, make([]byte, len(mine))); err != nil {
							return err
						}
					}
					return remote.Close()
				})
				r := await(t, startHandshake(local, &self, 5*time.Second), "handshake")
				if err := await(t, peer, "peer"); err != nil {
					t.Fatalf("peer got %v", err)
				}
				if !errors.Is(r.err, io.ErrUnexpectedEOF) {
					t.Errorf("peer hung up after %d bytes: Handshake got %v, want io.ErrUnexpectedEOF", cut, r.err)
				}
			})
		}
	}
}

// TestHandshakeTimeout: the deadline the engine sets on the connection
// bounds the handshake, whichever step waits.
func TestHandshakeTimeout(t *testing.T) {
	g := (&wire.Greeting{Major: 1, Type: wire.Push, Session: wire.SessionID(seq16(9))}).Append(nil)
	for _, network := range networks {
		for _, tc := range []struct {
			name string
			send []byte
			// read says whether the peer reads our greeting; on a pipe a
			// peer that does not blocks our write.
			read bool
		}{
			{"silent peer", nil, true},
			{"half a greeting", g[:10], true},
			{"all but the last byte", g[:len(g)-1], true},
			{"peer never reads", g, false},
		} {
			if network == "tcp" && !tc.read {
				continue // the kernel buffers our greeting: nothing waits
			}
			t.Run(network+"/"+tc.name, func(t *testing.T) {
				self := engine.PeerInfo{Type: engine.Pull, Session: seq16(7)}
				local, remote := connPair(t, network)
				done := make(chan struct{})
				peer := goPeer(func() error {
					if len(tc.send) > 0 {
						if _, err := remote.Write(tc.send); err != nil {
							return err
						}
					}
					if tc.read {
						if _, err := io.ReadFull(remote, make([]byte, len(wisp.AppendGreeting(nil, &self)))); err != nil {
							return err
						}
					}
					<-done
					return nil
				})
				const timeout = 50 * time.Millisecond
				start := time.Now() // before startHandshake sets the deadline
				r := await(t, startHandshake(local, &self, timeout), "handshake")
				elapsed := time.Since(start)
				close(done)
				if err := await(t, peer, "peer"); err != nil {
					t.Errorf("peer got %v", err)
				}
				if !errors.Is(r.err, engine.ErrHandshakeTimeout) {
					t.Errorf("Handshake got %v, want engine.ErrHandshakeTimeout", r.err)
				}
				if elapsed < timeout {
					t.Errorf("Handshake gave up after %v, want at least the %v deadline", elapsed, timeout)
				}
			})
		}
	}
}

// TestHandshakeRefusesMalformedGreeting: a WISP/1 greeting that breaks the
// format is refused, a properties length above 1024 as soon as it is read,
// and the peer gets nothing but (part of) our greeting.
func TestHandshakeRefusesMalformedGreeting(t *testing.T) {
	withProps := func(declared int, props ...byte) []byte {
		b := (&wire.Greeting{Major: 1, Type: wire.Push, Session: wire.SessionID(seq16(4))}).Append(nil)
		b[24], b[25] = byte(declared>>8), byte(declared)
		return append(b, props...)
	}
	for _, network := range networks {
		for _, tc := range []struct {
			name string
			send []byte
		}{
			{"properties length 1025, properties not sent", withProps(1025)},
			{"properties length 0xffff", withProps(0xffff)},
			{"duplicate window", withProps(12, 4, 4, 0, 0, 0, 1, 4, 4, 0, 0, 0, 1)},
			{"max-message-size of 4 bytes", withProps(6, 1, 4, 0, 0, 0, 1)},
			{"value runs past the block", withProps(3, 9, 2, 0)},
		} {
			t.Run(network+"/"+tc.name, func(t *testing.T) {
				self := engine.PeerInfo{Type: engine.Pull, Session: seq16(5)}
				got, err := refusal(t, network, &self, tc.send, 5*time.Second)
				if !errors.Is(err, wire.ErrMalformed) {
					t.Errorf("Handshake got %v, want wire.ErrMalformed", err)
				}
				if mine := wisp.AppendGreeting(nil, &self); !bytes.HasPrefix(mine, got) {
					t.Errorf("peer got % x, want at most our greeting % x", got, mine)
				}
			})
		}
	}
}

// TestHandshakeLaterMinor: a 1.x peer's greeting is accepted whatever
// flags and properties later minors add (SPEC.md 2.2, 2.5, 2.6).
func TestHandshakeLaterMinor(t *testing.T) {
	props := []byte{
		200, 3, 1, 2, 3, // unknown key
		4, 4, 0, 0, 0, 9, // window 9
		7, 0, // unknown key, empty
		5, 2, 'i', 'd', // routing-id, out of order
	}
	send := (&wire.Greeting{Major: 1, Minor: 9, Type: wire.Sub, Session: wire.SessionID(seq16(0x30))}).Append(nil)
	send[7] = 0xff // ACKS and every bit a later minor may define
	send[24], send[25] = 0, byte(len(props))
	send = append(send, props...)
	// Bit 1 is CHECKSUM since 1.1: the connection carries checksums.
	want := engine.PeerInfo{Type: engine.Sub, Session: seq16(0x30), Acks: true, Window: 9, RoutingID: []byte("id"), Checksum: true}

	self := engine.PeerInfo{Type: engine.Pub, Session: seq16(1)}
	local, remote := connPair(t, "pipe")
	peer := goPeer(func() error {
		if _, err := remote.Write(send); err != nil {
			return err
		}
		_, err := io.ReadFull(remote, make([]byte, len(wisp.AppendGreeting(nil, &self))))
		return err
	})
	r := await(t, startHandshake(local, &self, 5*time.Second), "handshake")
	if err := await(t, peer, "peer"); err != nil {
		t.Fatal(err)
	}
	if r.err != nil || !reflect.DeepEqual(r.h.Peer, want) {
		t.Errorf("Handshake got (%+v, %v), want (%+v, nil)", r.h.Peer, r.err, want)
	}
}

// TestHandshakeSlowPeer: a peer whose greeting and first frame arrive one
// byte at a time.
func TestHandshakeSlowPeer(t *testing.T) {
	for _, network := range networks {
		t.Run(network, func(t *testing.T) {
			peerInfo := engine.PeerInfo{
				Type: engine.Push, Session: seq16(0x50), Acks: true, MaxMessageSize: 1 << 16,
				HeartbeatInterval: time.Second, Window: 3, RoutingID: []byte("slow"),
			}
			frame := wire.AppendFrame(nil, false, []byte("dribbled"))
			send := append(wisp.AppendGreeting(nil, &peerInfo), frame...)
			self := engine.PeerInfo{Type: engine.Pull, Session: seq16(1)}
			local, remote := connPair(t, network)
			remote.SetDeadline(time.Now().Add(5 * time.Second))
			written := goPeer(func() error {
				for i := range send {
					if _, err := remote.Write(send[i : i+1]); err != nil {
						return err
					}
				}
				return nil
			})
			read := goPeer(func() error {
				_, err := io.ReadFull(remote, make([]byte, len(wisp.AppendGreeting(nil, &self))))
				return err
			})
			r := await(t, startHandshake(local, &self, 5*time.Second), "handshake")
			if r.err != nil {
				t.Fatalf("Handshake got %v, want nil", r.err)
			}
			items, err := readFrames(local, r.h.Codec, r.h.Rest, 1)
			if err != nil || len(items) != 1 || string(items[0].Frame) != "dribbled" {
				t.Errorf("first frame got (%+v, %v), want %q", items, err, "dribbled")
			}
			for _, ch := range []<-chan error{written, read} {
				if err := await(t, ch, "peer"); err != nil {
					t.Fatal(err)
				}
			}
			if !reflect.DeepEqual(r.h.Peer, peerInfo) {
				t.Errorf("peer got %+v, want %+v", r.h.Peer, peerInfo)
			}
		})
	}
}

// TestHandshakeReturnsAlone: Handshake returns only once the greeting
// writer it started is done, even when the peer never reads; a refusal
// that needs nothing more from the peer does not wait for the deadline
// (SPEC.md 2.6: a peer with the wrong magic is closed at once).
func TestHandshakeReturnsAlone(t *testing.T) {
	full := (&wire.Greeting{Major: 1, Type: wire.Push, Session: wire.SessionID(seq16(4))}).Append(nil)
	long := append([]byte(nil), full...)
	long[24], long[25] = 0x07, 0xd0 // 2000 bytes of properties
	for _, tc := range []struct {
		name    string
		send    []byte
		hangUp  bool
		timeout time.Duration // 0: must not wait for the deadline
		want    error
	}{
		{"bad magic", []byte("GET /"), false, 0, wire.ErrBadMagic},
		{"properties too long", long, false, 0, wire.ErrMalformed},
		{"peer hangs up", full[:10], true, 0, io.ErrUnexpectedEOF},
		{"half a greeting", full[:10], false, 50 * time.Millisecond, engine.ErrHandshakeTimeout},
		{"our greeting unread", full, false, 50 * time.Millisecond, engine.ErrHandshakeTimeout},
		// Our greeting must go first, and the peer takes none of it.
		{"other version", []byte("WISP\x02\x00\x08\x00"), false, 50 * time.Millisecond, wire.ErrVersion},
	} {
		t.Run(tc.name, func(t *testing.T) {
			local, remote := connPair(t, "pipe")
			done := make(chan struct{})
			peer := goPeer(func() error {
				_, err := remote.Write(tc.send) // never reads
				if tc.hangUp {
					remote.Close()
				}
				<-done
				return err
			})
			defer func() { close(done); await(t, peer, "peer") }()
			ignore := goleak.IgnoreCurrent()

			timeout := tc.timeout
			if timeout == 0 {
				timeout = 5 * time.Second
			}
			local.SetDeadline(time.Now().Add(timeout))
			start := time.Now()
			_, err := wisp.Protocol{}.Handshake(local, &engine.PeerInfo{Type: engine.Pull, Session: seq16(1)})
			elapsed := time.Since(start)
			if !errors.Is(err, tc.want) {
				t.Errorf("Handshake got %v, want %v", err, tc.want)
			}
			if tc.timeout == 0 && elapsed > time.Second {
				t.Errorf("Handshake took %v, want it to return without waiting for the deadline", elapsed)
			}
			if err := goleak.Find(ignore); err != nil {
				t.Errorf("after Handshake returned: %v", err)
			}
		})
	}
}

// TestHandshakeVersionReasonWhenSplit: SPEC.md 2.6 asks for the reason
// "unsupported version X.Y" with the peer's major and minor. When byte 4
// arrives without byte 5, the refusal waits for byte 5 and names the
// peer's minor, not 0.
func TestHandshakeVersionReasonWhenSplit(t *testing.T) {
	self := engine.PeerInfo{Type: engine.Pull, Session: seq16(3)}
	local, remote := connPair(t, "pipe")
	remote.SetDeadline(time.Now().Add(5 * time.Second))
	written := goPeer(func() error {
		if _, err := remote.Write([]byte("WISP\x02")); err != nil {
			return err
		}
		remote.Write([]byte("\x07\x08\x01")) // may find no reader
		return nil
	})
	read := goPeer(func() peerResult {
		got, err := io.ReadAll(remote)
		return peerResult{got, err}
	})
	r := await(t, startHandshake(local, &self, 5*time.Second), "handshake")
	local.Close()
	if err := await(t, written, "peer write"); err != nil {
		t.Fatal(err)
	}
	p := await(t, read, "peer read")
	if !errors.Is(r.err, wire.ErrVersion) {
		t.Errorf("Handshake got %v, want wire.ErrVersion", r.err)
	}
	items := splitGreeting(t, &self, p.got)
	if len(items) != 1 || !items[0].IsCommand || items[0].Command.ID != wire.CmdError {
		t.Fatalf("after our greeting got %+v, want one ERROR", items)
	}
	if got, want := string(items[0].Command.Data), "unsupported version 2.7"; got != want {
		t.Errorf("ERROR reason got %q, want %q", got, want)
	}
}

// TestHandshakeChecksumRefusesOldPeer: a side that asks for checksums
// refuses a WISP/1.0 peer, telling it why, rather than carry the
// connection unchecked (SPEC.md 2.6); a side that does not ask speaks 1.0
// to it.
func TestHandshakeChecksumRefusesOldPeer(t *testing.T) {
	for _, ask := range []bool{true, false} {
		send := (&wire.Greeting{Major: 1, Minor: 0, Type: wire.Pull, Session: wire.SessionID(seq16(0x40))}).Append(nil)
		self := engine.PeerInfo{Type: engine.Push, Session: seq16(1), Checksum: ask}
		local, remote := connPair(t, "pipe")
		reply := make(chan []byte, 1)
		peer := goPeer(func() error {
			if _, err := remote.Write(send); err != nil {
				return err
			}
			b, _ := io.ReadAll(io.LimitReader(remote, 512))
			reply <- b
			return nil
		})
		r := await(t, startHandshake(local, &self, 5*time.Second), "handshake")
		if !ask {
			if r.err != nil || r.h.Peer.Checksum {
				t.Fatalf("without asking: got (%+v, %v), want a 1.0 connection without checksums", r.h.Peer, r.err)
			}
			local.Close()
			await(t, peer, "peer")
			continue
		}
		if !errors.Is(r.err, engine.ErrIncompatiblePeer) {
			t.Fatalf("asking for checksums of a 1.0 peer: got %v, want ErrIncompatiblePeer", r.err)
		}
		local.Close()
		if err := await(t, peer, "peer"); err != nil {
			t.Fatal(err)
		}
		if b := <-reply; !bytes.Contains(b, []byte("frame checksums need WISP/1.1")) {
			t.Fatalf("the 1.0 peer got % x, want the greeting and an ERROR naming the reason", b)
		}
	}
}

// TestHandshakeVersionReasonWithoutMinor: SPEC.md 2.6. When byte 4 comes
// without byte 5, the refusal waits for byte 5 no longer than the
// handshake may take, or until the peer has sent all it will, and then
// names the minor as 0.
func TestHandshakeVersionReasonWithoutMinor(t *testing.T) {
	for _, tc := range []struct {
		name     string
		network  string
		closeOut bool // the peer ends its side after byte 4, else it stalls
	}{
		{"peer stalls/pipe", "pipe", false},
		{"peer stalls/tcp", "tcp", false},
		{"peer half-closes/tcp", "tcp", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			self := engine.PeerInfo{Type: engine.Pull, Session: seq16(3)}
			local, remote := connPair(t, tc.network)
			remote.SetDeadline(time.Now().Add(5 * time.Second))
			written := goPeer(func() error {
				if _, err := remote.Write([]byte("WISP\x02")); err != nil {
					return err
				}
				if tc.closeOut {
					return remote.(*net.TCPConn).CloseWrite()
				}
				return nil
			})
			read := goPeer(func() peerResult {
				got, err := io.ReadAll(remote)
				return peerResult{got, err}
			})
			const timeout = 200 * time.Millisecond
			start := time.Now()
			r := await(t, startHandshake(local, &self, timeout), "handshake")
			elapsed := time.Since(start)
			local.Close()
			if err := await(t, written, "peer write"); err != nil {
				t.Fatal(err)
			}
			p := await(t, read, "peer read")
			if !errors.Is(r.err, wire.ErrVersion) {
				t.Errorf("Handshake got %v, want wire.ErrVersion", r.err)
			}
			if tc.closeOut && elapsed > timeout/2 {
				t.Errorf("Handshake took %v, want no wait for a byte 5 that cannot come", elapsed)
			}
			if !tc.closeOut && elapsed < timeout {
				t.Errorf("Handshake gave up after %v, want it to wait for byte 5 until the %v deadline", elapsed, timeout)
			}
			items := splitGreeting(t, &self, p.got)
			want := []wire.Item{{IsCommand: true, Command: wire.Command{ID: wire.CmdError, Data: []byte("unsupported version 2.0")}}}
			if !reflect.DeepEqual(items, want) {
				t.Errorf("after our greeting got %+v, want only %+v", items, want)
			}
		})
	}
}

// BenchmarkHandshake measures both ends of a handshake over net.Pipe, a
// DEALER with a routing id and a ROUTER: what a connection costs before
// its first message, most of which is garbage once it is up (a server
// taking ten thousand connections at once keeps what they leave behind).
func BenchmarkHandshake(b *testing.B) {
	dealer := engine.PeerInfo{
		Type: engine.Dealer, Session: seq16(1), Acks: true, MaxMessageSize: 1 << 20,
		HeartbeatInterval: time.Second, HeartbeatTimeout: 3 * time.Second,
		Window: 10000, WindowBytes: 16 << 20, RoutingID: []byte("client-0001"),
	}
	router := engine.PeerInfo{
		Type: engine.Router, Session: seq16(2), Acks: true, MaxMessageSize: 1 << 20,
		HeartbeatInterval: time.Second, HeartbeatTimeout: 3 * time.Second,
		Window: 10000, WindowBytes: 16 << 20,
	}
	b.ReportAllocs()
	for b.Loop() {
		x, y := net.Pipe()
		peer := goPeer(func() error {
			_, err := wisp.Protocol{}.Handshake(y, &router)
			return err
		})
		_, err := wisp.Protocol{}.Handshake(x, &dealer)
		if perr := <-peer; err != nil || perr != nil {
			b.Fatalf("handshakes got (%v, %v), want (nil, nil)", err, perr)
		}
		x.Close()
		y.Close()
	}
}
