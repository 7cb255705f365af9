package main

import (
	"bufio"
	"encoding/csv"
	"fmt"
	"io"
	"math"
	"runtime"
	"slices"
	"strconv"
	"strings"
)

// Table names, the first column of -format csv: which of the three tables
// the row is in with -format table.
const (
	tableThroughput = "throughput"
	tablePubSub     = "pubsub"
	tableLatency    = "latency"
)

// csvColumns are -format csv's columns, in order. A row leaves empty the
// columns its table does not have. bench/README.md describes each; the
// names carry their units, so a script need not guess them.
var csvColumns = []string{
	"table", "pattern", "transport", "protocol", "size_bytes", "count", "rounds", "one_process",
	// Throughput and pubsub: the sender's (publisher's) rates.
	"msgs_per_sec", "mb_per_sec", "payload_copied",
	"sender_cpu_sec_per_1m_msgs", "receiver_cpu_sec_per_1m_msgs", "broker_cpu_sec_per_1m_msgs",
	"sender_peak_rss_mib", "receiver_peak_rss_mib", "broker_peak_rss_mib",
	// Pubsub only.
	"subs", "match_pct", "pub_msgs_per_sec", "sub_msgs_per_sec_median", "sub_msgs_per_sec_min",
	"drop_pct", "pub_msgs_written", "pub_drops",
	// Latency only.
	"rtt_mean_us", "rtt_p50_us", "rtt_p90_us", "rtt_p99_us", "rtt_max_us", "round_trips_per_sec",
	"client_cpu_us_per_round_trip", "server_cpu_us_per_round_trip",
}

// csvRecord is one CSV row being filled, by column name.
type csvRecord map[string]string

// set fills a column. A name not in csvColumns is a bug in this file, and
// the tests that write every kind of row would panic on it.
func (rec csvRecord) set(column, value string) {
	if !slices.Contains(csvColumns, column) {
		panic("bench: no CSV column " + column)
	}
	rec[column] = value
}

// cells returns the row in csvColumns' order.
// setCase sets the columns every row has: which case it is, and over how
// many runs.
func (rec csvRecord) setCase(table, pattern, transport, protocol string, size int, count int64, runs int, oneProcess bool) {
	rec.set("table", table)
	rec.set("pattern", pattern)
	rec.set("transport", transport)
	rec.set("protocol", protocol)
	rec.set("size_bytes", strconv.Itoa(size))
	rec.set("count", strconv.FormatInt(count, 10))
	rec.set("rounds", strconv.Itoa(runs))
	rec.set("one_process", strconv.FormatBool(oneProcess))
}

func (rec csvRecord) cells() []string {
	out := make([]string, len(csvColumns))
	for i, c := range csvColumns {
		out[i] = rec[c]
	}
	return out
}

// Number formats shared by the tables and the CSV, so that a CSV cell is
// the table's figure without its thousands separators.
func fmtRate(v float64) string { return strconv.FormatInt(int64(math.Round(v)), 10) }
func fmt1(v float64) string    { return strconv.FormatFloat(v, 'f', 1, 64) }
func fmt2(v float64) string    { return strconv.FormatFloat(v, 'f', 2, 64) }

// writeSuiteCSV prints -format csv: a header line, then one row per case,
// the medians the tables show, in the tables' order (throughput, pubsub,
// latency).
func writeSuiteCSV(w io.Writer, out suiteOutput) error {
	cw := csv.NewWriter(w)
	if err := cw.Write(csvColumns); err != nil {
		return err
	}
	// The throughput table's rows first, then the PUB/SUB table's, as
	// -format table prints them.
	for _, wantPubSub := range []bool{false, true} {
		for _, runs := range out.thr {
			m := medianResult(runs)
			if (m.PubSubResult != nil) != wantPubSub {
				continue
			}
			if err := cw.Write(thrCSV(m, len(runs)).cells()); err != nil {
				return err
			}
		}
	}
	for _, cs := range out.lat {
		if err := cw.Write(latCSV(medianLat(cs), len(cs)).cells()); err != nil {
			return err
		}
	}
	cw.Flush()
	return cw.Error()
}

