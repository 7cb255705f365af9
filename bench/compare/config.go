package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Names of the implementations. The first three are each library talking
// to itself over its own protocol; the next three are pairs over ZMTP,
// named sender-receiver in -mode thr and client-server (REQ-REP) in -mode
// lat; the last two are wisp again, its receiver releasing every message,
// and its messages moved in batches.
const (
	implWisp   = "wisp"
	implLibzmq = "libzmq"
	implZMQ4   = "zmq4"
	// implWispZMTP is wisp on both sides, both speaking ZMTP 3.1.
	implWispZMTP = "wisp-zmtp"
	// implWispLibzmq is a wisp PUSH (REQ) over ZMTP to a libzmq PULL (REP).
	implWispLibzmq = "wisp-libzmq"
	// implLibzmqWisp is a libzmq PUSH (REQ) to a wisp PULL (REP) over ZMTP.
	implLibzmqWisp = "libzmq-wisp"
	// implWispRelease is implWisp with its receiver giving every message
	// back once checked (bench thr -release), -mode thr only.
	implWispRelease = "wisp-release"
	// implWispBatch is implWisp with its sender using SendMany and its
	// receiver RecvMany, wispBatch messages per call (bench thr -batch),
	// -mode thr only.
	implWispBatch = "wisp-batch"
	// implWispBusyPoll is implWisp with its REQ and REP polling for a
	// while before they sleep (bench lat -busy-poll), -mode lat only.
	implWispBusyPoll = "wisp-busypoll"
)

// wispBatch is implWispBatch's -batch: enough messages per call that the
// per-call cost is spread thin, few enough to stay far below the
// high-water marks.
const wispBatch = 64

// baseImpls are the default -impls, and every thr and lat report has their
// columns, run or not.
var baseImpls = []string{implWisp, implLibzmq, implZMQ4}

// zmtpImpls are run only when -impls names them, in -mode thr and lat; a
// report has their columns only then. They are not in the default, so a
// default run keeps its time and its report (and over ipc, wisp-libzmq
// would add libzmq's ipc receiver, which often stalls until -timeout).
var zmtpImpls = []string{implWispZMTP, implWispLibzmq, implLibzmqWisp}

// thrOnlyImpls are run only when -impls names them, and only in -mode
// thr: the bench command's -release and -batch are PUSH/PULL's. A report
// has their columns only when they ran.
var thrOnlyImpls = []string{implWispRelease, implWispBatch}

// wispVariant is what sets one of thrOnlyImpls or latOnlyImpls apart
// from implWisp.
type wispVariant struct {
	// args are added to implWisp's arguments of bench thr or lat.
	args []string
	// what completes "NAME is ..." in the report's legend.
	what string
}

// thrOnly describes each of thrOnlyImpls; one table, so a new variant of
// wisp's own run is a line here rather than another runner.
var thrOnly = map[string]wispVariant{
	implWispRelease: {
		args: []string{"-release"},
		what: "wisp whose receiver releases every message once checked (Message.Release, bench thr -release), acknowledged as wisp is",
	},
	implWispBatch: {
		args: []string{"-batch", strconv.Itoa(wispBatch)},
		what: "wisp whose sender uses SendMany and receiver RecvMany, " + strconv.Itoa(wispBatch) +
			" messages per call (bench thr -batch " + strconv.Itoa(wispBatch) + "), acknowledged as wisp is",
	},
}

// wispBusyPoll is implWispBusyPoll's -busy-poll: longer than a round trip
// over loopback takes, far shorter than a heartbeat.
const wispBusyPoll = "100us"

// latOnlyImpls are run only when -impls names them, and only in -mode
// lat: the bench command's -busy-poll is REQ/REP's. A report has their
// columns only when they ran.
var latOnlyImpls = []string{implWispBusyPoll}

// latOnly describes each of latOnlyImpls, as thrOnly does thrOnlyImpls.
var latOnly = map[string]wispVariant{
	implWispBusyPoll: {
		args: []string{"-busy-poll", wispBusyPoll},
		what: "wisp whose REQ and REP poll for up to " + wispBusyPoll + " before they sleep (socket.WithBusyPoll, bench lat -busy-poll " +
			wispBusyPoll + "), acknowledged as wisp is",
	},
}

