// Command wispcat sends lines of stdin as messages over a wisp socket, or
// prints the messages it receives as lines, or both; as req and rep it is a
// request-reply client and an echo server. See README.md for the flags,
// exit statuses and examples.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	_ "github.com/wispmq/wisp/transport/quic" // quic:// endpoints
	_ "github.com/wispmq/wisp/transport/ws"   // ws:// and wss:// endpoints
)

func main() {
	ctx, cancel := context.WithCancelCause(context.Background())
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	go func() {
		// The first signal stops the run cleanly; a second one while it
		// still lingers for acknowledgements exits at once.
		sig := (<-sigs).(syscall.Signal)
		cancel(SignalError{Signal: sig})
		sig = (<-sigs).(syscall.Signal)
		os.Exit(128 + int(sig))
	}()
	os.Exit(run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}
