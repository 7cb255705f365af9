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

// psPattern is the pattern every -mode pubsub run measures.
const psPattern = "pubsub"

// implLibzmqNodrop is libzmq with ZMQ_XPUB_NODROP=1, run only with -nodrop:
// its publisher waits for room instead of dropping, so nothing is lost.
const implLibzmqNodrop = "libzmq-nodrop"

// implWispNodrop is wisp's bench command with -nodrop, run only with
// -nodrop: its PUB waits for a full subscriber instead of dropping
// (socket.WithNoDrop), the lossless counterpart of libzmq-nodrop.
const implWispNodrop = "wisp-nodrop"

// psImpls is the order in which each pubsub round runs the
// implementations; wisp-nodrop comes last so that the columns of a report
// without it stay where they were.
var psImpls = []string{implWisp, implLibzmq, implLibzmqNodrop, implZMQ4, implWispNodrop}

// psImplsFor returns the implementations a pubsub report has columns for:
// libzmq-nodrop and wisp-nodrop only when -nodrop asked for them.
func psImplsFor(cfg config) []string {
	var out []string
	for _, im := range psImpls {
		if (im != implLibzmqNodrop && im != implWispNodrop) || cfg.nodrop {
			out = append(out, im)
		}
	}
	return out
}

// psRun is what one pubsub run measures.
type psRun struct {
	transport string
	size      int
	count     int64 // messages published, matching or not
	subs      int
	match     int // percent of the published messages that match
}

// expected is how many messages every subscriber gets when none is dropped.
func (p psRun) expected() int64 {
	return psExpected(p.count, p.match)
}

// psExpected is how many of the first count messages match: ceil(count *
// match / 100), spread evenly and starting with the first, so with match 50
// messages 0, 2, 4..., as wisp's bench command does it.
func psExpected(count int64, match int) int64 {
	return (count*int64(match) + 99) / 100
}

// psMatches says whether message i of a run with match percent matching
// messages starts with the subscribed topic.
func psMatches(i int64, match int) bool {
	return psExpected(i+1, match) > psExpected(i, match)
}

// psRunner runs one implementation's PUB -> N SUB run once.
type psRunner interface {
	pubsub(ctx context.Context, p psRun) (psSample, error)
}

// psSample is one measured pubsub run of one implementation. CPU times
// are user + system seconds of each process, NaN when unknown.
type psSample struct {
	count         int64     // published, matching or not
	expected      int64     // per subscriber
	pubMsgsPerSec float64   // published messages per second
	subMsgsPerSec []float64 // per subscriber, first to last data message
	received      []int64   // per subscriber
	pubCPU        float64
	subCPU        []float64 // per subscriber
}

// pubCPUPerM is the publisher's CPU seconds per million messages
// published.
func (s psSample) pubCPUPerM() float64 { return s.pubCPU / float64(s.count) * 1e6 }

// subCPUPerM is the median over the subscribers of each one's CPU seconds
// per million messages it received: a subscriber spends its CPU on what
// reaches it, which the publisher's drops make fewer than were published.
// A subscriber that received nothing has none.
func (s psSample) subCPUPerM() float64 {
	xs := make([]float64, len(s.subCPU))
	for i, cpu := range s.subCPU {
		xs[i] = math.NaN()
		if i < len(s.received) && s.received[i] > 0 {
			xs[i] = cpu / float64(s.received[i]) * 1e6
		}
	}
	return median(xs)
}

// subMedian is the median over the subscribers of their own rates.
func (s psSample) subMedian() float64 { return median(s.subMsgsPerSec) }

// subMin is the slowest subscriber's rate.
func (s psSample) subMin() float64 {
	if len(s.subMsgsPerSec) == 0 {
		return math.NaN()
	}
	return slices.Min(s.subMsgsPerSec)
}

// drops counts, over all subscribers, matching messages that did not
// arrive. It is computed the same way for every implementation rather than
// taken from a publisher's own counter, which libzmq does not have.
func (s psSample) drops() int64 {
	var n int64
	for _, r := range s.received {
		n += s.expected - r
	}
	return n
}

// dropPct is drops as a percentage of the messages the subscribers should
// have had together.
func (s psSample) dropPct() float64 {
	want := s.expected * int64(len(s.received))
	if want == 0 {
		return math.NaN()
	}
	return float64(s.drops()) / float64(want) * 100
}

// lastJSONLine returns the last line of out that starts with '{'.
func lastJSONLine(out []byte) ([]byte, error) {
	var line []byte
	for l := range bytes.Lines(out) {
		if l = bytes.TrimSpace(l); bytes.HasPrefix(l, []byte("{")) {
			line = l
		}
	}
	if line == nil {
		return nil, errNoPeerLine
	}
	return line, nil
}

