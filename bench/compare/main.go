// Command compare measures wisp side by side with libzmq (native C, through a
// small peer program compiled against it) and github.com/go-zeromq/zmq4 on
// the same PUSH/PULL throughput workload, with -mode lat on REQ/REP
// round-trip latency, with -mode pubsub on PUB -> N SUB fan-out
// throughput, or with -mode broker on requests through a ROUTER | proxy |
// DEALER broker (wisp and libzmq only). Runs are interleaved within each
// round, every peer runs in its own process, and the report shows medians
// over rounds, wisp's ratios to the others and every process's CPU per
// message.
//
// In -mode thr and lat, -impls can add three pairs over ZeroMQ's ZMTP:
// wisp-zmtp (wisp on both sides), wisp-libzmq (wisp sends or asks, libzmq
// receives or answers) and libzmq-wisp (the reverse), each with its ratio
// to libzmq talking to itself. In -mode thr, -impls can also add
// wisp-release: wisp's own run with its receiver releasing every message
// (bench thr -release), and wisp-batch: wisp's own run with its sender
// using SendMany and its receiver RecvMany, 64 messages per call (bench
// thr -batch 64), each with its ratio to libzmq.
//
// It lives in its own module so that wisp itself never needs cgo or zmq4, and
// it does not import wisp: it builds wisp's bench command and runs it.
//
//	cd bench/compare && go run . -sizes 16,4096 -transports tcp -rounds 3
//	cd bench/compare && go run . -mode lat -rounds 5
//	cd bench/compare && go run . -mode pubsub -match 100,50 -nodrop
//	cd bench/compare && go run . -mode broker -transports tcp -rounds 3
//	cd bench/compare && go run . -transports tcp -sizes 16,4096 -impls libzmq,wisp-zmtp,wisp-libzmq,libzmq-wisp,wisp
//	cd bench/compare && go run . -impls wisp,wisp-release,libzmq -sizes 16384,65536,1048576
//	cd bench/compare && go run . -impls wisp,wisp-batch,libzmq -sizes 16,256 -transports tcp
//
// -charts DIR also draws the thr or lat report as SVG bar charts (with
// gonum.org/v1/plot, which is why they are here and not in wisp's own
// module); -from FILE draws them from a saved -json run instead:
//
//	cd bench/compare && go run . -json -transports tcp -sizes 16,4096 -rounds 3 > thr.json
//	cd bench/compare && go run . -charts charts -from thr.json
package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	if len(os.Args) > 1 && os.Args[1] == peerArg {
		os.Exit(peerMain(os.Args[2:], os.Stdout, os.Stderr))
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	switch {
	case errors.Is(err, errUsage):
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	case err != nil:
		fmt.Fprintln(os.Stderr, "compare:", err)
		os.Exit(1)
	}
}

