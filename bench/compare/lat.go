package main

import (
	"bytes"
	"context"
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"slices"
	"strconv"
)

// latPattern is the pattern every latency run measures.
const latPattern = "reqrep"

// latRunner runs one implementation's REQ/REP round-trip latency once.
type latRunner interface {
	lat(ctx context.Context, transport string, size int, count int64) (latSample, error)
}

// latWarmup is how many untimed round trips the libzmq and zmq4 clients make
// first, so connection set-up, first allocations and cold caches are not
// timed. wisp's bench command picks its own warm-up by the same rule.
func latWarmup(count int64) int64 {
	return min(1000, count/10)
}

// latLine is the JSON line a REQ client prints. libzmq's lat and the zmq4
// peer print no transport and no CPU times (the runner reads them from
// their rusage); wisp's bench command, which runs both sides itself, does.
type latLine struct {
	Pattern   string   `json:"pattern,omitempty"`
	Transport string   `json:"transport,omitempty"`
	Size      *int     `json:"size"`
	Count     *int64   `json:"count"`
	Warmup    *int64   `json:"warmup,omitempty"`
	RTTMeanUS *float64 `json:"rtt_mean_us"`
	RTTP50US  *float64 `json:"rtt_p50_us"`
	RTTP99US  *float64 `json:"rtt_p99_us"`
	// ClientCPUSec and ServerCPUSec are wisp's only: user + system
	// seconds of the client's and of the server's process.
	ClientCPUSec *float64 `json:"client_cpu_sec,omitempty"`
	ServerCPUSec *float64 `json:"server_cpu_sec,omitempty"`
}

// parseLatLine finds the last line of out that starts with '{' and decodes
// it. size, count and the three round-trip times must be present and sane,
// and a pattern, if given, must be reqrep.
func parseLatLine(out []byte) (latLine, error) {
	var line []byte
	for l := range bytes.Lines(out) {
		if l = bytes.TrimSpace(l); bytes.HasPrefix(l, []byte("{")) {
			line = l
		}
	}
	if line == nil {
		return latLine{}, errNoPeerLine
	}
	var ll latLine
	if err := json.Unmarshal(line, &ll); err != nil {
		return latLine{}, fmt.Errorf("result line %q: %w", line, err)
	}
	positive := func(p *float64) bool { return p != nil && *p > 0 && !math.IsInf(*p, 0) }
	switch {
	case ll.Size == nil || ll.Count == nil:
		return latLine{}, fmt.Errorf("result line %q: got no size or count, want both", line)
	case *ll.Size < 0 || *ll.Count < 1:
		return latLine{}, fmt.Errorf("result line %q: got size %d count %d, want size >= 0 and count >= 1", line, *ll.Size, *ll.Count)
	case !positive(ll.RTTMeanUS) || !positive(ll.RTTP50US) || !positive(ll.RTTP99US):
		return latLine{}, fmt.Errorf("result line %q: got no rtt_mean_us, rtt_p50_us or rtt_p99_us above 0, want all three", line)
	case ll.Pattern != "" && ll.Pattern != latPattern:
		return latLine{}, fmt.Errorf("result line %q: got pattern %q, want %s", line, ll.Pattern, latPattern)
	}
	return ll, nil
}

// check verifies that a client measured what it was asked to, with the
// warm-up every implementation gets.
func (ll latLine) check(transport string, size int, count int64) error {
	if ll.Transport != "" && ll.Transport != transport {
		return fmt.Errorf("got transport %s, want %s", ll.Transport, transport)
	}
	if *ll.Size != size || *ll.Count != count {
		return fmt.Errorf("got size %d count %d, want size %d count %d", *ll.Size, *ll.Count, size, count)
	}
	// Unequal warm-ups would make the three less comparable.
	if ll.Warmup != nil && *ll.Warmup != latWarmup(count) {
		return fmt.Errorf("got warmup %d, want %d round trips, as the others make", *ll.Warmup, latWarmup(count))
	}
	return nil
}

// latSample is one measured latency run of one implementation, in
// microseconds per round trip, and the CPU seconds (user + system) of the
// client's and the server's process, NaN when unknown.
type latSample struct {
	count                int64
	size                 int
	meanUS, p50US, p99US float64
	clientCPU, serverCPU float64
}

// sample takes the CPU times from the line, which only wisp's has; the
// pair runners overwrite them with their processes' rusage.
func (ll latLine) sample() latSample {
	return latSample{count: *ll.Count, size: *ll.Size, meanUS: *ll.RTTMeanUS, p50US: *ll.RTTP50US, p99US: *ll.RTTP99US,
		clientCPU: orNaN(ll.ClientCPUSec), serverCPU: orNaN(ll.ServerCPUSec)}
}

