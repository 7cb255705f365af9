package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"math"
	"os/exec"
	"slices"
	"strings"
	"testing"
)

// thrOnlyCase is one of thrOnlyImpls with what its tests expect of it: the
// arguments it adds to wisp's, the figures testThrOnlyRows gives it in the
// second row, its ratio to libzmq's there, and the table writeTable makes
// of those rows.
type thrOnlyCase struct {
	name  string
	args  []string
	stats implStats
	ratio float64
	table string
}

var thrOnlyCases = []thrOnlyCase{
	{
		name:  implWispRelease,
		args:  []string{"-release"},
		stats: implStats{rounds: 3, msgsPerSec: 500_000, mbPerSec: 2048, sendCPUPM: 1.25, recvCPUPM: 1.75, sendRSSMiB: 12, recvRSSMiB: 14.5},
		ratio: 2.5,
		table: `machine: Test CPU, 2 cores, go1.26.0 linux/amd64, libzmq 4.3.4
PUSH/PULL throughput, medians over 3 round(s); MB = 10^6 bytes; CPU = user+sys seconds per 1M messages; RSS = peak.
wisp-release is wisp whose receiver releases every message once checked (Message.Release, bench thr -release), acknowledged as wisp is; wisp-release/libzmq is its msg/s over libzmq's (same run): higher is better.

| transport | size | count | wisp msg/s | libzmq msg/s | zmq4 msg/s | wisp-release msg/s | wisp/libzmq | wisp/zmq4 | wisp-release/libzmq | wisp MB/s | libzmq MB/s | zmq4 MB/s | wisp-release MB/s | wisp CPU s/1M send/recv | libzmq CPU s/1M send/recv | zmq4 CPU s/1M send/recv | wisp-release CPU s/1M send/recv | wisp RSS MiB send/recv | libzmq RSS MiB send/recv | zmq4 RSS MiB send/recv | wisp-release RSS MiB send/recv |
| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |
| tcp | 16 B | 1,000,000 | n/a | 2,000,000 | 40,000 | n/a | n/a | n/a | n/a | n/a | 32.0 | 0.6 | n/a | n/a | 0.50/0.75 | 20.00/25.00 | n/a | n/a | 6.5/6.2 | 10.0/11.0 | n/a |
| ipc | 4 KiB | 500,000 | 300,000 | 200,000 | 30,000 | 500,000 | 1.50x | 10.00x | 2.50x | 1228.8 | 819.2 | 122.9 | 2048.0 | n/a/1.50 | 1.00/2.00 | 20.00/25.00 | 1.25/1.75 | n/a | 8.0/9.0 | 10.0/11.0 | 12.0/14.5 |
`,
	},
	{
		name:  implWispBatch,
		args:  []string{"-batch", "64"},
		stats: implStats{rounds: 3, msgsPerSec: 800_000, mbPerSec: 3276.8, sendCPUPM: 0.75, recvCPUPM: 1.25, sendRSSMiB: 10, recvRSSMiB: 12.5},
		ratio: 4,
		table: `machine: Test CPU, 2 cores, go1.26.0 linux/amd64, libzmq 4.3.4
PUSH/PULL throughput, medians over 3 round(s); MB = 10^6 bytes; CPU = user+sys seconds per 1M messages; RSS = peak.
wisp-batch is wisp whose sender uses SendMany and receiver RecvMany, 64 messages per call (bench thr -batch 64), acknowledged as wisp is; wisp-batch/libzmq is its msg/s over libzmq's (same run): higher is better.

| transport | size | count | wisp msg/s | libzmq msg/s | zmq4 msg/s | wisp-batch msg/s | wisp/libzmq | wisp/zmq4 | wisp-batch/libzmq | wisp MB/s | libzmq MB/s | zmq4 MB/s | wisp-batch MB/s | wisp CPU s/1M send/recv | libzmq CPU s/1M send/recv | zmq4 CPU s/1M send/recv | wisp-batch CPU s/1M send/recv | wisp RSS MiB send/recv | libzmq RSS MiB send/recv | zmq4 RSS MiB send/recv | wisp-batch RSS MiB send/recv |
| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |
| tcp | 16 B | 1,000,000 | n/a | 2,000,000 | 40,000 | n/a | n/a | n/a | n/a | n/a | 32.0 | 0.6 | n/a | n/a | 0.50/0.75 | 20.00/25.00 | n/a | n/a | 6.5/6.2 | 10.0/11.0 | n/a |
| ipc | 4 KiB | 500,000 | 300,000 | 200,000 | 30,000 | 800,000 | 1.50x | 10.00x | 4.00x | 1228.8 | 819.2 | 122.9 | 3276.8 | n/a/1.50 | 1.00/2.00 | 20.00/25.00 | 0.75/1.25 | n/a | 8.0/9.0 | 10.0/11.0 | 10.0/12.5 |
`,
	},
}

