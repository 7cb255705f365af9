package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"io"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestParseFlagsLatDefaults(t *testing.T) {
	cfg, err := parseFlags([]string{"-mode", "lat"}, io.Discard)
	if err != nil {
		t.Fatalf("got error %v, want nil", err)
	}
	if cfg.mode != modeLat || !slices.Equal(cfg.sizes, []int{16, 4096}) || !slices.Equal(cfg.transports, []string{"tcp", "ipc"}) ||
		cfg.count != 0 || cfg.rounds != 3 {
		t.Errorf("got mode %q sizes %v transports %v count %d rounds %d, want lat [16 4096] [tcp ipc] 0 3",
			cfg.mode, cfg.sizes, cfg.transports, cfg.count, cfg.rounds)
	}
	if got := cfg.countFor(16); got != latDefaultCount {
		t.Errorf("countFor(16) in lat mode: got %d, want %d", got, latDefaultCount)
	}
	thr, err := parseFlags(nil, io.Discard)
	if err != nil || thr.mode != modeThr || thr.countFor(16) != 1_000_000 {
		t.Errorf("default mode: got %q countFor(16) %d, %v, want thr 1000000 nil", thr.mode, thr.countFor(16), err)
	}
}

func TestParseFlagsLat(t *testing.T) {
	cfg, err := parseFlags([]string{"-mode", "lat", "-sizes", "64", "-count", "500"}, io.Discard)
	if err != nil {
		t.Fatalf("got error %v, want nil", err)
	}
	if !slices.Equal(cfg.sizes, []int{64}) || cfg.countFor(64) != 500 {
		t.Errorf("got sizes %v countFor(64) %d, want [64] 500", cfg.sizes, cfg.countFor(64))
	}
	// The latency defaults for -sizes apply to -mode lat only.
	thr, err := parseFlags([]string{"-mode", "thr"}, io.Discard)
	if err != nil || len(thr.sizes) != 4 {
		t.Errorf("-mode thr: got sizes %v, %v, want the four throughput sizes", thr.sizes, err)
	}
}

func TestParseFlagsLatErrors(t *testing.T) {
	for _, args := range [][]string{
		{"-mode", "latency"},
		{"-mode", ""},
		{"-mode", "thr,lat"},
		{"-mode", "lat", "-count", "10000001"},
	} {
		if _, err := parseFlags(args, io.Discard); !errors.Is(err, errUsage) {
			t.Errorf("parseFlags(%q): got error %v, want errUsage", args, err)
		}
	}
	// The latency bound on -count does not touch throughput runs.
	if _, err := parseFlags([]string{"-count", "10000001"}, io.Discard); err != nil {
		t.Errorf("-count 10000001 in thr mode: got error %v, want nil", err)
	}
}

func TestParseLatLine(t *testing.T) {
	libzmq := `{"pattern":"reqrep","size":16,"count":20000,"warmup":1000,"seconds":0.6,` +
		`"rtt_mean_us":30.5,"rtt_p50_us":29.25,"rtt_p99_us":55,"rtt_min_us":20,"rtt_max_us":900}` + "\n"
	ll, err := parseLatLine([]byte(libzmq))
	if err != nil {
		t.Fatalf("got error %v, want nil", err)
	}
	// libzmq's line has no CPU times: the runner reads them from rusage.
	got := ll.sample()
	if got.count != 20000 || got.size != 16 || got.meanUS != 30.5 || got.p50US != 29.25 || got.p99US != 55 ||
		!math.IsNaN(got.clientCPU) || !math.IsNaN(got.serverCPU) {
		t.Errorf("sample: got %+v, want 20000 16 30.5/29.25/55 and NaN CPU", got)
	}
	if err := ll.check("ipc", 16, 20000); err != nil {
		t.Errorf("check without a transport in the line: got %v, want nil", err)
	}
	if err := ll.check("tcp", 16, 19999); err == nil {
		t.Errorf("check(tcp, 16, 19999): got nil, want an error")
	}
	if err := ll.check("tcp", 16, 20000); err != nil {
		t.Errorf("check(tcp, 16, 20000): got %v, want nil", err)
	}
	other := `{"size":16,"count":20000,"warmup":10,"rtt_mean_us":1,"rtt_p50_us":1,"rtt_p99_us":1}`
	if ll, err := parseLatLine([]byte(other)); err != nil || ll.check("tcp", 16, 20000) == nil {
		t.Errorf("a line with warmup 10 of 20000: got parse error %v and no check error, want a check error", err)
	}

	wisp := "chatter\n" + `{"pattern":"reqrep","transport":"tcp","size":4096,"count":100,` +
		`"rtt_mean_us":12,"rtt_p50_us":11,"rtt_p99_us":20,"sender_cpu_sec":0.1,"client_cpu_sec":0.25,"server_cpu_sec":0.5}` + "\n\n"
	ll, err = parseLatLine([]byte(wisp))
	if err != nil {
		t.Fatalf("wisp line: got error %v, want nil", err)
	}
	if s := ll.sample(); s.clientCPU != 0.25 || s.serverCPU != 0.5 {
		t.Errorf("wisp sample: got CPU %v/%v, want 0.25/0.5", s.clientCPU, s.serverCPU)
	}
	if err := ll.check("tcp", 4096, 100); err != nil {
		t.Errorf("check(tcp, 4096, 100): got %v, want nil", err)
	}
	if err := ll.check("ipc", 4096, 100); err == nil {
		t.Errorf("check(ipc, ...) of a tcp line: got nil, want an error")
	}
}

