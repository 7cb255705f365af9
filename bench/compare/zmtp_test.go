package main

import (
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

// haveLibzmq reports whether libzmq's development files are installed; the
// tests that run libzmq peers skip without them, as the others here do.
func haveLibzmq() bool {
	return exec.Command("pkg-config", "--exists", "libzmq").Run() == nil
}

// buildWispBench builds wisp's bench command from this repository, as the
// runner does for its wisp implementations.
func buildWispBench(t *testing.T, e *env) *wispRunner {
	t.Helper()
	root, err := findWispRoot("../..")
	if err != nil {
		t.Fatalf("findWispRoot: got error %v, want the repository root", err)
	}
	w, err := newWispRunner(context.Background(), e, root)
	if err != nil {
		t.Fatalf("newWispRunner: got error %v, want nil", err)
	}
	return w
}

func TestParseFlagsZMTPImpls(t *testing.T) {
	for _, mode := range []string{modeThr, modeLat} {
		cfg, err := parseFlags([]string{"-mode", mode, "-impls", "libzmq,wisp-zmtp,wisp-libzmq,libzmq-wisp,wisp"}, io.Discard)
		if err != nil {
			t.Fatalf("-mode %s: got error %v, want nil", mode, err)
		}
		if want := []string{"libzmq", "wisp-zmtp", "wisp-libzmq", "libzmq-wisp", "wisp"}; !slices.Equal(cfg.impls, want) {
			t.Errorf("-mode %s: impls: got %v, want %v", mode, cfg.impls, want)
		}
	}
	// Fan-out has no ZMTP pairs.
	for _, im := range zmtpImpls {
		if _, err := parseFlags([]string{"-mode", "pubsub", "-impls", "wisp," + im}, io.Discard); !errors.Is(err, errUsage) {
			t.Errorf("-mode pubsub -impls wisp,%s: got error %v, want errUsage", im, err)
		}
	}
}

func TestMixedRunnerSides(t *testing.T) {
	e := newTestEnv(t)
	w := &wispRunner{env: e, path: "/wisp/bench"}
	lz := newPairRunner(e, implLibzmq, peerProg{path: "/libzmq/thr"})
	wisp := peerProg{path: "/wisp/bench", prefix: []string{"peer", "-protocol", "zmtp"}}
	for _, tc := range []struct {
		name       string
		send, recv string
	}{
		{implWispLibzmq, "/wisp/bench", "/libzmq/thr"},
		{implLibzmqWisp, "/libzmq/thr", "/wisp/bench"},
	} {
		r := newMixedRunner(e, tc.name, w, lz)
		if r.send.path != tc.send || r.recv.path != tc.recv {
			t.Errorf("%s: got send %s recv %s, want send %s recv %s", tc.name, r.send.path, r.recv.path, tc.send, tc.recv)
		}
		for _, p := range []peerProg{r.send, r.recv} {
			if p.path == wisp.path && !slices.Equal(p.args("send", "EP"), []string{"peer", "-protocol", "zmtp", "send", "EP"}) {
				t.Errorf("%s: wisp's args: got %q, want the peer subcommand over zmtp", tc.name, p.args("send", "EP"))
			}
		}
	}
	llz := newLatPairRunner(e, implLibzmq, peerProg{path: "/libzmq/lat"})
	if r := newMixedLatRunner(e, implWispLibzmq, w, llz); r.req.path != "/wisp/bench" || r.rep.path != "/libzmq/lat" {
		t.Errorf("%s lat: got req %s rep %s, want wisp's req and libzmq's rep", implWispLibzmq, r.req.path, r.rep.path)
	}
	if r := newMixedLatRunner(e, implLibzmqWisp, w, llz); r.req.path != "/libzmq/lat" || r.rep.path != "/wisp/bench" {
		t.Errorf("%s lat: got req %s rep %s, want libzmq's req and wisp's rep", implLibzmqWisp, r.req.path, r.rep.path)
	}
}

// A bench command that cannot run an implementation (here: none at all) is
// found by the one short run before the first round.
func TestProbeFails(t *testing.T) {
	w := (&wispRunner{env: newTestEnv(t), path: "/bin/false"}).withZMTP()
	if err := probeThr(context.Background(), w, "tcp"); !errors.Is(err, errProbe) {
		t.Errorf("probeThr with /bin/false: got %v, want errProbe", err)
	}
	if err := probeLatRunner(context.Background(), w, "tcp"); !errors.Is(err, errProbe) {
		t.Errorf("probeLatRunner with /bin/false: got %v, want errProbe", err)
	}
}

// The ZMTP runners with real peers: wisp's bench command built from this
// repository and, where installed, libzmq's thr and lat.
func TestZMTPPairs(t *testing.T) {
	e := newTestEnv(t)
	w := buildWispBench(t, e)
	z := w.withZMTP()
	thr := map[string]runner{implWispZMTP: z}
	lat := map[string]latRunner{implWispZMTP: z}
	if haveLibzmq() {
		lz, _, err := newLibzmqRunner(context.Background(), e)
		if err != nil {
			t.Fatalf("newLibzmqRunner: got error %v, want nil", err)
		}
		llz, _, err := newLibzmqLatRunner(context.Background(), e)
		if err != nil {
			t.Fatalf("newLibzmqLatRunner: got error %v, want nil", err)
		}
		for _, name := range []string{implWispLibzmq, implLibzmqWisp} {
			thr[name] = newMixedRunner(e, name, w, lz)
			lat[name] = newMixedLatRunner(e, name, w, llz)
		}
	} else {
		t.Log("pkg-config or libzmq missing, so only wisp-zmtp runs: " + libzmqPackages)
	}
	for name, r := range thr {
		// tcp only for libzmq's receiver, as in TestLibzmqPairTCP: its ipc
		// receiver sometimes stalls short of the count (bench/README.md).
		transports := []string{"tcp"}
		if name != implWispLibzmq {
			transports = append(transports, "ipc")
		}
		for _, tr := range transports {
			t.Run("thr/"+name+"/"+tr, func(t *testing.T) {
				s, err := r.run(context.Background(), tr, 64, 1000)
				if err != nil {
					t.Fatalf("run: got error %v, want nil", err)
				}
				checkSample(t, s, 64, 1000)
			})
		}
	}
	for name, r := range lat {
		for _, tr := range []string{"tcp", "ipc"} {
			t.Run("lat/"+name+"/"+tr, func(t *testing.T) {
				s, err := r.lat(context.Background(), tr, 64, 50)
				if err != nil {
					t.Fatalf("lat: got error %v, want nil", err)
				}
				checkLatSample(t, s, 64, 50)
			})
		}
	}
}

// The whole program with the ZMTP pairs next to libzmq, in both modes: the
// probes pass, every pair runs, and the JSON has their ratios to libzmq.
func TestRunZMTPJSON(t *testing.T) {
	if !haveLibzmq() {
		t.Skip("pkg-config or libzmq missing: " + libzmqPackages)
	}
	impls := "libzmq,wisp-zmtp,wisp-libzmq,libzmq-wisp"
	for _, mode := range []string{modeThr, modeLat} {
		t.Run(mode, func(t *testing.T) {
			count := "2000"
			if mode == modeLat {
				count = "20"
			}
			var out, progress strings.Builder
			args := []string{"-mode", mode, "-impls", impls, "-sizes", "16", "-transports", "tcp", "-count", count, "-rounds", "1", "-json"}
			if err := run(context.Background(), args, &out, &progress); err != nil {
				t.Fatalf("run(%q): got error %v, want nil; progress:\n%s", args, err, progress.String())
			}
			if strings.Contains(progress.String(), "skipped") || strings.Contains(progress.String(), "failed") {
				t.Errorf("progress: got a skipped or failed implementation, want none:\n%s", progress.String())
			}
			var ratios map[string]*float64
			var okRounds func(string) int
			if mode == modeLat {
				rows := decodeJSONLines[latJSONRow](t, out.String())
				if len(rows) != 1 {
					t.Fatalf("got %d rows, want 1:\n%s", len(rows), out.String())
				}
				ratios = rows[0].PerLibzmqRTT
				okRounds = func(im string) int { return rows[0].Results[im].OKRounds }
			} else {
				rows := decodeJSON(t, out.String())
				if len(rows) != 1 {
					t.Fatalf("got %d rows, want 1:\n%s", len(rows), out.String())
				}
				ratios = rows[0].PerLibzmq
				okRounds = func(im string) int { return rows[0].Results[im].OKRounds }
			}
			for _, im := range zmtpImpls {
				if v := ratios[im]; v == nil || !(*v > 0) || math.IsInf(*v, 0) {
					t.Errorf("%s/libzmq: got %v, want a ratio above 0", im, v)
				}
				if got := okRounds(im); got != 1 {
					t.Errorf("%s: got %d good rounds, want 1", im, got)
				}
			}
		})
	}
}

func decodeJSON(t *testing.T, out string) []jsonRow {
	t.Helper()
	var rows []jsonRow
	for line := range strings.Lines(out) {
		var r jsonRow
		if err := json.Unmarshal([]byte(line), &r); err != nil {
			t.Fatalf("line %q: got error %v, want valid JSON", line, err)
		}
		rows = append(rows, r)
	}
	return rows
}

// testZMTPRows is testRows' first row with two of the ZMTP pairs.
func testZMTPRows() []row {
	rows := testRows()[:1]
	rows[0].impls[implWispZMTP] = implStats{rounds: 1, msgsPerSec: 1_000_000, mbPerSec: 16, sendCPUPM: 0.25, recvCPUPM: 0.5, sendRSSMiB: 9, recvRSSMiB: 10}
	rows[0].impls[implLibzmqWisp] = implStats{rounds: 0, msgsPerSec: math.NaN(), mbPerSec: math.NaN(),
		sendCPUPM: math.NaN(), recvCPUPM: math.NaN(), sendRSSMiB: math.NaN(), recvRSSMiB: math.NaN()}
	return rows
}

func TestWriteTableZMTP(t *testing.T) {
	var b strings.Builder
	if err := writeTable(&b, testMachine, testZMTPRows(), 3, nil); err != nil {
		t.Fatalf("writeTable: got error %v, want nil", err)
	}
	want := `machine: Test CPU, 2 cores, go1.26.0 linux/amd64, libzmq 4.3.4
PUSH/PULL throughput, medians over 3 round(s); MB = 10^6 bytes; CPU = user+sys seconds per 1M messages; RSS = peak.
Over ZMTP (no acknowledgements, which ZMTP does not have): wisp-zmtp is wisp to wisp, wisp-libzmq a wisp PUSH to a libzmq PULL, libzmq-wisp a libzmq PUSH to a wisp PULL; X/libzmq is X's msg/s over libzmq's (libzmq to libzmq, same run): higher is better.

| transport | size | count | wisp msg/s | libzmq msg/s | zmq4 msg/s | wisp-zmtp msg/s | libzmq-wisp msg/s | wisp/libzmq | wisp/zmq4 | wisp-zmtp/libzmq | libzmq-wisp/libzmq | wisp MB/s | libzmq MB/s | zmq4 MB/s | wisp-zmtp MB/s | libzmq-wisp MB/s | wisp CPU s/1M send/recv | libzmq CPU s/1M send/recv | zmq4 CPU s/1M send/recv | wisp-zmtp CPU s/1M send/recv | libzmq-wisp CPU s/1M send/recv | wisp RSS MiB send/recv | libzmq RSS MiB send/recv | zmq4 RSS MiB send/recv | wisp-zmtp RSS MiB send/recv | libzmq-wisp RSS MiB send/recv |
| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |
| tcp | 16 B | 1,000,000 | n/a | 2,000,000 | 40,000 | 1,000,000 | n/a | n/a | n/a | 0.50x | n/a | n/a | 32.0 | 0.6 | 16.0 | n/a | n/a | 0.50/0.75 | 20.00/25.00 | 0.25/0.50 | n/a | n/a | 6.5/6.2 | 10.0/11.0 | 9.0/10.0 | n/a |
`
	if got := b.String(); got != want {
		t.Errorf("writeTable:\ngot\n%s\nwant\n%s", got, want)
	}
}

func TestWriteJSONZMTP(t *testing.T) {
	var b strings.Builder
	if err := writeJSON(&b, testMachine, testZMTPRows(), 3); err != nil {
		t.Fatalf("writeJSON: got error %v, want nil", err)
	}
	rows := decodeJSON(t, b.String())
	if len(rows) != 1 {
		t.Fatalf("got %d rows, want 1", len(rows))
	}
	r := rows[0]
	if v := r.PerLibzmq[implWispZMTP]; v == nil || *v != 0.5 {
		t.Errorf("per_libzmq[wisp-zmtp]: got %v, want 0.5", v)
	}
	if v, ok := r.PerLibzmq[implLibzmqWisp]; !ok || v != nil {
		t.Errorf("per_libzmq[libzmq-wisp]: got %v (present %v), want null", v, ok)
	}
	if _, ok := r.PerLibzmq[implWispLibzmq]; ok || len(r.PerLibzmq) != 2 {
		t.Errorf("per_libzmq: got %v, want only the two pairs that ran", r.PerLibzmq)
	}
	if z := r.Results[implWispZMTP]; z.OKRounds != 1 || z.MsgsPerSec == nil || *z.MsgsPerSec != 1_000_000 {
		t.Errorf("results[wisp-zmtp]: got %+v, want 1 round at 1000000 msg/s", z)
	}
	// Without the pairs the line is what it always was.
	b.Reset()
	if err := writeJSON(&b, testMachine, testRows(), 3); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(b.String(), `"per_libzmq":`) || strings.Contains(b.String(), "zmtp") {
		t.Errorf("without ZMTP pairs: got %s, want no per_libzmq or ZMTP results", b.String())
	}
}

func TestWriteLatZMTP(t *testing.T) {
	rows := testLatRows()
	rows[0].impls[implWispLibzmq] = latStats{rounds: 3, meanUS: 20, p50US: 19, p99US: 50}
	var b strings.Builder
	if err := writeLatTable(&b, testMachine, rows, 3, nil); err != nil {
		t.Fatalf("writeLatTable: got error %v, want nil", err)
	}
	out := b.String()
	for _, s := range []string{
		"Over ZMTP (no acknowledgements, which ZMTP does not have): wisp-zmtp is a wisp REQ asking a wisp REP",
		"| wisp/libzmq | wisp/zmq4 | wisp-libzmq/libzmq | wisp p50 µs |",
		"| tcp | 16 B | 20,000 | 30.0 | 40.0 | 120.0 | 20.0 | 0.75x | 0.25x | 0.50x | 28.2 | 38.0 | 110.0 | 19.0 | 61.0 | 70.5 | 300.0 | 50.0 |",
		"| ipc | 4 KiB | 20,000 | n/a | 45.0 | n/a | n/a | n/a | n/a | n/a |",
	} {
		if !strings.Contains(out, s) {
			t.Errorf("writeLatTable: got no %q in\n%s", s, out)
		}
	}
	b.Reset()
	if err := writeLatJSON(&b, testMachine, rows, 3); err != nil {
		t.Fatal(err)
	}
	got := decodeJSONLines[latJSONRow](t, b.String())
	if v := got[0].PerLibzmqRTT[implWispLibzmq]; v == nil || *v != 0.5 {
		t.Errorf("first row per_libzmq_rtt_mean[wisp-libzmq]: got %v, want 0.5", v)
	}
	if r := got[0].Results[implWispLibzmq]; r.OKRounds != 3 || r.RTTMeanUS == nil || *r.RTTMeanUS != 20 {
		t.Errorf("first row results[wisp-libzmq]: got %+v, want 3 rounds, mean 20", r)
	}
	// The pair ran in the report, so the second row has it too, unknown.
	if v, ok := got[1].PerLibzmqRTT[implWispLibzmq]; !ok || v != nil {
		t.Errorf("second row per_libzmq_rtt_mean[wisp-libzmq]: got %v (present %v), want null", v, ok)
	}
}