// run is the whole program minus process exit, so it can be tested.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	cfg, err := parseFlags(args, stderr)
	if err != nil {
		return err
	}
	if cfg.from != "" {
		return chartsFromFile(cfg.from, cfg.charts, os.Stdin, stderr)
	}
	dir, err := os.MkdirTemp("", "wispcmp-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	e := &env{dir: dir, timeout: cfg.timeout}

	// Set up each implementation once. One that cannot be set up is skipped
	// with a note; the others still run.
	var notes []string
	skip := func(name string, err error) {
		// The reason goes into the notes only, so it is printed once.
		fmt.Fprintf(stderr, "%s skipped, reason in the notes at the end\n", name)
		notes = append(notes, fmt.Sprintf("%s skipped: %v", name, err))
	}
	runners := map[string]runner{}         // -mode thr
	latRunners := map[string]latRunner{}   // -mode lat
	psRunners := map[string]psRunner{}     // -mode pubsub
	brRunners := map[string]brokerRunner{} // -mode broker
	lat := cfg.mode == modeLat
	pubsub := cfg.mode == modePubsub
	broker := cfg.mode == modeBroker
	add := func(name string, r runner, lr latRunner) {
		if lat {
			latRunners[name] = lr
		} else {
			runners[name] = r
		}
	}
	libzmqVersion := "not used"
	// wisp's bench command and libzmq's thr or lat peer serve several
	// implementations; each is built at most once, and its error, if any,
	// skips every implementation that needs it.
	var (
		wisp        *wispRunner
		wispErr     error
		wispTried   bool
		libzmqThr   *pairRunner
		libzmqLat   *latPairRunner
		libzmqErr   error
		libzmqTried bool
	)
	buildWisp := func() (*wispRunner, error) {
		if !wispTried {
			wispTried = true
			root, err := findWispRoot(cfg.wispRoot)
			if err == nil {
				fmt.Fprintf(stderr, "building wisp's bench command in %s\n", root)
				wisp, err = newWispRunner(ctx, e, root)
			}
			wispErr = err
		}
		return wisp, wispErr
	}
	compileLibzmq := func() error {
		if !libzmqTried {
			libzmqTried = true
			var v string
			if lat {
				libzmqLat, v, libzmqErr = newLibzmqLatRunner(ctx, e)
			} else {
				libzmqThr, v, libzmqErr = newLibzmqRunner(ctx, e)
			}
			libzmqVersion = v
			if libzmqErr != nil {
				libzmqVersion = "not available"
			}
		}
		return libzmqErr
	}
	// probe makes one short run of a pair of processes that have never
	// met before.
	probe := func(r runner, lr latRunner) error {
		if lat {
			return probeLatRunner(ctx, lr, cfg.transports[0])
		}
		return probeThr(ctx, r, cfg.transports[0])
	}
	for _, name := range cfg.impls {
		switch name {
		case implWisp:
			w, err := buildWisp()
			if err == nil && lat {
				err = w.probeLat(ctx, cfg.transports[0])
			}
			if err == nil && pubsub {
				err = w.probePubsub(ctx, cfg.transports[0])
			}
			if err == nil && broker {
				// Every transport: a bench command from before ipc
				// brokers runs tcp only.
				for _, tr := range cfg.transports {
					if err = w.probeBroker(ctx, tr); err != nil {
						break
					}
				}
			}
			if err != nil {
				skip(name, err)
				continue
			}
			if pubsub {
				psRunners[name] = w
				if cfg.nodrop {
					// Probed on its own: a bench command from before
					// -nodrop is skipped for it alone.
					n := w.withPSArgs("-nodrop")
					if err := n.probePubsub(ctx, cfg.transports[0]); err != nil {
						skip(implWispNodrop, err)
					} else {
						psRunners[implWispNodrop] = n
					}
				}
				continue
			}
			if broker {
				brRunners[name] = w
				continue
			}
			add(name, w, w)
		case implLibzmq:
			if broker {
				r, v, err := newLibzmqBrokerRunner(ctx, e)
				if err != nil {
					skip(name, err)
					libzmqVersion = "not available"
					continue
				}
				brRunners[name] = r
				libzmqVersion = v
				continue
			}
			if pubsub {
				lossy, nodrop, v, err := newLibzmqPubsubRunners(ctx, e)
				if err != nil {
					skip(name, err)
					libzmqVersion = "not available"
					continue
				}
				psRunners[name] = lossy
				if cfg.nodrop {
					psRunners[implLibzmqNodrop] = nodrop
				}
				libzmqVersion = v
				continue
			}
			if err := compileLibzmq(); err != nil {
				skip(name, err)
				continue
			}
			add(name, libzmqThr, libzmqLat)
		case implZMQ4:
			if broker {
				fmt.Fprintf(stderr, "%s skipped, reason in the notes at the end\n", name)
				notes = append(notes, brokerNoZMQ4)
				continue
			}
			if pubsub {
				r, err := newZMQ4PubsubRunner(e)
				if err != nil {
					skip(name, err)
					continue
				}
				psRunners[name] = r
				continue
			}
			r, err := newZMQ4Runner(e)
			var lr latRunner
			if err == nil {
				lr, err = newZMQ4LatRunner(e)
			}
			if err != nil {
				skip(name, err)
				continue
			}
			add(name, r, lr)
		case implWispZMTP:
			w, err := buildWisp()
			if err != nil {
				skip(name, err)
				continue
			}
			z := w.withZMTP()
			if err := probe(z, z); err != nil {
				skip(name, err)
				continue
			}
			add(name, z, z)
		case implWispRelease, implWispBatch, implWispBusyPoll:
			// Variants of wisp's own run: -release and -batch in -mode thr,
			// -busy-poll in -mode lat (parseFlags refuses them elsewhere).
			// The probe skips one with its own error on a bench command
			// from before its flag.
			w, err := buildWisp()
			if err != nil {
				skip(name, err)
				continue
			}
			var r runner
			var lr latRunner
			if lat {
				lr = w.withLatArgs(latOnly[name].args...)
			} else {
				r = w.withThrArgs(thrOnly[name].args...)
			}
			if err := probe(r, lr); err != nil {
				skip(name, err)
				continue
			}
			add(name, r, lr)
		case implWispLibzmq, implLibzmqWisp:
			w, err := buildWisp()
			if err == nil {
				err = compileLibzmq()
			}
			if err != nil {
				skip(name, err)
				continue
			}
			var r runner
			var lr latRunner
			if lat {
				lr = newMixedLatRunner(e, name, w, libzmqLat)
			} else {
				r = newMixedRunner(e, name, w, libzmqThr)
			}
			if err := probe(r, lr); err != nil {
				skip(name, err)
				continue
			}
			add(name, r, lr)
		}
	}
	if len(runners)+len(latRunners)+len(psRunners)+len(brRunners) == 0 {
		for _, n := range notes {
			fmt.Fprintln(stderr, "note:", n)
		}
		return errors.New("no implementation could be set up")
	}
	m := thisMachine(libzmqVersion)
	if lat {
		return runLat(ctx, cfg, latRunners, m, notes, stdout, stderr)
	}
	if pubsub {
		return runPubsub(ctx, cfg, psRunners, m, notes, stdout, stderr)
	}
	if broker {
		return runBrokerMode(ctx, cfg, brRunners, m, notes, stdout, stderr)
	}

	var rows []row
	for _, tr := range cfg.transports {
		for _, size := range cfg.sizes {
			r, rowNotes, err := measureRow(ctx, cfg, runners, tr, size, stderr)
			if err != nil {
				return err
			}
			rows = append(rows, r)
			notes = append(notes, rowNotes...)
		}
	}

	// The report first, then the charts: a chart that cannot be written
	// must not cost the figures of a long run.
	if cfg.json {
		for _, n := range notes {
			fmt.Fprintln(stderr, "note:", n)
		}
		err = writeJSON(stdout, m, rows, cfg.rounds)
	} else {
		err = writeTable(stdout, m, rows, cfg.rounds, notes)
	}
	return errors.Join(err, writeCharts(cfg.charts, stderr, func(w io.Writer) error { return writeJSON(w, m, rows, cfg.rounds) }))
}

