//go:build unix

package engine

import (
	"errors"
	"net"
	"syscall"
)

// rawConnOf returns the kernel socket under nc, for writes that must not
// wait (see tryCommand), or nil.
func rawConnOf(nc net.Conn) syscall.RawConn {
	sc, ok := nc.(syscall.Conn)
	if !ok {
		return nil
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return nil
	}
	return rc
}

// writeNoWait writes b to the socket with write(2) calls that never wait
// for room, and returns how much of it went.
func writeNoWait(rc syscall.RawConn, b []byte) int {
	n := 0
	rc.Write(func(fd uintptr) bool {
		for n < len(b) {
			k, err := syscall.Write(int(fd), b[n:])
			if errors.Is(err, syscall.EINTR) {
				continue
			}
			if err != nil || k <= 0 {
				break // full or failed: the writer takes it from here
			}
			n += k
		}
		return true // never wait for writability
	})
	return n
}
