package main

import (
	"context"
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"strconv"
)

// brokerPattern is the pattern every -mode broker run measures, as wisp's
// bench command names it.
const brokerPattern = "broker"

// brokerImpls is the order in which each broker round runs the
// implementations: zmq4 has none (see brokerNoZMQ4).
var brokerImpls = []string{implWisp, implLibzmq}

// brokerNoZMQ4 is the note a broker run gets when -impls names zmq4. zmq4
// has a Proxy, but its DEALER (like each of its sockets that sends through
// its shared writer) writes every message to all its connections, so a
// DEALER backend would hand each request to every worker.
const brokerNoZMQ4 = "zmq4 skipped: -mode broker runs wisp and libzmq only: zmq4 v0.17.0's DEALER writes every message " +
	"to all its connections rather than to one, so its broker would hand each request to every worker, not the same workload"

// brokerRun is what one broker run measures.
type brokerRun struct {
	transport string
	size      int
	count     int64 // timed requests over all clients
	clients   int
	workers   int
	window    int // requests each client keeps in flight
}

// brokerRunner runs one implementation's broker run once.
type brokerRunner interface {
	broker(ctx context.Context, b brokerRun) (brokerSample, error)
}

// brokerSample is one measured broker run: the clients' time from the
// start of the timed requests to the last reply, and each process's CPU
// seconds (user + system) and peak RSS (KiB) over its whole life.
type brokerSample struct {
	count                             int64
	size                              int
	seconds                           float64
	brokerCPU, clientsCPU, workersCPU float64
	brokerRSSKB, clientsRSSKB         float64
	workersRSSKB                      float64
}

// reqPerSec and mbPerSec are computed here for both implementations
// alike. MB/s counts the request payload only: the replies carry as much
// again.
func (s brokerSample) reqPerSec() float64 { return float64(s.count) / s.seconds }
func (s brokerSample) mbPerSec() float64  { return float64(s.count) * float64(s.size) / s.seconds / 1e6 }

// brokerArgs are the argument lists of libzmq/broker.c's three roles.
func brokerArgs(b brokerRun, front, back, control string) (broker, workers, clients []string) {
	return []string{"broker", front, back, control, strconv.Itoa(b.workers)},
		[]string{"workers", back, strconv.Itoa(b.size), strconv.Itoa(b.workers)},
		[]string{"clients", front, control, strconv.Itoa(b.size), strconv.FormatInt(b.count, 10), strconv.Itoa(b.clients), strconv.Itoa(b.window)}
}

// libzmqBrokerRunner runs libzmq/broker.c as its three processes.
type libzmqBrokerRunner struct {
	env  *env
	path string
}

//go:embed libzmq/broker.c
var brokerSource []byte

// newLibzmqBrokerRunner compiles broker.c into the scratch directory and
// returns the runner and libzmq's version.
func newLibzmqBrokerRunner(ctx context.Context, e *env) (*libzmqBrokerRunner, string, error) {
	bin, version, err := compileLibzmqPeer(ctx, e, "broker", brokerSource)
	if err != nil {
		return nil, "", err
	}
	return &libzmqBrokerRunner{env: e, path: bin}, version, nil
}

func (r *libzmqBrokerRunner) broker(ctx context.Context, b brokerRun) (brokerSample, error) {
	var eps [3]string
	for i := range eps {
		ep, err := r.env.endpoint(b.transport)
		if err != nil {
			return brokerSample{}, err
		}
		eps[i] = ep
	}
	brokerArgv, workersArgv, clientsArgv := brokerArgs(b, eps[0], eps[1], eps[2])
	// All three start at once: the broker binds its frontend only once
	// every worker is connected, and the clients retry until it has.
	res, err := runProcs(ctx, r.env.timeout, func(ctx context.Context) []*proc {
		return []*proc{
			newProc(ctx, "libzmq broker", r.path, brokerArgv...),
			newProc(ctx, "libzmq workers", r.path, workersArgv...),
			newProc(ctx, "libzmq clients", r.path, clientsArgv...),
		}
	})
	if err != nil {
		return brokerSample{}, err
	}
	seconds, err := parseBrokerLines(res[1].stdout, res[2].stdout, b)
	if err != nil {
		return brokerSample{}, fmt.Errorf("libzmq: %w", err)
	}
	return brokerSample{
		count: b.count, size: b.size, seconds: seconds,
		brokerCPU: res[0].cpuSec, workersCPU: res[1].cpuSec, clientsCPU: res[2].cpuSec,
		brokerRSSKB: float64(res[0].maxRSSKB), workersRSSKB: float64(res[1].maxRSSKB), clientsRSSKB: float64(res[2].maxRSSKB),
	}, nil
}

