//go:build unix

package engine

import (
	"errors"
	"io"
	"net"
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

	// The read's, apart from the write's: a Recv polls while the writer
	// writes. Callers of tryRead hold the connection's read side.
	rb       []byte
	rn       int
	rerr     error
	readCall func(fd uintptr) bool
}

// newNoWaitConn returns a writer for the kernel socket under nc, or nil
// when there is none.
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
	w.readCall = w.readAttempt
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
// more: ok is false when it holds nothing. The end of the stream is
// io.EOF, as from Read.
func (w *noWaitConn) tryRead(b []byte) (n int, err error, ok bool) {
	w.rb, w.rn, w.rerr = b, 0, nil
	if err := w.rc.Read(w.readCall); err != nil {
		w.rb = nil
		return 0, err, true // closed, or a deadline passed (an interrupt)
	}
	n, err = w.rn, w.rerr
	w.rb, w.rerr = nil, nil
	switch {
	case errors.Is(err, syscall.EAGAIN):
		return 0, nil, false
	case err != nil:
		return 0, err, true
	case n == 0:
		return 0, io.EOF, true
	}
	return n, nil, true
}

// readAttempt is the callback of tryRead: it never asks to wait for data.
func (w *noWaitConn) readAttempt(fd uintptr) bool {
	for {
		k, err := syscall.Read(int(fd), w.rb)
		if errors.Is(err, syscall.EINTR) {
			continue
		}
		w.rn, w.rerr = max(k, 0), err
		return true
	}
}