func TestParseLatLineErrors(t *testing.T) {
	for _, out := range []string{
		"",
		"no json\n",
		"{not json}\n",
		`{"size":16,"rtt_mean_us":1,"rtt_p50_us":1,"rtt_p99_us":1}`,
		`{"size":16,"count":0,"rtt_mean_us":1,"rtt_p50_us":1,"rtt_p99_us":1}`,
		`{"size":-1,"count":1,"rtt_mean_us":1,"rtt_p50_us":1,"rtt_p99_us":1}`,
		`{"size":16,"count":1,"rtt_mean_us":1,"rtt_p50_us":1}`,
		`{"size":16,"count":1,"rtt_mean_us":0,"rtt_p50_us":1,"rtt_p99_us":1}`,
		`{"size":16,"count":1,"rtt_mean_us":1,"rtt_p50_us":-1,"rtt_p99_us":1}`,
		`{"pattern":"pushpull","size":16,"count":1,"rtt_mean_us":1,"rtt_p50_us":1,"rtt_p99_us":1}`,
		// A throughput line is not a latency result.
		`{"seconds":1,"count":10,"size":1}`,
	} {
		if _, err := parseLatLine([]byte(out)); err == nil {
			t.Errorf("parseLatLine(%q): got nil error, want one", out)
		}
	}
	if _, err := parseLatLine(nil); !errors.Is(err, errNoPeerLine) {
		t.Errorf("parseLatLine(nil): got %v, want errNoPeerLine", err)
	}
}

func TestRTTLine(t *testing.T) {
	// 1..100 µs in reverse: nearest rank p50 is the 50th value, p99 the 99th.
	rtt := make([]time.Duration, 100)
	for i := range rtt {
		rtt[i] = time.Duration(100-i) * time.Microsecond
	}
	got := rttLine(rtt)
	want := rttJSON{Pattern: "reqrep", RTTMeanUS: 50.5, RTTP50US: 50, RTTP99US: 99, RTTMinUS: 1, RTTMaxUS: 100}
	if got != want {
		t.Errorf("rttLine(100..1 µs): got %+v, want %+v", got, want)
	}
	one := rttLine([]time.Duration{7 * time.Microsecond})
	if one.RTTP50US != 7 || one.RTTP99US != 7 || one.RTTMeanUS != 7 {
		t.Errorf("rttLine(7 µs): got %+v, want every statistic 7", one)
	}
	// With 3 values p50 is the 2nd (rank ceil(1.5)) and p99 the 3rd.
	three := []time.Duration{1, 2, 3}
	if got, want := nearestRank(three, 50), time.Duration(2); got != want {
		t.Errorf("nearestRank([1 2 3], 50): got %v, want %v", got, want)
	}
	if got, want := nearestRank(three, 99), time.Duration(3); got != want {
		t.Errorf("nearestRank([1 2 3], 99): got %v, want %v", got, want)
	}
}

func TestLatWarmup(t *testing.T) {
	for _, tc := range []struct{ count, want int64 }{{1, 0}, {50, 5}, {20_000, 1000}, {10_000_000, 1000}} {
		if got := latWarmup(tc.count); got != tc.want {
			t.Errorf("latWarmup(%d): got %d, want %d", tc.count, got, tc.want)
		}
	}
}

