// Command bench measures wisp's throughput on this machine, over loopback.
//
// With no arguments it runs the default suite (every benchmark in the
// benchmarks table, over every transport and message size) and prints a
// Markdown table, or with -format csv one CSV row per case, or with
// -format benchstat Go benchmark lines (one per run) for benchstat; its
// progress, run n of N and an estimate of the time left, goes to stderr:
//
//	go run ./bench [-rounds N] [-scale F] [-timeout D] [-format table|csv|benchstat]
//
// The thr subcommand runs one throughput measurement and prints one JSON
// line, for scripts and for bench/compare:
//
//	go run ./bench thr -pattern pushpull -transport tcp|ipc|inproc|ws|quic -size BYTES -count N [-acks=true] [-hwm N] [-protocol wisp|zmtp]
//	go run ./bench thr -pattern broker -transport tcp|ipc -size BYTES -count N [-clients 4 -workers 4 -window 100]
//	go run ./bench thr -pattern pubsub -transport tcp|ipc|inproc -size BYTES -count N [-subs 4] [-match 100|50] [-hwm N]
//
// The lat subcommand measures REQ/REP round trips and prints one JSON line:
//
//	go run ./bench lat -pattern reqrep -transport tcp|ipc|inproc|ws|quic -size BYTES -count N [-protocol wisp|zmtp]
//
// -protocol zmtp makes both sides speak ZeroMQ's ZMTP 3.1 (tcp and ipc
// only), which has no acknowledgements.
//
// The peer subcommand is one side of a run whose other side is another
// program, such as bench/compare's libzmq peers, with their command lines
// and output:
//
//	go run ./bench peer [-protocol wisp|zmtp] recv|send ENDPOINT SIZE COUNT
//	go run ./bench peer [-protocol wisp|zmtp] rep|req ENDPOINT SIZE COUNT WARMUP
//
// The scale subcommand measures what one server socket costs per peer:
// memory, goroutines and idle CPU with N peers connected, and the time to
// connect, exchange and close them; it prints a Markdown table or one JSON
// line:
//
//	go run ./bench scale -pattern pub|router|pull -peers N [-procs P] [-idle D] [-burst 10] [-burst-size 8192] [-settle D] [-timeout D] [-format table|json]
//
// For tcp and ipc the sender and the receiver run in separate processes: the
// command starts itself twice with a hidden subcommand, one per side, and
// reads each child's CPU time and peak RSS when it exits. The broker runs in
// the thr process, its clients and its workers in two children; lat's
// client runs in the lat process and its server in a child; pubsub's
// publisher runs in the thr process and each subscriber in its own child.
// scale runs its server socket in one child and its clients in -procs
// others, each dialing from its own loopback address (127.0.0.2, ...). See
// README.md.
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	_ "github.com/wispmq/wisp/transport/quic" // the quic transport's rows
	_ "github.com/wispmq/wisp/transport/ws"   // the ws transport's rows
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// Exit codes.
const (
	exitOK    = 0
	exitFail  = 1 // a measurement failed
	exitUsage = 2
)

// run is the whole command; it returns the exit code. Tests call it directly.
func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || strings.HasPrefix(args[0], "-") {
		return runSuite(args, stdout, stderr)
	}
	switch args[0] {
	case "thr":
		return runThr(args[1:], stdout, stderr)
	case "lat":
		return runLat(args[1:], stdout, stderr)
	case peerCmd:
		return runPeer(args[1:], stdout, stderr)
	case "scale":
		return runScale(args[1:], stdout, stderr)
	case "help":
		usage(stderr)
		return exitOK
	}
	for _, c := range children {
		if args[0] == c.name {
			return runChild(c, args[1:], stdout, stderr)
		}
	}
	fmt.Fprintf(stderr, "bench: unknown subcommand: got %q, want thr, lat, peer, scale or none\n", args[0])
	usage(stderr)
	return exitUsage
}

func usage(w io.Writer) {
	fmt.Fprint(w, `usage:
  bench [-rounds N] [-scale F] [-timeout D] [-format table|csv|benchstat]
                                                run the default suite, print tables (or CSV, or benchmark lines)
  bench thr -pattern P -transport T -size BYTES -count N [-acks=true] [-hwm N] [-timeout D]
                    [-protocol wisp|zmtp]                   (pushpull)
                    [-clients N] [-workers N] [-window N]   (broker)
                    [-subs N] [-match 100|50]               (pubsub)
                                                run one throughput measurement, print one JSON line
  bench lat -pattern reqrep -transport T -size BYTES -count N [-acks=true] [-timeout D] [-protocol wisp|zmtp]
                                                run one latency measurement, print one JSON line
  bench peer [-protocol wisp|zmtp] recv|send ENDPOINT SIZE COUNT
  bench peer [-protocol wisp|zmtp] rep|req ENDPOINT SIZE COUNT WARMUP
                                                one side of a run against another program (bench/compare's libzmq peers)
  bench scale -pattern pub|router|pull -peers N [-procs P] [-idle D] [-burst 10] [-burst-size 8192]
              [-settle D] [-after-burst D] [-heartbeat D] [-timeout D] [-format table|json]
                                                what one socket costs per peer: memory, goroutines, idle CPU, connect/close times
thr patterns: `+strings.Join(patternNames(), ", ")+` (broker: tcp, ipc)
lat patterns: reqrep
transports: tcp, ipc, inproc, ws, quic (pushpull and reqrep; -protocol zmtp: tcp, ipc)
`)
}

// newFlagSet returns a flag set that reports errors to stderr and does not
// exit the process, so tests can call run.
func newFlagSet(name string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	return fs
}

// flagError reports a command line that did not parse and returns the
// exit code: 0 when -h asked for the usage, which the flag set printed.
func flagError(stderr io.Writer, cmd string, err error) int {
	if errors.Is(err, flag.ErrHelp) {
		return exitOK
	}
	fmt.Fprintf(stderr, "%s: %v\n", cmd, err)
	return exitUsage
}

// parseFlags parses args and rejects leftover positional arguments.
func parseFlags(fs *flag.FlagSet, args []string) error {
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("%s: got extra arguments %q, want flags only", fs.Name(), fs.Args())
	}
	return nil
}