// rate reports whether p is a usable messages-per-second figure: present,
// finite and not negative (0 when a subscriber got fewer than two messages).
func rate(p *float64) bool {
	return p != nil && *p >= 0 && !math.IsInf(*p, 0) && !math.IsNaN(*p)
}

// psPubLine is the line the publisher of libzmq/pubsub.c or of the zmq4
// peer prints.
type psPubLine struct {
	Role       string   `json:"role"`
	Size       *int     `json:"size"`
	Count      *int64   `json:"count"`
	Subs       *int     `json:"subs"`
	Match      *int     `json:"match"`
	Nodrop     bool     `json:"nodrop"`
	Expected   *int64   `json:"expected"`
	MsgsPerSec *float64 `json:"msgs_per_sec"`
	EndMarkers int64    `json:"end_markers"`
}

// psSubLine is the line each subscriber of libzmq/pubsub.c or of the zmq4
// peer prints.
type psSubLine struct {
	Role       string   `json:"role"`
	ID         *int     `json:"id"`
	Size       *int     `json:"size"`
	Received   *int64   `json:"received"`
	MsgsPerSec *float64 `json:"msgs_per_sec"`
}

// parsePubLine decodes a publisher's result line and checks that it
// published what it was asked to.
func parsePubLine(out []byte, p psRun) (psPubLine, error) {
	line, err := lastJSONLine(out)
	if err != nil {
		return psPubLine{}, err
	}
	var pl psPubLine
	if err := json.Unmarshal(line, &pl); err != nil {
		return psPubLine{}, fmt.Errorf("result line %q: %w", line, err)
	}
	switch {
	case pl.Role != "pub" || pl.Size == nil || pl.Count == nil || pl.Subs == nil || pl.Match == nil || pl.Expected == nil:
		return psPubLine{}, fmt.Errorf("result line %q: got no role pub, size, count, subs, match or expected, want all", line)
	case *pl.Size != p.size || *pl.Count != p.count || *pl.Subs != p.subs || *pl.Match != p.match || *pl.Expected != p.expected():
		return psPubLine{}, fmt.Errorf("result line %q: got size %d count %d subs %d match %d expected %d, want %d %d %d %d %d",
			line, *pl.Size, *pl.Count, *pl.Subs, *pl.Match, *pl.Expected, p.size, p.count, p.subs, p.match, p.expected())
	case !rate(pl.MsgsPerSec) || *pl.MsgsPerSec == 0:
		return psPubLine{}, fmt.Errorf("result line %q: got no msgs_per_sec above 0, want one", line)
	}
	return pl, nil
}

// parseSubLine decodes subscriber id's result line and checks it.
func parseSubLine(out []byte, p psRun, id int) (psSubLine, error) {
	line, err := lastJSONLine(out)
	if err != nil {
		return psSubLine{}, err
	}
	var sl psSubLine
	if err := json.Unmarshal(line, &sl); err != nil {
		return psSubLine{}, fmt.Errorf("result line %q: %w", line, err)
	}
	switch {
	case sl.Role != "sub" || sl.ID == nil || sl.Size == nil || sl.Received == nil:
		return psSubLine{}, fmt.Errorf("result line %q: got no role sub, id, size or received, want all", line)
	case *sl.ID != id || *sl.Size != p.size:
		return psSubLine{}, fmt.Errorf("result line %q: got id %d size %d, want %d %d", line, *sl.ID, *sl.Size, id, p.size)
	case *sl.Received < 0 || *sl.Received > p.expected():
		return psSubLine{}, fmt.Errorf("result line %q: got received %d, want 0 to %d", line, *sl.Received, p.expected())
	case !rate(sl.MsgsPerSec):
		return psSubLine{}, fmt.Errorf("result line %q: got no msgs_per_sec of 0 or more, want one", line)
	}
	return sl, nil
}

// psProcRunner runs a publisher and p.subs subscriber processes that speak
// the pubsub peer protocol: argv = prefix + [pub, ENDPOINT, SIZE, COUNT,
// SUBS, MATCH] (+ nodrop) and prefix + [sub, ENDPOINT, SIZE, ID].
type psProcRunner struct {
	env    *env
	name   string
	path   string
	prefix []string
	nodrop bool // libzmq only: ZMQ_XPUB_NODROP=1
}