func TestSummarizeLat(t *testing.T) {
	// 20,000 timed and 1,000 untimed round trips: CPU per 1M is the
	// seconds over 21,000, times 10^6.
	s := summarizeLat([]latSample{
		{count: 20_000, meanUS: 30, p50US: 20, p99US: 90, clientCPU: 0.42, serverCPU: 0.063},
		{count: 20_000, meanUS: 10, p50US: 40, p99US: 70, clientCPU: 0.21, serverCPU: 0.021},
		{count: 20_000, meanUS: 20, p50US: 30, p99US: 80, clientCPU: 0.63, serverCPU: math.NaN()},
	})
	if want := (latStats{rounds: 3, meanUS: 20, p50US: 30, p99US: 80, clientCPUPM: 20, serverCPUPM: 2}); s != want {
		t.Errorf("summarizeLat: got %+v, want %+v", s, want)
	}
	if e := summarizeLat(nil); e.rounds != 0 || !math.IsNaN(e.meanUS) || !math.IsNaN(e.p99US) {
		t.Errorf("summarizeLat(nil): got %+v, want 0 rounds and NaN values", e)
	}
}

func TestLatRowRatio(t *testing.T) {
	r := latRow{impls: map[string]latStats{implWisp: {meanUS: 30}, implLibzmq: {meanUS: 40}}}
	if got := r.ratio(implLibzmq); got != 0.75 {
		t.Errorf("ratio(libzmq): got %v, want 0.75", got)
	}
	if got := r.ratio(implZMQ4); !math.IsNaN(got) {
		t.Errorf("ratio(zmq4) without zmq4: got %v, want NaN", got)
	}
}

func testLatRows() []latRow {
	return []latRow{{
		transport: "tcp", size: 16, count: 20_000, warmup: 1000,
		impls: map[string]latStats{
			implWisp:   {rounds: 3, meanUS: 30, p50US: 28.25, p99US: 61, clientCPUPM: 9.5, serverCPUPM: 8.25},
			implLibzmq: {rounds: 3, meanUS: 40, p50US: 38, p99US: 70.55, clientCPUPM: 12, serverCPUPM: 11},
			implZMQ4:   {rounds: 3, meanUS: 120, p50US: 110, p99US: 300, clientCPUPM: math.NaN(), serverCPUPM: math.NaN()},
		},
	}, {
		transport: "ipc", size: 4096, count: 20_000, warmup: 1000,
		impls: map[string]latStats{
			implLibzmq: {rounds: 3, meanUS: 45, p50US: 44, p99US: 80, clientCPUPM: 13, serverCPUPM: 14.125},
		},
	}}
}

func TestWriteLatTable(t *testing.T) {
	var b strings.Builder
	if err := writeLatTable(&b, testMachine, testLatRows(), 3, []string{"zmq4 skipped: gone"}); err != nil {
		t.Fatalf("writeLatTable: got error %v, want nil", err)
	}
	want := `machine: Test CPU, 2 cores, go1.26.0 linux/amd64, libzmq 4.3.4
REQ/REP round-trip latency in µs, medians over 3 round(s) of each run's mean, p50 and p99; wisp/libzmq and wisp/zmq4 are ratios of the mean: lower is better, below 1.00x wisp is faster. Each run times count round trips after min(1000, count/10) untimed ones. CPU = user+sys seconds per 1M round trips (timed and untimed) of the client's and the server's process over its whole life.

| transport | size | count | wisp mean µs | libzmq mean µs | zmq4 mean µs | wisp/libzmq | wisp/zmq4 | wisp p50 µs | libzmq p50 µs | zmq4 p50 µs | wisp p99 µs | libzmq p99 µs | zmq4 p99 µs | wisp CPU s/1M client/server | libzmq CPU s/1M client/server | zmq4 CPU s/1M client/server |
| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |
| tcp | 16 B | 20,000 | 30.0 | 40.0 | 120.0 | 0.75x | 0.25x | 28.2 | 38.0 | 110.0 | 61.0 | 70.5 | 300.0 | 9.50/8.25 | 12.00/11.00 | n/a |
| ipc | 4 KiB | 20,000 | n/a | 45.0 | n/a | n/a | n/a | n/a | 44.0 | n/a | n/a | 80.0 | n/a | n/a | 13.00/14.12 | n/a |

Notes:
- zmq4 skipped: gone
`
	if got := b.String(); got != want {
		t.Errorf("writeLatTable:\ngot\n%s\nwant\n%s", got, want)
	}
}