// cpuPerM returns cpu seconds per million round trips: the processes
// made the warm-up round trips as well as the timed ones.
func (s latSample) cpuPerM(cpu float64) float64 {
	return cpu / float64(s.count+latWarmup(s.count)) * 1e6
}

// latPairRunner runs a REP server and a REQ client process that speak the
// latency peer protocol: argv = prefix + [rep|req, ENDPOINT, SIZE, COUNT, WARMUP].
// The two are the same program for one library, or different ones for a
// pair of libraries.
type latPairRunner struct {
	env      *env
	name     string
	rep, req peerProg
}

// newLatPairRunner runs prog on both sides.
func newLatPairRunner(e *env, name string, prog peerProg) *latPairRunner {
	return &latPairRunner{env: e, name: name, rep: prog, req: prog}
}

func (r *latPairRunner) lat(ctx context.Context, transport string, size int, count int64) (latSample, error) {
	ep, err := r.env.endpoint(transport)
	if err != nil {
		return latSample{}, err
	}
	rest := []string{ep, strconv.Itoa(size), strconv.FormatInt(count, 10), strconv.FormatInt(latWarmup(count), 10)}
	// Both start at once; the clients of all three libraries retry their
	// connect until the server has bound.
	res, err := runProcs(ctx, r.env.timeout, func(ctx context.Context) []*proc {
		return []*proc{
			newProc(ctx, r.name+" rep", r.rep.path, r.rep.args("rep", rest...)...),
			newProc(ctx, r.name+" req", r.req.path, r.req.args("req", rest...)...),
		}
	})
	if err != nil {
		return latSample{}, err
	}
	ll, err := parseLatLine(res[1].stdout)
	if err == nil {
		err = ll.check(transport, size, count)
	}
	if err != nil {
		return latSample{}, fmt.Errorf("%s req: %w", r.name, err)
	}
	s := ll.sample()
	s.serverCPU, s.clientCPU = res[0].cpuSec, res[1].cpuSec
	return s, nil
}

// newZMQ4LatRunner runs zmq4 latency peers by re-executing this very binary.
func newZMQ4LatRunner(e *env) (latRunner, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, err
	}
	return newLatPairRunner(e, implZMQ4, peerProg{path: exe, prefix: []string{peerArg}}), nil
}

// latSource is the libzmq latency peer program.
//
//go:embed libzmq/lat.c
var latSource []byte

// newLibzmqLatRunner compiles lat.c into the scratch directory and returns
// the runner and libzmq's version. The runner's rep (or req) is the
// compiled program, for pairing it with another library.
func newLibzmqLatRunner(ctx context.Context, e *env) (*latPairRunner, string, error) {
	bin, version, err := compileLibzmqPeer(ctx, e, "lat", latSource)
	if err != nil {
		return nil, "", err
	}
	return newLatPairRunner(e, implLibzmq, peerProg{path: bin}), version, nil
}

// newMixedLatRunner pairs a wisp and a libzmq peer program over ZMTP: name
// is implWispLibzmq (a wisp REQ asks a libzmq REP) or implLibzmqWisp (a
// libzmq REQ asks a wisp REP).
func newMixedLatRunner(e *env, name string, wisp *wispRunner, libzmq *latPairRunner) *latPairRunner {
	r := &latPairRunner{env: e, name: name, req: wisp.zmtpPeer(), rep: libzmq.rep}
	if name == implLibzmqWisp {
		r.req, r.rep = libzmq.req, wisp.zmtpPeer()
	}
	return r
}

// probeLatRunner makes one short latency run with r; see probeThr.
func probeLatRunner(ctx context.Context, r latRunner, transport string) error {
	if _, err := r.lat(ctx, transport, 16, latProbeCount); err != nil {
		return fmt.Errorf("%w: %w", errProbe, err)
	}
	return nil
}

// errNoLat says wisp's bench command cannot run the latency measurement.
var errNoLat = errors.New("wisp's bench command cannot run lat -pattern reqrep")

// latProbeCount is the size of the one short run that checks, before any
// round, that wisp's bench command has the lat subcommand.
const latProbeCount = 100

// probeLat makes one short latency run, so that a bench command without the
// lat subcommand is skipped once with its own error rather than failing
// every round.
func (r *wispRunner) probeLat(ctx context.Context, transport string) error {
	if _, err := r.lat(ctx, transport, 16, latProbeCount); err != nil {
		return fmt.Errorf("%w: %w", errNoLat, err)
	}
	return nil
}

