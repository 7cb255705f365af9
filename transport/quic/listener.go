package quic

import (
	"context"
	"crypto/tls"
	"net"
	"sync"

	quicgo "github.com/quic-go/quic-go"
)

// streamTimeout is StreamTimeout; the package's tests shorten it.
var streamTimeout = StreamTimeout

// listener accepts QUIC connections on one UDP socket and hands each out
// as a net.Conn once its peer has opened its stream. The UDP socket and
// the QUIC transport on it outlive the listener for as long as a
// connection accepted through it is open: closing the listener stops
// accepting, and the last of them to close releases the socket.
type listener struct {
	pc    net.PacketConn
	tr    *quicgo.Transport
	ql    *quicgo.Listener
	addr  net.Addr
	conns chan net.Conn

	ctx    context.Context // ends with Close: stops Accept and pending streams
	cancel context.CancelFunc
	once   sync.Once
	wg     sync.WaitGroup // run and admit

	mu   sync.Mutex
	refs int // the listener itself until Close, and every connection not yet closed
}

func newListener(pc net.PacketConn, tc *tls.Config, a net.Addr) (*listener, error) {
	tr := &quicgo.Transport{Conn: pc}
	ql, err := tr.Listen(tc, config(true))
	if err != nil {
		tr.Close()
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	l := &listener{
		pc: pc, tr: tr, ql: ql, addr: a,
		conns: make(chan net.Conn),
		ctx:   ctx, cancel: cancel,
		refs: 1,
	}
	l.wg.Add(1)
	go l.run()
	return l, nil
}

// run accepts QUIC connections until the listener closes.
func (l *listener) run() {
	defer l.wg.Done()
	for {
		qc, err := l.ql.Accept(l.ctx)
		if err != nil {
			return // closed: the QUIC listener has no other errors
		}
		l.hold()
		l.wg.Add(1)
		go l.admit(qc)
	}
}

// admit waits, at most streamTimeout, for the peer's stream, then waits
// for Accept to take the connection.
func (l *listener) admit(qc *quicgo.Conn) {
	defer l.wg.Done()
	ctx, cancel := context.WithTimeout(l.ctx, streamTimeout)
	st, err := qc.AcceptStream(ctx)
	cancel()
	if err != nil {
		reason := "wisp: no stream opened in time"
		if l.ctx.Err() != nil {
			reason = "wisp: listener closed"
		}
		qc.CloseWithError(codeNoStream, reason)
		l.release()
		return
	}
	select {
	case l.conns <- newConn(qc, st, l.release):
	case <-l.ctx.Done():
		// Never handed out, so nothing of ours is in flight: no linger,
		// and the UDP socket is free when Close returns, for a socket
		// that binds the same endpoint again.
		qc.CloseWithError(codeNoStream, "wisp: listener closed")
		l.release()
	}
}

// Accept waits for the next connection whose stream is open.
func (l *listener) Accept() (net.Conn, error) {
	select {
	case c := <-l.conns:
		return c, nil
	case <-l.ctx.Done():
		return nil, net.ErrClosed
	}
}

// Close stops accepting, ends the connections not yet handed out, and
// waits for the listener's goroutines. Connections already handed out
// stay open.
func (l *listener) Close() error {
	var err error
	l.once.Do(func() {
		l.cancel()
		err = l.ql.Close()
		l.wg.Wait()
		l.release()
	})
	return err
}

// Addr is the bound endpoint's address, network "quic", so events name it
// quic://host:port.
func (l *listener) Addr() net.Addr { return l.addr }

func (l *listener) hold() {
	l.mu.Lock()
	l.refs++
	l.mu.Unlock()
}

// release drops one reference; the last one closes the QUIC transport
// and the UDP socket.
func (l *listener) release() {
	l.mu.Lock()
	l.refs--
	last := l.refs == 0
	l.mu.Unlock()
	if last {
		l.tr.Close()
		l.pc.Close()
	}
}
