//go:build !unix

package engine

import (
	"net"
	"syscall"
)

// rawConnOf returns nil: writes that must not wait go through the writer.
func rawConnOf(net.Conn) syscall.RawConn { return nil }

// writeNoWait is never called without a raw connection.
func writeNoWait(syscall.RawConn, []byte) int { return 0 }
