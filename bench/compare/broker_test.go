package main

import (
	"context"
	"errors"
	"io"
	"math"
	"os/exec"
	"slices"
	"strings"
	"testing"
)

func TestParseFlagsBrokerDefaults(t *testing.T) {
	cfg, err := parseFlags([]string{"-mode", "broker"}, io.Discard)
	if err != nil {
		t.Fatalf("got error %v, want nil", err)
	}
	// The defaults of wisp's bench command, thr -pattern broker.
	if cfg.mode != modeBroker || !slices.Equal(cfg.sizes, []int{16, 256}) || !slices.Equal(cfg.transports, []string{"tcp", "ipc"}) ||
		cfg.clients != 4 || cfg.workers != 4 || cfg.window != 100 || cfg.rounds != 3 {
		t.Errorf("got mode %q sizes %v transports %v clients %d workers %d window %d rounds %d, want broker [16 256] [tcp ipc] 4 4 100 3",
			cfg.mode, cfg.sizes, cfg.transports, cfg.clients, cfg.workers, cfg.window, cfg.rounds)
	}
	for _, tc := range []struct {
		size int
		want int64
	}{{16, 400_000}, {256, 400_000}, {4096, 100_000}, {65536, 10_000}} {
		if got := cfg.countFor(tc.size); got != tc.want {
			t.Errorf("countFor(%d): got %d, want %d", tc.size, got, tc.want)
		}
	}
	cfg, err = parseFlags([]string{"-mode", "broker", "-clients", "2", "-workers", "3", "-window", "1000", "-count", "500", "-sizes", "64"}, io.Discard)
	if err != nil || cfg.clients != 2 || cfg.workers != 3 || cfg.window != 1000 || cfg.countFor(64) != 500 {
		t.Errorf("got clients %d workers %d window %d count %d, %v, want 2 3 1000 500 nil", cfg.clients, cfg.workers, cfg.window, cfg.countFor(64), err)
	}
}

func TestParseFlagsBrokerErrors(t *testing.T) {
	for _, args := range [][]string{
		{"-mode", "broker", "-clients", "0"},
		{"-mode", "broker", "-clients", "65"},
		{"-mode", "broker", "-workers", "0"},
		{"-mode", "broker", "-window", "0"},
		{"-mode", "broker", "-window", "1001"}, // above the receive high-water mark
		{"-mode", "broker", "-charts", "x"},
		{"-mode", "broker", "-impls", "wisp-zmtp"},
		{"-mode", "broker", "-subs", "2"},
		// The broker flags mean nothing to the other modes.
		{"-clients", "2"},
		{"-mode", "lat", "-window", "10"},
		{"-mode", "pubsub", "-workers", "2"},
	} {
		if _, err := parseFlags(args, io.Discard); !errors.Is(err, errUsage) {
			t.Errorf("parseFlags(%q): got error %v, want errUsage", args, err)
		}
	}
}

var testBrokerRun = brokerRun{transport: "tcp", size: 16, count: 1000, clients: 2, workers: 3, window: 10}

func TestParseBrokerLines(t *testing.T) {
	clients := "chatter\n" + `{"role":"clients","size":16,"count":1000,"clients":2,"window":10,"seconds":0.25}` + "\n"
	workers := `{"role":"workers","workers":3,"served":1002}`
	secs, err := parseBrokerLines([]byte(workers), []byte(clients), testBrokerRun)
	if err != nil || secs != 0.25 {
		t.Fatalf("got %v, %v, want 0.25, nil", secs, err)
	}
	for _, bad := range []struct{ from, to string }{
		{`"role":"clients"`, `"role":"client"`},
		{`"size":16`, `"size":17`},
		{`"count":1000`, `"count":999`},
		{`"clients":2`, `"clients":3`},
		{`"window":10`, `"window":11`},
		{`"seconds":0.25`, `"seconds":0`},
		{`"seconds":0.25`, `"secs":0.25`},
		{`"served":1002`, `"served":1000`}, // the untimed requests are missing
		{`"workers":3`, `"workers":2`},
		{`"role":"workers"`, `"role":"broker"`},
	} {
		c := strings.Replace(clients, bad.from, bad.to, 1)
		w := strings.Replace(workers, bad.from, bad.to, 1)
		if _, err := parseBrokerLines([]byte(w), []byte(c), testBrokerRun); err == nil {
			t.Errorf("parseBrokerLines with %s: got nil error, want one", bad.to)
		}
	}
	if _, err := parseBrokerLines(nil, []byte(clients), testBrokerRun); !errors.Is(err, errNoPeerLine) {
		t.Errorf("parseBrokerLines without the workers' line: got %v, want errNoPeerLine", err)
	}
}

