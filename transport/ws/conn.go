package ws

import (
	"context"
	"crypto/tls"
	"io"
	"net"
	"sync"
	"time"

	"github.com/coder/websocket"
)

// conn is one wisp connection over a WebSocket. Writes go straight to the
// WebSocket; reads come through a pipe filled by a goroutine, because the
// engine interrupts a blocked read with a past read deadline (to take a
// buffer back, or to let another goroutine read) and reads again, while
// the WebSocket library's net.Conn ends the whole connection when a
// deadline interrupts a read. The pipe is synchronous, so the goroutine
// reads from the WebSocket only as fast as the engine takes the bytes.
type conn struct {
	c             *websocket.Conn
	ws            net.Conn // the library's net.Conn over c; no read deadline is ever set on it
	r, w          net.Conn // the pipe: the engine reads r, the pump writes w
	local, remote net.Addr
	closeOnce     sync.Once
	pumped        chan struct{}
}

// newConn wraps a WebSocket that has completed its handshake.
func newConn(c *websocket.Conn, local, remote net.Addr) *conn {
	r, w := net.Pipe()
	nc := &conn{
		c:  c,
		ws: websocket.NetConn(context.Background(), c, websocket.MessageBinary),
		r:  r, w: w, local: local, remote: remote,
		pumped: make(chan struct{}),
	}
	go nc.pump()
	return nc
}

// pump copies what the WebSocket brings into the pipe until either ends;
// the engine then reads EOF.
func (c *conn) pump() {
	defer close(c.pumped)
	io.Copy(c.w, c.ws)
	c.w.Close()
}

func (c *conn) Read(b []byte) (int, error)  { return c.r.Read(b) }
func (c *conn) Write(b []byte) (int, error) { return c.ws.Write(b) }

// Close ends the WebSocket and the pipe, and waits for the pump, so no
// goroutine outlives the connection. It skips the WebSocket closing
// handshake, which waits for the peer: the engine closes a connection
// whose peer went silent from its heartbeat goroutine, which must not
// wait. wisp's own ERROR, sent before, says why.
func (c *conn) Close() error {
	var err error
	c.closeOnce.Do(func() {
		err = c.c.CloseNow()
		c.r.Close()
		<-c.pumped
	})
	return err
}

func (c *conn) LocalAddr() net.Addr  { return c.local }
func (c *conn) RemoteAddr() net.Addr { return c.remote }

func (c *conn) SetDeadline(t time.Time) error {
	c.SetWriteDeadline(t)
	return c.r.SetReadDeadline(t)
}
func (c *conn) SetReadDeadline(t time.Time) error  { return c.r.SetReadDeadline(t) }
func (c *conn) SetWriteDeadline(t time.Time) error { return c.ws.SetWriteDeadline(t) }

// tlsConn is a wss:// connection. The engine takes the TLS state of a
// connection that has one for its events and Stats (the peer's
// certificates, for mutual TLS), as it does for tls://; the HTTP server or
// client did the handshake before the upgrade.
type tlsConn struct {
	*conn
	state tls.ConnectionState
}

// HandshakeContext does nothing: the handshake is done.
func (c *tlsConn) HandshakeContext(context.Context) error { return nil }

// ConnectionState is the TLS state of the connection the upgrade came on.
func (c *tlsConn) ConnectionState() tls.ConnectionState { return c.state }

// withTLS returns c, as a tlsConn when it runs over TLS (st not nil).
func withTLS(c *conn, st *tls.ConnectionState) net.Conn {
	if st == nil {
		return c
	}
	return &tlsConn{conn: c, state: *st}
}
