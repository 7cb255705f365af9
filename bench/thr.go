package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"runtime/pprof"
	"time"
)

// defaultTimeout bounds one measurement, both processes included.
const defaultTimeout = 3 * time.Minute

// runThr is the thr subcommand: one measurement, one JSON line on stdout.
func runThr(args []string, stdout, stderr io.Writer) int {
	c := config{}
	fs := newFlagSet("thr", stderr)
	fs.StringVar(&c.Pattern, "pattern", "pushpull", "pattern to measure")
	fs.StringVar(&c.Transport, "transport", "tcp", "transport: tcp, ipc, inproc, ws (WebSocket) or quic")
	fs.IntVar(&c.Size, "size", 16, "message size in bytes")
	fs.Int64Var(&c.Count, "count", 1_000_000, "messages to send (at least 2); broker: requests over all clients")
	fs.BoolVar(&c.Acks, "acks", true, "acknowledged delivery (wisp's default); false: a message counts as sent once written")
	fs.IntVar(&c.HWM, "hwm", 0, "send and receive high-water marks; 0: the socket defaults")
	fs.DurationVar(&c.Timeout, "timeout", defaultTimeout, "kill the run after this long")
	fs.StringVar(&c.Protocol, "protocol", "wisp", "pushpull: wire protocol, wisp or zmtp (ZeroMQ's ZMTP 3.1, no acks); tcp and ipc only")
	fs.IntVar(&c.Clients, "clients", defaultClients, "broker: client sockets, all in one process")
	fs.IntVar(&c.Workers, "workers", defaultWorkers, "broker: worker sockets, all in one process")
	fs.IntVar(&c.Window, "window", defaultWindow, "broker: requests each client keeps in flight")
	fs.IntVar(&c.Subs, "subs", defaultSubs, "pubsub: subscriber sockets, each in its own process (tcp, ipc)")
	fs.IntVar(&c.Match, "match", 100, "pubsub: percent of messages that match the subscriptions: 100 or 50")
	fs.BoolVar(&c.NoDrop, "nodrop", false, "pubsub: the publisher waits for a full subscriber instead of dropping (socket.WithNoDrop)")
	fs.StringVar(&c.Spool, "spool", "", "pushpull: the sender spools (socket.WithSpool) in a fresh directory under\nthis one, removed after the run; empty: no spool")
	fs.StringVar(&c.SpoolSync, "spool-sync", "always", "pushpull with -spool: when the spool syncs: always, none, or a duration\nsuch as 100ms (socket.SpoolSyncEvery)")
	fs.BoolVar(&c.Release, "release", false, "pushpull: the receiver gives every message back once checked\n(socket.Message.Release), so large messages reuse memory")
	fs.IntVar(&c.Batch, "batch", 1, fmt.Sprintf("pushpull: messages per SendMany, and at most per RecvMany (1 to %d);\n1: Send and Recv", maxBatch))
	var cpuProfile string
	fs.StringVar(&cpuProfile, "cpuprofile", "", "write a CPU profile of this process (inproc: both sides; broker: the broker) to `FILE`")
	if err := parseFlags(fs, args); err != nil {
		return flagError(stderr, "bench thr", err)
	}
	if cpuProfile != "" {
		stop, err := startCPUProfile(cpuProfile)
		if err != nil {
			fmt.Fprintf(stderr, "bench thr: %v\n", err)
			return exitFail
		}
		defer stop()
	}
	r, err := measure(context.Background(), c)
	if err != nil {
		fmt.Fprintf(stderr, "bench thr: %v\n", err)
		if errors.Is(err, errBadConfig) {
			return exitUsage
		}
		return exitFail
	}
	line, err := json.Marshal(r)
	if err != nil {
		fmt.Fprintf(stderr, "bench thr: %v\n", err)
		return exitFail
	}
	fmt.Fprintf(stdout, "%s\n", line)
	return exitOK
}

// startCPUProfile profiles this process into file until stop is called.
func startCPUProfile(file string) (stop func(), err error) {
	f, err := os.Create(file)
	if err != nil {
		return nil, err
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, err
	}
	return func() {
		pprof.StopCPUProfile()
		f.Close()
	}, nil
}

// measure validates c and runs it once.
func measure(ctx context.Context, c config) (result, error) {
	b, err := findBenchmark(c.Pattern)
	if err != nil {
		return result{}, err
	}
	if err := b.check(c); err != nil {
		return result{}, err
	}
	r, err := b.run(ctx, c)
	if err != nil {
		return result{}, fmt.Errorf("%s over %s, %d x %d bytes: %w", c.Pattern, c.Transport, c.Count, c.Size, err)
	}
	if !(r.Seconds > 0) {
		return result{}, fmt.Errorf("%s over %s: got %v seconds, want more than 0 (count too small to time?)", c.Pattern, c.Transport, r.Seconds)
	}
	r.Protocol = protocolName(c.Protocol)
	return r, nil
}