// extraImpls are all the implementations outside the default, in
// roundOrder: a report has a column for each only when it ran.
var extraImpls = slices.Concat(zmtpImpls, thrOnlyImpls, latOnlyImpls)

// roundOrder is the order in which every round of -mode thr and lat runs
// the implementations. wisp-release, wisp-batch and wisp-busypoll come
// last so that the colors charts give the others by this order stay what
// they were.
var roundOrder = slices.Concat(baseImpls, extraImpls)

// Modes: what a run measures.
const (
	modeThr    = "thr"    // PUSH/PULL throughput
	modeLat    = "lat"    // REQ/REP round-trip latency
	modePubsub = "pubsub" // PUB -> N SUB fan-out throughput
	modeBroker = "broker" // DEALER clients -> ROUTER | proxy | DEALER -> REP workers
)

// Defaults that differ in -mode lat.
const (
	latDefaultSizes = "16,4096"
	latDefaultCount = 20_000
	// latMaxCount bounds -count in lat mode: every peer keeps one 8-byte
	// time per round trip, so 10^7 round trips are 80 MB.
	latMaxCount = 10_000_000
)

// Defaults and bounds of -mode pubsub.
const (
	pubsubDefaultSizes = "16,256"
	pubsubDefaultCount = 200_000
	pubsubDefaultSubs  = 4
	// pubsubMaxSubs bounds -subs: every subscriber is a process.
	pubsubMaxSubs = 64
	// psTopicLen is the length of the topic every published message starts
	// with, so the smallest message size in -mode pubsub.
	psTopicLen = len(psTopic)
)

// Defaults and bounds of -mode broker: the defaults of wisp's bench
// command, `thr -pattern broker`.
const (
	brokerDefaultSizes   = "16,256"
	brokerDefaultClients = 4
	brokerDefaultWorkers = 4
	brokerDefaultWindow  = 100
	// brokerMaxPeers bounds -clients and -workers, as wisp's bench command
	// and libzmq/broker.c do: each is a thread or goroutine of one process.
	brokerMaxPeers = 64
	// brokerMaxWindow is the receive high-water mark of wisp's sockets
	// (1000, its default) and libzmq's: a client reads its replies only
	// between sends, so a larger window could stall a run.
	brokerMaxWindow = 1000
)

// errUsage marks a bad command line; main exits 2 for it, like flag does.
var errUsage = errors.New("usage")

// config is the validated command line.
type config struct {
	sizes      []int
	transports []string
	count      int64 // 0 means defaultCount per size
	rounds     int
	json       bool
	wispRoot   string
	impls      []string
	timeout    time.Duration
	mode       string // modeThr, modeLat or modePubsub
	// -mode pubsub only.
	subs    int   // subscriber processes per run
	matches []int // percentages of published messages that match
	nodrop  bool  // also run libzmq with ZMQ_XPUB_NODROP and wisp with -nodrop
	// -mode broker only: client and worker sockets per run, and requests
	// each client keeps in flight.
	clients, workers, window int
	// charts is a directory to draw the report into as SVG charts
	// (-mode thr and lat); "" draws none.
	charts string
	// from is a file of -json output to draw the charts from instead of
	// measuring ("-": stdin); "" measures.
	from string
}

