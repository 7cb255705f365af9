package main

import (
	"bytes"
	"encoding/csv"
	"fmt"
	"math"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// testOutput is a suite's results made up for the format tests: every
// kind of row, one process and two, one run and two.
func testOutput() suiteOutput {
	inproc := func(sec float64) result {
		r := result{Pattern: "pushpull", Transport: "inproc", Size: 16, Count: 4_000_000, Acks: true, HWM: 1000, Seconds: sec,
			SenderCPUSec: 0.64, ReceiverCPUSec: 0.64, SenderMaxRSSKB: 11468, ReceiverMaxRSSKB: 11468, OneProcess: true, Protocol: "wisp"}
		r.fillRates()
		return r
	}
	tcp := func(sec float64) result {
		r := result{Pattern: "pushpull", Transport: "tcp", Size: 4096, Count: 300_000, Acks: true, HWM: 1000, Seconds: sec,
			SenderCPUSec: 0.49, ReceiverCPUSec: 2.6, SenderMaxRSSKB: 11674, ReceiverMaxRSSKB: 18125, Protocol: "wisp"}
		r.fillRates()
		return r
	}
	broker := result{Pattern: "broker", Transport: "tcp", Size: 16, Count: 400_000, Acks: true, HWM: 10000, Seconds: 2,
		SenderCPUSec: 0.84, ReceiverCPUSec: 0.95, SenderMaxRSSKB: 9000, ReceiverMaxRSSKB: 9500, Protocol: "wisp",
		Clients: 4, Workers: 4, Window: 100, BrokerCPUSec: 1.55, BrokerMaxRSSKB: 22528}
	broker.fillRates()
	pubsub := func(sec float64, drops uint64, subRate float64) result {
		r := result{Pattern: "pubsub", Transport: "tcp", Size: 16, Count: 2_000_000, HWM: 10000, Seconds: sec,
			SenderCPUSec: 1.2, ReceiverCPUSec: 3.4, SenderMaxRSSKB: 12000, ReceiverMaxRSSKB: 9000, Protocol: "wisp"}
		r.fillRates()
		r.PubSubResult = &PubSubResult{Subs: 4, Match: 100, Matched: 2_000_000, PubMsgsPerSec: r.MsgsPerSec,
			PubMsgsWritten: 8_000_000 - drops, PubDrops: drops, SubMsgsPerSecMedian: subRate, SubMsgsPerSecMin: subRate / 2}
		return r
	}
	lat := func(tr string, mean float64) latResult {
		r := latResult{Pattern: "reqrep", Transport: tr, Size: 16, Count: 20_000, Warmup: 1000, Acks: true,
			Seconds: mean * 20_000 / 1e6, RoundTripsPerSec: 1e6 / mean, RTTMeanUS: mean, RTTMinUS: mean / 2, RTTP50US: mean,
			RTTP90US: mean * 1.2, RTTP99US: mean * 2, RTTMaxUS: mean * 10, ClientCPUSec: 0.42, ServerCPUSec: 0.63,
			ClientMaxRSSKB: 9000, ServerMaxRSSKB: 9100, Protocol: "wisp"}
		if tr == "inproc" {
			r.OneProcess, r.ServerCPUSec = true, r.ClientCPUSec
		}
		return r
	}
	return suiteOutput{
		rounds: 2,
		thr: [][]result{
			{inproc(0.5), inproc(0.4)},
			{tcp(2), tcp(2.2)},
			{broker}, // one round of two failed
			{pubsub(1.5, 5_000_000, 400_000), pubsub(1.4, 5_200_000, 500_000)},
		},
		lat: [][]latResult{
			{lat("inproc", 5.5), lat("inproc", 6.5)},
			{lat("tcp", 22), lat("tcp", 24)},
		},
	}
}

// The tables, pinned: the inproc row's MB/s carries its no-copy mark and
// the footnote that explains it, and the PUB/SUB rows their drop rate
// beside their delivered rates; everything else is as it always was.
func TestSuiteTables(t *testing.T) {
	var b strings.Builder
	writeSuiteTables(&b, testOutput(), "Test CPU, 2 cores, go1.26.0 linux/amd64, 2026-01-02")
	want := `Test CPU, 2 cores, go1.26.0 linux/amd64, 2026-01-02

| pattern  | transport | size |   count |     msg/s |            MB/s | CPU s/1M msgs (send/recv) | peak RSS MiB (send/recv) |
| -------- | --------- | ---: | ------: | --------: | --------------: | ------------------------: | -----------------------: |
| pushpull | inproc    |   16 | 4000000 | 9,000,000 | 144.0 (no copy) |               0.16 (both) |              11.2 (both) |
| pushpull | tcp       | 4096 |  300000 |   143,182 |           586.5 |               1.63 / 8.67 |              11.4 / 17.7 |
| broker   | tcp       |   16 |  400000 |   200,000 |             3.2 |        2.10 / 2.38 / 3.88 |         8.8 / 9.3 / 22.0 |

Medians over 2 rounds.

inproc: sender and receiver share one process; (both) is that process's CPU and peak RSS.

inproc: MB/s (no copy) is the payload of the messages handed over, not bytes copied: the receiver gets the sender's slice itself, so it is no bandwidth to set beside tcp's or ipc's.

broker: count is requests, msg/s replies per second at the clients, MB/s request payload; CPU and RSS are clients / workers / broker, one process each.

| pattern | transport | size |   count | subs | match % | pub msg/s | sub msg/s median | sub msg/s min | dropped % |   written |   dropped | CPU s/1M msgs (pub/subs) | peak RSS MiB (pub/subs) |
| ------- | --------- | ---: | ------: | ---: | ------: | --------: | ---------------: | ------------: | --------: | --------: | --------: | -----------------------: | ----------------------: |
| pubsub  | tcp       |   16 | 2000000 |    4 |     100 | 1,380,952 |          450,000 |       225,000 |      63.8 | 2,900,000 | 5,100,000 |              0.60 / 1.70 |              11.7 / 8.8 |

Medians over 2 rounds.

pubsub: pub msg/s is the publisher's send rate over all count messages (Send never waits; a subscriber whose queue is full loses the message); sub msg/s is each subscriber's data messages over its first-to-last time, the median and the slowest subscriber: the delivered rates. dropped %, beside them, is the share of the matching copies (matched x subs) that the publisher dropped; read each rate with it: a subscriber that lost most messages got the rest in bursts. written and dropped are the copies the publisher wrote to and dropped for its subscribers. CPU per 1M published messages: the publisher's process / all subscriber processes together; RSS: the publisher's / the largest subscriber's.

| pattern | transport | size | count | mean us | p50 us | p90 us | p99 us | max us | round trips/s | CPU us/round trip (client/server) |
| ------- | --------- | ---: | ----: | ------: | -----: | -----: | -----: | -----: | ------------: | --------------------------------: |
| reqrep  | inproc    |   16 | 20000 |     6.0 |    6.0 |    7.2 |   12.0 |   60.0 |       167,832 |                       20.0 (both) |
| reqrep  | tcp       |   16 | 20000 |    23.0 |   23.0 |   27.6 |   46.0 |  230.0 |        43,561 |                       20.0 / 30.0 |

Medians over 2 rounds.

inproc: client and server share one process; (both) is that process's CPU.
`
	if got := b.String(); got != want {
		t.Errorf("tables:\ngot\n%s\nwant\n%s", got, want)
	}
}

// readCSV parses -format csv output and checks its shape: the header,
// then rows of as many fields.
func readCSV(t *testing.T, out string) []map[string]string {
	t.Helper()
	recs, err := csv.NewReader(strings.NewReader(out)).ReadAll()
	if err != nil {
		t.Fatalf("csv: got %v, want valid CSV in:\n%s", err, out)
	}
	if len(recs) == 0 || !slices.Equal(recs[0], csvColumns) {
		t.Fatalf("csv header: got %q, want %q", recs[0], csvColumns)
	}
	var rows []map[string]string
	for _, rec := range recs[1:] {
		row := map[string]string{}
		for i, c := range csvColumns {
			row[c] = rec[i]
		}
		rows = append(rows, row)
	}
	return rows
}

// tableCells returns the cells of every Markdown table row that starts
// with "| pattern " (the header left out), trimmed.
func tableCells(out string, pattern string) [][]string {
	var rows [][]string
	for l := range strings.Lines(out) {
		if !strings.HasPrefix(l, "| "+pattern+" ") {
			continue
		}
		var cells []string
		for c := range strings.SplitSeq(strings.Trim(strings.TrimSpace(l), "|"), "|") {
			cells = append(cells, strings.TrimSpace(c))
		}
		rows = append(rows, cells)
	}
	return rows
}

// The CSV has one row per table row, in the tables' order, with the
// tables' figures (less their thousands separators and marks).
func TestSuiteCSV(t *testing.T) {
	out := testOutput()
	var c, tb strings.Builder
	if err := writeSuiteCSV(&c, out); err != nil {
		t.Fatalf("writeSuiteCSV: got %v, want nil", err)
	}
	writeSuiteTables(&tb, out, "machine")
	rows := readCSV(t, c.String())
	want := []struct{ table, pattern, transport, rounds string }{
		{tableThroughput, "pushpull", "inproc", "2"}, {tableThroughput, "pushpull", "tcp", "2"}, {tableThroughput, "broker", "tcp", "1"},
		{tablePubSub, "pubsub", "tcp", "2"}, {tableLatency, "reqrep", "inproc", "2"}, {tableLatency, "reqrep", "tcp", "2"},
	}
	if len(rows) != len(want) {
		t.Fatalf("csv rows: got %d, want %d:\n%s", len(rows), len(want), c.String())
	}
	for i, w := range want {
		r := rows[i]
		if r["table"] != w.table || r["pattern"] != w.pattern || r["transport"] != w.transport || r["rounds"] != w.rounds {
			t.Errorf("row %d: got %s %s %s rounds %s, want %s %s %s rounds %s", i, r["table"], r["pattern"], r["transport"], r["rounds"],
				w.table, w.pattern, w.transport, w.rounds)
		}
	}
	plain := func(cell string) string {
		return strings.ReplaceAll(strings.TrimSpace(strings.TrimSuffix(cell, noCopyMark)), ",", "")
	}
	// Every column of the tables against its CSV column.
	thrTable := append(tableCells(tb.String(), "pushpull"), tableCells(tb.String(), "broker")...)
	for i, cells := range thrTable {
		r := rows[i]
		for j, col := range map[int]string{2: "size_bytes", 3: "count", 4: "msgs_per_sec", 5: "mb_per_sec"} {
			if got, want := r[col], plain(cells[j]); got != want {
				t.Errorf("row %d %s: got %q, want the table's %q", i, col, got, want)
			}
		}
		cpu := r["sender_cpu_sec_per_1m_msgs"] + " / " + r["receiver_cpu_sec_per_1m_msgs"]
		if r["one_process"] == "true" {
			cpu = r["sender_cpu_sec_per_1m_msgs"] + " (both)"
		}
		if r["pattern"] == "broker" {
			cpu += " / " + r["broker_cpu_sec_per_1m_msgs"]
		}
		if cpu != cells[6] {
			t.Errorf("row %d CPU: got %q from the CSV, want the table's %q", i, cpu, cells[6])
		}
		if got, want := r["payload_copied"], strconv.FormatBool(r["transport"] != "inproc"); got != want {
			t.Errorf("row %d payload_copied: got %q, want %q", i, got, want)
		}
	}
	ps := tableCells(tb.String(), "pubsub")[0]
	r := rows[3]
	for j, col := range map[int]string{4: "subs", 5: "match_pct", 6: "pub_msgs_per_sec", 7: "sub_msgs_per_sec_median",
		8: "sub_msgs_per_sec_min", 9: "drop_pct", 10: "pub_msgs_written", 11: "pub_drops"} {
		if got, want := r[col], plain(ps[j]); got != want {
			t.Errorf("pubsub %s: got %q, want the table's %q", col, got, want)
		}
	}
	for i, cells := range tableCells(tb.String(), "reqrep") {
		r := rows[4+i]
		for j, col := range map[int]string{4: "rtt_mean_us", 5: "rtt_p50_us", 6: "rtt_p90_us", 7: "rtt_p99_us", 8: "rtt_max_us", 9: "round_trips_per_sec"} {
			if got, want := r[col], plain(cells[j]); got != want {
				t.Errorf("latency row %d %s: got %q, want the table's %q", i, col, got, want)
			}
		}
		if r["msgs_per_sec"] != "" || r["subs"] != "" {
			t.Errorf("latency row %d: got throughput cells %q %q, want them empty", i, r["msgs_per_sec"], r["subs"])
		}
	}
	// Every column is filled by some row: none is dead.
	for _, col := range csvColumns {
		if !slices.ContainsFunc(rows, func(r map[string]string) bool { return r[col] != "" }) {
			t.Errorf("column %q: empty in every row, want it filled where it applies", col)
		}
	}
}

// benchLine is Go's benchmark line grammar, as golang.org/x/perf/benchfmt
// reads it: a name starting "Benchmark" and an upper-case letter, the
// iteration count, then one or more value-unit pairs, separated by
// blanks.
var (
	benchLine  = regexp.MustCompile(`^Benchmark[A-Z]\S*\t[0-9]+(\t-?[0-9]+(\.[0-9]+)? \S+)+$`)
	configLine = regexp.MustCompile(`^[a-z][^\sA-Z:]*: \S.*$`)
	unitLine   = regexp.MustCompile(`^Unit \S+ better=(higher|lower)$`)
)

// parsedLine is a benchmark line read back.
type parsedLine struct {
	name  string
	iters int64
	vals  map[string]float64
}

// readBenchstat checks every line of -format benchstat output against
// the grammar and returns the benchmark lines and the config lines.
func readBenchstat(t *testing.T, out string) ([]parsedLine, map[string]string) {
	t.Helper()
	var lines []parsedLine
	config := map[string]string{}
	for l := range strings.Lines(out) {
		l = strings.TrimSuffix(l, "\n")
		switch {
		case benchLine.MatchString(l):
			f := strings.Fields(l)
			iters, err := strconv.ParseInt(f[1], 10, 64)
			if err != nil {
				t.Fatal(err)
			}
			p := parsedLine{name: f[0], iters: iters, vals: map[string]float64{}}
			for i := 2; i+1 < len(f); i += 2 {
				v, err := strconv.ParseFloat(f[i], 64)
				if err != nil {
					t.Fatalf("line %q: value %q: %v", l, f[i], err)
				}
				if _, dup := p.vals[f[i+1]]; dup {
					t.Errorf("line %q: unit %q twice, want it once", l, f[i+1])
				}
				p.vals[f[i+1]] = v
			}
			lines = append(lines, p)
		case configLine.MatchString(l):
			k, v, _ := strings.Cut(l, ": ")
			config[k] = v
		case unitLine.MatchString(l):
		default:
			t.Errorf("line %q: got neither a benchmark, a config nor a unit line", l)
		}
	}
	return lines, config
}

// near says whether got is want to the four significant digits
// -format benchstat keeps.
func near(got, want float64) bool {
	return math.Abs(got-want) <= math.Abs(want)*1e-3+1e-9
}

// -format benchstat: a line per run, not per case, with its values.
func TestSuiteBenchstat(t *testing.T) {
	out := testOutput()
	var b strings.Builder
	if err := writeSuiteBenchstat(&b, out, "Test CPU @ 2.0GHz"); err != nil {
		t.Fatalf("writeSuiteBenchstat: got %v, want nil", err)
	}
	lines, config := readBenchstat(t, b.String())
	if config["cpu"] != "Test CPU @ 2.0GHz" || config["pkg"] != benchstatPkg || config["goos"] == "" || config["goarch"] == "" {
		t.Errorf("config: got %v, want cpu, pkg, goos and goarch", config)
	}
	var names []string
	for _, l := range lines {
		names = append(names, l.name)
	}
	wantNames := []string{
		"BenchmarkThr/pushpull/inproc/16B", "BenchmarkThr/pushpull/inproc/16B",
		"BenchmarkThr/pushpull/tcp/4096B", "BenchmarkThr/pushpull/tcp/4096B",
		"BenchmarkThr/broker/tcp/16B",
		"BenchmarkThr/pubsub/tcp/16B/subs=4/match=100", "BenchmarkThr/pubsub/tcp/16B/subs=4/match=100",
		"BenchmarkLat/reqrep/inproc/16B", "BenchmarkLat/reqrep/inproc/16B",
		"BenchmarkLat/reqrep/tcp/16B", "BenchmarkLat/reqrep/tcp/16B",
	}
	if !slices.Equal(names, wantNames) {
		t.Fatalf("benchmarks: got %q, want %q", names, wantNames)
	}
	check := func(i int, unit string, want float64) {
		t.Helper()
		if got, ok := lines[i].vals[unit]; !ok || !near(got, want) {
			t.Errorf("%s (line %d) %s: got %v (present %v), want %v", lines[i].name, i, unit, got, ok, want)
		}
	}
	// The second inproc run: 4,000,000 messages in 0.4 s.
	tcp := out.thr[1][1]
	if lines[1].iters != 4_000_000 {
		t.Errorf("iterations: got %d, want the count, 4000000", lines[1].iters)
	}
	check(1, "ns/op", 100)
	check(1, "MB/s", 160)
	check(1, "msgs/s", 10e6)
	check(1, "cpu-ns/op", 160)
	check(1, "peak-rss-B", 11468*1024)
	if _, ok := lines[1].vals["sender-cpu-ns/op"]; ok {
		t.Errorf("inproc: got sender-cpu-ns/op, want the one process's cpu-ns/op only")
	}
	check(3, "ns/op", tcp.Seconds*1e9/float64(tcp.Count))
	check(3, "sender-cpu-ns/op", 0.49e9/300_000)
	check(3, "receiver-cpu-ns/op", 2.6e9/300_000)
	check(3, "receiver-peak-rss-B", 18125*1024)
	check(4, "broker-cpu-ns/op", 1.55e9/400_000)
	check(5, "drop-%", 62.5)
	check(5, "sub-msgs/s", 400_000)
	check(5, "min-sub-msgs/s", 200_000)
	check(9, "ns/op", 22_000)
	check(9, "p99-ns", 44_000)
	check(9, "client-cpu-ns/op", 0.42e9/21_000)
	check(9, "server-cpu-ns/op", 0.63e9/21_000)
	check(7, "cpu-ns/op", 0.42e9/21_000)
	// Every unit beyond Go's own says which way is better.
	for _, l := range lines {
		for u := range l.vals {
			if _, ok := unitBetter[u]; !ok && u != "ns/op" && u != "MB/s" {
				t.Errorf("%s: unit %q has no better= direction", l.name, u)
			} else if ok && !strings.Contains(b.String(), "\nUnit "+u+" better=") {
				t.Errorf("unit %q: got no Unit line, want one", u)
			}
		}
	}
}

func TestBsNum(t *testing.T) {
	for v, want := range map[float64]string{0: "0", 0.5: "0.5000", 12.3456: "12.35", 142.06: "142.1", 4096: "4096", 12345678.9: "12345679"} {
		if got := bsNum(v); got != want {
			t.Errorf("bsNum(%v): got %q, want %q", v, got, want)
		}
	}
}

// The suite itself with -format csv and benchstat: stdout is that format
// and nothing else; progress stays on stderr.
func TestSuiteFormats(t *testing.T) {
	args := []string{"-scale", "0.002", "-sizes", "16", "-transports", "inproc,tcp", "-rounds", "2"}
	// inproc and tcp at 16 B: pushpull 2, broker 1, pubsub 2, reqrep 2.
	const cases = 7
	var stdout, stderr bytes.Buffer
	if code := run(append(args, "-format", "csv"), &stdout, &stderr); code != exitOK {
		t.Fatalf("csv: exit %d, want 0; stderr: %s", code, stderr.String())
	}
	rows := readCSV(t, stdout.String())
	if len(rows) != cases {
		t.Errorf("csv rows: got %d, want %d:\n%s", len(rows), cases, stdout.String())
	}
	for _, r := range rows {
		if r["rounds"] != "2" || r["protocol"] != "wisp" {
			t.Errorf("csv row %v: got rounds %q protocol %q, want 2 and wisp", r, r["rounds"], r["protocol"])
		}
	}
	if !strings.Contains(stderr.String(), fmt.Sprintf("bench: [%d/%d] ", 2*cases, 2*cases)) {
		t.Errorf("stderr: got no progress line for the last run, want it in:\n%s", stderr.String())
	}

	stdout.Reset()
	stderr.Reset()
	if code := run(append(args, "-format", "benchstat"), &stdout, &stderr); code != exitOK {
		t.Fatalf("benchstat: exit %d, want 0; stderr: %s", code, stderr.String())
	}
	lines, _ := readBenchstat(t, stdout.String())
	if len(lines) != 2*cases {
		t.Errorf("benchmark lines: got %d, want one per run, %d:\n%s", len(lines), 2*cases, stdout.String())
	}
	for _, l := range lines {
		if !(l.vals["ns/op"] > 0) || l.iters < 1 {
			t.Errorf("%s: got %d iterations and %v ns/op, want both positive", l.name, l.iters, l.vals["ns/op"])
		}
	}
}

func TestProgress(t *testing.T) {
	var b strings.Builder
	now := time.Unix(0, 0)
	p := newProgress(&b, 4, func() time.Time { return now })
	p.begin("a")
	now = now.Add(30 * time.Second)
	p.end()
	p.begin("b")
	now = now.Add(10 * time.Second)
	p.end()
	p.begin("c")
	now = now.Add(20 * time.Second)
	p.end()
	p.begin("d")
	now = now.Add(40 * time.Second)
	p.end()
	p.finish()
	want := `bench: [1/4] a
bench: [2/4] b; 30s elapsed, about 1m30s left (estimate)
bench: [3/4] c; 40s elapsed, about 40s left (estimate)
bench: [4/4] d; 1m0s elapsed, about 20s left (estimate)
bench: 4 runs in 1m40s
`
	if got := b.String(); got != want {
		t.Errorf("progress:\ngot\n%s\nwant\n%s", got, want)
	}
}