// wispBrokerOut is a line like the one wisp's bench command prints.
const wispBrokerOut = `{"pattern":"broker","transport":"tcp","size":16,"count":1000,"acks":true,"hwm":10000,"seconds":0.5,` +
	`"msgs_per_sec":2000,"mb_per_sec":0.032,"sender_cpu_sec":0.01,"receiver_cpu_sec":0.02,"sender_maxrss_kb":2048,` +
	`"receiver_maxrss_kb":3072,"one_process":false,"protocol":"wisp","clients":2,"workers":3,"window":10,` +
	`"broker_cpu_sec":0.03,"broker_maxrss_kb":4096}`

func TestParseWispBrokerLine(t *testing.T) {
	s, err := parseWispBrokerLine([]byte("building\n"+wispBrokerOut+"\n"), testBrokerRun)
	if err != nil {
		t.Fatalf("got error %v, want nil", err)
	}
	want := brokerSample{count: 1000, size: 16, seconds: 0.5, brokerCPU: 0.03, clientsCPU: 0.01, workersCPU: 0.02,
		brokerRSSKB: 4096, clientsRSSKB: 2048, workersRSSKB: 3072}
	if s != want {
		t.Errorf("got %+v, want %+v", s, want)
	}
	if s.reqPerSec() != 2000 || s.mbPerSec() != 0.032 {
		t.Errorf("got %v requests/s %v MB/s, want 2000 and 0.032", s.reqPerSec(), s.mbPerSec())
	}
	for _, bad := range []struct{ from, to string }{
		{`"pattern":"broker"`, `"pattern":"pushpull"`},
		{`"transport":"tcp"`, `"transport":"ipc"`},
		{`"size":16`, `"size":32`},
		{`"count":1000`, `"count":10`},
		{`"clients":2`, `"clients":4`},
		{`"workers":3`, `"workers":4`},
		{`"window":10`, `"window":100`},
		{`"seconds":0.5`, `"seconds":-1`},
		{`"window":10,`, ``},
	} {
		if _, err := parseWispBrokerLine([]byte(strings.Replace(wispBrokerOut, bad.from, bad.to, 1)), testBrokerRun); err == nil {
			t.Errorf("parseWispBrokerLine with %q: got nil error, want one", bad.to)
		}
	}
	// CPU and RSS are optional: unknown, not zero.
	s, err = parseWispBrokerLine([]byte(strings.Replace(wispBrokerOut, `"broker_cpu_sec":0.03,`, "", 1)), testBrokerRun)
	if err != nil || !math.IsNaN(s.brokerCPU) {
		t.Errorf("without broker_cpu_sec: got %v, brokerCPU %v, want nil and NaN", err, s.brokerCPU)
	}
}

func TestSummarizeBroker(t *testing.T) {
	got := summarizeBroker([]brokerSample{
		{count: 100_000, size: 16, seconds: 0.5, brokerCPU: 0.3, clientsCPU: 0.1, workersCPU: 0.2, brokerRSSKB: 2048},
		{count: 100_000, size: 16, seconds: 1, brokerCPU: 0.1, clientsCPU: 0.2, workersCPU: 0.3, brokerRSSKB: 1024},
		{count: 100_000, size: 16, seconds: 0.25, brokerCPU: 0.2, clientsCPU: 0.3, workersCPU: math.NaN(), brokerRSSKB: 3072},
	})
	want := brokerStats{rounds: 3, reqPerSec: 200_000, mbPerSec: 3.2, brokerCPUPM: 2, clientsCPUPM: 2, workersCPUPM: 2.5, totalCPUPM: 6, brokerRSSMiB: 2}
	if got.rounds != want.rounds || got.reqPerSec != want.reqPerSec || got.brokerRSSMiB != want.brokerRSSMiB {
		t.Errorf("got %+v, want %+v", got, want)
	}
	for name, v := range map[string][2]float64{
		"mbPerSec": {got.mbPerSec, want.mbPerSec}, "brokerCPUPM": {got.brokerCPUPM, want.brokerCPUPM},
		"clientsCPUPM": {got.clientsCPUPM, want.clientsCPUPM}, "workersCPUPM": {got.workersCPUPM, want.workersCPUPM},
		"totalCPUPM": {got.totalCPUPM, want.totalCPUPM},
	} {
		if math.Abs(v[0]-v[1]) > 1e-9 {
			t.Errorf("%s: got %v, want %v", name, v[0], v[1])
		}
	}
	if e := summarizeBroker(nil); e.rounds != 0 || !math.IsNaN(e.reqPerSec) || !math.IsNaN(e.totalCPUPM) {
		t.Errorf("summarizeBroker(nil): got %+v, want 0 rounds and NaN values", e)
	}
}