// parseFlags parses args (without the program name) into a config.
func parseFlags(args []string, stderr io.Writer) (config, error) {
	fs := flag.NewFlagSet("compare", flag.ContinueOnError)
	fs.SetOutput(stderr)
	sizes := fs.String("sizes", "16,256,4096,65536", "comma-separated message sizes in bytes")
	transports := fs.String("transports", "tcp,ipc", "comma-separated transports: tcp, ipc")
	count := fs.Int64("count", 0, "messages per run; 0 picks a count per size")
	rounds := fs.Int("rounds", 3, "rounds per (transport, size); the table shows medians")
	jsonOut := fs.Bool("json", false, "print one JSON object per row instead of a Markdown table")
	wispRoot := fs.String("wisp-root", "../..", "root of the wisp repository (holds its go.mod)")
	impls := fs.String("impls", strings.Join(baseImpls, ","), "comma-separated implementations to run: wisp, libzmq, zmq4; in -mode thr and lat also "+
		strings.Join(zmtpImpls, ", ")+" (over ZMTP, sender-receiver or client-server); in -mode thr also "+
		implWispRelease+" (wisp, the receiver releasing every message), "+
		implWispBatch+" (wisp, SendMany and RecvMany of "+strconv.Itoa(wispBatch)+" messages); in -mode lat also "+
		implWispBusyPoll+" (wisp, REQ and REP polling for "+wispBusyPoll+" before they sleep)")
	timeout := fs.Duration("timeout", 120*time.Second, "limit for each run; processes still alive are killed")
	mode := fs.String("mode", modeThr, "what to measure: thr (PUSH/PULL throughput), lat (REQ/REP round-trip latency; default sizes "+latDefaultSizes+", count "+strconv.Itoa(latDefaultCount)+
		"), pubsub (PUB -> N SUB fan-out; default sizes "+pubsubDefaultSizes+", count "+strconv.Itoa(pubsubDefaultCount)+
		") or broker (DEALER clients -> ROUTER | proxy | DEALER -> REP workers; default sizes "+brokerDefaultSizes+")")
	subs := fs.Int("subs", pubsubDefaultSubs, "-mode pubsub: subscriber processes per run")
	match := fs.String("match", "100", "-mode pubsub: comma-separated percentages of published messages that match the subscribers' topic: 100, 50")
	nodrop := fs.Bool("nodrop", false, "-mode pubsub: also run libzmq with ZMQ_XPUB_NODROP=1 and wisp with -nodrop (lossless, shown as "+implLibzmqNodrop+" and "+implWispNodrop+")")
	charts := fs.String("charts", "", "-mode thr and lat: also draw the report as SVG bar charts, one per transport, into this directory")
	clients := fs.Int("clients", brokerDefaultClients, "-mode broker: client sockets per run, all in one process")
	workers := fs.Int("workers", brokerDefaultWorkers, "-mode broker: worker sockets per run, all in one process")
	window := fs.Int("window", brokerDefaultWindow, "-mode broker: requests each client keeps in flight")
	from := fs.String("from", "", "with -charts: draw the charts from this file of -json output (- for stdin) and measure nothing")
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "usage: compare [flags]\n\nRuns PUSH/PULL throughput for wisp, libzmq and zmq4, interleaved, and prints medians.\n"+
			"With -mode lat it runs REQ/REP round-trip latency instead, with -mode pubsub PUB -> N SUB fan-out,\n"+
			"with -mode broker requests through a ROUTER | proxy | DEALER broker.\n\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return config{}, fmt.Errorf("%w: %w", errUsage, err)
	}
	if fs.NArg() != 0 {
		return config{}, fmt.Errorf("%w: unexpected argument %q", errUsage, fs.Arg(0))
	}

	cfg := config{count: *count, rounds: *rounds, json: *jsonOut, wispRoot: *wispRoot, timeout: *timeout, charts: *charts, from: *from}
	if cfg.from != "" {
		// Redrawing measures nothing, so a measuring flag would be
		// ignored: refuse it rather than let it look as if it counted.
		if cfg.charts == "" {
			return config{}, fmt.Errorf("%w: -from: got it without -charts, want -charts DIR with it", errUsage)
		}
		var other []string
		fs.Visit(func(f *flag.Flag) {
			if f.Name != "charts" && f.Name != "from" {
				other = append(other, "-"+f.Name)
			}
		})
		if len(other) > 0 {
			return config{}, fmt.Errorf("%w: got %s with -from, want only -charts: -from draws a finished run and measures nothing", errUsage, strings.Join(other, " "))
		}
		return cfg, nil
	}
	var err error
	modes, err := parseChoices(*mode, []string{modeThr, modeLat, modePubsub, modeBroker})
	if err != nil || len(modes) != 1 {
		return config{}, fmt.Errorf("%w: -mode: got %q, want %s, %s, %s or %s", errUsage, *mode, modeThr, modeLat, modePubsub, modeBroker)
	}
	cfg.mode = modes[0]
	if cfg.mode == modeLat && !flagSet(fs, "sizes") {
		*sizes = latDefaultSizes
	}
	if cfg.mode == modePubsub && !flagSet(fs, "sizes") {
		*sizes = pubsubDefaultSizes
	}
	if cfg.mode == modeBroker && !flagSet(fs, "sizes") {
		*sizes = brokerDefaultSizes
	}
	if cfg.sizes, err = parseSizes(*sizes); err != nil {
		return config{}, fmt.Errorf("%w: -sizes: %w", errUsage, err)
	}
	if cfg.transports, err = parseChoices(*transports, []string{"tcp", "ipc"}); err != nil {
		return config{}, fmt.Errorf("%w: -transports: %w", errUsage, err)
	}
	if cfg.impls, err = parseChoices(*impls, roundOrder); err != nil {
		return config{}, fmt.Errorf("%w: -impls: %w", errUsage, err)
	}
	if cfg.mode == modePubsub || cfg.mode == modeBroker {
		if cfg.charts != "" {
			// A fan-out rate means little without its drops beside it,
			// which a bar chart would leave out; the broker's report has
			// three processes' CPU beside its rate.
			return config{}, fmt.Errorf("%w: -charts: got it with -mode %s, want -mode %s or %s: that report stays a table", errUsage, cfg.mode, modeThr, modeLat)
		}
		for _, im := range cfg.impls {
			if slices.Contains(zmtpImpls, im) {
				return config{}, fmt.Errorf("%w: -impls: got %s with -mode %s, want it only with -mode %s or %s", errUsage, im, cfg.mode, modeThr, modeLat)
			}
		}
	}
	if cfg.mode != modeThr {
		// Refused rather than ignored, as the ZMTP pairs are where they
		// cannot run: a report without the column asked for would look
		// like a run that failed.
		for _, im := range cfg.impls {
			if slices.Contains(thrOnlyImpls, im) {
				return config{}, fmt.Errorf("%w: -impls: got %s with -mode %s, want it only with -mode %s", errUsage, im, cfg.mode, modeThr)
			}
		}
	}
	if cfg.mode != modeLat {
		for _, im := range cfg.impls {
			if slices.Contains(latOnlyImpls, im) {
				return config{}, fmt.Errorf("%w: -impls: got %s with -mode %s, want it only with -mode %s", errUsage, im, cfg.mode, modeLat)
			}
		}
	}
	if cfg.count < 0 {
		return config{}, fmt.Errorf("%w: -count: got %d, want 0 (auto) or more", errUsage, cfg.count)
	}
	if cfg.mode == modeLat && cfg.count > latMaxCount {
		return config{}, fmt.Errorf("%w: -count: got %d, want at most %d round trips in -mode lat", errUsage, cfg.count, latMaxCount)
	}
	if cfg.rounds < 1 || cfg.rounds > 1000 {
		return config{}, fmt.Errorf("%w: -rounds: got %d, want 1 to 1000", errUsage, cfg.rounds)
	}
	if cfg.timeout <= 0 {
		return config{}, fmt.Errorf("%w: -timeout: got %v, want more than 0", errUsage, cfg.timeout)
	}
	if cfg.mode != modeBroker {
		for _, name := range []string{"clients", "workers", "window"} {
			if flagSet(fs, name) {
				return config{}, fmt.Errorf("%w: -%s: got it with -mode %s, want it only with -mode %s", errUsage, name, cfg.mode, modeBroker)
			}
		}
	}
	if cfg.mode == modeBroker {
		cfg.clients, cfg.workers, cfg.window = *clients, *workers, *window
		switch {
		case cfg.clients < 1 || cfg.clients > brokerMaxPeers:
			return config{}, fmt.Errorf("%w: -clients: got %d, want 1 to %d", errUsage, cfg.clients, brokerMaxPeers)
		case cfg.workers < 1 || cfg.workers > brokerMaxPeers:
			return config{}, fmt.Errorf("%w: -workers: got %d, want 1 to %d", errUsage, cfg.workers, brokerMaxPeers)
		case cfg.window < 1 || cfg.window > brokerMaxWindow:
			return config{}, fmt.Errorf("%w: -window: got %d, want 1 to %d (the receive high-water mark)", errUsage, cfg.window, brokerMaxWindow)
		}
	}
	if cfg.mode != modePubsub {
		for _, name := range []string{"subs", "match", "nodrop"} {
			if flagSet(fs, name) {
				return config{}, fmt.Errorf("%w: -%s: got it with -mode %s, want it only with -mode %s", errUsage, name, cfg.mode, modePubsub)
			}
		}
		return cfg, nil
	}
	cfg.subs, cfg.nodrop = *subs, *nodrop
	if cfg.subs < 1 || cfg.subs > pubsubMaxSubs {
		return config{}, fmt.Errorf("%w: -subs: got %d, want 1 to %d", errUsage, cfg.subs, pubsubMaxSubs)
	}
	if cfg.matches, err = parseMatches(*match); err != nil {
		return config{}, fmt.Errorf("%w: -match: %w", errUsage, err)
	}
	for _, size := range cfg.sizes {
		if size < psTopicLen {
			return config{}, fmt.Errorf("%w: -sizes: got %d, want at least %d bytes in -mode pubsub (the topic)", errUsage, size, psTopicLen)
		}
	}
	return cfg, nil
}

