package main

import (
	"bytes"
	"context"
	"errors"
	"io"
	"math"
	"slices"
	"strings"
	"testing"
)

func TestParseFlagsWispRelease(t *testing.T) {
	cfg, err := parseFlags([]string{"-impls", "wisp,wisp-release,libzmq", "-sizes", "65536"}, io.Discard)
	if err != nil {
		t.Fatalf("-mode thr: got error %v, want nil", err)
	}
	if want := []string{implWisp, implWispRelease, implLibzmq}; !slices.Equal(cfg.impls, want) {
		t.Errorf("impls: got %v, want %v", cfg.impls, want)
	}
	if def, err := parseFlags(nil, io.Discard); err != nil || slices.Contains(def.impls, implWispRelease) {
		t.Errorf("default impls: got %v, %v, want no %s", def.impls, err, implWispRelease)
	}
	// Only wisp's PUSH/PULL receiver releases: elsewhere it is refused by
	// name, as the ZMTP pairs are in -mode pubsub and broker.
	for _, mode := range []string{modeLat, modePubsub, modeBroker} {
		_, err := parseFlags([]string{"-mode", mode, "-impls", "wisp,wisp-release"}, io.Discard)
		if !errors.Is(err, errUsage) || !strings.Contains(err.Error(), "got wisp-release with -mode "+mode+", want it only with -mode thr") {
			t.Errorf("-mode %s -impls wisp,wisp-release: got error %v, want errUsage naming wisp-release and -mode thr", mode, err)
		}
	}
}

// wisp-release runs the very command wisp does, plus -release.
func TestWispReleaseArgs(t *testing.T) {
	w := &wispRunner{env: newTestEnv(t), path: "/wisp/bench"}
	want := []string{"thr", "-pattern", "pushpull", "-transport", "ipc", "-size", "65536", "-count", "30000"}
	if got := w.thrArgs("ipc", 65536, 30000); !slices.Equal(got, want) {
		t.Errorf("wisp: got %q, want %q", got, want)
	}
	r := w.withThrArgs(thrOnly[implWispRelease].args...)
	if got := r.thrArgs("ipc", 65536, 30000); !slices.Equal(got, append(want, "-release")) {
		t.Errorf("wisp-release: got %q, want %q", got, append(want, "-release"))
	}
	if r.path != w.path || r.env != w.env || len(w.thrExtra) != 0 {
		t.Errorf("withThrArgs: got path %q env %p (wisp's extra args %q), want wisp's path and env and wisp unchanged", r.path, r.env, w.thrExtra)
	}
}

// testReleaseRows is testRows with wisp-release in both rows: in the
// second next to wisp and libzmq, in the first without a good round.
func testReleaseRows() []row {
	rows := testRows()
	nan := math.NaN()
	rows[0].impls[implWispRelease] = implStats{msgsPerSec: nan, mbPerSec: nan, sendCPUPM: nan, recvCPUPM: nan, sendRSSMiB: nan, recvRSSMiB: nan}
	rows[1].impls[implWispRelease] = implStats{rounds: 3, msgsPerSec: 500_000, mbPerSec: 2048, sendCPUPM: 1.25, recvCPUPM: 1.75, sendRSSMiB: 12, recvRSSMiB: 14.5}
	return rows
}

func TestWriteTableRelease(t *testing.T) {
	var b strings.Builder
	if err := writeTable(&b, testMachine, testReleaseRows(), 3, nil); err != nil {
		t.Fatalf("writeTable: got error %v, want nil", err)
	}
	want := `machine: Test CPU, 2 cores, go1.26.0 linux/amd64, libzmq 4.3.4
PUSH/PULL throughput, medians over 3 round(s); MB = 10^6 bytes; CPU = user+sys seconds per 1M messages; RSS = peak.
wisp-release is wisp whose receiver releases every message once checked (Message.Release, bench thr -release), acknowledged as wisp is; wisp-release/libzmq is its msg/s over libzmq's (same run): higher is better.

| transport | size | count | wisp msg/s | libzmq msg/s | zmq4 msg/s | wisp-release msg/s | wisp/libzmq | wisp/zmq4 | wisp-release/libzmq | wisp MB/s | libzmq MB/s | zmq4 MB/s | wisp-release MB/s | wisp CPU s/1M send/recv | libzmq CPU s/1M send/recv | zmq4 CPU s/1M send/recv | wisp-release CPU s/1M send/recv | wisp RSS MiB send/recv | libzmq RSS MiB send/recv | zmq4 RSS MiB send/recv | wisp-release RSS MiB send/recv |
| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |
| tcp | 16 B | 1,000,000 | n/a | 2,000,000 | 40,000 | n/a | n/a | n/a | n/a | n/a | 32.0 | 0.6 | n/a | n/a | 0.50/0.75 | 20.00/25.00 | n/a | n/a | 6.5/6.2 | 10.0/11.0 | n/a |
| ipc | 4 KiB | 500,000 | 300,000 | 200,000 | 30,000 | 500,000 | 1.50x | 10.00x | 2.50x | 1228.8 | 819.2 | 122.9 | 2048.0 | n/a/1.50 | 1.00/2.00 | 20.00/25.00 | 1.25/1.75 | n/a | 8.0/9.0 | 10.0/11.0 | 12.0/14.5 |
`
	if got := b.String(); got != want {
		t.Errorf("writeTable:\ngot\n%s\nwant\n%s", got, want)
	}
	// With a ZMTP pair as well, both explanations, and the pair's columns
	// before wisp-release's, in roundOrder.
	rows := testReleaseRows()
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
}

