//go:build unix

package engine

import (
	"errors"
	"io"
	"net"
	"os"
	"syscall"
)

// noWaitConn writes to a kernel socket with write(2) calls that never
// wait for room (see tryCommand and flushStream), and reads from it with
// read(2) calls that never wait for data (see pollRead). Its write
// callback is made once, so that a write allocates nothing.
type noWaitConn struct {
	rc   syscall.RawConn
	b    []byte
	n    int
	call func(fd uintptr) bool
	poll *pollReads // made by the first Recv that polls (beginPoll)
}

// newNoWaitConn returns the writes and reads that never wait of the kernel
// socket under nc, or nil when there is none.
func newNoWaitConn(nc net.Conn) *noWaitConn {
	sc, ok := nc.(syscall.Conn)
	if !ok {
		return nil
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return nil
	}
	w := &noWaitConn{rc: rc}
	w.call = w.attempt
	return w
}

// write writes what of b the socket has room for now, and returns how much
// that was. Callers hold the connection's writer role.
func (w *noWaitConn) write(b []byte) int {
	w.b, w.n = b, 0
	w.rc.Write(w.call)
	n := w.n
	w.b = nil
	return n
}

// attempt is the callback of write: it never asks to wait for writability.
func (w *noWaitConn) attempt(fd uintptr) bool {
	for w.n < len(w.b) {
		k, err := syscall.Write(int(fd), w.b[w.n:])
		if errors.Is(err, syscall.EINTR) {
			continue
		}
		if err != nil || k <= 0 {
			break // full or failed: the writer takes it from here
		}
		w.n += k
	}
	return true
}

// tryRead reads what the socket holds now into b, without waiting for
// more: ok is false when it holds nothing. Its errors are Read's: the end
// of the stream is io.EOF, others are a *net.OpError. Callers hold the
// connection's read side, and called beginPoll.
func (w *noWaitConn) tryRead(b []byte) (n int, err error, ok bool) {
	if len(b) == 0 {
		return 0, nil, true
	}
	p := w.poll
	p.b, p.n, p.err = b, 0, nil
	if err := w.rc.Read(p.call); err != nil {
		p.b = nil
		// Closed, or a deadline passed (an interrupt): the error Read
		// would give, but for the operation's name.
		var oe *net.OpError
		if errors.As(err, &oe) && oe.Op == "raw-read" {
			oe.Op = "read"
		}
		return 0, err, true
	}
	n, err = p.n, p.err
	p.b, p.err = nil, nil
	switch {
	case errors.Is(err, syscall.EAGAIN):
		return 0, nil, false
	case err != nil:
		return 0, &net.OpError{Op: "read", Net: p.nc.LocalAddr().Network(), Source: p.nc.LocalAddr(),
			Addr: p.nc.RemoteAddr(), Err: os.NewSyscallError("read", err)}, true
	case n == 0:
		return 0, io.EOF, true
	}
	return n, nil, true
}

// readAttempt is the callback of tryRead: it never asks to wait for data.
func (p *pollReads) readAttempt(fd uintptr) bool {
	for {
		k, err := syscall.Read(int(fd), p.b)
		if errors.Is(err, syscall.EINTR) {
			continue
		}
		p.n, p.err = max(k, 0), err
		return true
	}
}

// beginPoll starts a Recv's polling, until the nanotime until.
func (w *noWaitConn) beginPoll(nc net.Conn, until int64) {
	if w.poll == nil {
		w.poll = &pollReads{nc: nc}
		w.poll.call = w.poll.readAttempt
	}
	w.poll.until = until
}
