//go:build !unix

package engine

import "net"

// noWaitConn is unix-only: elsewhere the writer goroutine writes
// everything, and Recv never polls (WithBusyPoll has no effect).
type noWaitConn struct{ poll *pollReads }

// newNoWaitConn returns nil: there are no writes or reads that never wait
// here.
func newNoWaitConn(net.Conn) *noWaitConn { return nil }

// write is never called on a nil writer.
func (*noWaitConn) write([]byte) int { return 0 }

// tryRead is never called on a nil conn.
func (*noWaitConn) tryRead([]byte) (int, error, bool) { return 0, nil, false }

// beginPoll is never called on a nil conn.
func (*noWaitConn) beginPoll(net.Conn, int64) {}
