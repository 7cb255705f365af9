// Package transport turns wisp endpoints into connections.
//
// It knows endpoints and connections, not messages. An endpoint is a string
// of the form scheme://address:
//
//	tcp://127.0.0.1:5555   a TCP host and port
//	tcp://[::1]:5555       an IPv6 host, in brackets
//	tcp://*:5555           all interfaces (for Listen)
//	tls://127.0.0.1:5555   TLS over tcp, with Config.TLS
//	ipc:///tmp/wisp.sock   a unix domain socket path ("ipc://rel.sock" is relative)
//	inproc://name          an in-process name, served by the socket engine itself
//
// ParseEndpoint checks an endpoint strictly; Listen and Dial open tcp, tls
// and ipc endpoints, with SO_REUSEPORT on request and with any dialer or listener the
// caller brings (TLS, a SOCKS proxy, ...) through Config. inproc endpoints are
// parsed here but handled by the engine, so Listen and Dial refuse them with
// ErrUnsupported.
//
// Other schemes are Transports that packages Register: importing
// github.com/wispmq/wisp/transport/ws adds ws:// and wss://, importing
// github.com/wispmq/wisp/transport/quic adds quic:// (QUIC over UDP, with
// Config.TLS), and an application can add its own. ParseEndpoint, Listen and Dial hand a
// registered scheme's endpoints to its Transport, so a socket binds and
// connects to them like any other.
package transport