// writeCharts draws, into dir ("" draws nothing), the charts of the JSON
// rows that writeRows writes: the charts come from the -json output of
// the run, exactly as -from would draw them from a saved copy.
func writeCharts(dir string, stderr io.Writer, writeRows func(io.Writer) error) error {
	if dir == "" {
		return nil
	}
	var b bytes.Buffer
	if err := writeRows(&b); err != nil {
		return err
	}
	files, err := drawCharts(&b, dir)
	for _, f := range files {
		fmt.Fprintln(stderr, "wrote", f)
	}
	if err != nil {
		return fmt.Errorf("charts: %w", err)
	}
	return nil
}

// chartsFromFile is -from: it draws the charts of the -json output in
// file ("-": stdin) into dir.
func chartsFromFile(file, dir string, stdin io.Reader, stderr io.Writer) error {
	in := stdin
	if file != "-" {
		f, err := os.Open(file)
		if err != nil {
			return err
		}
		defer f.Close()
		in = f
	}
	files, err := drawCharts(in, dir)
	for _, f := range files {
		fmt.Fprintln(stderr, "wrote", f)
	}
	if err != nil {
		return fmt.Errorf("charts from %s: %w", file, err)
	}
	return nil
}

// measureRow runs all rounds for one (transport, size), in each round every
// implementation once in the fixed roundOrder (wisp, libzmq, zmq4, then the
// ZMTP pairs, then wisp-release and wisp-batch), so slow drifts of the
// machine hit all of them alike. A failed run is reported and left out of the medians; only a
// cancelled ctx stops everything.
func measureRow(ctx context.Context, cfg config, runners map[string]runner, tr string, size int, progress io.Writer) (row, []string, error) {
	count := cfg.count
	if count == 0 {
		count = defaultCount(size)
	}
	samples := map[string][]sample{}
	var notes []string
	for round := 1; round <= cfg.rounds; round++ {
		for _, name := range roundOrder {
			rn, ok := runners[name]
			if !ok {
				continue
			}
			s, err := rn.run(ctx, tr, size, count)
			if ctx.Err() != nil {
				return row{}, nil, fmt.Errorf("interrupted: %w", context.Cause(ctx))
			}
			if err != nil {
				n := fmt.Sprintf("%s %s %s round %d failed: %v", tr, fmtSize(size), name, round, err)
				fmt.Fprintln(progress, n)
				notes = append(notes, n)
				continue
			}
			samples[name] = append(samples[name], s)
			fmt.Fprintf(progress, "%s %s round %d/%d %-13s %s msg/s\n", tr, fmtSize(size), round, cfg.rounds, name, fmtInt(s.msgsPerSec()))
		}
	}
	r := row{transport: tr, size: size, count: count, impls: map[string]implStats{}}
	for name := range runners {
		r.impls[name] = summarize(samples[name])
	}
	return r, notes, nil
}

// runLat is run's second half in -mode lat: measure every (transport, size)
// and print the latency report.
func runLat(ctx context.Context, cfg config, runners map[string]latRunner, m machine, notes []string, stdout, stderr io.Writer) error {
	var rows []latRow
	for _, tr := range cfg.transports {
		for _, size := range cfg.sizes {
			r, rowNotes, err := measureLatRow(ctx, cfg, runners, tr, size, stderr)
			if err != nil {
				return err
			}
			rows = append(rows, r)
			notes = append(notes, rowNotes...)
		}
	}
	// The report first, then the charts, as in -mode thr.
	var err error
	if cfg.json {
		for _, n := range notes {
			fmt.Fprintln(stderr, "note:", n)
		}
		err = writeLatJSON(stdout, m, rows, cfg.rounds)
	} else {
		err = writeLatTable(stdout, m, rows, cfg.rounds, notes)
	}
	return errors.Join(err, writeCharts(cfg.charts, stderr, func(w io.Writer) error { return writeLatJSON(w, m, rows, cfg.rounds) }))
}
