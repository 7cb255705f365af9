// Package wisp is WISP/1, wisp's own wire protocol (wire/SPEC.md), behind
// the engine's codec seam: the handshake that exchanges greetings, and the
// codec that frames messages and commands after it. The bytes themselves are
// package wire's; this package maps them to and from the engine's terms.
package wisp

import (
	"errors"
	"fmt"
	"io"
	"net"
	"time"

	"github.com/wispmq/wisp/internal/engine"
	"github.com/wispmq/wisp/wire"
)

// errorWriteTimeout bounds how long a refused peer may take to accept our
// ERROR before we hang up.
const errorWriteTimeout = 100 * time.Millisecond

// Protocol is WISP/1. Its zero value is ready to use.
type Protocol struct{}

var _ engine.Protocol = Protocol{}

// Handshake sends self's greeting and reads the peer's (SPEC.md section 2).
// A peer of another major version, or of a socket type WISP/1 does not
// define, is told why with an ERROR before the connection ends.
func (Protocol) Handshake(nc net.Conn, self *engine.PeerInfo) (engine.Handshake, error) {
	mine := AppendGreeting(nil, self)
	// The write runs beside the read: on a synchronous conn (net.Pipe) both
	// ends would otherwise wait for each other.
	werr := make(chan error, 1)
	go func() {
		_, err := nc.Write(mine)
		werr <- err
	}()
	g, rest, err := readGreeting(nc)
	if err != nil && errors.Is(err, wire.ErrVersion) {
		// Refuse politely (SPEC.md 2.6), but only after our own greeting:
		// an ERROR is a frame, and frames follow the greeting.
		if <-werr == nil {
			refuse(nc, fmt.Sprintf("unsupported version %d.%d", g.Major, g.Minor))
		}
		return engine.Handshake{}, err
	}
	if err != nil {
		nc.Close() // unblocks the write
		<-werr
		return engine.Handshake{}, err
	}
	if err := <-werr; err != nil {
		return engine.Handshake{}, engine.HandshakeIOError(err, "sending greeting")
	}
	typ, ok := typeOf(g.Type)
	if !ok {
		err := fmt.Errorf("%w: %v cannot talk to %v", engine.ErrIncompatiblePeer, g.Type, self.Type)
		refuse(nc, err.Error())
		return engine.Handshake{}, err
	}
	if self.Checksum && g.Minor < 1 {
		// Asked for, checksums are a promise: no silent fallback.
		err := fmt.Errorf("%w: frame checksums need WISP/1.1, the peer speaks %d.%d", engine.ErrIncompatiblePeer, g.Major, g.Minor)
		refuse(nc, err.Error())
		return engine.Handshake{}, err
	}
	// Either side may ask; both then sum every message and command.
	sum := g.Minor >= 1 && (self.Checksum || g.Checksum)
	peer := engine.PeerInfo{
		Type:              typ,
		Session:           engine.SessionID(g.Session),
		Acks:              g.Acks,
		MaxMessageSize:    g.MaxMessageSize,
		HeartbeatInterval: g.HeartbeatInterval,
		HeartbeatTimeout:  g.HeartbeatTimeout,
		Window:            g.Window,
		WindowBytes:       g.WindowBytes,
		RoutingID:         g.RoutingID,
		Checksum:          sum,
	}
	c := &codec{dec: wire.Decoder{MaxMessageSize: self.MaxMessageSize, Checksum: sum}, sum: sum}
	return engine.Handshake{Peer: peer, Codec: c, Rest: rest}, nil
}

// refuse writes an ERROR with reason, best effort, before the caller hangs
// up.
func refuse(nc net.Conn, reason string) {
	nc.SetWriteDeadline(time.Now().Add(errorWriteTimeout))
	nc.Write(wire.Command{ID: wire.CmdError, Data: []byte(reason)}.Append(nil))
}

// readGreeting reads the peer's greeting and returns it with whatever
// arrived after it. The buffer holds one greeting at most: until the peer
// proves it speaks WISP/1, a flood of failed handshakes costs little memory.
func readGreeting(nc net.Conn) (wire.Greeting, []byte, error) {
	// Most greetings carry a few properties: the buffer grows to the
	// largest only for one that does not fit. It is garbage once the
	// connection has its own, and with many peers connecting at once
	// what they leave behind is memory the process keeps.
	buf := make([]byte, greetingReadBuf)
	w := 0
	for {
		g, n, err := wire.ParseGreeting(buf[:w])
		if err == nil {
			if g.RoutingID != nil {
				g.RoutingID = append([]byte{}, g.RoutingID...) // buf is the connection's
			}
			return g, buf[n:w], nil
		}
		if errors.Is(err, wire.ErrVersion) && w < 6 {
			// The refusal names the peer's minor version too (SPEC.md
			// 2.6): wait for its byte, which the peer sent with the major.
			if m, rerr := nc.Read(buf[w:]); m > 0 || rerr == nil {
				w += m
				continue
			}
		}
		if err != io.ErrUnexpectedEOF {
			return g, nil, err // g carries the version for ErrVersion
		}
		if w == len(buf) {
			// Room for the largest greeting: ParseGreeting decides
			// before the buffer is full again.
			buf = append(buf, make([]byte, wire.GreetingFixedLen+wire.MaxPropertiesLen+64-len(buf))...)
		}
		m, rerr := nc.Read(buf[w:])
		w += m
		if rerr != nil && m == 0 {
			return wire.Greeting{}, nil, engine.HandshakeIOError(rerr, "reading greeting")
		}
	}
}

// greetingReadBuf is what readGreeting reads into first: a greeting with
// up to 200 bytes of properties and what follows it in the same read.
const greetingReadBuf = 256

// AppendGreeting appends what self states, as a WISP/1 greeting, to b.
func AppendGreeting(b []byte, self *engine.PeerInfo) []byte {
	typ, ok := wireTypes[self.Type]
	if !ok {
		panic(fmt.Sprintf("wisp: no WISP/1 value for socket type %v", self.Type)) // the engine's types are all mapped
	}
	g := wire.Greeting{
		Major:             wire.VersionMajor,
		Minor:             wire.VersionMinor,
		Type:              typ,
		Acks:              self.Acks,
		Checksum:          self.Checksum,
		Session:           wire.SessionID(self.Session),
		MaxMessageSize:    self.MaxMessageSize,
		HeartbeatInterval: self.HeartbeatInterval,
		HeartbeatTimeout:  self.HeartbeatTimeout,
		Window:            self.Window,
		WindowBytes:       self.WindowBytes,
		RoutingID:         self.RoutingID,
	}
	return g.Append(b)
}

// wireTypes maps the engine's socket types to WISP/1's numbering (SPEC.md
// section 2.4).
var wireTypes = map[engine.Type]wire.SocketType{
	engine.Pair: wire.Pair, engine.Pub: wire.Pub, engine.Sub: wire.Sub,
	engine.Req: wire.Req, engine.Rep: wire.Rep, engine.Dealer: wire.Dealer,
	engine.Router: wire.Router, engine.Pull: wire.Pull, engine.Push: wire.Push,
	engine.XPub: wire.XPub, engine.XSub: wire.XSub, engine.Bus: wire.Bus,
}

// typeOf maps a WISP/1 socket type to the engine's.
func typeOf(t wire.SocketType) (engine.Type, bool) {
	for e, w := range wireTypes {
		if w == t {
			return e, true
		}
	}
	return 0, false
}
