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

func TestParseFlagsWispBatch(t *testing.T) {
	cfg, err := parseFlags([]string{"-impls", "wisp,wisp-batch,libzmq", "-sizes", "16"}, io.Discard)
	if err != nil {
		t.Fatalf("-mode thr: got error %v, want nil", err)
	}
	if want := []string{implWisp, implWispBatch, implLibzmq}; !slices.Equal(cfg.impls, want) {
		t.Errorf("impls: got %v, want %v", cfg.impls, want)
	}
	// Both variants of wisp's own run in one run.
	both, err := parseFlags([]string{"-impls", "wisp-batch,wisp-release,wisp"}, io.Discard)
	if want := []string{implWispBatch, implWispRelease, implWisp}; err != nil || !slices.Equal(both.impls, want) {
		t.Errorf("-impls wisp-batch,wisp-release,wisp: got %v, %v, want %v, nil", both.impls, err, want)
	}
	if def, err := parseFlags(nil, io.Discard); err != nil || slices.Contains(def.impls, implWispBatch) {
		t.Errorf("default impls: got %v, %v, want no %s", def.impls, err, implWispBatch)
	}
	// Only wisp's PUSH/PULL has -batch: elsewhere it is refused by name,
	// as wisp-release is.
	for _, mode := range []string{modeLat, modePubsub, modeBroker} {
		_, err := parseFlags([]string{"-mode", mode, "-impls", "wisp,wisp-batch"}, io.Discard)
		if !errors.Is(err, errUsage) || !strings.Contains(err.Error(), "got wisp-batch with -mode "+mode+", want it only with -mode thr") {
			t.Errorf("-mode %s -impls wisp,wisp-batch: got error %v, want errUsage naming wisp-batch and -mode thr", mode, err)
		}
	}
}

// wisp-batch runs the very command wisp does, plus -batch 64.
func TestWispBatchArgs(t *testing.T) {
	w := &wispRunner{env: newTestEnv(t), path: "/wisp/bench"}
	want := []string{"thr", "-pattern", "pushpull", "-transport", "tcp", "-size", "16", "-count", "1000000"}
	if got := w.thrArgs("tcp", 16, 1_000_000); !slices.Equal(got, want) {
		t.Errorf("wisp: got %q, want %q", got, want)
	}
	args := thrOnly[implWispBatch].args
	b := w.withThrArgs(args...)
	if got := b.thrArgs("tcp", 16, 1_000_000); !slices.Equal(got, append(want, "-batch", "64")) {
		t.Errorf("wisp-batch: got %q, want %q", got, append(want, "-batch", "64"))
	}
	if b.path != w.path || b.env != w.env || len(w.thrExtra) != 0 {
		t.Errorf("withThrArgs: got path %q env %p (wisp's extra args %q), want wisp's path and env and wisp unchanged", b.path, b.env, w.thrExtra)
	}
	// The runner keeps its own copy: thrOnly's table is shared by every run.
	b.thrExtra[1] = "1"
	if !slices.Equal(args, []string{"-batch", "64"}) {
		t.Errorf("thrOnly[wisp-batch].args after changing the runner's: got %q, want -batch 64", args)
	}
}

// testBatchRows is testRows with wisp-batch in both rows: in the second
// next to wisp and libzmq, in the first without a good round.
func testBatchRows() []row {
	rows := testRows()
	nan := math.NaN()
	rows[0].impls[implWispBatch] = implStats{msgsPerSec: nan, mbPerSec: nan, sendCPUPM: nan, recvCPUPM: nan, sendRSSMiB: nan, recvRSSMiB: nan}
	rows[1].impls[implWispBatch] = implStats{rounds: 3, msgsPerSec: 800_000, mbPerSec: 3276.8, sendCPUPM: 0.75, recvCPUPM: 1.25, sendRSSMiB: 10, recvRSSMiB: 12.5}
	return rows
}