// thrCSV is a throughput or pubsub case's row: m is its median, over runs
// successful runs.
func thrCSV(m result, runs int) csvRecord {
	rec := csvRecord{}
	table := tableThroughput
	if m.PubSubResult != nil {
		table = tablePubSub
	}
	rec.setCase(table, m.Pattern, m.Transport, m.Protocol, m.Size, m.Count, runs, m.OneProcess)
	rec.set("msgs_per_sec", fmtRate(m.MsgsPerSec))
	rec.set("mb_per_sec", fmt1(m.MBPerSec))
	rec.set("payload_copied", strconv.FormatBool(payloadCopied(m.Transport)))
	perM := 1e6 / float64(m.Count)
	// One process (inproc) reports its figures in both the sender and
	// the receiver fields, as thr's JSON line does.
	rec.set("sender_cpu_sec_per_1m_msgs", fmt2(m.SenderCPUSec*perM))
	rec.set("receiver_cpu_sec_per_1m_msgs", fmt2(m.ReceiverCPUSec*perM))
	rec.set("sender_peak_rss_mib", fmt1(float64(m.SenderMaxRSSKB)/1024))
	rec.set("receiver_peak_rss_mib", fmt1(float64(m.ReceiverMaxRSSKB)/1024))
	if m.Clients > 0 {
		rec.set("broker_cpu_sec_per_1m_msgs", fmt2(m.BrokerCPUSec*perM))
		rec.set("broker_peak_rss_mib", fmt1(float64(m.BrokerMaxRSSKB)/1024))
	}
	if ps := m.PubSubResult; ps != nil {
		rec.set("subs", strconv.Itoa(ps.Subs))
		rec.set("match_pct", strconv.Itoa(ps.Match))
		rec.set("pub_msgs_per_sec", fmtRate(ps.PubMsgsPerSec))
		rec.set("sub_msgs_per_sec_median", fmtRate(ps.SubMsgsPerSecMedian))
		rec.set("sub_msgs_per_sec_min", fmtRate(ps.SubMsgsPerSecMin))
		rec.set("drop_pct", fmt1(dropPct(ps)))
		rec.set("pub_msgs_written", strconv.FormatUint(ps.PubMsgsWritten, 10))
		rec.set("pub_drops", strconv.FormatUint(ps.PubDrops, 10))
	}
	return rec
}

// latCSV is a latency case's row: m is its median, over runs successful
// runs.
func latCSV(m latResult, runs int) csvRecord {
	rec := csvRecord{}
	rec.setCase(tableLatency, m.Pattern, m.Transport, m.Protocol, m.Size, m.Count, runs, m.OneProcess)
	rec.set("rtt_mean_us", fmt1(m.RTTMeanUS))
	rec.set("rtt_p50_us", fmt1(m.RTTP50US))
	rec.set("rtt_p90_us", fmt1(m.RTTP90US))
	rec.set("rtt_p99_us", fmt1(m.RTTP99US))
	rec.set("rtt_max_us", fmt1(m.RTTMaxUS))
	rec.set("round_trips_per_sec", fmtRate(m.RoundTripsPerSec))
	perRT := 1e6 / float64(m.Count+m.Warmup) // as the table: warm-up included
	rec.set("client_cpu_us_per_round_trip", fmt1(m.ClientCPUSec*perRT))
	rec.set("server_cpu_us_per_round_trip", fmt1(m.ServerCPUSec*perRT))
	return rec
}

// benchstatPkg is the pkg line of -format benchstat, as go test prints it.
const benchstatPkg = "github.com/wispmq/wisp/bench"

// unitBetter says, for each unit -format benchstat uses beyond Go's own
// ns/op and MB/s, whether a higher or a lower value is better; the output
// says so in its "Unit" lines, which benchstat reads.
var unitBetter = map[string]string{
	"msgs/s": "higher", "sub-msgs/s": "higher", "min-sub-msgs/s": "higher", "round-trips/s": "higher",
	"drop-%": "lower", "p50-ns": "lower", "p90-ns": "lower", "p99-ns": "lower", "max-ns": "lower",
	"cpu-ns/op": "lower", "sender-cpu-ns/op": "lower", "receiver-cpu-ns/op": "lower", "broker-cpu-ns/op": "lower",
	"client-cpu-ns/op": "lower", "server-cpu-ns/op": "lower",
	"peak-rss-B": "lower", "sender-peak-rss-B": "lower", "receiver-peak-rss-B": "lower", "broker-peak-rss-B": "lower",
}

// bsValue is one value-unit pair of a benchmark line.
type bsValue struct {
	v    float64
	unit string
}

// bsLine is one line of -format benchstat: a name, the iteration count
// (messages or round trips) and its values.
type bsLine struct {
	name  string
	iters int64
	vals  []bsValue
}

// writeSuiteBenchstat prints -format benchstat: Go's benchmark format
// (golang.org/x/perf/benchfmt), a line per run rather than per case,
// because benchstat computes its own statistics from the runs, and
// comparing two files (benchstat old.txt new.txt) needs them. cpu is the
// CPU's model name for the header.
func writeSuiteBenchstat(w io.Writer, out suiteOutput, cpu string) error {
	var lines []bsLine
	for _, runs := range out.thr {
		for _, r := range runs {
			lines = append(lines, thrBenchLine(r))
		}
	}
	for _, runs := range out.lat {
		for _, r := range runs {
			lines = append(lines, latBenchLine(r))
		}
	}
	bw := bufio.NewWriter(w)
	// The configuration lines go test prints; benchstat shows them and
	// keeps results from different machines in separate tables.
	fmt.Fprintf(bw, "goos: %s\ngoarch: %s\npkg: %s\ncpu: %s\n", runtime.GOOS, runtime.GOARCH, benchstatPkg, cpu)
	var units []string
	for _, l := range lines {
		for _, v := range l.vals {
			if _, ok := unitBetter[v.unit]; ok && !slices.Contains(units, v.unit) {
				units = append(units, v.unit)
			}
		}
	}
	for _, u := range units {
		fmt.Fprintf(bw, "Unit %s better=%s\n", u, unitBetter[u])
	}
	for _, l := range lines {
		var b strings.Builder
		b.WriteString(l.name)
		b.WriteString("\t")
		b.WriteString(strconv.FormatInt(l.iters, 10))
		for _, v := range l.vals {
			b.WriteString("\t")
			b.WriteString(bsNum(v.v))
			b.WriteString(" ")
			b.WriteString(v.unit)
		}
		fmt.Fprintln(bw, b.String())
	}
	return bw.Flush()
}

