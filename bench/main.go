// Command bench measures wisp's throughput on this machine, over loopback.
//
// With no arguments it runs the default suite (every benchmark in the
// benchmarks table, over every transport and message size) and prints a
// Markdown table:
//
//	go run ./bench [-rounds N] [-scale F] [-timeout D]
//
// The thr subcommand runs one throughput measurement and prints one JSON
// line, for scripts and for bench/compare:
//
//	go run ./bench thr -pattern pushpull -transport tcp|ipc|inproc -size BYTES -count N [-acks=true] [-hwm N]
//
// For tcp and ipc the sender and the receiver run in separate processes: the
// command starts itself twice with a hidden subcommand, one per side, and
// reads each child's CPU time and peak RSS when it exits. See README.md.
package main

import (
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
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
	case "help":
		usage(stderr)
		return exitOK
	}
	for _, c := range children {
		if args[0] == c.name {
			return runChild(c, args[1:], stdout, stderr)
		}
	}
	fmt.Fprintf(stderr, "bench: unknown subcommand: got %q, want thr or none\n", args[0])
	usage(stderr)
	return exitUsage
}

func usage(w io.Writer) {
	fmt.Fprint(w, `usage:
  bench [-rounds N] [-scale F] [-timeout D]     run the default suite, print a table
  bench thr -pattern P -transport T -size BYTES -count N [-acks=true] [-hwm N] [-timeout D]
                                                run one measurement, print one JSON line
patterns: `+strings.Join(patternNames(), ", ")+`
transports: tcp, ipc, inproc
`)
}

// newFlagSet returns a flag set that reports errors to stderr and does not
// exit the process, so tests can call run.
func newFlagSet(name string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	return fs
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