func TestWriteTableBatch(t *testing.T) {
	var b strings.Builder
	if err := writeTable(&b, testMachine, testBatchRows(), 3, nil); err != nil {
		t.Fatalf("writeTable: got error %v, want nil", err)
	}
	want := `machine: Test CPU, 2 cores, go1.26.0 linux/amd64, libzmq 4.3.4
PUSH/PULL throughput, medians over 3 round(s); MB = 10^6 bytes; CPU = user+sys seconds per 1M messages; RSS = peak.
wisp-batch is wisp whose sender uses SendMany and receiver RecvMany, 64 messages per call (bench thr -batch 64), acknowledged as wisp is; wisp-batch/libzmq is its msg/s over libzmq's (same run): higher is better.

| transport | size | count | wisp msg/s | libzmq msg/s | zmq4 msg/s | wisp-batch msg/s | wisp/libzmq | wisp/zmq4 | wisp-batch/libzmq | wisp MB/s | libzmq MB/s | zmq4 MB/s | wisp-batch MB/s | wisp CPU s/1M send/recv | libzmq CPU s/1M send/recv | zmq4 CPU s/1M send/recv | wisp-batch CPU s/1M send/recv | wisp RSS MiB send/recv | libzmq RSS MiB send/recv | zmq4 RSS MiB send/recv | wisp-batch RSS MiB send/recv |
| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |
| tcp | 16 B | 1,000,000 | n/a | 2,000,000 | 40,000 | n/a | n/a | n/a | n/a | n/a | 32.0 | 0.6 | n/a | n/a | 0.50/0.75 | 20.00/25.00 | n/a | n/a | 6.5/6.2 | 10.0/11.0 | n/a |
| ipc | 4 KiB | 500,000 | 300,000 | 200,000 | 30,000 | 800,000 | 1.50x | 10.00x | 4.00x | 1228.8 | 819.2 | 122.9 | 3276.8 | n/a/1.50 | 1.00/2.00 | 20.00/25.00 | 0.75/1.25 | n/a | 8.0/9.0 | 10.0/11.0 | 10.0/12.5 |
`
	if got := b.String(); got != want {
		t.Errorf("writeTable:\ngot\n%s\nwant\n%s", got, want)
	}
	// With wisp-release as well, both explanations and both columns,
	// wisp-release's first, in roundOrder.
	rows := testBatchRows()
	rows[1].impls[implWispRelease] = implStats{rounds: 3, msgsPerSec: 500_000, mbPerSec: 2048, sendCPUPM: 1.25, recvCPUPM: 1.75, sendRSSMiB: 12, recvRSSMiB: 14.5}
	b.Reset()
	if err := writeTable(&b, testMachine, rows, 3, nil); err != nil {
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

func TestWriteJSONBatch(t *testing.T) {
	var b strings.Builder
	if err := writeJSON(&b, testMachine, testBatchRows(), 3); err != nil {
		t.Fatalf("writeJSON: got error %v, want nil", err)
	}
	rows := decodeJSON(t, b.String())
	if len(rows) != 2 {
		t.Fatalf("got %d rows, want 2", len(rows))
	}
	if v, ok := rows[0].PerLibzmq[implWispBatch]; !ok || v != nil {
		t.Errorf("first row per_libzmq[wisp-batch]: got %v (present %v), want null", v, ok)
	}
	if r := rows[0].Results[implWispBatch]; r.OKRounds != 0 || r.MsgsPerSec != nil {
		t.Errorf("first row results[wisp-batch]: got %+v, want 0 rounds and null msg/s", r)
	}
	second := rows[1]
	if v := second.PerLibzmq[implWispBatch]; v == nil || *v != 4 || len(second.PerLibzmq) != 1 {
		t.Errorf("second row per_libzmq: got %v, want only wisp-batch, 4", second.PerLibzmq)
	}
	r := second.Results[implWispBatch]
	if r.OKRounds != 3 || r.MsgsPerSec == nil || *r.MsgsPerSec != 800_000 ||
		r.SenderCPUPer1M == nil || *r.SenderCPUPer1M != 0.75 || r.ReceiverCPUPer1M == nil || *r.ReceiverCPUPer1M != 1.25 {
		t.Errorf("second row results[wisp-batch]: got %+v, want 3 rounds, 800000 msg/s, CPU 0.75/1.25", r)
	}
	if second.WispPerLibzmq == nil || *second.WispPerLibzmq != 1.5 {
		t.Errorf("second row wisp_per_libzmq: got %v, want 1.5", second.WispPerLibzmq)
	}
}

// A thr chart drawn from that JSON has a wisp-batch bar, after the default
// three, and with wisp-release, after wisp-release's.
func TestChartsBatch(t *testing.T) {
	rows := testBatchRows()
	rows[1].impls[implWispRelease] = implStats{rounds: 3, msgsPerSec: 500_000, mbPerSec: 2048, sendCPUPM: 1.25, recvCPUPM: 1.75, sendRSSMiB: 12, recvRSSMiB: 14.5}
	var b bytes.Buffer
	if err := writeJSON(&b, testMachine, rows, 3); err != nil {
		t.Fatal(err)
	}
	charts, err := readCharts(&b)
	if err != nil {
		t.Fatalf("readCharts: got error %v, want nil", err)
	}
	if len(charts) != 2 || charts[1].transport != "ipc" {
		t.Fatalf("got %d charts, want tcp and ipc", len(charts))
	}
	if got, want := charts[1].shown(), []string{implWisp, implLibzmq, implZMQ4, implWispRelease, implWispBatch}; !slices.Equal(got, want) {
		t.Errorf("ipc shown: got %q, want %q", got, want)
	}
	var svg bytes.Buffer
	if err := charts[1].draw(&svg); err != nil || !strings.Contains(svg.String(), implWispBatch) {
		t.Errorf("draw: got error %v (wisp-batch in the SVG: %v), want the chart with its bar",
			err, strings.Contains(svg.String(), implWispBatch))
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

// The whole program, wisp, wisp-release and wisp-batch at 256 B over tcp:
// all run their rounds, in turn, and get a rate above 0, and both ratios
// to libzmq are there, null, since libzmq did not run.
func TestRunWispBatch(t *testing.T) {
	var out, progress strings.Builder
	// -impls names wisp-batch first: the rounds still go in roundOrder.
	args := []string{"-impls", "wisp-batch,wisp-release,wisp", "-sizes", "256", "-transports", "tcp", "-count", "2000", "-rounds", "2", "-json"}
	if err := run(context.Background(), args, &out, &progress); err != nil {
		t.Fatalf("run(%q): got error %v, want nil; progress:\n%s", args, err, progress.String())
	}
	if strings.Contains(progress.String(), "skipped") || strings.Contains(progress.String(), "failed") {
		t.Errorf("progress: got a skipped or failed implementation, want none:\n%s", progress.String())
	}
	var order []string
	for line := range strings.Lines(progress.String()) {
		if f := strings.Fields(line); len(f) == 8 && f[3] == "round" {
			order = append(order, f[4]+" "+f[5])
		}
	}
	if want := []string{"1/2 wisp", "1/2 wisp-release", "1/2 wisp-batch", "2/2 wisp", "2/2 wisp-release", "2/2 wisp-batch"}; !slices.Equal(order, want) {
		t.Errorf("runs: got %q, want %q; progress:\n%s", order, want, progress.String())
	}
	rows := decodeJSON(t, out.String())
	if len(rows) != 1 || rows[0].Size != 256 || rows[0].Count != 2000 || rows[0].Transport != "tcp" {
		t.Fatalf("got %d rows (%+v), want one for tcp 256 B, 2000 messages:\n%s", len(rows), rows, out.String())
	}
	for _, im := range []string{implWisp, implWispRelease, implWispBatch} {
		r, ok := rows[0].Results[im]
		if !ok || r.OKRounds != 2 {
			t.Errorf("results[%s]: got %+v (present %v), want 2 good rounds", im, r, ok)
			continue
		}
		for name, v := range map[string]*float64{"msgs_per_sec": r.MsgsPerSec, "mb_per_sec": r.MBPerSec,
			"sender_cpu_sec_per_1m": r.SenderCPUPer1M, "receiver_cpu_sec_per_1m": r.ReceiverCPUPer1M} {
			if v == nil || !(*v > 0) || math.IsInf(*v, 0) {
				t.Errorf("results[%s].%s: got %v, want a number above 0", im, name, v)
			}
		}
	}
	for _, im := range []string{implWispRelease, implWispBatch} {
		if v, ok := rows[0].PerLibzmq[im]; !ok || v != nil {
			t.Errorf("per_libzmq[%s]: got %v (present %v), want null without libzmq", im, v, ok)
		}
	}
}