// brokerClientsLine and brokerWorkersLine are the lines the clients and
// the workers of libzmq/broker.c print.
type brokerClientsLine struct {
	Role    string   `json:"role"`
	Size    *int     `json:"size"`
	Count   *int64   `json:"count"`
	Clients *int     `json:"clients"`
	Window  *int     `json:"window"`
	Seconds *float64 `json:"seconds"`
}

type brokerWorkersLine struct {
	Role    string `json:"role"`
	Workers *int   `json:"workers"`
	Served  *int64 `json:"served"`
}

// parseBrokerLines checks the workers' and the clients' result lines
// against b and returns the clients' time. The workers must have answered
// every request: the count and each client's untimed one.
func parseBrokerLines(workersOut, clientsOut []byte, b brokerRun) (float64, error) {
	line, err := lastJSONLine(clientsOut)
	if err != nil {
		return 0, fmt.Errorf("clients: %w", err)
	}
	var cl brokerClientsLine
	if err := json.Unmarshal(line, &cl); err != nil {
		return 0, fmt.Errorf("clients: result line %q: %w", line, err)
	}
	switch {
	case cl.Role != "clients" || cl.Size == nil || cl.Count == nil || cl.Clients == nil || cl.Window == nil || cl.Seconds == nil:
		return 0, fmt.Errorf("clients: result line %q: got no role clients, size, count, clients, window or seconds, want all", line)
	case *cl.Size != b.size || *cl.Count != b.count || *cl.Clients != b.clients || *cl.Window != b.window:
		return 0, fmt.Errorf("clients: result line %q: got size %d count %d clients %d window %d, want %d %d %d %d",
			line, *cl.Size, *cl.Count, *cl.Clients, *cl.Window, b.size, b.count, b.clients, b.window)
	case !(*cl.Seconds > 0) || math.IsInf(*cl.Seconds, 0):
		return 0, fmt.Errorf("clients: result line %q: got seconds %v, want a finite number above 0", line, *cl.Seconds)
	}
	line, err = lastJSONLine(workersOut)
	if err != nil {
		return 0, fmt.Errorf("workers: %w", err)
	}
	var wl brokerWorkersLine
	if err := json.Unmarshal(line, &wl); err != nil {
		return 0, fmt.Errorf("workers: result line %q: %w", line, err)
	}
	want := b.count + int64(b.clients)
	switch {
	case wl.Role != "workers" || wl.Workers == nil || wl.Served == nil:
		return 0, fmt.Errorf("workers: result line %q: got no role workers, workers or served, want all", line)
	case *wl.Workers != b.workers || *wl.Served != want:
		return 0, fmt.Errorf("workers: result line %q: got %d workers serving %d requests, want %d serving %d",
			line, *wl.Workers, *wl.Served, b.workers, want)
	}
	return *cl.Seconds, nil
}

// wispBrokerLine is the JSON line `thr -pattern broker` of wisp's bench
// command prints (other fields are ignored here): the sender fields are
// the clients' process, the receiver fields the workers', the broker
// fields the broker's, which is the thr process itself.
type wispBrokerLine struct {
	Pattern          string   `json:"pattern"`
	Transport        string   `json:"transport"`
	Size             *int     `json:"size"`
	Count            *int64   `json:"count"`
	Clients          *int     `json:"clients"`
	Workers          *int     `json:"workers"`
	Window           *int     `json:"window"`
	Seconds          *float64 `json:"seconds"`
	SenderCPUSec     *float64 `json:"sender_cpu_sec"`
	ReceiverCPUSec   *float64 `json:"receiver_cpu_sec"`
	BrokerCPUSec     *float64 `json:"broker_cpu_sec"`
	SenderMaxRSSKB   *int64   `json:"sender_maxrss_kb"`
	ReceiverMaxRSSKB *int64   `json:"receiver_maxrss_kb"`
	BrokerMaxRSSKB   *int64   `json:"broker_maxrss_kb"`
}

