//go:build unix

package engine

import (
	"errors"
	"net"
	"syscall"
)

// noWaitWriter writes to a kernel socket with write(2) calls that never
// wait for room (see tryCommand and flushStream). Its callback is made
// once, so that a write allocates nothing.
type noWaitWriter struct {
	rc   syscall.RawConn
	b    []byte
	n    int
	call func(fd uintptr) bool
}

// newNoWaitWriter returns a writer for the kernel socket under nc, or nil
// when there is none.
func newNoWaitWriter(nc net.Conn) *noWaitWriter {
	sc, ok := nc.(syscall.Conn)
	if !ok {
		return nil
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return nil
	}
	w := &noWaitWriter{rc: rc}
	w.call = w.attempt
	return w
}

// write writes what of b the socket has room for now, and returns how much
// that was. Callers hold the connection's writer role.
func (w *noWaitWriter) write(b []byte) int {
	w.b, w.n = b, 0
	w.rc.Write(w.call)
	n := w.n
	w.b = nil
	return n
}

// attempt is the callback of write: it never asks to wait for writability.
func (w *noWaitWriter) attempt(fd uintptr) bool {
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
