package ws

import (
	"net"
	"net/http"
	"sync"

	"github.com/coder/websocket"
)

// Subprotocol is the WebSocket subprotocol a wisp connection states.
const Subprotocol = "wisp"

// Listener is an http.Handler that accepts WebSocket connections and a
// net.Listener that hands them to a socket: mount it at a path of an
// HTTP server (mux.Handle("/wisp", l)) and give it to the socket with
// BindListener. Close stops accepting; connections already handed over
// stay the socket's.
type Listener struct {
	addr    net.Addr
	conns   chan net.Conn
	done    chan struct{}
	once    sync.Once
	onClose func() error // ends the HTTP server Listen started, if any
}

// NewListener returns a Listener whose Addr is a; with nil its Addr is
// ws://unknown (events then name the endpoint so).
func NewListener(a net.Addr) *Listener {
	return &Listener{addr: a, conns: make(chan net.Conn), done: make(chan struct{})}
}

// ServeHTTP upgrades the request to a WebSocket and waits until the socket
// accepts it, or the Listener closes.
func (l *Listener) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	select {
	case <-l.done:
		http.Error(w, "wisp: listener closed", http.StatusServiceUnavailable)
		return
	default:
	}
	c, err := websocket.Accept(w, r, &websocket.AcceptOptions{Subprotocols: []string{Subprotocol}})
	if err != nil {
		return // Accept has answered the request
	}
	local := l.Addr()
	scheme := "ws"
	if r.TLS != nil {
		scheme = "wss"
	}
	remote := addr{scheme: scheme, address: r.RemoteAddr}
	nc := withTLS(newConn(c, local, remote), r.TLS)
	select {
	case l.conns <- nc:
	case <-l.done:
		nc.Close()
	}
}

// Accept waits for the next WebSocket connection.
func (l *Listener) Accept() (net.Conn, error) {
	select {
	case c := <-l.conns:
		return c, nil
	case <-l.done:
		return nil, net.ErrClosed
	}
}

// Close stops handing connections over, and ends the HTTP server the
// scheme's Listen started; a server the application runs stays up.
func (l *Listener) Close() error {
	var err error
	l.once.Do(func() {
		close(l.done)
		if l.onClose != nil {
			err = l.onClose()
		}
	})
	return err
}

// Addr returns the listener's address: its network is "ws" or "wss", so
// events name the endpoint ws://host:port/path.
func (l *Listener) Addr() net.Addr {
	if l.addr == nil {
		return addr{scheme: "ws", address: "unknown"}
	}
	return l.addr
}