func TestWriteLatJSON(t *testing.T) {
	var b strings.Builder
	if err := writeLatJSON(&b, testMachine, testLatRows(), 3); err != nil {
		t.Fatalf("writeLatJSON: got error %v, want nil", err)
	}
	got := decodeJSONLines[latJSONRow](t, b.String())
	if len(got) != 2 {
		t.Fatalf("got %d lines, want 2", len(got))
	}
	first := got[0]
	if first.Mode != "lat" || first.Pattern != "reqrep" || first.Transport != "tcp" || first.Size != 16 ||
		first.Count != 20_000 || first.Warmup != 1000 || first.Rounds != 3 || first.Machine != testMachine {
		t.Errorf("first row: got %+v, want lat reqrep tcp 16 20000 warmup 1000 3 rounds and the test machine", first)
	}
	if v := first.WispPerLibzmqRTT; v == nil || *v != 0.75 {
		t.Errorf("first row wisp_per_libzmq_rtt_mean: got %v, want 0.75", v)
	}
	if w := first.Results[implWisp]; w.OKRounds != 3 || w.RTTMeanUS == nil || *w.RTTMeanUS != 30 || *w.RTTP50US != 28.25 || *w.RTTP99US != 61 ||
		w.ClientCPUPer1M == nil || *w.ClientCPUPer1M != 9.5 || w.ServerCPUPer1M == nil || *w.ServerCPUPer1M != 8.25 {
		t.Errorf("first row wisp: got %+v, want 3 rounds 30/28.25/61, CPU 9.5/8.25", w)
	}
	if z := first.Results[implZMQ4]; z.ClientCPUPer1M != nil || z.ServerCPUPer1M != nil {
		t.Errorf("first row zmq4 CPU: got %v/%v, want null/null", z.ClientCPUPer1M, z.ServerCPUPer1M)
	}
	second := got[1]
	if second.WispPerLibzmqRTT != nil || second.Results[implWisp].RTTMeanUS != nil || second.Results[implZMQ4].OKRounds != 0 {
		t.Errorf("second row: got ratio %v wisp %+v zmq4 %+v, want nulls and 0 rounds",
			second.WispPerLibzmqRTT, second.Results[implWisp], second.Results[implZMQ4])
	}
}

// decodeJSONLines decodes -json output, one row of type T per line.
func decodeJSONLines[T any](t *testing.T, out string) []T {
	t.Helper()
	var rows []T
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		var r T
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			t.Fatalf("line %q: got error %v, want valid JSON", sc.Text(), err)
		}
		rows = append(rows, r)
	}
	return rows
}

func checkLatSample(t *testing.T, s latSample, size int, count int64) {
	t.Helper()
	if s.count != count || s.size != size {
		t.Errorf("got count %d size %d, want %d %d", s.count, s.size, count, size)
	}
	if !(s.meanUS > 0) || !(s.p50US > 0) || !(s.p99US >= s.p50US) {
		t.Errorf("got mean %v p50 %v p99 %v µs, want all above 0 and p99 >= p50", s.meanUS, s.p50US, s.p99US)
	}
	// Every process spends some CPU; NaN would mean it was not measured.
	if !(s.clientCPU > 0) || !(s.serverCPU > 0) {
		t.Errorf("got CPU client %v server %v s, want both above 0", s.clientCPU, s.serverCPU)
	}
}

func TestZMQ4LatPair(t *testing.T) {
	e := newTestEnv(t)
	r, err := newZMQ4LatRunner(e)
	if err != nil {
		t.Fatalf("newZMQ4LatRunner: got error %v, want nil", err)
	}
	for _, tr := range []string{"tcp", "ipc"} {
		s, err := r.lat(context.Background(), tr, 64, 50)
		if err != nil {
			t.Fatalf("%s: got error %v, want nil", tr, err)
		}
		checkLatSample(t, s, 64, 50)
	}
}

func TestLibzmqLatPair(t *testing.T) {
	if exec.Command("pkg-config", "--exists", "libzmq").Run() != nil {
		t.Skip("pkg-config or libzmq missing: " + libzmqPackages)
	}
	e := newTestEnv(t)
	r, version, err := newLibzmqLatRunner(context.Background(), e)
	if err != nil {
		t.Fatalf("newLibzmqLatRunner: got error %v, want nil", err)
	}
	if !strings.HasPrefix(version, "4.") {
		t.Errorf("libzmq version: got %q, want 4.x.y", version)
	}
	for _, tr := range []string{"tcp", "ipc"} {
		s, err := r.lat(context.Background(), tr, 64, 50)
		if err != nil {
			t.Fatalf("%s: got error %v, want nil", tr, err)
		}
		checkLatSample(t, s, 64, 50)
	}
}

