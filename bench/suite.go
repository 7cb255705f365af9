package main

import (
	"bufio"
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
	"os/exec"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Output formats of the suite (-format).
const (
	formatTable     = "table"     // Markdown tables, for people and READMEs
	formatCSV       = "csv"       // one header line, one row per case
	formatBenchstat = "benchstat" // Go benchmark lines, one per case and round
)

// suiteFormats are the values -format takes, the default first.
var suiteFormats = []string{formatTable, formatCSV, formatBenchstat}

// plannedCase is one case of the suite: a throughput (thr) or a latency
// (lat) measurement, and the runs of it that succeeded. The suite lists
// every case before it runs any, so that its progress can say how many
// runs there are in all.
type plannedCase struct {
	thr  *config    // a throughput case, or nil
	lat  *latConfig // a latency case, or nil
	what string     // how progress names it
	// thrRuns and latRuns are the successful runs, in round order.
	thrRuns []result
	latRuns []latResult
}

// suiteOutput is what the suite measured, for the writer of -format.
type suiteOutput struct {
	rounds int // -rounds: the runs asked for per case
	// thr and lat hold, per case with at least one successful run, its
	// runs in round order: pubsub cases are in thr.
	thr [][]result
	lat [][]latResult
}

// runSuite runs every benchmark over every transport and size and prints
// one table row per case, with medians over the rounds: a throughput table,
// then a latency table (or, with -format, the same as CSV or as Go
// benchmark lines). Progress goes to stderr, so stdout stays machine
// readable.
func runSuite(args []string, stdout, stderr io.Writer) int {
	fs := newFlagSet("bench", stderr)
	rounds := fs.Int("rounds", 1, "runs per case; the table shows medians")
	scale := fs.Float64("scale", 1, "multiply every case's message count by this")
	timeout := fs.Duration("timeout", defaultTimeout, "limit per run")
	transports := fs.String("transports", "", "comma-separated transports to run (default: all)")
	sizes := fs.String("sizes", "", "comma-separated message sizes to run (default: all)")
	format := fs.String("format", formatTable, "output: table (Markdown), csv (one row per case) or benchstat (Go benchmark lines, one per run)")
	fs.Usage = func() {
		usage(stderr)
		fmt.Fprintln(stderr, "\nsuite flags:")
		fs.PrintDefaults()
	}
	if err := parseFlags(fs, args); err != nil {
		return flagError(stderr, "bench", err)
	}
	if *rounds < 1 || !(*scale > 0) || *timeout <= 0 {
		fmt.Fprintf(stderr, "bench: got -rounds %d -scale %v -timeout %v, want rounds >= 1, scale > 0, timeout > 0\n", *rounds, *scale, *timeout)
		return exitUsage
	}
	if !slices.Contains(suiteFormats, *format) {
		fmt.Fprintf(stderr, "bench: -format: got %q, want one of %s\n", *format, strings.Join(suiteFormats, ", "))
		return exitUsage
	}
	onlySizes, err := parseSizes(*sizes)
	if err != nil {
		fmt.Fprintf(stderr, "bench: -sizes: %v\n", err)
		return exitUsage
	}
	var onlyTransports []string
	if *transports != "" {
		onlyTransports = strings.Split(*transports, ",")
	}
	exe, err := os.Executable()
	if err != nil {
		fmt.Fprintf(stderr, "bench: %v\n", err)
		return exitFail
	}

	plan := planSuite(onlyTransports, onlySizes, *scale, *timeout)
	prog := newProgress(stderr, len(plan)**rounds, time.Now)
	failed := 0
	for i := range plan {
		pc := &plan[i]
		for round := range *rounds {
			prog.begin(fmt.Sprintf("%s, round %d/%d", pc.what, round+1, *rounds))
			var err error
			if pc.thr != nil {
				var r result
				if r, err = runThrChild(exe, *pc.thr); err == nil {
					pc.thrRuns = append(pc.thrRuns, r)
				}
			} else {
				var r latResult
				if r, err = runLatChild(exe, *pc.lat); err == nil {
					pc.latRuns = append(pc.latRuns, r)
				}
			}
			prog.end()
			if err != nil {
				fmt.Fprintf(stderr, "bench: %v\n", err)
				failed++
			}
		}
	}
	prog.finish()

	out := suiteOutput{rounds: *rounds}
	for _, pc := range plan {
		if len(pc.thrRuns) > 0 {
			out.thr = append(out.thr, pc.thrRuns)
		}
		if len(pc.latRuns) > 0 {
			out.lat = append(out.lat, pc.latRuns)
		}
	}
	var werr error
	switch *format {
	case formatCSV:
		werr = writeSuiteCSV(stdout, out)
	case formatBenchstat:
		werr = writeSuiteBenchstat(stdout, out, cpuModel())
	default:
		writeSuiteTables(stdout, out, machineLine())
	}
	if werr != nil {
		fmt.Fprintf(stderr, "bench: %v\n", werr)
		return exitFail
	}
	if failed > 0 {
		fmt.Fprintf(stderr, "bench: %d runs failed\n", failed)
		return exitFail
	}
	return exitOK
}

// planSuite lists the suite's cases, throughput first, in the order the
// tables show them, keeping only the transports and sizes asked for (nil:
// all).
func planSuite(onlyTransports []string, onlySizes []int, scale float64, timeout time.Duration) []plannedCase {
	keep := func(transport string, size int) bool {
		return (onlyTransports == nil || slices.Contains(onlyTransports, transport)) &&
			(onlySizes == nil || slices.Contains(onlySizes, size))
	}
	var plan []plannedCase
	for _, b := range benchmarks {
		for _, sc := range b.suiteCases() {
			if !keep(sc.transport, sc.size) {
				continue
			}
			c := config{
				Pattern: b.pattern, Transport: sc.transport, Size: sc.size, Acks: true, Timeout: timeout,
				Count:   max(2, int64(math.Round(float64(b.count(sc.size))*scale))),
				Clients: defaultClients, Workers: defaultWorkers, Window: defaultWindow,
				Subs: defaultSubs, Match: cmp.Or(sc.match, 100),
			}
			what := fmt.Sprintf("%s %s %d B x %d", c.Pattern, c.Transport, c.Size, c.Count)
			if sc.match != 0 {
				what += fmt.Sprintf(", %d subs, match %d%%", c.Subs, c.Match)
			}
			plan = append(plan, plannedCase{thr: &c, what: what})
		}
	}
	for _, b := range latencies {
		for _, tr := range b.transports {
			for _, size := range b.sizes {
				if !keep(tr, size) {
					continue
				}
				c := latConfig{
					Pattern: b.pattern, Transport: tr, Size: size, Acks: true, Timeout: timeout,
					Count: max(1, int64(math.Round(float64(b.count(size))*scale))),
				}
				what := fmt.Sprintf("%s latency %s %d B x %d", c.Pattern, tr, size, c.Count)
				plan = append(plan, plannedCase{lat: &c, what: what})
			}
		}
	}
	return plan
}

// splitThr takes the median of each throughput case's runs and splits
// them into the throughput table's rows and the PUB/SUB table's.
func splitThr(cases [][]result) (rows, pubSubRows []result) {
	for _, runs := range cases {
		if m := medianResult(runs); m.PubSubResult != nil {
			pubSubRows = append(pubSubRows, m)
		} else {
			rows = append(rows, m)
		}
	}
	return rows, pubSubRows
}

// writeSuiteTables prints -format table: the machine line, then the
// throughput, PUB/SUB and latency tables (those with rows).
func writeSuiteTables(w io.Writer, out suiteOutput, machine string) {
	rows, pubSubRows := splitThr(out.thr)
	var latRows []latResult
	for _, runs := range out.lat {
		latRows = append(latRows, medianLat(runs))
	}
	fmt.Fprintln(w, machine)
	fmt.Fprintln(w)
	writeTable(w, rows, out.rounds)
	if len(pubSubRows) > 0 {
		fmt.Fprintln(w)
		writePubSubTable(w, pubSubRows, out.rounds)
	}
	if len(latRows) > 0 {
		fmt.Fprintln(w)
		writeLatTable(w, latRows, out.rounds)
	}
}

func parseSizes(s string) ([]int, error) {
	if s == "" {
		return nil, nil
	}
	var out []int
	for f := range strings.SplitSeq(s, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n < 0 {
			return nil, fmt.Errorf("got %q, want sizes in bytes", f)
		}
		out = append(out, n)
	}
	return out, nil
}

// runThrChild runs one case as "thr" in a fresh process, so that each case's
// peak RSS and (for inproc) CPU time are its own.
func runThrChild(exe string, c config) (result, error) {
	// The child enforces c.Timeout itself; this margin only catches a hang.
	ctx, cancel := context.WithTimeout(context.Background(), c.Timeout+30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, exe, "thr", "-pattern="+c.Pattern, "-transport="+c.Transport,
		"-size="+strconv.Itoa(c.Size), "-count="+strconv.FormatInt(c.Count, 10),
		"-acks="+strconv.FormatBool(c.Acks), "-hwm="+strconv.Itoa(c.HWM), "-timeout="+c.Timeout.String(),
		"-clients="+strconv.Itoa(c.Clients), "-workers="+strconv.Itoa(c.Workers), "-window="+strconv.Itoa(c.Window),
		"-subs="+strconv.Itoa(c.Subs), "-match="+strconv.Itoa(c.Match), "-protocol="+protocolName(c.Protocol))
	var r result
	return r, runJSONChild(ctx, cmd, &r)
}

// runLatChild runs one latency case as "lat" in a fresh process.
func runLatChild(exe string, c latConfig) (latResult, error) {
	ctx, cancel := context.WithTimeout(context.Background(), c.Timeout+30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, exe, "lat", "-pattern="+c.Pattern, "-transport="+c.Transport,
		"-size="+strconv.Itoa(c.Size), "-count="+strconv.FormatInt(c.Count, 10),
		"-acks="+strconv.FormatBool(c.Acks), "-timeout="+c.Timeout.String(), "-protocol="+protocolName(c.Protocol))
	var r latResult
	return r, runJSONChild(ctx, cmd, &r)
}

// runJSONChild runs cmd and decodes the one JSON line it prints into v.
func runJSONChild(ctx context.Context, cmd *exec.Cmd, v any) error {
	var errOut limitedBuffer
	cmd.Stderr = &errOut
	cmd.WaitDelay = 5 * time.Second
	out, err := cmd.Output()
	if err != nil {
		return fmt.Errorf("%s: %w; stderr: %s", strings.Join(cmd.Args[1:], " "), childErr(ctx, err), strings.TrimSpace(errOut.String()))
	}
	if err := json.Unmarshal(bytes.TrimSpace(out), v); err != nil {
		return fmt.Errorf("%s output %q: %w", cmd.Args[1], out, err)
	}
	return nil
}

// median returns the median of get over rs.
func median[T any](rs []T, get func(T) float64) float64 {
	v := make([]float64, len(rs))
	for i, r := range rs {
		v[i] = get(r)
	}
	slices.Sort(v)
	if len(v)%2 == 1 {
		return v[len(v)/2]
	}
	return (v[len(v)/2-1] + v[len(v)/2]) / 2
}

// medianResult takes the median of every measured field on its own.
func medianResult(rs []result) result {
	m := rs[0]
	f := func(get func(result) float64) float64 { return median(rs, get) }
	m.Seconds = f(func(r result) float64 { return r.Seconds })
	m.MsgsPerSec = f(func(r result) float64 { return r.MsgsPerSec })
	m.MBPerSec = f(func(r result) float64 { return r.MBPerSec })
	m.SenderCPUSec = f(func(r result) float64 { return r.SenderCPUSec })
	m.ReceiverCPUSec = f(func(r result) float64 { return r.ReceiverCPUSec })
	m.SenderMaxRSSKB = int64(f(func(r result) float64 { return float64(r.SenderMaxRSSKB) }))
	m.ReceiverMaxRSSKB = int64(f(func(r result) float64 { return float64(r.ReceiverMaxRSSKB) }))
	m.BrokerCPUSec = f(func(r result) float64 { return r.BrokerCPUSec })
	m.BrokerMaxRSSKB = int64(f(func(r result) float64 { return float64(r.BrokerMaxRSSKB) }))
	if m.PubSubResult != nil {
		m.PubSubResult = medianPubSub(rs)
	}
	return m
}

// medianPubSub takes the median of every pubsub figure on its own; the
// subscribers are the first run's.
func medianPubSub(rs []result) *PubSubResult {
	ps := *rs[0].PubSubResult
	ps.Subscribers = slices.Clone(ps.Subscribers)
	f := func(get func(*PubSubResult) float64) float64 {
		return median(rs, func(r result) float64 {
			if r.PubSubResult == nil {
				return 0
			}
			return get(r.PubSubResult)
		})
	}
	ps.PubMsgsPerSec = f(func(p *PubSubResult) float64 { return p.PubMsgsPerSec })
	ps.PubMsgsWritten = uint64(f(func(p *PubSubResult) float64 { return float64(p.PubMsgsWritten) }))
	ps.PubDrops = uint64(f(func(p *PubSubResult) float64 { return float64(p.PubDrops) }))
	ps.SubMsgsPerSecMedian = f(func(p *PubSubResult) float64 { return p.SubMsgsPerSecMedian })
	ps.SubMsgsPerSecMin = f(func(p *PubSubResult) float64 { return p.SubMsgsPerSecMin })
	return &ps
}

// medianLat takes the median of every measured field on its own.
func medianLat(rs []latResult) latResult {
	m := rs[0]
	f := func(get func(latResult) float64) float64 { return median(rs, get) }
	m.Seconds = f(func(r latResult) float64 { return r.Seconds })
	m.RoundTripsPerSec = f(func(r latResult) float64 { return r.RoundTripsPerSec })
	m.RTTMeanUS = f(func(r latResult) float64 { return r.RTTMeanUS })
	m.RTTMinUS = f(func(r latResult) float64 { return r.RTTMinUS })
	m.RTTP50US = f(func(r latResult) float64 { return r.RTTP50US })
	m.RTTP90US = f(func(r latResult) float64 { return r.RTTP90US })
	m.RTTP99US = f(func(r latResult) float64 { return r.RTTP99US })
	m.RTTMaxUS = f(func(r latResult) float64 { return r.RTTMaxUS })
	m.ClientCPUSec = f(func(r latResult) float64 { return r.ClientCPUSec })
	m.ServerCPUSec = f(func(r latResult) float64 { return r.ServerCPUSec })
	m.ClientMaxRSSKB = int64(f(func(r latResult) float64 { return float64(r.ClientMaxRSSKB) }))
	m.ServerMaxRSSKB = int64(f(func(r latResult) float64 { return float64(r.ServerMaxRSSKB) }))
	return m
}

// writeTable prints rows as an aligned Markdown table.
func writeTable(w io.Writer, rows []result, rounds int) {
	head := []string{"pattern", "transport", "size", "count", "msg/s", "MB/s", "CPU s/1M msgs (send/recv)", "peak RSS MiB (send/recv)"}
	cells := [][]string{head}
	oneProcess, broker, noCopy := false, false, false
	for _, r := range rows {
		perM := 1e6 / float64(r.Count)
		cpu := fmt.Sprintf("%.2f / %.2f", r.SenderCPUSec*perM, r.ReceiverCPUSec*perM)
		rss := fmt.Sprintf("%.1f / %.1f", float64(r.SenderMaxRSSKB)/1024, float64(r.ReceiverMaxRSSKB)/1024)
		if r.OneProcess {
			oneProcess = true
			cpu = fmt.Sprintf("%.2f (both)", r.SenderCPUSec*perM)
			rss = fmt.Sprintf("%.1f (both)", float64(r.SenderMaxRSSKB)/1024)
		}
		if r.Clients > 0 {
			broker = true
			cpu += fmt.Sprintf(" / %.2f", r.BrokerCPUSec*perM)
			rss += fmt.Sprintf(" / %.1f", float64(r.BrokerMaxRSSKB)/1024)
		}
		mb := fmt.Sprintf("%.1f", r.MBPerSec)
		if !payloadCopied(r.Transport) {
			noCopy = true
			mb += " " + noCopyMark
		}
		cells = append(cells, []string{
			r.Pattern, r.Transport, strconv.Itoa(r.Size), strconv.FormatInt(r.Count, 10),
			thousands(r.MsgsPerSec), mb, cpu, rss,
		})
	}
	writeCells(w, cells)
	if rounds > 1 {
		fmt.Fprintf(w, "\nMedians over %d rounds.\n", rounds)
	}
	if oneProcess {
		fmt.Fprintln(w, "\ninproc: sender and receiver share one process; (both) is that process's CPU and peak RSS.")
	}
	if noCopy {
		// Without the mark an inproc row's MB/s reads as a memory
		// bandwidth tens of times tcp's, which it is not.
		fmt.Fprintln(w, "\ninproc: MB/s "+noCopyMark+" is the payload of the messages handed over, not bytes copied:"+
			" the receiver gets the sender's slice itself, so it is no bandwidth to set beside tcp's or ipc's.")
	}
	if broker {
		fmt.Fprintln(w, "\nbroker: count is requests, msg/s replies per second at the clients, MB/s request payload;"+
			" CPU and RSS are clients / workers / broker, one process each.")
	}
}

// writePubSubTable prints the pubsub rows as an aligned Markdown table.
func writePubSubTable(w io.Writer, rows []result, rounds int) {
	head := []string{"pattern", "transport", "size", "count", "subs", "match %", "pub msg/s", "sub msg/s median", "sub msg/s min",
		"dropped %", "written", "dropped", "CPU s/1M msgs (pub/subs)", "peak RSS MiB (pub/subs)"}
	cells := [][]string{head}
	oneProcess := false
	for _, r := range rows {
		ps := r.PubSubResult
		perM := 1e6 / float64(r.Count)
		cpu := fmt.Sprintf("%.2f / %.2f", r.SenderCPUSec*perM, r.ReceiverCPUSec*perM)
		rss := fmt.Sprintf("%.1f / %.1f", float64(r.SenderMaxRSSKB)/1024, float64(r.ReceiverMaxRSSKB)/1024)
		if r.OneProcess {
			oneProcess = true
			cpu = fmt.Sprintf("%.2f (all)", r.SenderCPUSec*perM)
			rss = fmt.Sprintf("%.1f (all)", float64(r.SenderMaxRSSKB)/1024)
		}
		cells = append(cells, []string{
			r.Pattern, r.Transport, strconv.Itoa(r.Size), strconv.FormatInt(r.Count, 10),
			strconv.Itoa(ps.Subs), strconv.Itoa(ps.Match),
			thousands(ps.PubMsgsPerSec), thousands(ps.SubMsgsPerSecMedian), thousands(ps.SubMsgsPerSecMin),
			fmt.Sprintf("%.1f", dropPct(ps)), thousands(float64(ps.PubMsgsWritten)), thousands(float64(ps.PubDrops)), cpu, rss,
		})
	}
	writeCells(w, cells)
	if rounds > 1 {
		fmt.Fprintf(w, "\nMedians over %d rounds.\n", rounds)
	}
	fmt.Fprintln(w, "\npubsub: pub msg/s is the publisher's send rate over all count messages (Send never waits;"+
		" a subscriber whose queue is full loses the message); sub msg/s is each subscriber's data messages over"+
		" its first-to-last time, the median and the slowest subscriber: the delivered rates. dropped %, beside them,"+
		" is the share of the matching copies (matched x subs) that the publisher dropped; read each rate with it:"+
		" a subscriber that lost most messages got the rest in bursts. written and dropped are the copies the"+
		" publisher wrote to and dropped for its subscribers. CPU per 1M published messages: the publisher's"+
		" process / all subscriber processes together; RSS: the publisher's / the largest subscriber's.")
	if oneProcess {
		fmt.Fprintln(w, "\ninproc: publisher and subscribers share one process; (all) is that process's CPU and peak RSS.")
	}
}

// noCopyMark follows an MB/s figure that counts payload handed over by
// reference (inproc) rather than bytes copied.
const noCopyMark = "(no copy)"

// payloadCopied says whether a transport copies the payload to the
// receiver: tcp and ipc write and read every byte; inproc hands the
// sender's slice over.
func payloadCopied(transport string) bool { return transport != "inproc" }

// dropPct is the share, in percent, of the copies the publisher owed its
// subscribers (every matching message, once per subscriber) that it
// dropped; 0 when it owed none. The owed copies are matched x subs rather
// than written + dropped, which are each a median over the rounds and so
// need not add up.
func dropPct(ps *PubSubResult) float64 {
	owed := float64(ps.Matched) * float64(ps.Subs)
	if owed == 0 {
		return 0
	}
	return 100 * float64(ps.PubDrops) / owed
}

// writeLatTable prints the latency rows as an aligned Markdown table.
func writeLatTable(w io.Writer, rows []latResult, rounds int) {
	head := []string{"pattern", "transport", "size", "count", "mean us", "p50 us", "p90 us", "p99 us", "max us",
		"round trips/s", "CPU us/round trip (client/server)"}
	cells := [][]string{head}
	oneProcess := false
	for _, r := range rows {
		// CPU covers every round trip the processes made, warm-up included.
		perRT := 1e6 / float64(r.Count+r.Warmup)
		cpu := fmt.Sprintf("%.1f / %.1f", r.ClientCPUSec*perRT, r.ServerCPUSec*perRT)
		if r.OneProcess {
			oneProcess = true
			cpu = fmt.Sprintf("%.1f (both)", r.ClientCPUSec*perRT)
		}
		us := func(v float64) string { return fmt.Sprintf("%.1f", v) }
		cells = append(cells, []string{
			r.Pattern, r.Transport, strconv.Itoa(r.Size), strconv.FormatInt(r.Count, 10),
			us(r.RTTMeanUS), us(r.RTTP50US), us(r.RTTP90US), us(r.RTTP99US), us(r.RTTMaxUS),
			thousands(r.RoundTripsPerSec), cpu,
		})
	}
	writeCells(w, cells)
	if rounds > 1 {
		fmt.Fprintf(w, "\nMedians over %d rounds.\n", rounds)
	}
	if oneProcess {
		fmt.Fprintln(w, "\ninproc: client and server share one process; (both) is that process's CPU.")
	}
}

// writeCells prints cells, the first row being the header, as an aligned
// Markdown table; columns from the third on are numbers, right-aligned.
func writeCells(w io.Writer, cells [][]string) {
	head := cells[0]
	width := make([]int, len(head))
	for _, row := range cells {
		for i, c := range row {
			width[i] = max(width[i], len(c))
		}
	}
	numeric := func(i int) bool { return i >= 2 }
	line := func(row []string) {
		var b strings.Builder
		b.WriteString("|")
		for i, c := range row {
			pad := strings.Repeat(" ", width[i]-len(c))
			if numeric(i) {
				b.WriteString(" " + pad + c + " |")
			} else {
				b.WriteString(" " + c + pad + " |")
			}
		}
		fmt.Fprintln(w, b.String())
	}
	line(head)
	sep := make([]string, len(head))
	for i := range sep {
		sep[i] = strings.Repeat("-", width[i])
		if numeric(i) {
			sep[i] = sep[i][1:] + ":"
		}
	}
	line(sep)
	for _, row := range cells[1:] {
		line(row)
	}
}

// thousands formats a rate with thousands separators: 1234567 -> 1,234,567.
func thousands(v float64) string {
	s := strconv.FormatInt(int64(math.Round(v)), 10)
	var b strings.Builder
	for i, ch := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(ch)
	}
	return b.String()
}

// machineLine describes where the figures come from.
func machineLine() string {
	return fmt.Sprintf("%s, %d cores, %s %s/%s, %s", cpuModel(), runtime.NumCPU(), runtime.Version(),
		runtime.GOOS, runtime.GOARCH, time.Now().UTC().Format("2006-01-02"))
}

// cpuModel is the first "model name" of /proc/cpuinfo, or "unknown CPU".
func cpuModel() string {
	model := "unknown CPU"
	if f, err := os.Open("/proc/cpuinfo"); err == nil {
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			if k, v, ok := strings.Cut(sc.Text(), ":"); ok && strings.TrimSpace(k) == "model name" {
				model = strings.TrimSpace(v)
				break
			}
		}
		f.Close()
	}
	return model
}
