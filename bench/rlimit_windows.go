//go:build windows

package main

// raiseFileLimit does nothing: Windows has no per-process limit on open
// sockets to raise.
func raiseFileLimit(need uint64) error { return nil }