func (r *psProcRunner) pubsub(ctx context.Context, p psRun) (psSample, error) {
	ep, err := r.env.endpoint(p.transport)
	if err != nil {
		return psSample{}, err
	}
	args := func(a ...string) []string {
		return append(append([]string(nil), r.prefix...), a...)
	}
	size := strconv.Itoa(p.size)
	pubArgs := args("pub", ep, size, strconv.FormatInt(p.count, 10), strconv.Itoa(p.subs), strconv.Itoa(p.match))
	if r.nodrop {
		pubArgs = append(pubArgs, "nodrop")
	}
	// All start at once: the subscribers of both libraries retry their
	// connect until the publisher has bound, and the publisher waits until
	// every one has subscribed.
	res, err := runProcs(ctx, r.env.timeout, func(ctx context.Context) []*proc {
		procs := []*proc{newProc(ctx, r.name+" pub", r.path, pubArgs...)}
		for i := range p.subs {
			procs = append(procs, newProc(ctx, fmt.Sprintf("%s sub %d", r.name, i), r.path, args("sub", ep, size, strconv.Itoa(i))...))
		}
		return procs
	})
	if err != nil {
		return psSample{}, err
	}
	pl, err := parsePubLine(res[0].stdout, p)
	if err == nil && pl.Nodrop != r.nodrop {
		err = fmt.Errorf("got nodrop %v, want %v", pl.Nodrop, r.nodrop)
	}
	if err != nil {
		return psSample{}, fmt.Errorf("%s pub: %w", r.name, err)
	}
	s := psSample{count: p.count, expected: p.expected(), pubMsgsPerSec: *pl.MsgsPerSec, pubCPU: res[0].cpuSec}
	for i := range p.subs {
		sl, err := parseSubLine(res[1+i].stdout, p, i)
		if err != nil {
			return psSample{}, fmt.Errorf("%s sub %d: %w", r.name, i, err)
		}
		s.subMsgsPerSec = append(s.subMsgsPerSec, *sl.MsgsPerSec)
		s.received = append(s.received, *sl.Received)
		s.subCPU = append(s.subCPU, res[1+i].cpuSec)
	}
	return s, nil
}

// newZMQ4PubsubRunner runs zmq4 pubsub peers by re-executing this binary.
func newZMQ4PubsubRunner(e *env) (psRunner, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, err
	}
	return &psProcRunner{env: e, name: implZMQ4, path: exe, prefix: []string{peerArg}}, nil
}

// pubsubSource is the libzmq pubsub peer program.
//
//go:embed libzmq/pubsub.c
var pubsubSource []byte

// newLibzmqPubsubRunners compiles pubsub.c into the scratch directory and
// returns the runners for libzmq and for libzmq with ZMQ_XPUB_NODROP, and
// libzmq's version.
func newLibzmqPubsubRunners(ctx context.Context, e *env) (lossy, nodrop psRunner, version string, err error) {
	bin, version, err := compileLibzmqPeer(ctx, e, "pubsub", pubsubSource)
	if err != nil {
		return nil, nil, "", err
	}
	return &psProcRunner{env: e, name: implLibzmq, path: bin},
		&psProcRunner{env: e, name: implLibzmqNodrop, path: bin, nodrop: true}, version, nil
}

// wispPSLine is the JSON line `thr -pattern pubsub` of wisp's bench command
// prints (other thr fields are ignored here). The CPU times are optional:
// a missing one is NaN.
type wispPSLine struct {
	Pattern       string   `json:"pattern"`
	Transport     string   `json:"transport"`
	Size          *int     `json:"size"`
	Count         *int64   `json:"count"`
	Subs          *int     `json:"subs"`
	Match         *int     `json:"match"`
	Matched       *int64   `json:"matched"` // optional: checked when present
	PubMsgsPerSec *float64 `json:"pub_msgs_per_sec"`
	// SenderCPUSec is the publisher's, the thr process's.
	SenderCPUSec *float64 `json:"sender_cpu_sec"`
	Subscribers  []struct {
		Received   *int64   `json:"received"`
		MsgsPerSec *float64 `json:"msgs_per_sec"`
		Drops      *int64   `json:"drops"`
		CPUSec     *float64 `json:"cpu_sec"`
	} `json:"subscribers"`
}

