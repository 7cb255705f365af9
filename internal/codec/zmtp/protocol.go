// Package zmtp is ZMTP 3.1 (wire/zmtp) behind the engine's codec seam: the
// handshake (greetings, then the NULL, PLAIN or CURVE mechanism, which
// ends with each side's READY metadata) and the codec that frames messages
// and commands after it.
//
// ZMTP has no acknowledgements and no session ids: a socket speaking it
// runs without acks, and every connection is a new peer session, as in
// libzmq.
package zmtp

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"time"

	"github.com/wispmq/wisp/internal/engine"
	"github.com/wispmq/wisp/wire/zmtp"
)

// errorWriteTimeout bounds how long a refused peer may take to accept our
// ERROR before we hang up.
const errorWriteTimeout = 100 * time.Millisecond

// Protocol is ZMTP 3.1 with one security mechanism.
type Protocol struct {
	Security Security
	// AuthTimeout bounds an Authenticator's call (the socket's handshake
	// timeout); 0 means 10 s.
	AuthTimeout time.Duration
}

var _ engine.Protocol = (*Protocol)(nil)

// Handshake exchanges greetings, runs the security mechanism and reads the
// peer's metadata.
func (p *Protocol) Handshake(nc net.Conn, self *engine.PeerInfo) (engine.Handshake, error) {
	sec := &p.Security
	mine := zmtp.Greeting{Major: zmtp.VersionMajor, Minor: zmtp.VersionMinor, Mechanism: sec.mechanismName(), AsServer: sec.Server}
	// The write runs beside the read: on a synchronous conn (net.Pipe) both
	// ends would otherwise wait for each other.
	werr := make(chan error, 1)
	go func() {
		_, err := nc.Write(mine.Append(nil))
		werr <- err
	}()
	g, rest, err := readGreeting(nc)
	if err != nil {
		nc.Close() // unblocks the write
		<-werr
		return engine.Handshake{}, err
	}
	if err := <-werr; err != nil {
		return engine.Handshake{}, engine.HandshakeIOError(err, "sending greeting")
	}
	cs := &cmdStream{nc: nc, buf: rest}
	if g.Mechanism != mine.Mechanism {
		err := fmt.Errorf("%w: the peer uses security mechanism %s, this socket %s", engine.ErrAuth, g.Mechanism, mine.Mechanism)
		return engine.Handshake{}, err
	}
	// libzmq's greeting says as-server 0 whatever its role: only two
	// servers can be told apart here.
	if mine.Mechanism != zmtp.MechanismNull && g.AsServer && sec.Server {
		err := fmt.Errorf("%w: both sides of the %s handshake are its server", engine.ErrAuth, mine.Mechanism)
		cs.refuse(err.Error())
		return engine.Handshake{}, err
	}
	m := newMechanism(sec, nc.RemoteAddr())
	timeout := p.AuthTimeout
	if timeout <= 0 {
		timeout = 10 * time.Second
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	peerMeta, userID, err := m.handshake(ctx, cs, metadataOf(self))
	if err != nil {
		return engine.Handshake{}, err
	}
	info, err := peerInfo(peerMeta)
	if err != nil {
		cs.refuseWith(m, err.Error())
		return engine.Handshake{}, err
	}
	info.UserID = userID
	// PING (and SUBSCRIBE) came with 3.1; a later version is read as 3.1,
	// as libzmq does.
	info.NoHeartbeats = g.Major == 3 && g.Minor == 0
	c := newCodec(self, &info, m)
	return engine.Handshake{Peer: info, Codec: c, Rest: cs.rest()}, nil
}

// readGreeting reads the peer's 64-byte greeting, failing as soon as its
// first bytes show it is not ZMTP 3.x, and returns what arrived after it.
func readGreeting(nc net.Conn) (zmtp.Greeting, []byte, error) {
	buf := make([]byte, 2*zmtp.GreetingLen)
	w := 0
	for {
		g, err := zmtp.ParseGreeting(buf[:w])
		if err == nil {
			return g, append([]byte(nil), buf[zmtp.GreetingLen:w]...), nil
		}
		if !errors.Is(err, io.ErrUnexpectedEOF) {
			if errors.Is(err, zmtp.ErrSignature) || errors.Is(err, zmtp.ErrVersion) {
				return g, nil, fmt.Errorf("%w: %w", engine.ErrIncompatiblePeer, err)
			}
			return g, nil, err
		}
		n, rerr := nc.Read(buf[w:])
		w += n
		if rerr != nil && n == 0 {
			return zmtp.Greeting{}, nil, engine.HandshakeIOError(rerr, "reading greeting")
		}
	}
}

// metadataOf is what a socket states in its READY or INITIATE.
func metadataOf(self *engine.PeerInfo) zmtp.Metadata {
	md := zmtp.Metadata{{Name: zmtp.PropSocketType, Value: []byte(typeNames[self.Type])}}
	if len(self.RoutingID) > 0 {
		md = append(md, zmtp.Property{Name: zmtp.PropIdentity, Value: self.RoutingID})
	}
	return md
}

// peerInfo turns a peer's metadata into what the engine needs to know.
func peerInfo(md zmtp.Metadata) (engine.PeerInfo, error) {
	name, ok := md.Get(zmtp.PropSocketType)
	if !ok {
		return engine.PeerInfo{}, fmt.Errorf("%w: the peer stated no Socket-Type", engine.ErrIncompatiblePeer)
	}
	t, ok := typeOf(string(name))
	if !ok {
		return engine.PeerInfo{}, fmt.Errorf("%w: unknown Socket-Type %q", engine.ErrIncompatiblePeer, name)
	}
	info := engine.PeerInfo{Type: t, Session: engine.NewSessionID()}
	if id, ok := md.Get(zmtp.PropIdentity); ok && len(id) > 0 {
		if len(id) > 255 {
			return engine.PeerInfo{}, fmt.Errorf("%w: Identity of %d bytes, the most is 255", engine.ErrProtocol, len(id))
		}
		info.RoutingID = append([]byte(nil), id...)
	}
	return info, nil
}

// typeNames are ZMTP's Socket-Type names for the engine's types.
var typeNames = map[engine.Type]string{
	engine.Pair: "PAIR", engine.Pub: "PUB", engine.Sub: "SUB",
	engine.Req: "REQ", engine.Rep: "REP", engine.Dealer: "DEALER",
	engine.Router: "ROUTER", engine.Pull: "PULL", engine.Push: "PUSH",
	engine.XPub: "XPUB", engine.XSub: "XSUB",
}

func typeOf(name string) (engine.Type, bool) {
	for t, n := range typeNames {
		if n == name {
			return t, true
		}
	}
	return 0, false
}
