package main

import (
	"context"
	"errors"
	"io"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func TestParseFlagsPubsubDefaults(t *testing.T) {
	cfg, err := parseFlags([]string{"-mode", "pubsub"}, io.Discard)
	if err != nil {
		t.Fatalf("got error %v, want nil", err)
	}
	if cfg.mode != modePubsub || !slices.Equal(cfg.sizes, []int{16, 256}) || !slices.Equal(cfg.transports, []string{"tcp", "ipc"}) ||
		cfg.subs != 4 || !slices.Equal(cfg.matches, []int{100}) || cfg.nodrop || cfg.rounds != 3 {
		t.Errorf("got mode %q sizes %v transports %v subs %d matches %v nodrop %v rounds %d, want pubsub [16 256] [tcp ipc] 4 [100] false 3",
			cfg.mode, cfg.sizes, cfg.transports, cfg.subs, cfg.matches, cfg.nodrop, cfg.rounds)
	}
	if got := cfg.countFor(16); got != pubsubDefaultCount {
		t.Errorf("countFor(16): got %d, want %d", got, pubsubDefaultCount)
	}
	if got := psImplsFor(cfg); !slices.Equal(got, []string{implWisp, implLibzmq, implZMQ4}) {
		t.Errorf("psImplsFor without -nodrop: got %v, want [wisp libzmq zmq4]", got)
	}
}

func TestParseFlagsPubsub(t *testing.T) {
	cfg, err := parseFlags([]string{"-mode", "pubsub", "-subs", "2", "-match", "100, 50,100", "-nodrop", "-sizes", "4", "-count", "300"}, io.Discard)
	if err != nil {
		t.Fatalf("got error %v, want nil", err)
	}
	if cfg.subs != 2 || !slices.Equal(cfg.matches, []int{100, 50}) || !cfg.nodrop || !slices.Equal(cfg.sizes, []int{4}) || cfg.countFor(4) != 300 {
		t.Errorf("got subs %d matches %v nodrop %v sizes %v count %d, want 2 [100 50] true [4] 300",
			cfg.subs, cfg.matches, cfg.nodrop, cfg.sizes, cfg.countFor(4))
	}
	if got := psImplsFor(cfg); !slices.Equal(got, psImpls) {
		t.Errorf("psImplsFor with -nodrop: got %v, want %v", got, psImpls)
	}
}

func TestParseFlagsPubsubErrors(t *testing.T) {
	for _, args := range [][]string{
		{"-mode", "pubsub", "-subs", "0"},
		{"-mode", "pubsub", "-subs", "65"},
		{"-mode", "pubsub", "-match", "30"},
		{"-mode", "pubsub", "-match", "100,"},
		{"-mode", "pubsub", "-match", "x"},
		{"-mode", "pubsub", "-sizes", "16,3"},
		{"-mode", "thr,pubsub"},
		// The pubsub flags mean nothing to the other modes.
		{"-subs", "2"},
		{"-mode", "lat", "-nodrop"},
		{"-mode", "thr", "-match", "50"},
	} {
		if _, err := parseFlags(args, io.Discard); !errors.Is(err, errUsage) {
			t.Errorf("parseFlags(%q): got error %v, want errUsage", args, err)
		}
	}
}

func TestPsMatches(t *testing.T) {
	for _, tc := range []struct {
		count int64
		match int
		want  int64
	}{{1, 100, 1}, {10, 100, 10}, {1, 50, 1}, {2, 50, 1}, {3, 50, 2}, {200_000, 50, 100_000}} {
		if got := psExpected(tc.count, tc.match); got != tc.want {
			t.Errorf("psExpected(%d, %d): got %d, want %d", tc.count, tc.match, got, tc.want)
		}
		var n int64
		for i := range tc.count {
			if psMatches(i, tc.match) {
				n++
			}
		}
		if n != tc.want {
			t.Errorf("messages matching of %d at %d%%: got %d, want %d", tc.count, tc.match, n, tc.want)
		}
	}
	// With 50% the first message matches, the second not, and so on, as in
	// wisp's bench command.
	for i, want := range []bool{true, false, true, false} {
		if got := psMatches(int64(i), 50); got != want {
			t.Errorf("psMatches(%d, 50): got %v, want %v", i, got, want)
		}
	}
}

var testPSRun = psRun{transport: "tcp", size: 16, count: 1000, subs: 2, match: 50}

func TestParsePubSubLines(t *testing.T) {
	pub := "chatter\n" + `{"role":"pub","size":16,"count":1000,"subs":2,"match":50,"nodrop":true,"expected":500,` +
		`"seconds":0.01,"msgs_per_sec":100000,"end_markers":3}` + "\n"
	pl, err := parsePubLine([]byte(pub), testPSRun)
	if err != nil {
		t.Fatalf("parsePubLine: got error %v, want nil", err)
	}
	if *pl.MsgsPerSec != 100000 || !pl.Nodrop || pl.EndMarkers != 3 {
		t.Errorf("parsePubLine: got %+v, want 100000 msg/s, nodrop, 3 markers", pl)
	}
	sub := `{"role":"sub","id":1,"size":16,"received":400,"seconds":0.02,"msgs_per_sec":20000}`
	sl, err := parseSubLine([]byte(sub), testPSRun, 1)
	if err != nil {
		t.Fatalf("parseSubLine: got error %v, want nil", err)
	}
	if *sl.Received != 400 || *sl.MsgsPerSec != 20000 {
		t.Errorf("parseSubLine: got %+v, want 400 received at 20000 msg/s", sl)
	}
	// A subscriber that got nothing has rate 0, which is a result.
	if _, err := parseSubLine([]byte(`{"role":"sub","id":0,"size":16,"received":0,"seconds":0,"msgs_per_sec":0}`), testPSRun, 0); err != nil {
		t.Errorf("parseSubLine of an empty subscriber: got %v, want nil", err)
	}
}

func TestParsePubSubLinesErrors(t *testing.T) {
	for _, out := range []string{
		"",
		"{not json}",
		`{"role":"sub","size":16,"count":1000,"subs":2,"match":50,"expected":500,"msgs_per_sec":1}`,
		`{"role":"pub","size":16,"count":1000,"subs":2,"match":50,"msgs_per_sec":1}`,
		`{"role":"pub","size":16,"count":1000,"subs":3,"match":50,"expected":500,"msgs_per_sec":1}`,
		`{"role":"pub","size":16,"count":1000,"subs":2,"match":50,"expected":499,"msgs_per_sec":1}`,
		`{"role":"pub","size":16,"count":1000,"subs":2,"match":50,"expected":500,"msgs_per_sec":0}`,
		`{"role":"pub","size":16,"count":1000,"subs":2,"match":50,"expected":500}`,
	} {
		if _, err := parsePubLine([]byte(out), testPSRun); err == nil {
			t.Errorf("parsePubLine(%q): got nil error, want one", out)
		}
	}
	for _, out := range []string{
		"",
		`{"role":"pub","id":1,"size":16,"received":1,"msgs_per_sec":1}`,
		`{"role":"sub","id":0,"size":16,"received":1,"msgs_per_sec":1}`,
		`{"role":"sub","id":1,"size":17,"received":1,"msgs_per_sec":1}`,
		`{"role":"sub","id":1,"size":16,"received":501,"msgs_per_sec":1}`,
		`{"role":"sub","id":1,"size":16,"received":-1,"msgs_per_sec":1}`,
		`{"role":"sub","id":1,"size":16,"received":1,"msgs_per_sec":-1}`,
		`{"role":"sub","id":1,"size":16,"received":1}`,
	} {
		if _, err := parseSubLine([]byte(out), testPSRun, 1); err == nil {
			t.Errorf("parseSubLine(%q): got nil error, want one", out)
		}
	}
	if _, err := parseSubLine(nil, testPSRun, 1); !errors.Is(err, errNoPeerLine) {
		t.Errorf("parseSubLine(nil): got %v, want errNoPeerLine", err)
	}
}

// wispPSOut is a line like the one wisp's bench command prints.
const wispPSOut = `{"pattern":"pubsub","transport":"tcp","size":16,"count":1000,"acks":false,"hwm":1000,"seconds":0.001,` +
	`"msgs_per_sec":1000000,"mb_per_sec":16,"subs":2,"match":50,"matched":500,"pub_msgs_per_sec":1000000,` +
	`"pub_msgs_written":900,"pub_drops":100,"sub_msgs_per_sec_median":1,"sub_msgs_per_sec_min":1,` +
	`"sender_cpu_sec":0.05,` +
	`"subscribers":[{"session":"a","received":500,"seconds":0.002,"msgs_per_sec":250000,"drops":0,"cpu_sec":0.01},` +
	`{"session":"b","received":400,"seconds":0.002,"msgs_per_sec":200000,"drops":100,"cpu_sec":0.02}]}`

func TestParseWispPSLine(t *testing.T) {
	s, err := parseWispPSLine([]byte("starting\n"+wispPSOut+"\n"), testPSRun)
	if err != nil {
		t.Fatalf("got error %v, want nil", err)
	}
	if s.expected != 500 || s.pubMsgsPerSec != 1e6 || !slices.Equal(s.subMsgsPerSec, []float64{250000, 200000}) || !slices.Equal(s.received, []int64{500, 400}) {
		t.Errorf("got %+v, want expected 500, pub 1e6, rates [250000 200000], received [500 400]", s)
	}
	// 0.05 s for 1000 published; 0.01 s for 500 and 0.02 s for 400 received.
	if s.count != 1000 || s.pubCPU != 0.05 || !slices.Equal(s.subCPU, []float64{0.01, 0.02}) || s.pubCPUPerM() != 50 || s.subCPUPerM() != 35 {
		t.Errorf("got count %d CPU %v/%v per 1M %v/%v, want 1000, 0.05/[0.01 0.02], 50/35", s.count, s.pubCPU, s.subCPU, s.pubCPUPerM(), s.subCPUPerM())
	}
	// The CPU fields are optional.
	noCPU := strings.NewReplacer(`"sender_cpu_sec":0.05,`, "", `,"cpu_sec":0.01`, "", `,"cpu_sec":0.02`, "").Replace(wispPSOut)
	if s, err := parseWispPSLine([]byte(noCPU), testPSRun); err != nil || !math.IsNaN(s.pubCPUPerM()) || !math.IsNaN(s.subCPUPerM()) {
		t.Errorf("parseWispPSLine without CPU: got %v, CPU per 1M %v/%v, want nil and NaN", err, s.pubCPUPerM(), s.subCPUPerM())
	}
	for _, bad := range []struct{ from, to string }{
		{`"pattern":"pubsub"`, `"pattern":"pushpull"`},
		{`"transport":"tcp"`, `"transport":"ipc"`},
		{`"subs":2`, `"subs":3`},
		{`"match":50`, `"match":100`},
		{`"matched":500`, `"matched":501`},
		{`"count":1000`, `"count":999`},
		{`"pub_msgs_per_sec":1000000`, `"pub_msgs_per_sec":0`},
		{`"received":500`, `"received":501`},
		{`"msgs_per_sec":200000`, `"msgs_per_sec":-2`},
		{`,{"session":"b"`, `]}` + "\n" + `{"x":[{"session":"b"`},
	} {
		out := strings.Replace(wispPSOut, bad.from, bad.to, 1)
		if _, err := parseWispPSLine([]byte(out), testPSRun); err == nil {
			t.Errorf("parseWispPSLine with %s: got nil error, want one", bad.to)
		}
	}
	// matched is optional.
	if _, err := parseWispPSLine([]byte(strings.Replace(wispPSOut, `"matched":500,`, "", 1)), testPSRun); err != nil {
		t.Errorf("parseWispPSLine without matched: got %v, want nil", err)
	}
}

func TestPSSample(t *testing.T) {
	s := psSample{count: 200, expected: 100, pubMsgsPerSec: 5, subMsgsPerSec: []float64{30, 10, 20, 40}, received: []int64{100, 90, 80, 100},
		pubCPU: 0.001, subCPU: []float64{0.0001, 0.00009, 0.0004, 0}}
	if got := s.subMedian(); got != 25 {
		t.Errorf("subMedian: got %v, want 25", got)
	}
	if got := s.subMin(); got != 10 {
		t.Errorf("subMin: got %v, want 10", got)
	}
	if got := s.drops(); got != 30 {
		t.Errorf("drops: got %d, want 30", got)
	}
	if got := s.dropPct(); got != 7.5 {
		t.Errorf("dropPct: got %v, want 7.5", got)
	}
	if got := s.pubCPUPerM(); math.Abs(got-5) > 1e-9 {
		t.Errorf("pubCPUPerM: got %v, want 5", got)
	}
	// Per subscriber 1, 1, 5 and 0 s per 1M received: the median is 1.
	if got := s.subCPUPerM(); math.Abs(got-1) > 1e-9 {
		t.Errorf("subCPUPerM: got %v, want 1", got)
	}
	// A subscriber that received nothing has no CPU per message.
	none := psSample{count: 10, received: []int64{0, 0}, subCPU: []float64{0.1, 0.1}}
	if got := none.subCPUPerM(); !math.IsNaN(got) {
		t.Errorf("subCPUPerM with nothing received: got %v, want NaN", got)
	}
	var empty psSample
	if !math.IsNaN(empty.subMin()) || !math.IsNaN(empty.subMedian()) || !math.IsNaN(empty.dropPct()) || !math.IsNaN(empty.subCPUPerM()) {
		t.Errorf("empty sample: got min %v median %v drop %v, want NaN", empty.subMin(), empty.subMedian(), empty.dropPct())
	}
}

func TestSummarizePS(t *testing.T) {
	got := summarizePS([]psSample{
		{count: 10, expected: 10, pubMsgsPerSec: 300, subMsgsPerSec: []float64{30, 10}, received: []int64{10, 10}, pubCPU: 1, subCPU: []float64{1, 1}},
		{count: 10, expected: 10, pubMsgsPerSec: 100, subMsgsPerSec: []float64{50, 40}, received: []int64{5, 5}, pubCPU: 3, subCPU: []float64{1, 1}},
		{count: 10, expected: 10, pubMsgsPerSec: 200, subMsgsPerSec: []float64{20, 20}, received: []int64{9, 10}, pubCPU: 2, subCPU: []float64{math.NaN(), 0.5}},
	})
	want := psStats{rounds: 3, subMedian: 20, subMin: 20, pubMsgsPerSec: 200, drops: 1, dropPct: 5, pubCPUPM: 200_000, subCPUPM: 100_000}
	if got != want {
		t.Errorf("summarizePS: got %+v, want %+v", got, want)
	}
	if e := summarizePS(nil); e.rounds != 0 || !math.IsNaN(e.subMedian) || !math.IsNaN(e.drops) {
		t.Errorf("summarizePS(nil): got %+v, want 0 rounds and NaN values", e)
	}
}

func TestPSRowRatio(t *testing.T) {
	r := psRow{impls: map[string]psStats{implWisp: {subMedian: 300}, implLibzmq: {subMedian: 200}}}
	if got := r.ratio(implLibzmq); got != 1.5 {
		t.Errorf("ratio(libzmq): got %v, want 1.5", got)
	}
	if got := r.ratio(implZMQ4); !math.IsNaN(got) {
		t.Errorf("ratio(zmq4) without zmq4: got %v, want NaN", got)
	}
}

func testPSRows() []psRow {
	return []psRow{{
		psRun: psRun{transport: "tcp", size: 16, count: 200_000, subs: 4, match: 100},
		impls: map[string]psStats{
			implWisp:         {rounds: 3, subMedian: 900_000, subMin: 800_000, pubMsgsPerSec: 2_000_000, drops: 40_000, dropPct: 5, pubCPUPM: 1.25, subCPUPM: 0.5},
			implLibzmq:       {rounds: 3, subMedian: 600_000, subMin: 500_000, pubMsgsPerSec: 7_000_000, drops: 760_000, dropPct: 95, pubCPUPM: 0.25, subCPUPM: 2},
			implLibzmqNodrop: {rounds: 3, subMedian: 300_000, subMin: 250_000, pubMsgsPerSec: 300_000, drops: 0, dropPct: 0, pubCPUPM: 2, subCPUPM: 0.75},
			implZMQ4:         {rounds: 2, subMedian: 10_000, subMin: 9_500.4, pubMsgsPerSec: 150_000, drops: 0, dropPct: 0, pubCPUPM: 30, subCPUPM: math.NaN()},
			implWispNodrop:   {rounds: 3, subMedian: 450_000, subMin: 400_000, pubMsgsPerSec: 450_000, drops: 0, dropPct: 0, pubCPUPM: 1.5, subCPUPM: 0.5},
		},
	}, {
		psRun: psRun{transport: "ipc", size: 256, count: 200_001, subs: 4, match: 50},
		impls: map[string]psStats{
			implLibzmq: {rounds: 1, subMedian: 100, subMin: 90, pubMsgsPerSec: 1000, drops: 12, dropPct: 12.345, pubCPUPM: 3, subCPUPM: 4},
		},
	}}
}

func TestWritePSTable(t *testing.T) {
	var b strings.Builder
	if err := writePSTable(&b, testMachine, testPSRows(), 3, psImpls, []string{"wisp skipped: no pubsub"}); err != nil {
		t.Fatalf("writePSTable: got error %v, want nil", err)
	}
	want := `machine: Test CPU, 2 cores, go1.26.0 linux/amd64, libzmq 4.3.4
PUB -> SUB fan-out throughput, medians over 3 round(s). sub msg/s: messages one subscriber received per second, from its first data message to its last; median over the subscribers, and min = the slowest subscriber. wisp/X: ratio of the median sub msg/s, higher is better: above 1.00x wisp's subscribers receive faster. drops: matching messages that reached no subscriber, in % of what all subscribers should have received. pub msg/s: messages published (matching or not) per second, from the first send to the last. match: % of the published messages that match the subscribers' topic. Read a rate next to its drops: a subscriber that lost most messages got the rest in bursts, and its rate is how fast it read them. CPU = user+sys seconds of each process over its whole life: the publisher's per 1M messages published / a subscriber's per 1M messages it received, median over the subscribers.
wisp-nodrop is wisp whose PUB waits for a full subscriber instead of dropping (socket.WithNoDrop, bench thr -nodrop); wisp-nodrop/libzmq-nodrop compares it with libzmq's lossless publisher (ZMQ_XPUB_NODROP=1), higher is better.

| transport | size | match | count | subs | wisp sub msg/s | libzmq sub msg/s | libzmq-nodrop sub msg/s | zmq4 sub msg/s | wisp-nodrop sub msg/s | wisp/libzmq | wisp/libzmq-nodrop | wisp/zmq4 | wisp-nodrop/libzmq-nodrop | wisp min sub msg/s | libzmq min sub msg/s | libzmq-nodrop min sub msg/s | zmq4 min sub msg/s | wisp-nodrop min sub msg/s | wisp drops | libzmq drops | libzmq-nodrop drops | zmq4 drops | wisp-nodrop drops | wisp pub msg/s | libzmq pub msg/s | libzmq-nodrop pub msg/s | zmq4 pub msg/s | wisp-nodrop pub msg/s | wisp CPU s/1M pub/sub | libzmq CPU s/1M pub/sub | libzmq-nodrop CPU s/1M pub/sub | zmq4 CPU s/1M pub/sub | wisp-nodrop CPU s/1M pub/sub |
| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |
| tcp | 16 B | 100% | 200,000 | 4 | 900,000 | 600,000 | 300,000 | 10,000 | 450,000 | 1.50x | 3.00x | 90.00x | 1.50x | 800,000 | 500,000 | 250,000 | 9,500 | 400,000 | 5.0% | 95.0% | 0.0% | 0.0% | 0.0% | 2,000,000 | 7,000,000 | 300,000 | 150,000 | 450,000 | 1.25/0.50 | 0.25/2.00 | 2.00/0.75 | 30.00/n/a | 1.50/0.50 |
| ipc | 256 B | 50% | 200,001 | 4 | n/a | 100 | n/a | n/a | n/a | n/a | n/a | n/a | n/a | n/a | 90 | n/a | n/a | n/a | n/a | 12.3% | n/a | n/a | n/a | n/a | 1,000 | n/a | n/a | n/a | n/a | 3.00/4.00 | n/a | n/a | n/a |

Notes:
- wisp skipped: no pubsub
`
	if got := b.String(); got != want {
		t.Errorf("writePSTable:\ngot\n%s\nwant\n%s", got, want)
	}
	// Without -nodrop there are no libzmq-nodrop columns.
	b.Reset()
	if err := writePSTable(&b, testMachine, testPSRows(), 3, []string{implWisp, implLibzmq, implZMQ4}, nil); err != nil {
		t.Fatalf("writePSTable: got error %v, want nil", err)
	}
	if strings.Contains(b.String(), implLibzmqNodrop) || !strings.Contains(b.String(), "| wisp/libzmq | wisp/zmq4 |") {
		t.Errorf("writePSTable without nodrop: got\n%s\nwant no %s columns", b.String(), implLibzmqNodrop)
	}
}

func TestWritePSJSON(t *testing.T) {
	var b strings.Builder
	if err := writePSJSON(&b, testMachine, testPSRows(), 3, []string{implWisp, implLibzmq, implZMQ4}); err != nil {
		t.Fatalf("writePSJSON: got error %v, want nil", err)
	}
	rows := decodeJSONLines[psJSONRow](t, b.String())
	if len(rows) != 2 {
		t.Fatalf("got %d rows, want 2", len(rows))
	}
	first := rows[0]
	if first.Mode != "pubsub" || first.Pattern != "pubsub" || first.Transport != "tcp" || first.Size != 16 || first.Match != 100 ||
		first.Count != 200_000 || first.Subs != 4 || first.ExpectedPerSub != 200_000 || first.Rounds != 3 || first.Machine != testMachine {
		t.Errorf("first row: got %+v, want pubsub tcp 16 B 100%% 200000 4 subs, 200000 expected, 3 rounds, the test machine", first)
	}
	if v := first.WispPerLibzmq; v == nil || *v != 1.5 {
		t.Errorf("wisp_per_libzmq_sub_msgs_per_sec: got %v, want 1.5", v)
	}
	// Results list only the implementations asked for.
	if _, ok := first.Results[implLibzmqNodrop]; ok || len(first.Results) != 3 {
		t.Errorf("results: got %v, want wisp, libzmq and zmq4 only", first.Results)
	}
	w := first.Results[implWisp]
	if w.OKRounds != 3 || *w.SubMsgsPerSecMedian != 900_000 || *w.SubMsgsPerSecMin != 800_000 || *w.PubMsgsPerSec != 2e6 || *w.Drops != 40_000 || *w.DropPct != 5 {
		t.Errorf("wisp results: got %+v, want 3 rounds 900000/800000/2e6, 40000 drops, 5%%", w)
	}
	if w.PubCPUPer1M == nil || *w.PubCPUPer1M != 1.25 || w.SubCPUPer1MMedian == nil || *w.SubCPUPer1MMedian != 0.5 {
		t.Errorf("wisp CPU per 1M: got %v/%v, want 1.25/0.5", w.PubCPUPer1M, w.SubCPUPer1MMedian)
	}
	if z := first.Results[implZMQ4]; z.PubCPUPer1M == nil || z.SubCPUPer1MMedian != nil {
		t.Errorf("zmq4 CPU per 1M: got %v/%v, want 30/null", z.PubCPUPer1M, z.SubCPUPer1MMedian)
	}
	second := rows[1]
	if second.ExpectedPerSub != 100_001 || second.WispPerLibzmq != nil || second.WispPerZMQ4 != nil || second.Results[implWisp].SubMsgsPerSecMedian != nil {
		t.Errorf("second row: got %+v, want 100001 expected and nulls for wisp", second)
	}
}

func checkPSSample(t *testing.T, s psSample, p psRun, lossless bool) {
	t.Helper()
	if s.expected != p.expected() || len(s.received) != p.subs || len(s.subMsgsPerSec) != p.subs || !(s.pubMsgsPerSec > 0) {
		t.Fatalf("got %+v, want %d expected, %d subscribers and a publisher rate", s, p.expected(), p.subs)
	}
	// Every process spends some CPU; NaN would mean it was not measured.
	if s.count != p.count || !(s.pubCPU > 0) || len(s.subCPU) != p.subs || !(s.pubCPUPerM() > 0) {
		t.Errorf("got count %d publisher CPU %v subscribers' %v, want %d and CPU above 0 for %d subscribers", s.count, s.pubCPU, s.subCPU, p.count, p.subs)
	}
	for i, cpu := range s.subCPU {
		if !(cpu > 0) {
			t.Errorf("subscriber %d: got CPU %v s, want above 0", i, cpu)
		}
	}
	for i, r := range s.received {
		if lossless && r != p.expected() {
			t.Errorf("subscriber %d: got %d messages, want all %d", i, r, p.expected())
		}
		if r > 1 && !(s.subMsgsPerSec[i] > 0) {
			t.Errorf("subscriber %d: got rate %v after %d messages, want more than 0", i, s.subMsgsPerSec[i], r)
		}
	}
}

func TestZMQ4Pubsub(t *testing.T) {
	r, err := newZMQ4PubsubRunner(newTestEnv(t))
	if err != nil {
		t.Fatalf("newZMQ4PubsubRunner: got error %v, want nil", err)
	}
	for _, p := range []psRun{
		{transport: "tcp", size: 16, count: 300, subs: 2, match: 100},
		{transport: "ipc", size: 64, count: 301, subs: 2, match: 50},
	} {
		s, err := r.pubsub(context.Background(), p)
		if err != nil {
			t.Fatalf("%+v: got error %v, want nil", p, err)
		}
		// zmq4's PUB queue has no limit: nothing is dropped.
		checkPSSample(t, s, p, true)
	}
}

func TestLibzmqPubsub(t *testing.T) {
	if exec.Command("pkg-config", "--exists", "libzmq").Run() != nil {
		t.Skip("pkg-config or libzmq missing: " + libzmqPackages)
	}
	lossy, nodrop, version, err := newLibzmqPubsubRunners(context.Background(), newTestEnv(t))
	if err != nil {
		t.Fatalf("newLibzmqPubsubRunners: got error %v, want nil", err)
	}
	if !strings.HasPrefix(version, "4.") {
		t.Errorf("libzmq version: got %q, want 4.x.y", version)
	}
	for _, p := range []psRun{
		{transport: "tcp", size: 16, count: 3000, subs: 2, match: 100},
		{transport: "ipc", size: 64, count: 3001, subs: 2, match: 50},
	} {
		s, err := lossy.pubsub(context.Background(), p)
		if err != nil {
			t.Fatalf("libzmq %+v: got error %v, want nil", p, err)
		}
		checkPSSample(t, s, p, false)
		s, err = nodrop.pubsub(context.Background(), p)
		if err != nil {
			t.Fatalf("libzmq nodrop %+v: got error %v, want nil", p, err)
		}
		checkPSSample(t, s, p, true)
	}
}

func TestPsPeerUsage(t *testing.T) {
	for _, args := range [][]string{
		{"pub", "ipc:///nowhere", "16", "10", "2"},
		{"pub", "ipc:///nowhere", "3", "10", "2", "100"},
		{"pub", "ipc:///nowhere", "16", "0", "2", "100"},
		{"pub", "ipc:///nowhere", "16", "10", "0", "100"},
		{"pub", "ipc:///nowhere", "16", "10", "2", "101"},
		{"pub", "ipc:///nowhere", "16", "10", "2", "100", "nodrop"},
		{"sub", "ipc:///nowhere", "16"},
		{"sub", "ipc:///nowhere", "16", "-1"},
		{"sub", "ipc:///nowhere", "16", "64"},
	} {
		if got := peerMain(args, io.Discard, io.Discard); got != 2 {
			t.Errorf("peerMain(%q): got exit %d, want 2", args, got)
		}
	}
}

// stubPubsubBench writes a stand-in for wisp's bench command that answers
// "thr -pattern pubsub -subs N -transport T -size S -count C -match M" with
// a line like the real one: the first subscriber gets every matching
// message, the others one less.
func stubPubsubBench(t *testing.T) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "wispbench")
	script := `#!/bin/sh
if [ "$1" != thr ] || [ "$2" != -pattern ] || [ "$3" != pubsub ] || [ "$4" != -subs ] || [ "$6" != -transport ] ||
   [ "$8" != -size ] || [ "${10}" != -count ] || [ "${12}" != -match ] || [ $# -ne 13 ]; then
	echo "bench: pattern: got \"$3\", want one of [pushpull broker]" >&2
	exit 2
fi
matched=$(( (${11} * ${13} + 99) / 100 ))
subs="" i=0
while [ $i -lt $5 ]; do
	got=$(( i == 0 ? matched : matched - 1 ))
	subs="$subs${subs:+,}{\"received\":$got,\"seconds\":0.5,\"msgs_per_sec\":$(( (i + 1) * 1000 )),\"drops\":$(( matched - got ))}"
	i=$(( i + 1 ))
done
echo "starting subscribers"
echo "{\"pattern\":\"pubsub\",\"transport\":\"$7\",\"size\":$9,\"count\":${11},\"subs\":$5,\"match\":${13},\"matched\":$matched,\"pub_msgs_per_sec\":5000,\"subscribers\":[$subs]}"
`
	if err := os.WriteFile(path, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestWispPubsubStub(t *testing.T) {
	r := &wispRunner{env: newTestEnv(t), path: stubPubsubBench(t)}
	if err := r.probePubsub(context.Background(), "ipc"); err != nil {
		t.Fatalf("probePubsub: got error %v, want nil", err)
	}
	p := psRun{transport: "tcp", size: 256, count: 2001, subs: 3, match: 50}
	s, err := r.pubsub(context.Background(), p)
	if err != nil {
		t.Fatalf("pubsub: got error %v, want nil", err)
	}
	want := psSample{expected: 1001, pubMsgsPerSec: 5000, subMsgsPerSec: []float64{1000, 2000, 3000}, received: []int64{1001, 1000, 1000}}
	if s.expected != want.expected || s.pubMsgsPerSec != want.pubMsgsPerSec || !slices.Equal(s.subMsgsPerSec, want.subMsgsPerSec) || !slices.Equal(s.received, want.received) {
		t.Errorf("pubsub: got %+v, want %+v", s, want)
	}
	if s.drops() != 2 {
		t.Errorf("drops: got %d, want 2", s.drops())
	}
}

func TestWispPubsubMissing(t *testing.T) {
	// The bench command as it was before pubsub: the probe says so once.
	r := &wispRunner{env: newTestEnv(t), path: stubBench(t)}
	if err := r.probePubsub(context.Background(), "tcp"); !errors.Is(err, errNoPubsub) {
		t.Errorf("probePubsub with a bench command without pubsub: got %v, want errNoPubsub", err)
	}
	echo := &wispRunner{env: newTestEnv(t), path: "/bin/echo"}
	if _, err := echo.pubsub(context.Background(), testPSRun); !errors.Is(err, errNoPeerLine) {
		t.Errorf("pubsub with /bin/echo: got %v, want errNoPeerLine", err)
	}
}

// A tiny real run of the whole program in pubsub mode, zmq4 only so it
// needs neither libzmq nor a build of wisp.
func TestRunPubsubJSON(t *testing.T) {
	var out, progress strings.Builder
	args := []string{"-mode", "pubsub", "-impls", "zmq4", "-sizes", "16", "-transports", "ipc", "-count", "40", "-subs", "2",
		"-match", "100,50", "-rounds", "1", "-json"}
	if err := run(context.Background(), args, &out, &progress); err != nil {
		t.Fatalf("run(%q): got error %v, want nil; progress:\n%s", args, err, progress.String())
	}
	rows := decodeJSONLines[psJSONRow](t, out.String())
	if len(rows) != 2 {
		t.Fatalf("got %d rows, want 2:\n%s", len(rows), out.String())
	}
	for i, match := range []int{100, 50} {
		r := rows[i]
		z := r.Results[implZMQ4]
		if r.Mode != "pubsub" || r.Transport != "ipc" || r.Size != 16 || r.Count != 40 || r.Subs != 2 || r.Match != match ||
			r.Rounds != 1 || z.OKRounds != 1 || z.Drops == nil || *z.Drops != 0 || z.SubMsgsPerSecMedian == nil {
			t.Errorf("row %d: got %+v, want pubsub ipc 16 40 2 subs %d%% with 1 good zmq4 round and no drops", i, r, match)
		}
		if r.Machine.Libzmq != "not used" || r.WispPerZMQ4 != nil || len(r.Results) != 3 {
			t.Errorf("row %d: got libzmq %q ratio %v results %v, want \"not used\", null, 3 results", i, r.Machine.Libzmq, r.WispPerZMQ4, r.Results)
		}
	}
}

// wisp's fan-out through its bench command built from this repository: the
// publisher's and every subscriber's CPU come through its JSON line.
func TestWispPubsub(t *testing.T) {
	w := buildWispBench(t, newTestEnv(t))
	for _, p := range []psRun{
		{transport: "tcp", size: 16, count: 3000, subs: 2, match: 100},
		{transport: "ipc", size: 64, count: 3001, subs: 2, match: 50},
	} {
		s, err := w.pubsub(context.Background(), p)
		if err != nil {
			t.Fatalf("%+v: got error %v, want nil", p, err)
		}
		checkPSSample(t, s, p, false)
	}
}

// wisp-nodrop is wisp's pubsub run plus -nodrop, and its own copy of it.
func TestWispNodropArgs(t *testing.T) {
	w := &wispRunner{env: newTestEnv(t), path: "/wisp/bench"}
	p := psRun{transport: "tcp", size: 16, count: 1000, subs: 2, match: 50}
	want := []string{"thr", "-pattern", "pubsub", "-subs", "2", "-transport", "tcp", "-size", "16", "-count", "1000", "-match", "50"}
	if got := w.psArgs(p); !slices.Equal(got, want) {
		t.Errorf("wisp: got %q, want %q", got, want)
	}
	n := w.withPSArgs("-nodrop")
	if got := n.psArgs(p); !slices.Equal(got, append(want, "-nodrop")) {
		t.Errorf("wisp-nodrop: got %q, want %q", got, append(want, "-nodrop"))
	}
	if len(w.psExtra) != 0 || n.path != w.path {
		t.Errorf("withPSArgs: got wisp's extra args %q and path %q, want wisp unchanged and its path", w.psExtra, n.path)
	}
}

// The whole program with -nodrop and wisp alone: wisp-nodrop runs too,
// loses nothing, and its ratio to libzmq-nodrop is null without libzmq.
func TestRunPubsubWispNodrop(t *testing.T) {
	var out, progress strings.Builder
	args := []string{"-mode", "pubsub", "-nodrop", "-impls", "wisp", "-sizes", "16", "-transports", "tcp", "-count", "2000", "-subs", "2", "-rounds", "1", "-json"}
	if err := run(context.Background(), args, &out, &progress); err != nil {
		t.Fatalf("run(%q): got error %v, want nil; progress:\n%s", args, err, progress.String())
	}
	rows := decodeJSONLines[psJSONRow](t, out.String())
	if len(rows) != 1 {
		t.Fatalf("got %d rows, want 1:\n%s", len(rows), out.String())
	}
	r, ok := rows[0].Results[implWispNodrop]
	if !ok || r.OKRounds != 1 || r.Drops == nil || *r.Drops != 0 || r.SubMsgsPerSecMedian == nil || !(*r.SubMsgsPerSecMedian > 0) {
		t.Errorf("results[%s]: got %+v (present %v), want one good round, no drops, a rate; progress:\n%s", implWispNodrop, r, ok, progress.String())
	}
	if rows[0].WispNodropPerLibzmqNodrop != nil {
		t.Errorf("wisp_nodrop_per_libzmq_nodrop: got %v, want null without libzmq", *rows[0].WispNodropPerLibzmqNodrop)
	}
}