// testThrOnlyRows is testRows with the cases named in both rows: in the
// second next to wisp and libzmq, in the first without a good round.
func testThrOnlyRows(cases ...thrOnlyCase) []row {
	rows := testRows()
	nan := math.NaN()
	for _, c := range cases {
		rows[0].impls[c.name] = implStats{msgsPerSec: nan, mbPerSec: nan, sendCPUPM: nan, recvCPUPM: nan, sendRSSMiB: nan, recvRSSMiB: nan}
		rows[1].impls[c.name] = c.stats
	}
	return rows
}

func TestParseFlagsThrOnly(t *testing.T) {
	for _, c := range thrOnlyCases {
		cfg, err := parseFlags([]string{"-impls", "wisp," + c.name + ",libzmq", "-sizes", "16"}, io.Discard)
		if err != nil {
			t.Fatalf("-mode thr -impls wisp,%s,libzmq: got error %v, want nil", c.name, err)
		}
		if want := []string{implWisp, c.name, implLibzmq}; !slices.Equal(cfg.impls, want) {
			t.Errorf("impls: got %v, want %v", cfg.impls, want)
		}
		if def, err := parseFlags(nil, io.Discard); err != nil || slices.Contains(def.impls, c.name) {
			t.Errorf("default impls: got %v, %v, want no %s", def.impls, err, c.name)
		}
		// Only wisp's PUSH/PULL has these flags: elsewhere each is refused
		// by name, as the ZMTP pairs are in -mode pubsub and broker.
		for _, mode := range []string{modeLat, modePubsub, modeBroker} {
			_, err := parseFlags([]string{"-mode", mode, "-impls", "wisp," + c.name}, io.Discard)
			if !errors.Is(err, errUsage) || !strings.Contains(err.Error(), "got "+c.name+" with -mode "+mode+", want it only with -mode thr") {
				t.Errorf("-mode %s -impls wisp,%s: got error %v, want errUsage naming %s and -mode thr", mode, c.name, err, c.name)
			}
		}
	}
	// Both variants of wisp's own run in one run.
	both, err := parseFlags([]string{"-impls", "wisp-batch,wisp-release,wisp"}, io.Discard)
	if want := []string{implWispBatch, implWispRelease, implWisp}; err != nil || !slices.Equal(both.impls, want) {
		t.Errorf("-impls wisp-batch,wisp-release,wisp: got %v, %v, want %v, nil", both.impls, err, want)
	}
}

// Each variant runs the very command wisp does, plus its own arguments.
func TestThrOnlyArgs(t *testing.T) {
	w := &wispRunner{env: newTestEnv(t), path: "/wisp/bench"}
	want := []string{"thr", "-pattern", "pushpull", "-transport", "ipc", "-size", "65536", "-count", "30000"}
	if got := w.thrArgs("ipc", 65536, 30000); !slices.Equal(got, want) {
		t.Errorf("wisp: got %q, want %q", got, want)
	}
	for _, c := range thrOnlyCases {
		args := thrOnly[c.name].args
		r := w.withThrArgs(args...)
		if got := r.thrArgs("ipc", 65536, 30000); !slices.Equal(got, append(want, c.args...)) {
			t.Errorf("%s: got %q, want %q", c.name, got, append(want, c.args...))
		}
		if r.path != w.path || r.env != w.env || len(w.thrExtra) != 0 {
			t.Errorf("withThrArgs: got path %q env %p (wisp's extra args %q), want wisp's path and env and wisp unchanged", r.path, r.env, w.thrExtra)
		}
		// The runner keeps its own copy: thrOnly's table is shared by
		// every run.
		r.thrExtra[0] = "-changed"
		if !slices.Equal(thrOnly[c.name].args, c.args) {
			t.Errorf("thrOnly[%s].args after changing the runner's: got %q, want %q", c.name, thrOnly[c.name].args, c.args)
		}
	}
}

