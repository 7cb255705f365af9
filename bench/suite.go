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

// runSuite runs every benchmark over every transport and size and prints
// one table row per case, with medians over the rounds: a throughput table,
// then a latency table.
func runSuite(args []string, stdout, stderr io.Writer) int {
	fs := newFlagSet("bench", stderr)
	rounds := fs.Int("rounds", 1, "runs per case; the table shows medians")
	scale := fs.Float64("scale", 1, "multiply every case's message count by this")
	timeout := fs.Duration("timeout", defaultTimeout, "limit per run")
	transports := fs.String("transports", "", "comma-separated transports to run (default: all)")
	sizes := fs.String("sizes", "", "comma-separated message sizes to run (default: all)")
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
	onlySizes, err := parseSizes(*sizes)
	if err != nil {
		fmt.Fprintf(stderr, "bench: -sizes: %v\n", err)
		return exitUsage
	}
	exe, err := os.Executable()
	if err != nil {
		fmt.Fprintf(stderr, "bench: %v\n", err)
		return exitFail
	}

	var rows, pubSubRows []result
	failed := 0
	for _, b := range benchmarks {
		for _, sc := range b.suiteCases() {
			if *transports != "" && !slices.Contains(strings.Split(*transports, ","), sc.transport) {
				continue
			}
			if onlySizes != nil && !slices.Contains(onlySizes, sc.size) {
				continue
			}
			c := config{
				Pattern: b.pattern, Transport: sc.transport, Size: sc.size, Acks: true, Timeout: *timeout,
				Count:   max(2, int64(math.Round(float64(b.count(sc.size))**scale))),
				Clients: defaultClients, Workers: defaultWorkers, Window: defaultWindow,
				Subs: defaultSubs, Match: cmp.Or(sc.match, 100),
			}
			what := fmt.Sprintf("%s %s %d B x %d", c.Pattern, c.Transport, c.Size, c.Count)
			if sc.match != 0 {
				what += fmt.Sprintf(", %d subs, match %d%%", c.Subs, c.Match)
			}
			var samples []result
			for i := range *rounds {
				fmt.Fprintf(stderr, "bench: %s, round %d/%d\n", what, i+1, *rounds)
				r, err := runThrChild(exe, c)
				if err != nil {
					fmt.Fprintf(stderr, "bench: %v\n", err)
					failed++
					continue
				}
				samples = append(samples, r)
			}
			if len(samples) == 0 {
				continue
			}
			if m := medianResult(samples); m.PubSubResult != nil {
				pubSubRows = append(pubSubRows, m)
			} else {
				rows = append(rows, m)
			}
		}
	}
	var latRows []latResult
	for _, b := range latencies {
		for _, tr := range b.transports {
			if *transports != "" && !slices.Contains(strings.Split(*transports, ","), tr) {
				continue
			}
			for _, size := range b.sizes {
				if onlySizes != nil && !slices.Contains(onlySizes, size) {
					continue
				}
				c := latConfig{
					Pattern: b.pattern, Transport: tr, Size: size, Acks: true, Timeout: *timeout,
					Count: max(1, int64(math.Round(float64(b.count(size))**scale))),
				}
				var samples []latResult
				for i := range *rounds {
					fmt.Fprintf(stderr, "bench: %s latency %s %d B x %d, round %d/%d\n", c.Pattern, tr, size, c.Count, i+1, *rounds)
					r, err := runLatChild(exe, c)
					if err != nil {
						fmt.Fprintf(stderr, "bench: %v\n", err)
						failed++
						continue
					}
					samples = append(samples, r)
				}
				if len(samples) > 0 {
					latRows = append(latRows, medianLat(samples))
				}
			}
		}
	}
	fmt.Fprintln(stdout, machineLine())
	fmt.Fprintln(stdout)
	writeTable(stdout, rows, *rounds)
	if len(pubSubRows) > 0 {
		fmt.Fprintln(stdout)
		writePubSubTable(stdout, pubSubRows, *rounds)
	}
	if len(latRows) > 0 {
		fmt.Fprintln(stdout)
		writeLatTable(stdout, latRows, *rounds)
	}
	if failed > 0 {
		fmt.Fprintf(stderr, "bench: %d runs failed\n", failed)
		return exitFail
	}
	return exitOK
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
	oneProcess, broker := false, false
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
		cells = append(cells, []string{
			r.Pattern, r.Transport, strconv.Itoa(r.Size), strconv.FormatInt(r.Count, 10),
			thousands(r.MsgsPerSec), fmt.Sprintf("%.1f", r.MBPerSec), cpu, rss,
		})
	}
	writeCells(w, cells)
	if rounds > 1 {
		fmt.Fprintf(w, "\nMedians over %d rounds.\n", rounds)
	}
	if oneProcess {
		fmt.Fprintln(w, "\ninproc: sender and receiver share one process; (both) is that process's CPU and peak RSS.")
	}
	if broker {
		fmt.Fprintln(w, "\nbroker: count is requests, msg/s replies per second at the clients, MB/s request payload;"+
			" CPU and RSS are clients / workers / broker, one process each.")
	}
}

// writePubSubTable prints the pubsub rows as an aligned Markdown table.
func writePubSubTable(w io.Writer, rows []result, rounds int) {
	head := []string{"pattern", "transport", "size", "count", "subs", "match %", "pub msg/s", "sub msg/s median", "sub msg/s min",
		"written", "dropped", "CPU s/1M msgs (pub/subs)", "peak RSS MiB (pub/subs)"}
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
			thousands(float64(ps.PubMsgsWritten)), thousands(float64(ps.PubDrops)), cpu, rss,
		})
	}
	writeCells(w, cells)
	if rounds > 1 {
		fmt.Fprintf(w, "\nMedians over %d rounds.\n", rounds)
	}
	fmt.Fprintln(w, "\npubsub: pub msg/s is the publisher's send rate over all count messages (Send never waits;"+
		" a subscriber whose queue is full loses the message); sub msg/s is each subscriber's data messages over"+
		" its first-to-last time, the median and the slowest subscriber; written and dropped are the copies the"+
		" publisher wrote to and dropped for its subscribers. CPU per 1M published messages: the publisher's"+
		" process / all subscriber processes together; RSS: the publisher's / the largest subscriber's.")
	if oneProcess {
		fmt.Fprintln(w, "\ninproc: publisher and subscribers share one process; (all) is that process's CPU and peak RSS.")
	}
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
	return fmt.Sprintf("%s, %d cores, %s %s/%s, %s", model, runtime.NumCPU(), runtime.Version(),
		runtime.GOOS, runtime.GOARCH, time.Now().UTC().Format("2006-01-02"))
}