// parseMatches parses "100,50" into percentages; duplicates are dropped and
// the given order kept. The peers here take any percentage from 1 to 100,
// but wisp's bench command only 100 and 50.
func parseMatches(s string) ([]int, error) {
	var out []int
	for f := range strings.SplitSeq(s, ",") {
		f = strings.TrimSpace(f)
		n, err := strconv.Atoi(f)
		if err != nil || (n != 100 && n != 50) {
			return nil, fmt.Errorf("got %q, want 100 or 50", f)
		}
		if !slices.Contains(out, n) {
			out = append(out, n)
		}
	}
	return out, nil
}

// flagSet reports whether name was given on the command line.
func flagSet(fs *flag.FlagSet, name string) bool {
	set := false
	fs.Visit(func(f *flag.Flag) { set = set || f.Name == name })
	return set
}

// parseSizes parses "16,256" into sizes, each 1 byte to 256 MiB.
func parseSizes(s string) ([]int, error) {
	var out []int
	for f := range strings.SplitSeq(s, ",") {
		f = strings.TrimSpace(f)
		n, err := strconv.Atoi(f)
		if err != nil {
			return nil, fmt.Errorf("got %q, want a number of bytes", f)
		}
		if n < 1 || n > 256<<20 {
			return nil, fmt.Errorf("got %d, want 1 to %d bytes", n, 256<<20)
		}
		out = append(out, n)
	}
	return out, nil
}

