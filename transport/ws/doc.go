// Package ws carries wisp over WebSocket: importing it registers the ws://
// and wss:// schemes with package transport, so a socket binds and
// connects to endpoints such as ws://127.0.0.1:5555/wisp, and a Listener
// serves wisp at a path of an HTTP server the application already runs:
//
//	import _ "github.com/wispmq/wisp/transport/ws"
//
//	pull.Bind("ws://127.0.0.1:5555/wisp")
//	push.Connect("ws://127.0.0.1:5555/wisp")
//
//	l := ws.NewListener(nil)
//	mux.Handle("/wisp", l) // the server's other routes stay as they are
//	pull.BindListener(l)
//
// Each WebSocket carries one wisp connection as a stream of binary
// messages (the "wisp" subprotocol); wisp's own framing, heartbeats and
// acknowledgements run inside it unchanged, so everything a tcp:// socket
// guarantees holds here too. wss:// is WebSocket over TLS with the
// socket's TLS config (socket.WithTLS); as for tls://, Event.TLS and
// PeerStats.TLS carry the connection's TLS state, with the certificate
// the peer presented (a Listener mounted on the application's own HTTPS
// server reports that server's TLS state). Browsers' cross-origin requests are refused, as
// the WebSocket library does by default: wisp peers are programs, not web
// pages.
package ws