// parseWispBrokerLine decodes wisp's result line and checks that it
// measured what it was asked to. A missing CPU or RSS field is NaN.
func parseWispBrokerLine(out []byte, b brokerRun) (brokerSample, error) {
	line, err := lastJSONLine(out)
	if err != nil {
		return brokerSample{}, err
	}
	var wl wispBrokerLine
	if err := json.Unmarshal(line, &wl); err != nil {
		return brokerSample{}, fmt.Errorf("result line %q: %w", line, err)
	}
	switch {
	case wl.Pattern != brokerPattern || wl.Transport != b.transport:
		return brokerSample{}, fmt.Errorf("result line %q: got pattern %q transport %q, want %s %s", line, wl.Pattern, wl.Transport, brokerPattern, b.transport)
	case wl.Size == nil || wl.Count == nil || wl.Clients == nil || wl.Workers == nil || wl.Window == nil || wl.Seconds == nil:
		return brokerSample{}, fmt.Errorf("result line %q: got no size, count, clients, workers, window or seconds, want all", line)
	case *wl.Size != b.size || *wl.Count != b.count || *wl.Clients != b.clients || *wl.Workers != b.workers || *wl.Window != b.window:
		return brokerSample{}, fmt.Errorf("result line %q: got size %d count %d clients %d workers %d window %d, want %d %d %d %d %d",
			line, *wl.Size, *wl.Count, *wl.Clients, *wl.Workers, *wl.Window, b.size, b.count, b.clients, b.workers, b.window)
	case !(*wl.Seconds > 0) || math.IsInf(*wl.Seconds, 0):
		return brokerSample{}, fmt.Errorf("result line %q: got seconds %v, want a finite number above 0", line, *wl.Seconds)
	}
	return brokerSample{
		count: b.count, size: b.size, seconds: *wl.Seconds,
		brokerCPU: orNaN(wl.BrokerCPUSec), clientsCPU: orNaN(wl.SenderCPUSec), workersCPU: orNaN(wl.ReceiverCPUSec),
		brokerRSSKB: orNaN(wl.BrokerMaxRSSKB), clientsRSSKB: orNaN(wl.SenderMaxRSSKB), workersRSSKB: orNaN(wl.ReceiverMaxRSSKB),
	}, nil
}

// errNoBroker says wisp's bench command cannot run the broker measurement
// (over that transport: one from before ipc brokers has tcp only).
var errNoBroker = errors.New("wisp's bench command cannot run thr -pattern broker")

// probeBroker makes one short run over transport, so that a bench command
// that cannot is skipped once with its own error rather than failing every
// round.
func (r *wispRunner) probeBroker(ctx context.Context, transport string) error {
	b := brokerRun{transport: transport, size: 16, count: 1000, clients: 1, workers: 1, window: 10}
	if _, err := r.broker(ctx, b); err != nil {
		return fmt.Errorf("%w: %w", errNoBroker, err)
	}
	return nil
}

func (r *wispRunner) broker(ctx context.Context, b brokerRun) (brokerSample, error) {
	res, err := runProcs(ctx, r.env.timeout, func(ctx context.Context) []*proc {
		return []*proc{newProc(ctx, "wispbench", r.path, "thr", "-pattern", brokerPattern,
			"-transport", b.transport, "-size", strconv.Itoa(b.size), "-count", strconv.FormatInt(b.count, 10),
			"-clients", strconv.Itoa(b.clients), "-workers", strconv.Itoa(b.workers), "-window", strconv.Itoa(b.window))}
	})
	if err != nil {
		return brokerSample{}, err
	}
	s, err := parseWispBrokerLine(res[0].stdout, b)
	if err != nil {
		return brokerSample{}, fmt.Errorf("wispbench: %w", err)
	}
	return s, nil
}

// brokerStats are one implementation's medians over the rounds for one
// (transport, size), each value's median taken on its own; NaN when no
// round succeeded or it was not reported. CPU is seconds per million
// requests.
type brokerStats struct {
	rounds                                  int
	reqPerSec, mbPerSec                     float64
	brokerCPUPM, clientsCPUPM, workersCPUPM float64
	totalCPUPM                              float64 // the three together
	brokerRSSMiB                            float64
}