func testBrokerRows() []brokerRow {
	return []brokerRow{{
		brokerRun: brokerRun{transport: "tcp", size: 16, count: 400_000, clients: 4, workers: 4, window: 100},
		impls: map[string]brokerStats{
			implWisp:   {rounds: 3, reqPerSec: 300_000, mbPerSec: 4.8, brokerCPUPM: 1.5, clientsCPUPM: 0.75, workersCPUPM: 1, totalCPUPM: 3.25, brokerRSSMiB: 15.25},
			implLibzmq: {rounds: 3, reqPerSec: 200_000, mbPerSec: 3.2, brokerCPUPM: 2, clientsCPUPM: 1, workersCPUPM: 1.5, totalCPUPM: 4.5, brokerRSSMiB: 10.5},
		},
	}, {
		brokerRun: brokerRun{transport: "ipc", size: 256, count: 400_000, clients: 4, workers: 4, window: 100},
		impls: map[string]brokerStats{
			implLibzmq: {rounds: 1, reqPerSec: 150_000, mbPerSec: 38.4, brokerCPUPM: 2.5, clientsCPUPM: 1.25, workersCPUPM: math.NaN(), totalCPUPM: math.NaN(), brokerRSSMiB: 11},
		},
	}}
}

func TestWriteBrokerTable(t *testing.T) {
	var b strings.Builder
	if err := writeBrokerTable(&b, testMachine, testBrokerRows(), 3, []string{brokerNoZMQ4}); err != nil {
		t.Fatalf("writeBrokerTable: got error %v, want nil", err)
	}
	want := `machine: Test CPU, 2 cores, go1.26.0 linux/amd64, libzmq 4.3.4
Requests through a ROUTER | proxy | DEALER broker, medians over 3 round(s): DEALER clients in one process, each keeping window requests in flight, REP workers echoing them in another, the broker in a third. requests/s: replies per second at the clients, over all of them; MB = 10^6 bytes of request payload (the replies carry as much again); wisp/libzmq: ratio of requests/s, higher is better. CPU = user+sys seconds per 1M requests of each process over its whole life: broker/clients/workers, and the three together; RSS = the broker's peak. wisp runs with acknowledgements, libzmq without.

| transport | size | count | clients | workers | window | wisp req/s | libzmq req/s | wisp/libzmq | wisp MB/s | libzmq MB/s | wisp CPU s/1M broker/clients/workers | libzmq CPU s/1M broker/clients/workers | wisp CPU s/1M total | libzmq CPU s/1M total | wisp broker RSS MiB | libzmq broker RSS MiB |
| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |
| tcp | 16 B | 400,000 | 4 | 4 | 100 | 300,000 | 200,000 | 1.50x | 4.8 | 3.2 | 1.50/0.75/1.00 | 2.00/1.00/1.50 | 3.25 | 4.50 | 15.2 | 10.5 |
| ipc | 256 B | 400,000 | 4 | 4 | 100 | n/a | 150,000 | n/a | n/a | 38.4 | n/a | 2.50/1.25/n/a | n/a | n/a | n/a | 11.0 |

Notes:
- ` + brokerNoZMQ4 + "\n"
	if got := b.String(); got != want {
		t.Errorf("writeBrokerTable:\ngot\n%s\nwant\n%s", got, want)
	}
}