// parseWispPSLine decodes wisp's result line and checks that it measured
// what it was asked to.
func parseWispPSLine(out []byte, p psRun) (psSample, error) {
	line, err := lastJSONLine(out)
	if err != nil {
		return psSample{}, err
	}
	var wl wispPSLine
	if err := json.Unmarshal(line, &wl); err != nil {
		return psSample{}, fmt.Errorf("result line %q: %w", line, err)
	}
	switch {
	case wl.Pattern != psPattern || wl.Transport != p.transport:
		return psSample{}, fmt.Errorf("result line %q: got pattern %q transport %q, want %s %s", line, wl.Pattern, wl.Transport, psPattern, p.transport)
	case wl.Size == nil || wl.Count == nil || wl.Subs == nil || wl.Match == nil:
		return psSample{}, fmt.Errorf("result line %q: got no size, count, subs or match, want all", line)
	case *wl.Size != p.size || *wl.Count != p.count || *wl.Subs != p.subs || *wl.Match != p.match:
		return psSample{}, fmt.Errorf("result line %q: got size %d count %d subs %d match %d, want %d %d %d %d",
			line, *wl.Size, *wl.Count, *wl.Subs, *wl.Match, p.size, p.count, p.subs, p.match)
	case wl.Matched != nil && *wl.Matched != p.expected():
		return psSample{}, fmt.Errorf("result line %q: got matched %d, want %d", line, *wl.Matched, p.expected())
	case !rate(wl.PubMsgsPerSec) || *wl.PubMsgsPerSec == 0:
		return psSample{}, fmt.Errorf("result line %q: got no pub_msgs_per_sec above 0, want one", line)
	case len(wl.Subscribers) != p.subs:
		return psSample{}, fmt.Errorf("result line %q: got %d subscribers, want %d", line, len(wl.Subscribers), p.subs)
	}
	s := psSample{count: p.count, expected: p.expected(), pubMsgsPerSec: *wl.PubMsgsPerSec, pubCPU: orNaN(wl.SenderCPUSec)}
	for i, sub := range wl.Subscribers {
		switch {
		case sub.Received == nil || *sub.Received < 0 || *sub.Received > p.expected():
			return psSample{}, fmt.Errorf("result line %q: subscriber %d: got received %v, want 0 to %d", line, i, orNaN(sub.Received), p.expected())
		case !rate(sub.MsgsPerSec):
			return psSample{}, fmt.Errorf("result line %q: subscriber %d: got no msgs_per_sec of 0 or more, want one", line, i)
		}
		s.subMsgsPerSec = append(s.subMsgsPerSec, *sub.MsgsPerSec)
		s.received = append(s.received, *sub.Received)
		s.subCPU = append(s.subCPU, orNaN(sub.CPUSec))
	}
	return s, nil
}

// errNoPubsub says wisp's bench command cannot run the pubsub measurement.
var errNoPubsub = errors.New("wisp's bench command cannot run thr -pattern pubsub")

// probePubsub makes one short run, so that a bench command without the
// pubsub pattern is skipped once with its own error rather than failing
// every round.
func (r *wispRunner) probePubsub(ctx context.Context, transport string) error {
	p := psRun{transport: transport, size: 16, count: 1000, subs: 1, match: 100}
	if _, err := r.pubsub(ctx, p); err != nil {
		return fmt.Errorf("%w: %w", errNoPubsub, err)
	}
	return nil
}

// psArgs is the argument list of one pubsub run of the bench command:
// the run's shape, then psExtra (implWispNodrop's -nodrop).
func (r *wispRunner) psArgs(p psRun) []string {
	return slices.Concat([]string{"thr", "-pattern", psPattern, "-subs", strconv.Itoa(p.subs),
		"-transport", p.transport, "-size", strconv.Itoa(p.size), "-count", strconv.FormatInt(p.count, 10),
		"-match", strconv.Itoa(p.match)}, r.psExtra)
}

// withPSArgs returns implWispNodrop's runner: the same bench command as
// r, plus args on every pubsub run.
func (r *wispRunner) withPSArgs(args ...string) *wispRunner {
	return &wispRunner{env: r.env, path: r.path, protocol: r.protocol, psExtra: slices.Concat(r.psExtra, args)}
}

func (r *wispRunner) pubsub(ctx context.Context, p psRun) (psSample, error) {
	res, err := runProcs(ctx, r.env.timeout, func(ctx context.Context) []*proc {
		return []*proc{newProc(ctx, "wispbench", r.path, r.psArgs(p)...)}
	})
	if err != nil {
		return psSample{}, err
	}
	s, err := parseWispPSLine(res[0].stdout, p)
	if err != nil {
		return psSample{}, fmt.Errorf("wispbench: %w", err)
	}
	return s, nil
}

