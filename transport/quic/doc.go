// Package quic carries wisp over QUIC (RFC 9000): importing it registers
// the quic:// scheme with package transport, so a socket binds and
// connects to endpoints such as quic://127.0.0.1:5555:
//
//	import _ "github.com/wispmq/wisp/transport/quic"
//
//	pull, _ := socket.New(socket.Pull, socket.WithTLS(serverTLS))
//	pull.Bind("quic://*:5555")
//	push, _ := socket.New(socket.Push, socket.WithTLS(clientTLS))
//	push.Connect("quic://server.example:5555")
//
// Each wisp connection is one QUIC connection carrying one bidirectional
// stream, opened by the connecting side; wisp's own framing, heartbeats
// and acknowledgements run inside it unchanged, so everything a tcp://
// socket guarantees holds here too. A peer that completes the QUIC
// handshake but opens no stream within StreamTimeout is dropped, as wisp
// drops one that sends no greeting; a peer may open no more than that one
// stream. Closing a connection closes the whole QUIC connection at once
// with an application error, so the peer sees the end without waiting for
// an idle timeout.
//
// # TLS
//
// QUIC always runs TLS 1.3, so a quic:// endpoint needs the socket's TLS
// config (socket.WithTLS); without one, Bind and Connect fail with an
// error wrapping transport.ErrInvalidConfig. The package uses a clone of
// that config with MinVersion TLS 1.3 and NextProtos set to ALPN, so a
// QUIC client of another protocol cannot reach the socket (and the config
// can be shared with tls:// endpoints). In production:
//
//   - the binding side supplies a certificate chain and its key
//     (tls.Config.Certificates or GetCertificate) for the names or
//     addresses clients connect to;
//   - the connecting side supplies the CAs it trusts (RootCAs; the
//     system's roots when nil) and checks the server's name, which is the
//     endpoint's host unless ServerName says otherwise;
//   - for mutual TLS, the binding side sets ClientCAs and ClientAuth
//     (tls.RequireAndVerifyClientCert) and the connecting side its own
//     Certificates.
//
// The peer's identity is what TLS verified: on EventConnected and
// EventDisconnected, and in Stats, the TLS field holds the connection
// state with the certificates the peer presented, as for tls://. The
// handshake is QUIC's, done before a connection is handed to the socket:
// a failed one shows on the connecting side as the dial's error
// (EventRetrying, naming the TLS alert), and not at all on the binding
// side, which never gets the connection.
//
// # What does not apply
//
// QUIC runs over UDP sockets this package opens itself, so a custom
// stream dialer or listener (socket.WithDialer, socket.WithListener)
// cannot carry it: they are refused with ErrInvalidConfig rather than
// silently bypassed. socket.WithReusePort applies to the UDP socket a
// Bind opens, and socket.WithLocalAddr to the one a Connect dials from;
// socket.WithDialFromBind does not apply (each Connect dials from a UDP
// socket of its own), since sharing one UDP port between a listener and
// dialers would need one QUIC transport for both.
package quic