func TestWriteBrokerJSON(t *testing.T) {
	var b strings.Builder
	if err := writeBrokerJSON(&b, testMachine, testBrokerRows(), 3); err != nil {
		t.Fatalf("writeBrokerJSON: got error %v, want nil", err)
	}
	rows := decodeJSONLines[brokerJSONRow](t, b.String())
	if len(rows) != 2 {
		t.Fatalf("got %d rows, want 2", len(rows))
	}
	first := rows[0]
	if first.Mode != "broker" || first.Pattern != "broker" || first.Transport != "tcp" || first.Size != 16 || first.Count != 400_000 ||
		first.Clients != 4 || first.Workers != 4 || first.Window != 100 || first.Rounds != 3 || first.Machine != testMachine {
		t.Errorf("first row: got %+v, want broker tcp 16 B 400000 4/4/100, 3 rounds, the test machine", first)
	}
	if v := first.WispPerLibzmq; v == nil || *v != 1.5 {
		t.Errorf("wisp_per_libzmq_requests_per_sec: got %v, want 1.5", v)
	}
	w := first.Results[implWisp]
	if w.OKRounds != 3 || *w.RequestsPerSec != 300_000 || *w.MBPerSec != 4.8 || *w.BrokerCPUPer1M != 1.5 || *w.ClientsCPUPer1M != 0.75 ||
		*w.WorkersCPUPer1M != 1 || *w.TotalCPUPer1M != 3.25 || *w.BrokerMaxRSSMiB != 15.25 {
		t.Errorf("wisp results: got %+v, want 3 rounds 300000 4.8 1.5/0.75/1 3.25 15.25", w)
	}
	second := rows[1]
	if second.WispPerLibzmq != nil || second.Results[implWisp].RequestsPerSec != nil || second.Results[implLibzmq].WorkersCPUPer1M != nil ||
		len(second.Results) != 2 {
		t.Errorf("second row: got %+v, want nulls for wisp and libzmq's workers, 2 results", second)
	}
}

// checkBrokerSample checks a real run: a rate, and CPU and memory for each
// of the three processes.
func checkBrokerSample(t *testing.T, s brokerSample, b brokerRun) {
	t.Helper()
	if s.count != b.count || s.size != b.size || !(s.seconds > 0) || !(s.reqPerSec() > 0) {
		t.Errorf("got count %d size %d seconds %v, want %d %d and more than 0", s.count, s.size, s.seconds, b.count, b.size)
	}
	for name, v := range map[string]float64{"brokerCPU": s.brokerCPU, "clientsCPU": s.clientsCPU, "workersCPU": s.workersCPU,
		"brokerRSSKB": s.brokerRSSKB, "clientsRSSKB": s.clientsRSSKB, "workersRSSKB": s.workersRSSKB} {
		if !(v > 0) {
			t.Errorf("%s: got %v, want more than 0", name, v)
		}
	}
}

func TestLibzmqBroker(t *testing.T) {
	if !haveLibzmq() {
		t.Skip("pkg-config or libzmq missing: " + libzmqPackages)
	}
	r, version, err := newLibzmqBrokerRunner(context.Background(), newTestEnv(t))
	if err != nil {
		t.Fatalf("newLibzmqBrokerRunner: got error %v, want nil", err)
	}
	if !strings.HasPrefix(version, "4.") {
		t.Errorf("libzmq version: got %q, want 4.x.y", version)
	}
	for _, b := range []brokerRun{
		{transport: "tcp", size: 16, count: 2000, clients: 3, workers: 2, window: 7},
		// More workers than clients, a count that does not divide evenly.
		{transport: "ipc", size: 300, count: 1001, clients: 2, workers: 5, window: 1},
	} {
		t.Run(b.transport, func(t *testing.T) {
			s, err := r.broker(context.Background(), b)
			if err != nil {
				t.Fatalf("%+v: got error %v, want nil", b, err)
			}
			checkBrokerSample(t, s, b)
		})
	}
}

