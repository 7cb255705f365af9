package quic

import (
	"context"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"time"

	quicgo "github.com/quic-go/quic-go"
)

// conn is one wisp connection: a QUIC connection and its one stream.
// Reads, writes and deadlines are the stream's, which the engine may
// interrupt with a past read deadline and read again; the addresses are
// the connection's UDP addresses.
type conn struct {
	qc      *quicgo.Conn
	st      *quicgo.Stream
	release func() // frees the UDP socket (or the listener's hold on it)
	closed  atomic.Bool
	once    sync.Once
}

func newConn(qc *quicgo.Conn, st *quicgo.Stream, release func()) *conn {
	return &conn{qc: qc, st: st, release: release}
}

func (c *conn) Read(b []byte) (int, error) {
	n, err := c.st.Read(b)
	return n, c.mapErr(err)
}

func (c *conn) Write(b []byte) (int, error) {
	n, err := c.st.Write(b)
	return n, c.mapErr(err)
}

// mapErr makes the ends of a connection read as they do on tcp: io.EOF
// when the peer closed it, net.ErrClosed after Close. Other errors (an
// idle timeout, a stateless reset, a peer's CONNECTION_CLOSE with a
// transport error) stay QUIC's, and match net.ErrClosed too.
func (c *conn) mapErr(err error) error {
	if err == nil {
		return nil
	}
	if c.closed.Load() {
		return net.ErrClosed
	}
	var ae *quicgo.ApplicationError
	if errors.As(err, &ae) && ae.Remote && ae.ErrorCode == codeClosed {
		return io.EOF
	}
	return err
}

// Close closes the whole QUIC connection with an application error at
// once, so the peer's reads end without waiting for a timeout; it may run
// while Read or Write are blocked, which then return net.ErrClosed. Like
// a TCP reset it drops what the stream has not sent yet: wisp resends
// what was not acknowledged on the next connection.
func (c *conn) Close() error {
	var err error
	c.once.Do(func() {
		c.closed.Store(true)
		err = c.qc.CloseWithError(codeClosed, "")
		c.release()
	})
	return err
}

func (c *conn) LocalAddr() net.Addr  { return c.qc.LocalAddr() }
func (c *conn) RemoteAddr() net.Addr { return c.qc.RemoteAddr() }

func (c *conn) SetDeadline(t time.Time) error      { return c.st.SetDeadline(t) }
func (c *conn) SetReadDeadline(t time.Time) error  { return c.st.SetReadDeadline(t) }
func (c *conn) SetWriteDeadline(t time.Time) error { return c.st.SetWriteDeadline(t) }

// HandshakeContext is there for the engine, which runs the TLS handshake
// of a connection that has one before its own: QUIC's has completed
// before Dial or Accept returns a connection, so there is nothing to wait
// for.
func (c *conn) HandshakeContext(context.Context) error { return nil }

// ConnectionState is the TLS state of the QUIC handshake (the
// certificates the peer presented), which events and Stats show.
func (c *conn) ConnectionState() tls.ConnectionState { return c.qc.ConnectionState().TLS }