func TestLatPeerUsage(t *testing.T) {
	for _, args := range [][]string{
		{"req", "ipc:///nowhere"},
		{"req", "ipc:///nowhere", "16", "0", "0"},
		{"rep", "ipc:///nowhere", "16", "10", "-1"},
		{"rep", "ipc:///nowhere", "x", "10", "1"},
	} {
		if got := peerMain(args, io.Discard, io.Discard); got != 2 {
			t.Errorf("peerMain(%q): got exit %d, want 2", args, got)
		}
	}
}

// stubBench writes a stand-in for wisp's bench command: it answers
// "lat -pattern reqrep -transport T -size S -count N" with a JSON line that
// echoes its arguments, and anything else with an error, as a bench command
// without the lat subcommand would.
func stubBench(t *testing.T) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "wispbench")
	script := `#!/bin/sh
if [ "$1" != lat ] || [ "$2" != -pattern ] || [ "$3" != reqrep ] || [ "$4" != -transport ] ||
   [ "$6" != -size ] || [ "$8" != -count ] || [ $# -ne 9 ]; then
	echo "bench: unknown subcommand: got \"$1\", want thr or none" >&2
	exit 2
fi
echo "starting peer"
echo "{\"pattern\":\"reqrep\",\"transport\":\"$5\",\"size\":$7,\"count\":$9,\"rtt_mean_us\":31.5,\"rtt_p50_us\":30,\"rtt_p99_us\":64.25,\"rtt_max_us\":900,\"client_cpu_sec\":0.42,\"server_cpu_sec\":0.21}"
`
	if err := os.WriteFile(path, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestWispLatStub(t *testing.T) {
	r := &wispRunner{env: newTestEnv(t), path: stubBench(t)}
	if err := r.probeLat(context.Background(), "ipc"); err != nil {
		t.Fatalf("probeLat: got error %v, want nil", err)
	}
	s, err := r.lat(context.Background(), "tcp", 4096, 20000)
	if err != nil {
		t.Fatalf("lat: got error %v, want nil", err)
	}
	if want := (latSample{count: 20000, size: 4096, meanUS: 31.5, p50US: 30, p99US: 64.25, clientCPU: 0.42, serverCPU: 0.21}); s != want {
		t.Errorf("lat: got %+v, want %+v", s, want)
	}
}

func TestWispLatMissing(t *testing.T) {
	// A bench command without lat fails, and the probe says so once.
	r := &wispRunner{env: newTestEnv(t), path: "/bin/false"}
	if err := r.probeLat(context.Background(), "tcp"); !errors.Is(err, errNoLat) {
		t.Errorf("probeLat with /bin/false: got %v, want errNoLat", err)
	}
	// So is one that prints no JSON result line.
	thr := &wispRunner{env: newTestEnv(t), path: "/bin/echo"}
	if _, err := thr.lat(context.Background(), "tcp", 16, 10); !errors.Is(err, errNoPeerLine) {
		t.Errorf("lat with /bin/echo: got %v, want errNoPeerLine", err)
	}
}

// A tiny real run of the whole program in lat mode, zmq4 only so it needs
// neither libzmq nor a build of wisp.
func TestRunLatJSON(t *testing.T) {
	var out, progress strings.Builder
	args := []string{"-mode", "lat", "-impls", "zmq4", "-sizes", "16", "-transports", "ipc", "-count", "20", "-rounds", "2", "-json"}
	if err := run(context.Background(), args, &out, &progress); err != nil {
		t.Fatalf("run(%q): got error %v, want nil; progress:\n%s", args, err, progress.String())
	}
	rows := decodeJSONLines[latJSONRow](t, out.String())
	if len(rows) != 1 {
		t.Fatalf("got %d rows, want 1:\n%s", len(rows), out.String())
	}
	r := rows[0]
	z := r.Results[implZMQ4]
	if r.Mode != "lat" || r.Transport != "ipc" || r.Size != 16 || r.Count != 20 || r.Rounds != 2 || z.OKRounds != 2 || z.RTTMeanUS == nil {
		t.Errorf("got %+v, want lat ipc 16 20 with 2 good zmq4 rounds", r)
	}
	if z.ClientCPUPer1M == nil || !(*z.ClientCPUPer1M > 0) || z.ServerCPUPer1M == nil || !(*z.ServerCPUPer1M > 0) {
		t.Errorf("zmq4 CPU per 1M round trips: got %v/%v, want both above 0", z.ClientCPUPer1M, z.ServerCPUPer1M)
	}
	if r.Machine.Libzmq != "not used" || r.WispPerZMQ4RTT != nil {
		t.Errorf("got libzmq %q ratio %v, want \"not used\" and null", r.Machine.Libzmq, r.WispPerZMQ4RTT)
	}
}