func summarizeBroker(samples []brokerSample) brokerStats {
	col := func(f func(brokerSample) float64) float64 {
		xs := make([]float64, len(samples))
		for i, s := range samples {
			xs[i] = f(s)
		}
		return median(xs)
	}
	perM := func(cpu float64, s brokerSample) float64 { return cpu / float64(s.count) * 1e6 }
	return brokerStats{
		rounds:       len(samples),
		reqPerSec:    col(brokerSample.reqPerSec),
		mbPerSec:     col(brokerSample.mbPerSec),
		brokerCPUPM:  col(func(s brokerSample) float64 { return perM(s.brokerCPU, s) }),
		clientsCPUPM: col(func(s brokerSample) float64 { return perM(s.clientsCPU, s) }),
		workersCPUPM: col(func(s brokerSample) float64 { return perM(s.workersCPU, s) }),
		totalCPUPM:   col(func(s brokerSample) float64 { return perM(s.brokerCPU+s.clientsCPU+s.workersCPU, s) }),
		brokerRSSMiB: col(func(s brokerSample) float64 { return s.brokerRSSKB / 1024 }),
	}
}

// brokerRow is one line of the broker report.
type brokerRow struct {
	brokerRun
	impls map[string]brokerStats
}

// stat returns the stats of one implementation, all NaN if it did not run.
func (r brokerRow) stat(name string) brokerStats {
	if s, ok := r.impls[name]; ok {
		return s
	}
	return summarizeBroker(nil) // every figure NaN, so a new one cannot be missed
}

// ratio is wisp's median requests/s over other's: above 1 wisp's broker
// moves more. NaN when either is missing.
func (r brokerRow) ratio(other string) float64 {
	return r.stat(implWisp).reqPerSec / r.stat(other).reqPerSec
}

// measureBrokerRow runs all rounds for one (transport, size) like
// measureRow: in each round every implementation once, in brokerImpls.
func measureBrokerRow(ctx context.Context, cfg config, runners map[string]brokerRunner, b brokerRun, progress io.Writer) (brokerRow, []string, error) {
	samples := map[string][]brokerSample{}
	var notes []string
	for round := 1; round <= cfg.rounds; round++ {
		for _, name := range brokerImpls {
			rn, ok := runners[name]
			if !ok {
				continue
			}
			s, err := rn.broker(ctx, b)
			if ctx.Err() != nil {
				return brokerRow{}, nil, fmt.Errorf("interrupted: %w", context.Cause(ctx))
			}
			if err != nil {
				n := fmt.Sprintf("%s %s %s round %d failed: %v", b.transport, fmtSize(b.size), name, round, err)
				fmt.Fprintln(progress, n)
				notes = append(notes, n)
				continue
			}
			samples[name] = append(samples[name], s)
			fmt.Fprintf(progress, "%s %s round %d/%d %-7s %s requests/s\n", b.transport, fmtSize(b.size), round, cfg.rounds, name, fmtInt(s.reqPerSec()))
		}
	}
	r := brokerRow{brokerRun: b, impls: map[string]brokerStats{}}
	for name := range runners {
		r.impls[name] = summarizeBroker(samples[name])
	}
	return r, notes, nil
}

// runBrokerMode is run's second half in -mode broker: measure every
// (transport, size) and print the report.
func runBrokerMode(ctx context.Context, cfg config, runners map[string]brokerRunner, m machine, notes []string, stdout, stderr io.Writer) error {
	var rows []brokerRow
	for _, tr := range cfg.transports {
		for _, size := range cfg.sizes {
			b := brokerRun{transport: tr, size: size, count: cfg.countFor(size), clients: cfg.clients, workers: cfg.workers, window: cfg.window}
			r, rowNotes, err := measureBrokerRow(ctx, cfg, runners, b, stderr)
			if err != nil {
				return err
			}
			rows = append(rows, r)
			notes = append(notes, rowNotes...)
		}
	}
	if cfg.json {
		for _, n := range notes {
			fmt.Fprintln(stderr, "note:", n)
		}
		return writeBrokerJSON(stdout, m, rows, cfg.rounds)
	}
	return writeBrokerTable(stdout, m, rows, cfg.rounds, notes)
}
