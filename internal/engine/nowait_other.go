//go:build !unix

package engine

import "net"

// noWaitWriter is unix-only: elsewhere the writer goroutine writes
// everything.
type noWaitWriter struct{}

// newNoWaitWriter returns nil: there are no writes that never wait here.
func newNoWaitWriter(net.Conn) *noWaitWriter { return nil }

// write is never called on a nil writer.
func (*noWaitWriter) write([]byte) int { return 0 }
