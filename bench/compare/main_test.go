package main

import (
	"os"
	"testing"

	"go.uber.org/goleak"
)

// TestMain lets the test binary act as a zmq4 peer, exactly as the runner
// binary does, so the pair test runs the real re-exec path.
func TestMain(m *testing.M) {
	if len(os.Args) > 1 && os.Args[1] == peerArg {
		os.Exit(peerMain(os.Args[2:], os.Stdout, os.Stderr))
	}
	goleak.VerifyTestMain(m)
}