// parseChoices parses a comma-separated list whose items must be in allowed;
// duplicates are dropped and the given order kept.
func parseChoices(s string, allowed []string) ([]string, error) {
	var out []string
	for f := range strings.SplitSeq(s, ",") {
		f = strings.TrimSpace(f)
		ok := false
		for _, a := range allowed {
			ok = ok || a == f
		}
		if !ok {
			return nil, fmt.Errorf("got %q, want one of %s", f, strings.Join(allowed, ", "))
		}
		dup := false
		for _, o := range out {
			dup = dup || o == f
		}
		if !dup {
			out = append(out, f)
		}
	}
	return out, nil
}

// defaultCount picks a message count per size: enough that the fast
// implementations run for about half a second or more, few enough that zmq4,
// which makes two system calls per message on each side (some 25,000 to
// 40,000 small messages a second here), stays well inside the default
// 120 s timeout.
func defaultCount(size int) int64 {
	switch {
	case size <= 256:
		return 1_000_000
	case size <= 4096:
		return 500_000
	case size <= 65536:
		return 50_000
	default:
		// Keep the bytes moved about the same as for 64 KiB.
		return max(1000, 50_000*65536/int64(size))
	}
}

// brokerCount is -mode broker's request count per size, the same as the
// suite of wisp's bench command uses: a few seconds a run on 2 cores.
func brokerCount(size int) int64 {
	switch {
	case size <= 256:
		return 400_000
	case size <= 4096:
		return 100_000
	default:
		return 10_000
	}
}

// countFor returns the count a run of size bytes uses: -count if given, else
// the mode's default.
func (c config) countFor(size int) int64 {
	switch {
	case c.count > 0:
		return c.count
	case c.mode == modeLat:
		return latDefaultCount
	case c.mode == modePubsub:
		return pubsubDefaultCount
	case c.mode == modeBroker:
		return brokerCount(size)
	default:
		return defaultCount(size)
	}
}