func TestWriteJSONRelease(t *testing.T) {
	var b strings.Builder
	if err := writeJSON(&b, testMachine, testReleaseRows(), 3); err != nil {
		t.Fatalf("writeJSON: got error %v, want nil", err)
	}
	rows := decodeJSON(t, b.String())
	if len(rows) != 2 {
		t.Fatalf("got %d rows, want 2", len(rows))
	}
	if v, ok := rows[0].PerLibzmq[implWispRelease]; !ok || v != nil {
		t.Errorf("first row per_libzmq[wisp-release]: got %v (present %v), want null", v, ok)
	}
	if r := rows[0].Results[implWispRelease]; r.OKRounds != 0 || r.MsgsPerSec != nil {
		t.Errorf("first row results[wisp-release]: got %+v, want 0 rounds and null msg/s", r)
	}
	second := rows[1]
	if v := second.PerLibzmq[implWispRelease]; v == nil || *v != 2.5 || len(second.PerLibzmq) != 1 {
		t.Errorf("second row per_libzmq: got %v, want only wisp-release, 2.5", second.PerLibzmq)
	}
	r := second.Results[implWispRelease]
	if r.OKRounds != 3 || r.MsgsPerSec == nil || *r.MsgsPerSec != 500_000 ||
		r.SenderCPUPer1M == nil || *r.SenderCPUPer1M != 1.25 || r.ReceiverCPUPer1M == nil || *r.ReceiverCPUPer1M != 1.75 {
		t.Errorf("second row results[wisp-release]: got %+v, want 3 rounds, 500000 msg/s, CPU 1.25/1.75", r)
	}
	// wisp's own ratio is untouched by the new column.
	if second.WispPerLibzmq == nil || *second.WispPerLibzmq != 1.5 {
		t.Errorf("second row wisp_per_libzmq: got %v, want 1.5", second.WispPerLibzmq)
	}
}

// A thr chart drawn from that JSON has a wisp-release bar, after the
// default three.
func TestChartsRelease(t *testing.T) {
	var b bytes.Buffer
	if err := writeJSON(&b, testMachine, testReleaseRows(), 3); err != nil {
		t.Fatal(err)
	}
	charts, err := readCharts(&b)
	if err != nil {
		t.Fatalf("readCharts: got error %v, want nil", err)
	}
	if len(charts) != 2 || charts[1].transport != "ipc" {
		t.Fatalf("got %d charts, want tcp and ipc", len(charts))
	}
	if got, want := charts[1].shown(), []string{implWisp, implLibzmq, implZMQ4, implWispRelease}; !slices.Equal(got, want) {
		t.Errorf("ipc shown: got %q, want %q", got, want)
	}
	var svg bytes.Buffer
	if err := charts[1].draw(&svg); err != nil || !strings.Contains(svg.String(), implWispRelease) {
		t.Errorf("draw: got error %v (wisp-release in the SVG: %v), want the chart with its bar",
			err, strings.Contains(svg.String(), implWispRelease))
	}
}

// The whole program, wisp and wisp-release at 64 KiB over tcp: both run
// their rounds, in turn, and get a rate above 0, and wisp-release's ratio
// to libzmq is there, null, since libzmq did not run.
func TestRunWispRelease(t *testing.T) {
	var out, progress strings.Builder
	// -impls names wisp-release first: the rounds still go in roundOrder.
	args := []string{"-impls", "wisp-release,wisp", "-sizes", "65536", "-transports", "tcp", "-count", "2000", "-rounds", "2", "-json"}
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
	if want := []string{"1/2 wisp", "1/2 wisp-release", "2/2 wisp", "2/2 wisp-release"}; !slices.Equal(order, want) {
		t.Errorf("runs: got %q, want %q (A B A B); progress:\n%s", order, want, progress.String())
	}
	rows := decodeJSON(t, out.String())
	if len(rows) != 1 || rows[0].Size != 65536 || rows[0].Count != 2000 || rows[0].Transport != "tcp" {
		t.Fatalf("got %d rows (%+v), want one for tcp 64 KiB, 2000 messages:\n%s", len(rows), rows, out.String())
	}
	for _, im := range []string{implWisp, implWispRelease} {
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
	if v, ok := rows[0].PerLibzmq[implWispRelease]; !ok || v != nil {
		t.Errorf("per_libzmq[wisp-release]: got %v (present %v), want null without libzmq", v, ok)
	}
}