func TestWriteTableThrOnly(t *testing.T) {
	var b strings.Builder
	for _, c := range thrOnlyCases {
		b.Reset()
		if err := writeTable(&b, testMachine, testThrOnlyRows(c), 3, nil); err != nil {
			t.Fatalf("writeTable: got error %v, want nil", err)
		}
		if got := b.String(); got != c.table {
			t.Errorf("writeTable with %s:\ngot\n%s\nwant\n%s", c.name, got, c.table)
		}
	}
	// With a ZMTP pair as well, both explanations, and the pair's columns
	// before wisp-release's, in roundOrder.
	rows := testThrOnlyRows(thrOnlyCases[0])
	rows[1].impls[implWispZMTP] = implStats{rounds: 3, msgsPerSec: 100_000, mbPerSec: 409.6, sendCPUPM: 1, recvCPUPM: 1, sendRSSMiB: 9, recvRSSMiB: 9}
	b.Reset()
	if err := writeTable(&b, testMachine, rows, 3, nil); err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{
		"\nOver ZMTP (no acknowledgements", "\nwisp-release is wisp whose receiver releases",
		"| wisp/libzmq | wisp/zmq4 | wisp-zmtp/libzmq | wisp-release/libzmq |",
		"| 1.50x | 10.00x | 0.50x | 2.50x |",
	} {
		if !strings.Contains(b.String(), s) {
			t.Errorf("writeTable with wisp-zmtp and wisp-release: got no %q in\n%s", s, b.String())
		}
	}
	// With both variants, both explanations and both columns,
	// wisp-release's first, in roundOrder.
	b.Reset()
	if err := writeTable(&b, testMachine, testThrOnlyRows(thrOnlyCases...), 3, nil); err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{
		"\nwisp-release is wisp whose receiver releases every message once checked (Message.Release, bench thr -release), " +
			"acknowledged as wisp is; wisp-release/libzmq is its msg/s over libzmq's (same run): higher is better.\nwisp-batch is wisp whose sender",
		"| wisp-release msg/s | wisp-batch msg/s | wisp/libzmq | wisp/zmq4 | wisp-release/libzmq | wisp-batch/libzmq |",
		"| 500,000 | 800,000 | 1.50x | 10.00x | 2.50x | 4.00x |",
	} {
		if !strings.Contains(b.String(), s) {
			t.Errorf("writeTable with wisp-release and wisp-batch: got no %q in\n%s", s, b.String())
		}
	}
}

func TestWriteJSONThrOnly(t *testing.T) {
	for _, c := range thrOnlyCases {
		var b strings.Builder
		if err := writeJSON(&b, testMachine, testThrOnlyRows(c), 3); err != nil {
			t.Fatalf("writeJSON: got error %v, want nil", err)
		}
		rows := decodeJSON(t, b.String())
		if len(rows) != 2 {
			t.Fatalf("got %d rows, want 2", len(rows))
		}
		if v, ok := rows[0].PerLibzmq[c.name]; !ok || v != nil {
			t.Errorf("first row per_libzmq[%s]: got %v (present %v), want null", c.name, v, ok)
		}
		if r := rows[0].Results[c.name]; r.OKRounds != 0 || r.MsgsPerSec != nil {
			t.Errorf("first row results[%s]: got %+v, want 0 rounds and null msg/s", c.name, r)
		}
		second := rows[1]
		if v := second.PerLibzmq[c.name]; v == nil || *v != c.ratio || len(second.PerLibzmq) != 1 {
			t.Errorf("second row per_libzmq: got %v, want only %s, %v", second.PerLibzmq, c.name, c.ratio)
		}
		r := second.Results[c.name]
		if r.OKRounds != 3 || r.MsgsPerSec == nil || *r.MsgsPerSec != c.stats.msgsPerSec ||
			r.SenderCPUPer1M == nil || *r.SenderCPUPer1M != c.stats.sendCPUPM || r.ReceiverCPUPer1M == nil || *r.ReceiverCPUPer1M != c.stats.recvCPUPM {
			t.Errorf("second row results[%s]: got %+v, want 3 rounds, %v msg/s, CPU %v/%v", c.name, r, c.stats.msgsPerSec, c.stats.sendCPUPM, c.stats.recvCPUPM)
		}
		// wisp's own ratio is untouched by the new column.
		if second.WispPerLibzmq == nil || *second.WispPerLibzmq != 1.5 {
			t.Errorf("second row wisp_per_libzmq: got %v, want 1.5", second.WispPerLibzmq)
		}
	}
}

// A thr chart drawn from that JSON has a bar for each variant, after the
// default three, in roundOrder.
func TestChartsThrOnly(t *testing.T) {
	for _, cases := range [][]thrOnlyCase{thrOnlyCases[:1], thrOnlyCases} {
		var b bytes.Buffer
		if err := writeJSON(&b, testMachine, testThrOnlyRows(cases...), 3); err != nil {
			t.Fatal(err)
		}
		charts, err := readCharts(&b)
		if err != nil {
			t.Fatalf("readCharts: got error %v, want nil", err)
		}
		if len(charts) != 2 || charts[1].transport != "ipc" {
			t.Fatalf("got %d charts, want tcp and ipc", len(charts))
		}
		want := []string{implWisp, implLibzmq, implZMQ4}
		for _, c := range cases {
			want = append(want, c.name)
		}
		if got := charts[1].shown(); !slices.Equal(got, want) {
			t.Errorf("ipc shown: got %q, want %q", got, want)
		}
		var svg bytes.Buffer
		last := cases[len(cases)-1].name
		if err := charts[1].draw(&svg); err != nil || !strings.Contains(svg.String(), last) {
			t.Errorf("draw: got error %v (%s in the SVG: %v), want the chart with its bar",
				err, last, strings.Contains(svg.String(), last))
		}
	}
}

