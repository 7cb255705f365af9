//go:build !unix

package engine

import "net"

// noWaitConn is unix-only: elsewhere the writer goroutine writes
// everything, and Recv never polls (WithBusyPoll has no effect).
type noWaitConn struct{}

// newNoWaitConn returns nil: there are no writes that never wait here.
func newNoWaitConn(net.Conn) *noWaitConn { return nil }

// write is never called on a nil writer.
func (*noWaitConn) write([]byte) int { return 0 }

// tryRead is never called on a nil conn.
func (*noWaitConn) tryRead([]byte) (int, error, bool) { return 0, nil, false }
