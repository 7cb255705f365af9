package engine

import (
	"net"

	"github.com/wispmq/wisp/transport"
)

// Kernel send buffers. Over loopback the kernel moves data from one
// socket to the other in the context of whoever sends: bytes a sender
// wrote beyond the receiver's window wait in its send buffer until the
// receiver's read opens the window, and the acknowledgement the read sends
// then transmits them on the receiver's CPU. A sender whose buffer has
// grown to megabytes thus hands most of the kernel's work for a stream of
// 4 KiB or 64 KiB messages to the receiver, the slower side already, while
// the sender idles. A send buffer of a few hundred kilobytes (a loopback
// round trip is microseconds, so it still covers many) keeps that work
// with the sender. That pays where the receiver is the busier end: not
// for a socket that writes each message to every peer (PUB, XPUB, BUS),
// whose peers' reads may keep transmitting for it (a PUB to 4 SUBs
// dropping messages delivered 0.82x as many per subscriber with the
// bound: bench thr -pattern pubsub, 256 B, bench/README.md). Connections to other
// hosts keep the kernel's automatic sizing, which a long round trip
// needs, and so do connections the application opened: it may have sized
// them, or dialed a proxy on this host that leads elsewhere.

// sizeSendBuffer sets nc's kernel send buffer as the options say, as soon
// as the connection exists. opened says the socket opened nc itself, over
// tcp or tls, with no dialer or listener of the application's. A failure
// leaves the kernel's sizing: the connection works either way.
func (s *Engine) sizeSendBuffer(nc net.Conn, opened bool) {
	n := s.opts.SendBuffer
	if n == 0 && s.opts.LocalSendBuffer > 0 && opened && !s.caps.FansOut && sameHost(nc) {
		n = s.opts.LocalSendBuffer
	}
	_ = transport.SetSendBuffer(nc, n)
}

// sizingListener sizes the send buffer of each connection it accepts.
type sizingListener struct {
	net.Listener
	s      *Engine
	opened bool // the socket opened the listener, not the application
}

func (l sizingListener) Accept() (net.Conn, error) {
	nc, err := l.Listener.Accept()
	if err == nil {
		l.s.sizeSendBuffer(nc, l.opened)
	}
	return nc, err
}

// sameHost reports whether nc is a tcp connection to this host: to a
// loopback address, or to the address it comes from.
func sameHost(nc net.Conn) bool {
	ra, ok := nc.RemoteAddr().(*net.TCPAddr)
	if !ok || ra == nil {
		return false
	}
	if ra.IP.IsLoopback() {
		return true
	}
	la, ok := nc.LocalAddr().(*net.TCPAddr)
	return ok && la != nil && len(ra.IP) > 0 && !ra.IP.IsUnspecified() && ra.IP.Equal(la.IP)
}