func TestLibzmqBrokerUsage(t *testing.T) {
	if !haveLibzmq() {
		t.Skip("pkg-config or libzmq missing: " + libzmqPackages)
	}
	r, _, err := newLibzmqBrokerRunner(context.Background(), newTestEnv(t))
	if err != nil {
		t.Fatalf("newLibzmqBrokerRunner: got error %v, want nil", err)
	}
	for _, args := range [][]string{
		{},
		{"broker", "ipc:///nowhere/f", "ipc:///nowhere/b", "ipc:///nowhere/c"},
		{"broker", "ipc:///nowhere/f", "ipc:///nowhere/b", "ipc:///nowhere/c", "0"},
		{"workers", "ipc:///nowhere/b", "0", "2"},
		{"workers", "ipc:///nowhere/b", "16", "65"},
		{"clients", "ipc:///nowhere/f", "ipc:///nowhere/c", "16", "0", "2", "10"},
		{"clients", "ipc:///nowhere/f", "ipc:///nowhere/c", "16", "100", "2", "0"},
		{"clients", "ipc:///nowhere/f", "ipc:///nowhere/c", "16", "100", "x", "10"},
	} {
		err := exec.Command(r.path, args...).Run()
		var ee *exec.ExitError
		if !errors.As(err, &ee) || ee.ExitCode() != 2 {
			t.Errorf("broker %q: got %v, want exit status 2", args, err)
		}
	}
}

// wisp's broker through its bench command built from this repository,
// over both transports.
func TestWispBroker(t *testing.T) {
	w := buildWispBench(t, newTestEnv(t))
	for _, tr := range []string{"tcp", "ipc"} {
		if err := w.probeBroker(context.Background(), tr); err != nil {
			t.Fatalf("probeBroker(%s): got error %v, want nil", tr, err)
		}
		b := brokerRun{transport: tr, size: 64, count: 2001, clients: 3, workers: 2, window: 7}
		s, err := w.broker(context.Background(), b)
		if err != nil {
			t.Fatalf("%+v: got error %v, want nil", b, err)
		}
		checkBrokerSample(t, s, b)
	}
	// A bench command that cannot run the broker is skipped by its probe.
	pre := &wispRunner{env: newTestEnv(t), path: "/bin/false"}
	if err := pre.probeBroker(context.Background(), "tcp"); !errors.Is(err, errNoBroker) {
		t.Errorf("probeBroker with /bin/false: got %v, want errNoBroker", err)
	}
}

// The whole program in broker mode: wisp and, where installed, libzmq give
// a row each; zmq4 is skipped with its note.
func TestRunBrokerJSON(t *testing.T) {
	impls := "wisp,zmq4"
	if haveLibzmq() {
		impls = "wisp,libzmq,zmq4"
	}
	var out, progress strings.Builder
	args := []string{"-mode", "broker", "-impls", impls, "-sizes", "32", "-transports", "tcp", "-count", "3000", "-rounds", "2",
		"-clients", "2", "-workers", "3", "-window", "5", "-json"}
	if err := run(context.Background(), args, &out, &progress); err != nil {
		t.Fatalf("run(%q): got error %v, want nil; progress:\n%s", args, err, progress.String())
	}
	rows := decodeJSONLines[brokerJSONRow](t, out.String())
	if len(rows) != 1 {
		t.Fatalf("got %d rows, want 1:\n%s", len(rows), out.String())
	}
	r := rows[0]
	if r.Mode != "broker" || r.Transport != "tcp" || r.Size != 32 || r.Count != 3000 || r.Clients != 2 || r.Workers != 3 || r.Window != 5 || r.Rounds != 2 {
		t.Errorf("got %+v, want broker tcp 32 3000 2/3/5, 2 rounds", r)
	}
	ran := []string{implWisp}
	if haveLibzmq() {
		ran = append(ran, implLibzmq)
		if r.WispPerLibzmq == nil || !(*r.WispPerLibzmq > 0) {
			t.Errorf("wisp_per_libzmq_requests_per_sec: got %v, want above 0", r.WispPerLibzmq)
		}
	}
	for _, im := range ran {
		s := r.Results[im]
		if s.OKRounds != 2 || s.RequestsPerSec == nil || s.TotalCPUPer1M == nil || s.BrokerCPUPer1M == nil ||
			!(*s.RequestsPerSec > 0) || !(*s.BrokerCPUPer1M > 0) || !(*s.TotalCPUPer1M > *s.BrokerCPUPer1M) {
			t.Errorf("%s: got %+v, want 2 good rounds with requests/s and CPU above 0", im, s)
		}
	}
	if _, ok := r.Results[implZMQ4]; ok {
		t.Errorf("results: got zmq4, want wisp and libzmq only")
	}
	if !strings.Contains(progress.String(), "zmq4 skipped") || !strings.Contains(progress.String(), "note: "+brokerNoZMQ4) {
		t.Errorf("progress: got\n%s\nwant zmq4 skipped with its note", progress.String())
	}
}
