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
// with the sender. Connections to other hosts keep the kernel's automatic
// sizing, which a long round trip needs.

// sizeSendBuffer sets c's kernel send buffer as the options say. A failure
// leaves the kernel's sizing: the connection works either way.
func (s *Engine) sizeSendBuffer(nc net.Conn) {
	n := s.opts.SendBuffer
	if n == 0 && s.opts.LocalSendBuffer > 0 && sameHost(nc) {
		n = s.opts.LocalSendBuffer
	}
	_ = transport.SetSendBuffer(nc, n)
}

// sameHost reports whether nc is a tcp connection to this host: to a
// loopback address, or to the address it comes from.
func sameHost(nc net.Conn) bool {
	ra, ok := nc.RemoteAddr().(*net.TCPAddr)
	if !ok {
		return false
	}
	la, ok := nc.LocalAddr().(*net.TCPAddr)
	return ra.IP.IsLoopback() || ok && ra.IP.Equal(la.IP)
}