// The bench command takes wisp-batch's arguments and says in its line
// that it moved the messages 64 at a time; 1000 is no multiple of 64, so
// the last SendMany is a short one.
func TestWispBatchLine(t *testing.T) {
	e := newTestEnv(t)
	b := buildWispBench(t, e).withThrArgs(thrOnly[implWispBatch].args...)
	out, err := exec.Command(b.path, b.thrArgs("tcp", 16, 1000)...).Output()
	if err != nil {
		t.Fatalf("%s %q: got error %v, want nil", b.path, b.thrArgs("tcp", 16, 1000), err)
	}
	var line struct {
		Batch int   `json:"batch"`
		Count int64 `json:"count"`
		Acks  bool  `json:"acks"`
	}
	if err := json.Unmarshal(bytes.TrimSpace(out), &line); err != nil {
		t.Fatalf("line %q: got error %v, want one JSON object", out, err)
	}
	if line.Batch != wispBatch || line.Count != 1000 || !line.Acks {
		t.Errorf("line %q: got batch %d count %d acks %v, want batch %d count 1000 acks true", out, line.Batch, line.Count, line.Acks, wispBatch)
	}
}

// The whole program, wisp and both variants at 256 B and 64 KiB over tcp:
// all run their rounds, in turn (A B C A B C), and get a rate above 0, and
// the variants' ratios to libzmq are there, null, since libzmq did not
// run.
func TestRunThrOnly(t *testing.T) {
	var out, progress strings.Builder
	// -impls names the variants first: the rounds still go in roundOrder.
	args := []string{"-impls", "wisp-batch,wisp-release,wisp", "-sizes", "256,65536", "-transports", "tcp", "-count", "2000", "-rounds", "2", "-json"}
	if err := run(context.Background(), args, &out, &progress); err != nil {
		t.Fatalf("run(%q): got error %v, want nil; progress:\n%s", args, err, progress.String())
	}
	if strings.Contains(progress.String(), "skipped") || strings.Contains(progress.String(), "failed") {
		t.Errorf("progress: got a skipped or failed implementation, want none:\n%s", progress.String())
	}
	var order []string
	for line := range strings.Lines(progress.String()) {
		if f := strings.Fields(line); len(f) == 8 && f[3] == "round" {
			order = append(order, f[1]+" "+f[4]+" "+f[5])
		}
	}
	var want []string
	for _, size := range []string{"256", "64"} {
		for _, round := range []string{"1/2", "2/2"} {
			for _, im := range []string{implWisp, implWispRelease, implWispBatch} {
				want = append(want, size+" "+round+" "+im)
			}
		}
	}
	if !slices.Equal(order, want) {
		t.Errorf("runs: got %q, want %q; progress:\n%s", order, want, progress.String())
	}
	rows := decodeJSON(t, out.String())
	if len(rows) != 2 || rows[0].Size != 256 || rows[1].Size != 65536 {
		t.Fatalf("got %d rows (%+v), want tcp 256 B and 64 KiB:\n%s", len(rows), rows, out.String())
	}
	for _, row := range rows {
		if row.Count != 2000 || row.Transport != "tcp" {
			t.Errorf("row %+v: want tcp, 2000 messages", row)
		}
		for _, im := range []string{implWisp, implWispRelease, implWispBatch} {
			r, ok := row.Results[im]
			if !ok || r.OKRounds != 2 {
				t.Errorf("%d B results[%s]: got %+v (present %v), want 2 good rounds", row.Size, im, r, ok)
				continue
			}
			for name, v := range map[string]*float64{"msgs_per_sec": r.MsgsPerSec, "mb_per_sec": r.MBPerSec,
				"sender_cpu_sec_per_1m": r.SenderCPUPer1M, "receiver_cpu_sec_per_1m": r.ReceiverCPUPer1M} {
				if v == nil || !(*v > 0) || math.IsInf(*v, 0) {
					t.Errorf("%d B results[%s].%s: got %v, want a number above 0", row.Size, im, name, v)
				}
			}
		}
		for _, im := range []string{implWispRelease, implWispBatch} {
			if v, ok := row.PerLibzmq[im]; !ok || v != nil {
				t.Errorf("%d B per_libzmq[%s]: got %v (present %v), want null without libzmq", row.Size, im, v, ok)
			}
		}
	}
}