// latArgs is the argument list of one latency run of the bench command:
// the run's shape, then what r adds (-protocol, latExtra), so implWisp
// runs as it always did.
func (r *wispRunner) latArgs(transport string, size int, count int64) []string {
	return slices.Concat([]string{"lat", "-pattern", latPattern,
		"-transport", transport, "-size", strconv.Itoa(size), "-count", strconv.FormatInt(count, 10)}, r.protocolArgs(), r.latExtra)
}

func (r *wispRunner) lat(ctx context.Context, transport string, size int, count int64) (latSample, error) {
	res, err := runProcs(ctx, r.env.timeout, func(ctx context.Context) []*proc {
		return []*proc{newProc(ctx, "wispbench", r.path, r.latArgs(transport, size, count)...)}
	})
	if err != nil {
		return latSample{}, err
	}
	ll, err := parseLatLine(res[0].stdout)
	if err == nil {
		err = ll.check(transport, size, count)
	}
	if err != nil {
		return latSample{}, fmt.Errorf("wispbench: %w", err)
	}
	return ll.sample(), nil
}

// latStats are one implementation's medians for one (transport, size), each
// statistic's median taken over the rounds on its own; NaN when no round
// succeeded.
type latStats struct {
	rounds               int
	meanUS, p50US, p99US float64
	// CPU seconds per million round trips, client's and server's process.
	clientCPUPM, serverCPUPM float64
}

func summarizeLat(samples []latSample) latStats {
	col := func(f func(latSample) float64) float64 {
		xs := make([]float64, len(samples))
		for i, s := range samples {
			xs[i] = f(s)
		}
		return median(xs)
	}
	return latStats{
		rounds: len(samples),
		meanUS: col(func(s latSample) float64 { return s.meanUS }),
		p50US:  col(func(s latSample) float64 { return s.p50US }),
		p99US:  col(func(s latSample) float64 { return s.p99US }),

		clientCPUPM: col(func(s latSample) float64 { return s.cpuPerM(s.clientCPU) }),
		serverCPUPM: col(func(s latSample) float64 { return s.cpuPerM(s.serverCPU) }),
	}
}

// latRow is one line of the latency report.
type latRow struct {
	transport string
	size      int
	count     int64
	warmup    int64 // what libzmq and zmq4 were given
	impls     map[string]latStats
}

// stat returns the stats of one implementation, all NaN if it did not run.
func (r latRow) stat(name string) latStats {
	if s, ok := r.impls[name]; ok {
		return s
	}
	nan := math.NaN()
	return latStats{meanUS: nan, p50US: nan, p99US: nan, clientCPUPM: nan, serverCPUPM: nan}
}

// ratio is wisp's median mean round-trip time over other's: below 1 wisp is
// faster. NaN when either is missing.
func (r latRow) ratio(other string) float64 {
	return r.stat(implWisp).meanUS / r.stat(other).meanUS
}

// perLibzmq is name's median mean round-trip time over libzmq's: below 1
// that ZMTP pair is faster than libzmq talking to itself. NaN when either
// is missing.
func (r latRow) perLibzmq(name string) float64 {
	return r.stat(name).meanUS / r.stat(implLibzmq).meanUS
}

// measureLatRow runs all rounds for one (transport, size) like measureRow:
// in each round every implementation once, in roundOrder.
func measureLatRow(ctx context.Context, cfg config, runners map[string]latRunner, tr string, size int, progress io.Writer) (latRow, []string, error) {
	count := cfg.countFor(size)
	samples := map[string][]latSample{}
	var notes []string
	for round := 1; round <= cfg.rounds; round++ {
		for _, name := range roundOrder {
			rn, ok := runners[name]
			if !ok {
				continue
			}
			s, err := rn.lat(ctx, tr, size, count)
			if ctx.Err() != nil {
				return latRow{}, nil, fmt.Errorf("interrupted: %w", context.Cause(ctx))
			}
			if err != nil {
				n := fmt.Sprintf("%s %s %s round %d failed: %v", tr, fmtSize(size), name, round, err)
				fmt.Fprintln(progress, n)
				notes = append(notes, n)
				continue
			}
			samples[name] = append(samples[name], s)
			fmt.Fprintf(progress, "%s %s round %d/%d %-13s rtt mean %s p50 %s p99 %s µs\n", tr, fmtSize(size), round, cfg.rounds, name,
				fmtFloat(s.meanUS, 1), fmtFloat(s.p50US, 1), fmtFloat(s.p99US, 1))
		}
	}
	r := latRow{transport: tr, size: size, count: count, warmup: latWarmup(count), impls: map[string]latStats{}}
	for name := range runners {
		r.impls[name] = summarizeLat(samples[name])
	}
	return r, notes, nil
}
