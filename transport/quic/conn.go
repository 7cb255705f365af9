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
	qc       *quicgo.Conn
	st       *quicgo.Stream
	release  func() // frees the UDP socket (or the listener's hold on it)
	closed   atomic.Bool
	once     sync.Once
	wmu      sync.Mutex    // held by Write; whoever holds it when closed ends the stream
	peerFIN  chan struct{} // closed when the peer has ended its side of the stream
	finOnce  sync.Once
	lingered chan struct{} // closed when linger has closed the QUIC connection
}

func newConn(qc *quicgo.Conn, st *quicgo.Stream, release func()) *conn {
	c := &conn{qc: qc, st: st, release: release, peerFIN: make(chan struct{}), lingered: make(chan struct{})}
	st.SetReceiveFinalSizeCallback(func(int64) { c.finOnce.Do(func() { close(c.peerFIN) }) })
	return c
}

// lingerTimeout bounds how long a closed connection waits for its peer
// to take what was written last (see Close) before it ends the QUIC
// connection anyway. A live peer answers within a round trip; a silent
// one holds the connection's state (and a dialer's UDP socket) this long
// after Close, so it stays short.
const lingerTimeout = 250 * time.Millisecond

// Read reads from the stream. After Close it waits for linger to end
// before it returns net.ErrClosed: the engine's reader of a connection is
// what a socket's Close waits for, so a program that closes its socket
// and exits does not take the stream's last bytes (its final
// acknowledgements, say) with it, as a TCP socket's kernel would not.
func (c *conn) Read(b []byte) (int, error) {
	if c.closed.Load() {
		<-c.lingered
		return 0, net.ErrClosed
	}
	n, err := c.st.Read(b)
	if err != nil && c.closed.Load() {
		<-c.lingered
	}
	return n, c.mapErr(err)
}

// Write writes to the stream. It holds wmu because quic-go's stream must
// not be ended while a Write is in progress: that Write would wait
// forever for room the closed connection never gives. A Close that finds
// a Write in progress leaves ending the stream to it.
func (c *conn) Write(b []byte) (int, error) {
	if c.closed.Load() {
		return 0, net.ErrClosed
	}
	c.wmu.Lock()
	defer c.wmu.Unlock()
	n, err := c.st.Write(b)
	if c.closed.Load() {
		c.st.Close()
		return n, net.ErrClosed
	}
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

// Close ends the connection without blocking; Read and Write blocked in
// it return net.ErrClosed (Read once linger is over). It ends the stream
// after what was written (wisp writes an ERROR saying why before it hangs
// up), so the peer reads
// that and then EOF at once, as it would on tcp; then the whole QUIC
// connection is closed with an application error as soon as the peer
// has closed too or ended its side of the stream, or after lingerTimeout
// if it is gone. Closing it at once would drop the stream's last bytes:
// QUIC's CONNECTION_CLOSE discards unsent stream data.
func (c *conn) Close() error {
	c.once.Do(func() {
		c.closed.Store(true)
		past := time.Unix(1, 0)
		c.st.SetReadDeadline(past)  // a Read in progress returns
		c.st.SetWriteDeadline(past) // and a Write, which then ends the stream
		if c.wmu.TryLock() {
			c.st.Close()
			c.wmu.Unlock()
		}
		// If a Write holds wmu and someone moved the deadline again, the
		// QUIC connection's close at the end of linger ends that Write.
		go c.linger()
	})
	return nil
}

// linger waits for the peer, within lingerTimeout, then closes the QUIC
// connection and frees its UDP socket.
func (c *conn) linger() {
	t := time.NewTimer(lingerTimeout)
	select {
	case <-c.qc.Context().Done():
	case <-c.peerFIN:
	case <-t.C:
	}
	t.Stop()
	c.qc.CloseWithError(codeClosed, "")
	c.release()
	close(c.lingered)
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