// psStats are one implementation's medians over the rounds for one
// (transport, size, match), each value's median taken on its own; NaN when
// no round succeeded.
type psStats struct {
	rounds        int
	subMedian     float64 // msg/s, median over subscribers
	subMin        float64 // msg/s, slowest subscriber
	pubMsgsPerSec float64
	drops         float64 // matching messages lost, all subscribers together
	dropPct       float64
	pubCPUPM      float64 // CPU seconds per million messages published
	subCPUPM      float64 // CPU seconds per million messages received, median subscriber
}

func summarizePS(samples []psSample) psStats {
	col := func(f func(psSample) float64) float64 {
		xs := make([]float64, len(samples))
		for i, s := range samples {
			xs[i] = f(s)
		}
		return median(xs)
	}
	return psStats{
		rounds:        len(samples),
		subMedian:     col(psSample.subMedian),
		subMin:        col(psSample.subMin),
		pubMsgsPerSec: col(func(s psSample) float64 { return s.pubMsgsPerSec }),
		drops:         col(func(s psSample) float64 { return float64(s.drops()) }),
		dropPct:       col(psSample.dropPct),
		pubCPUPM:      col(psSample.pubCPUPerM),
		subCPUPM:      col(psSample.subCPUPerM),
	}
}

// psRow is one line of the pubsub report.
type psRow struct {
	psRun
	impls map[string]psStats
}

// stat returns the stats of one implementation, all NaN if it did not run.
func (r psRow) stat(name string) psStats {
	if s, ok := r.impls[name]; ok {
		return s
	}
	nan := math.NaN()
	return psStats{subMedian: nan, subMin: nan, pubMsgsPerSec: nan, drops: nan, dropPct: nan, pubCPUPM: nan, subCPUPM: nan}
}

// ratio is wisp's median subscriber rate over other's: above 1 wisp's
// subscribers receive faster. NaN when either is missing.
func (r psRow) ratio(other string) float64 {
	return r.ratioOf(implWisp, other)
}

// ratioOf is im's median subscriber rate over other's.
func (r psRow) ratioOf(im, other string) float64 {
	return r.stat(im).subMedian / r.stat(other).subMedian
}

// measurePSRow runs all rounds for one (transport, size, match) like
// measureRow: in each round every implementation once, in psImpls order.
func measurePSRow(ctx context.Context, cfg config, runners map[string]psRunner, p psRun, progress io.Writer) (psRow, []string, error) {
	samples := map[string][]psSample{}
	var notes []string
	where := fmt.Sprintf("%s %s match %d%%", p.transport, fmtSize(p.size), p.match)
	for round := 1; round <= cfg.rounds; round++ {
		for _, name := range psImpls {
			rn, ok := runners[name]
			if !ok {
				continue
			}
			s, err := rn.pubsub(ctx, p)
			if ctx.Err() != nil {
				return psRow{}, nil, fmt.Errorf("interrupted: %w", context.Cause(ctx))
			}
			if err != nil {
				n := fmt.Sprintf("%s %s round %d failed: %v", where, name, round, err)
				fmt.Fprintln(progress, n)
				notes = append(notes, n)
				continue
			}
			samples[name] = append(samples[name], s)
			fmt.Fprintf(progress, "%s round %d/%d %-13s sub msg/s median %s min %s, drops %s%%, pub msg/s %s\n", where, round, cfg.rounds, name,
				fmtInt(s.subMedian()), fmtInt(s.subMin()), fmtFloat(s.dropPct(), 1), fmtInt(s.pubMsgsPerSec))
		}
	}
	r := psRow{psRun: p, impls: map[string]psStats{}}
	for name := range runners {
		r.impls[name] = summarizePS(samples[name])
	}
	return r, notes, nil
}

// runPubsub is run's second half in -mode pubsub: measure every (transport,
// size, match) and print the report.
func runPubsub(ctx context.Context, cfg config, runners map[string]psRunner, m machine, notes []string, stdout, stderr io.Writer) error {
	var rows []psRow
	for _, tr := range cfg.transports {
		for _, size := range cfg.sizes {
			for _, match := range cfg.matches {
				p := psRun{transport: tr, size: size, count: cfg.countFor(size), subs: cfg.subs, match: match}
				r, rowNotes, err := measurePSRow(ctx, cfg, runners, p, stderr)
				if err != nil {
					return err
				}
				rows = append(rows, r)
				notes = append(notes, rowNotes...)
			}
		}
	}
	if cfg.json {
		for _, n := range notes {
			fmt.Fprintln(stderr, "note:", n)
		}
		return writePSJSON(stdout, m, rows, cfg.rounds, psImplsFor(cfg))
	}
	return writePSTable(stdout, m, rows, cfg.rounds, psImplsFor(cfg), notes)
}