// benchName is a run's benchmark name: Benchmark + kind, then the
// pattern, transport and size as sub-benchmark parts, so that
// "benchstat -col /transport" and the like work.
func benchName(kind, pattern, transport string, size int, more ...string) string {
	parts := append([]string{"Benchmark" + kind, pattern, transport, strconv.Itoa(size) + "B"}, more...)
	return strings.Join(parts, "/")
}

// perOp is seconds spread over n operations, in nanoseconds.
func perOp(sec float64, n int64) float64 { return sec * 1e9 / float64(n) }

// thrBenchLine is a throughput or pubsub run's line. ns/op is the time per
// message (per request for the broker; per published message for
// pubsub). Every pattern names its CPU and memory figures alike,
// sender-* and receiver-* (broker: clients and workers; pubsub: the
// publisher and the subscribers, CPU all of them together, RSS the
// largest one's), because benchstat prints one table per unit and role
// names of their own would scatter the figures over a table per pattern.
func thrBenchLine(r result) bsLine {
	l := bsLine{name: benchName("Thr", r.Pattern, r.Transport, r.Size), iters: r.Count}
	l.vals = []bsValue{{perOp(r.Seconds, r.Count), "ns/op"}, {r.MBPerSec, "MB/s"}, {r.MsgsPerSec, "msgs/s"}}
	if ps := r.PubSubResult; ps != nil {
		l.name = benchName("Thr", r.Pattern, r.Transport, r.Size, "subs="+strconv.Itoa(ps.Subs), "match="+strconv.Itoa(ps.Match))
		l.vals = append(l.vals, bsValue{ps.SubMsgsPerSecMedian, "sub-msgs/s"}, bsValue{ps.SubMsgsPerSecMin, "min-sub-msgs/s"},
			bsValue{dropPct(ps), "drop-%"})
	}
	kb := func(v int64) float64 { return float64(v) * 1024 }
	if r.OneProcess {
		// One process (inproc): one figure, not the same one twice as
		// the sender's and the receiver's.
		l.vals = append(l.vals, bsValue{perOp(r.SenderCPUSec, r.Count), "cpu-ns/op"}, bsValue{kb(r.SenderMaxRSSKB), "peak-rss-B"})
	} else {
		l.vals = append(l.vals,
			bsValue{perOp(r.SenderCPUSec, r.Count), "sender-cpu-ns/op"}, bsValue{perOp(r.ReceiverCPUSec, r.Count), "receiver-cpu-ns/op"},
			bsValue{kb(r.SenderMaxRSSKB), "sender-peak-rss-B"}, bsValue{kb(r.ReceiverMaxRSSKB), "receiver-peak-rss-B"})
	}
	if r.Clients > 0 {
		l.vals = append(l.vals, bsValue{perOp(r.BrokerCPUSec, r.Count), "broker-cpu-ns/op"}, bsValue{kb(r.BrokerMaxRSSKB), "broker-peak-rss-B"})
	}
	return l
}

// latBenchLine is a latency run's line: ns/op is the mean round trip, the
// iterations the timed round trips. CPU is per round trip, warm-up
// included, as in the table.
func latBenchLine(r latResult) bsLine {
	us := func(v float64) float64 { return v * 1e3 }
	rts := r.Count + r.Warmup
	l := bsLine{name: benchName("Lat", r.Pattern, r.Transport, r.Size), iters: r.Count}
	l.vals = []bsValue{
		{us(r.RTTMeanUS), "ns/op"}, {us(r.RTTP50US), "p50-ns"}, {us(r.RTTP90US), "p90-ns"}, {us(r.RTTP99US), "p99-ns"},
		{us(r.RTTMaxUS), "max-ns"}, {r.RoundTripsPerSec, "round-trips/s"},
	}
	if r.OneProcess {
		l.vals = append(l.vals, bsValue{perOp(r.ClientCPUSec, rts), "cpu-ns/op"})
	} else {
		l.vals = append(l.vals, bsValue{perOp(r.ClientCPUSec, rts), "client-cpu-ns/op"}, bsValue{perOp(r.ServerCPUSec, rts), "server-cpu-ns/op"})
	}
	return l
}

// bsNum formats a value with at least four significant digits and no
// exponent: benchstat's own noise is far above that, and a fixed-point
// number is what go test prints too.
func bsNum(v float64) string {
	if v == 0 {
		return "0"
	}
	digits := 0
	for a := math.Abs(v); a >= 1 && digits < 30; a /= 10 {
		digits++
	}
	return strconv.FormatFloat(v, 'f', max(0, 4-digits), 64)
}
