package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/wispmq/wisp/socket"
	"go.uber.org/goleak"
)

// asMainEnv makes the test binary act as the bench command: thr re-executes
// os.Executable(), which under go test is this binary.
const asMainEnv = "WISP_BENCH_TEST_AS_MAIN"

func TestMain(m *testing.M) {
	if os.Getenv(asMainEnv) == "1" {
		os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
	}
	os.Setenv(asMainEnv, "1") // inherited by the children thr starts
	if os.Getenv("GORACE") == "" {
		// Under -race every process otherwise sleeps a second at exit, and
		// the suite test starts a dozen of them.
		os.Setenv("GORACE", "atexit_sleep_ms=0")
	}
	goleak.VerifyTestMain(m)
}

// thrFields is the JSON contract of thr's line.
var thrFields = []string{
	"pattern", "transport", "size", "count", "seconds", "msgs_per_sec", "mb_per_sec",
	"sender_cpu_sec", "receiver_cpu_sec", "sender_maxrss_kb", "receiver_maxrss_kb", "acks", "hwm", "protocol",
}

func TestThr(t *testing.T) {
	for _, tr := range []string{"inproc", "ipc", "tcp"} {
		t.Run(tr, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			code := run([]string{"thr", "-pattern", "pushpull", "-transport", tr, "-size", "100", "-count", "20000", "-hwm", "500"}, &stdout, &stderr)
			if code != exitOK {
				t.Fatalf("exit code: got %d, want 0; stderr: %s", code, stderr.String())
			}
			lines := strings.Split(strings.TrimSpace(stdout.String()), "\n")
			if len(lines) != 1 {
				t.Fatalf("stdout: got %d lines %q, want 1 JSON line", len(lines), stdout.String())
			}
			var fields map[string]any
			if err := json.Unmarshal([]byte(lines[0]), &fields); err != nil {
				t.Fatalf("stdout %q: got %v, want JSON", lines[0], err)
			}
			for _, k := range thrFields {
				if _, ok := fields[k]; !ok {
					t.Errorf("field %q: got none, want it in %s", k, lines[0])
				}
			}
			var r result
			if err := json.Unmarshal([]byte(lines[0]), &r); err != nil {
				t.Fatal(err)
			}
			if r.Count != 20000 || r.Size != 100 || r.Transport != tr || r.Pattern != "pushpull" || r.HWM != 500 || !r.Acks || r.Protocol != "wisp" {
				t.Errorf("got %+v, want count 20000, size 100, transport %s, pattern pushpull, hwm 500, acks, protocol wisp", r, tr)
			}
			if !(r.Seconds > 0) || !(r.MsgsPerSec > 0) || !(r.SenderCPUSec > 0) || !(r.ReceiverCPUSec > 0) || r.SenderMaxRSSKB <= 0 || r.ReceiverMaxRSSKB <= 0 {
				t.Errorf("got %+v, want positive seconds, rate, CPU and RSS", r)
			}
			if got, want := r.OneProcess, tr == "inproc"; got != want {
				t.Errorf("one_process: got %v, want %v", got, want)
			}
			for _, k := range brokerOnlyFields {
				if _, ok := fields[k]; ok {
					t.Errorf("field %q: got it in %s, want it for the broker only", k, lines[0])
				}
			}
			if _, ok := fields["batch"]; ok {
				t.Errorf("field batch: got it in %s, want it only with -batch above 1", lines[0])
			}
			for _, k := range pubSubOnlyFields {
				if _, ok := fields[k]; ok {
					t.Errorf("field %q: got it in %s, want it for pubsub only", k, lines[0])
				}
			}
		})
	}
}

// TestThrBatch runs PUSH/PULL with SendMany and RecvMany (-batch) over
// each transport: every message arrives (the receiver checks the count),
// and the line says how many a batch held.
func TestThrBatch(t *testing.T) {
	for _, tr := range []string{"inproc", "ipc", "tcp"} {
		t.Run(tr, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			// 20,001 is no multiple of the batch: the last batch is short.
			code := run([]string{"thr", "-transport", tr, "-size", "16", "-count", "20001", "-batch", "50"}, &stdout, &stderr)
			if code != exitOK {
				t.Fatalf("exit code: got %d, want 0; stderr: %s", code, stderr.String())
			}
			var r result
			if err := json.Unmarshal(bytes.TrimSpace(stdout.Bytes()), &r); err != nil {
				t.Fatalf("stdout %q: got %v, want one JSON line", stdout.String(), err)
			}
			if r.Batch != 50 || r.Count != 20001 || !(r.MsgsPerSec > 0) {
				t.Errorf("got %+v, want batch 50, count 20001 and a rate", r)
			}
		})
	}
}

// pubSubOnlyFields are in thr's line for the pubsub pattern only.
var pubSubOnlyFields = []string{
	"subs", "match", "matched", "pub_msgs_per_sec", "pub_msgs_written", "pub_drops",
	"sub_msgs_per_sec_median", "sub_msgs_per_sec_min", "subscribers", "nodrop",
}

// subscriberFields are in each entry of a pubsub line's subscribers.
var subscriberFields = []string{"session", "received", "seconds", "msgs_per_sec", "drops"}

func TestPubSub(t *testing.T) {
	for _, tc := range []struct {
		transport   string
		size, subs  int
		count       int64
		match, hwm  int
		wantMatched int64
		nodrop      bool
	}{
		{"inproc", 16, 4, 3000, 100, 0, 3000, false},
		{"ipc", 16, 2, 3000, 100, 0, 3000, false},
		{"tcp", 16, 4, 3000, 100, 0, 3000, false},
		{"tcp", 100, 3, 3001, 50, 0, 1501, false},
		{"inproc", 2, 2, 3001, 50, 0, 1501, false},
		{"tcp", 16, 2, 3000, 100, 10, 3000, false}, // drops at the mark; counts still add up
		{"tcp", 16, 2, 3000, 100, 10, 3000, true},  // the same mark, and no drops
	} {
		name := fmt.Sprintf("%s/size=%d/subs=%d/match=%d/hwm=%d/nodrop=%v", tc.transport, tc.size, tc.subs, tc.match, tc.hwm, tc.nodrop)
		t.Run(name, func(t *testing.T) {
			args := []string{"thr", "-pattern", "pubsub", "-transport", tc.transport, "-size", strconv.Itoa(tc.size),
				"-count", strconv.FormatInt(tc.count, 10), "-subs", strconv.Itoa(tc.subs), "-match", strconv.Itoa(tc.match),
				"-hwm", strconv.Itoa(tc.hwm), "-nodrop=" + strconv.FormatBool(tc.nodrop)}
			var line json.RawMessage
			oneJSONLine(t, args, append(thrFields, pubSubOnlyFields...), &line)
			var raw map[string]any
			var r result
			if err := errors.Join(json.Unmarshal(line, &raw), json.Unmarshal(line, &r)); err != nil {
				t.Fatal(err)
			}
			subsRaw, _ := raw["subscribers"].([]any)
			for i, e := range subsRaw {
				m, _ := e.(map[string]any)
				for _, k := range subscriberFields {
					if _, ok := m[k]; !ok {
						t.Errorf("subscriber %d: field %q: got none, want it in %v", i+1, k, m)
					}
				}
				if _, ok := m["cpu_sec"]; ok != (tc.transport != "inproc") {
					t.Errorf("subscriber %d: cpu_sec present: got %v, want %v", i+1, ok, tc.transport != "inproc")
				}
			}
			for _, k := range brokerOnlyFields {
				if _, ok := raw[k]; ok {
					t.Errorf("field %q: got it, want it for the broker only", k)
				}
			}
			checkPubSubResult(t, r, tc.transport, tc.size, tc.subs, tc.count, tc.match, tc.wantMatched)
			wantHWM := tc.hwm
			if wantHWM == 0 {
				wantHWM = socket.DefaultSendHWM
			}
			if r.HWM != wantHWM {
				t.Errorf("hwm: got %d, want %d", r.HWM, wantHWM)
			}
			if r.PubSubResult != nil && r.PubSubResult.NoDrop != tc.nodrop {
				t.Errorf("nodrop: got %v, want %v", r.PubSubResult.NoDrop, tc.nodrop)
			}
			if tc.nodrop && r.PubSubResult != nil && r.PubSubResult.PubDrops != 0 {
				t.Errorf("pub_drops with -nodrop: got %d, want 0", r.PubSubResult.PubDrops)
			}
		})
	}
}

// checkPubSubResult checks that a pubsub line is complete and adds up.
func checkPubSubResult(t *testing.T, r result, transport string, size, subs int, count int64, match int, matched int64) {
	t.Helper()
	if r.Pattern != "pubsub" || r.Transport != transport || r.Size != size || r.Count != count || r.Acks {
		t.Errorf("got %+v, want pattern pubsub, %s, size %d, count %d, no acks", r, transport, size, count)
	}
	if !(r.Seconds > 0) || !(r.MsgsPerSec > 0) || !(r.MBPerSec > 0) || !(r.SenderCPUSec > 0) || !(r.ReceiverCPUSec > 0) ||
		r.SenderMaxRSSKB <= 0 || r.ReceiverMaxRSSKB <= 0 {
		t.Errorf("got %+v, want positive seconds, rates, CPU and RSS", r)
	}
	if got, want := r.OneProcess, transport == "inproc"; got != want {
		t.Errorf("one_process: got %v, want %v", got, want)
	}
	ps := r.PubSubResult
	if ps == nil {
		t.Fatalf("got no pubsub fields in %+v, want them", r)
	}
	if ps.Subs != subs || ps.Match != match || ps.Matched != matched || ps.PubMsgsPerSec != r.MsgsPerSec {
		t.Errorf("got subs %d match %d matched %d pub_msgs_per_sec %v, want %d, %d, %d and msgs_per_sec %v",
			ps.Subs, ps.Match, ps.Matched, ps.PubMsgsPerSec, subs, match, matched, r.MsgsPerSec)
	}
	if got, want := ps.PubMsgsWritten+ps.PubDrops, uint64(matched)*uint64(subs); got != want {
		t.Errorf("pub_msgs_written %d + pub_drops %d: got %d, want matched x subs = %d", ps.PubMsgsWritten, ps.PubDrops, got, want)
	}
	if len(ps.Subscribers) != subs {
		t.Fatalf("subscribers: got %d, want %d", len(ps.Subscribers), subs)
	}
	var received int64
	var drops uint64
	var rates []float64
	sessions := map[string]bool{}
	for i, s := range ps.Subscribers {
		if uint64(s.Received)+s.Drops != uint64(matched) {
			t.Errorf("subscriber %d: got %d received + %d dropped, want %d matched", i+1, s.Received, s.Drops, matched)
		}
		if s.Received >= 2 && !(s.Seconds > 0 && s.MsgsPerSec > 0) {
			t.Errorf("subscriber %d: got %+v, want positive seconds and rate", i+1, s)
		}
		if transport != "inproc" && !(s.CPUSec > 0 && s.MaxRSSKB > 0) {
			t.Errorf("subscriber %d: got %+v, want positive CPU and RSS", i+1, s)
		}
		if s.Session == "" || sessions[s.Session] {
			t.Errorf("subscriber %d: session: got %q, want a new non-empty one", i+1, s.Session)
		}
		sessions[s.Session] = true
		received += s.Received
		drops += s.Drops
		rates = append(rates, s.MsgsPerSec)
	}
	if received != int64(ps.PubMsgsWritten) || drops != ps.PubDrops {
		t.Errorf("subscribers: got %d received and %d dropped, want pub_msgs_written %d and pub_drops %d",
			received, drops, ps.PubMsgsWritten, ps.PubDrops)
	}
	if ps.SubMsgsPerSecMin != slices.Min(rates) || ps.SubMsgsPerSecMedian < ps.SubMsgsPerSecMin || ps.SubMsgsPerSecMedian > slices.Max(rates) {
		t.Errorf("sub_msgs_per_sec_median %v min %v: want the median and the least of %v", ps.SubMsgsPerSecMedian, ps.SubMsgsPerSecMin, rates)
	}
}

// brokerOnlyFields are in thr's line for the broker pattern only.
var brokerOnlyFields = []string{"clients", "workers", "window", "broker_cpu_sec", "broker_maxrss_kb"}

// latFields is the JSON contract of lat's line.
var latFields = []string{
	"pattern", "transport", "size", "count", "warmup", "acks", "seconds", "round_trips_per_sec",
	"rtt_mean_us", "rtt_min_us", "rtt_p50_us", "rtt_p90_us", "rtt_p99_us", "rtt_max_us",
	"client_cpu_sec", "server_cpu_sec", "client_maxrss_kb", "server_maxrss_kb", "one_process", "protocol",
	"busy_poll_us",
}

// oneJSONLine runs args, checks they succeed with one JSON line on stdout
// holding every field in want, and decodes that line into v.
func oneJSONLine(t *testing.T, args []string, want []string, v any) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	if code := run(args, &stdout, &stderr); code != exitOK {
		t.Fatalf("run %q: got exit code %d, want 0; stderr: %s", args, code, stderr.String())
	}
	lines := strings.Split(strings.TrimSpace(stdout.String()), "\n")
	if len(lines) != 1 {
		t.Fatalf("stdout: got %d lines %q, want 1 JSON line", len(lines), stdout.String())
	}
	var fields map[string]any
	if err := json.Unmarshal([]byte(lines[0]), &fields); err != nil {
		t.Fatalf("stdout %q: got %v, want JSON", lines[0], err)
	}
	for _, k := range want {
		if _, ok := fields[k]; !ok {
			t.Errorf("field %q: got none, want it in %s", k, lines[0])
		}
	}
	if err := json.Unmarshal([]byte(lines[0]), v); err != nil {
		t.Fatal(err)
	}
}

func TestLat(t *testing.T) {
	for _, tr := range []string{"inproc", "ipc", "tcp"} {
		t.Run(tr, func(t *testing.T) {
			var r latResult
			oneJSONLine(t, []string{"lat", "-pattern", "reqrep", "-transport", tr, "-size", "100", "-count", "50"}, latFields, &r)
			if r.Count != 50 || r.Warmup != 5 || r.Size != 100 || r.Transport != tr || r.Pattern != "reqrep" || !r.Acks || r.Protocol != "wisp" {
				t.Errorf("got %+v, want count 50, warmup 5, size 100, transport %s, pattern reqrep, acks, protocol wisp", r, tr)
			}
			if !(r.RTTMinUS > 0 && r.RTTMinUS <= r.RTTP50US && r.RTTP50US <= r.RTTP90US && r.RTTP90US <= r.RTTP99US && r.RTTP99US <= r.RTTMaxUS) {
				t.Errorf("got min %v p50 %v p90 %v p99 %v max %v, want 0 < min <= p50 <= p90 <= p99 <= max",
					r.RTTMinUS, r.RTTP50US, r.RTTP90US, r.RTTP99US, r.RTTMaxUS)
			}
			if !(r.RTTMinUS <= r.RTTMeanUS && r.RTTMeanUS <= r.RTTMaxUS) {
				t.Errorf("got mean %v, want between min %v and max %v", r.RTTMeanUS, r.RTTMinUS, r.RTTMaxUS)
			}
			// The timed loop holds the 50 round trips and little else.
			if sum := r.RTTMeanUS * 50 / 1e6; !(r.Seconds >= sum*0.99) {
				t.Errorf("seconds: got %v, want at least the round trips' sum %v", r.Seconds, sum)
			}
			if !(r.RoundTripsPerSec > 0) || !(r.ClientCPUSec > 0) || !(r.ServerCPUSec > 0) || r.ClientMaxRSSKB <= 0 || r.ServerMaxRSSKB <= 0 {
				t.Errorf("got %+v, want positive rate, CPU and RSS", r)
			}
			if got, want := r.OneProcess, tr == "inproc"; got != want {
				t.Errorf("one_process: got %v, want %v", got, want)
			}
		})
	}
}

// TestLatBusyPoll: -busy-poll reaches both sockets' WithBusyPoll (the
// server's in its child process too: a bad value there fails the run) and
// the JSON line says it.
func TestLatBusyPoll(t *testing.T) {
	var r latResult
	oneJSONLine(t, []string{"lat", "-transport", "tcp", "-count", "200", "-busy-poll", "100us"}, latFields, &r)
	if r.BusyPollUS != 100 || r.Count != 200 || !(r.RTTMinUS > 0) {
		t.Errorf("got %+v, want busy_poll_us 100 and 200 timed round trips", r)
	}
	oneJSONLine(t, []string{"lat", "-transport", "tcp", "-count", "10"}, latFields, &r)
	if r.BusyPollUS != 0 {
		t.Errorf("without -busy-poll: got busy_poll_us %v, want 0", r.BusyPollUS)
	}
}

func TestLatOneRoundTrip(t *testing.T) {
	var r latResult
	oneJSONLine(t, []string{"lat", "-transport", "tcp", "-size", "0", "-count", "1", "-acks=false"}, latFields, &r)
	if r.Count != 1 || r.Warmup != 0 || r.Acks || r.RTTMinUS != r.RTTMaxUS || r.RTTP50US != r.RTTMaxUS {
		t.Errorf("got %+v, want count 1, warmup 0, no acks, every statistic the one round trip", r)
	}
}

func TestPubSubLineShape(t *testing.T) {
	// Every pubsub field is in the line even when zero; a subscriber's
	// CPU and RSS are left out when there are none (inproc).
	r := result{Pattern: "pubsub", PubSubResult: &PubSubResult{Subscribers: []subResult{{}}}}
	line, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	var fields map[string]any
	if err := json.Unmarshal(line, &fields); err != nil {
		t.Fatal(err)
	}
	for _, k := range append(thrFields, pubSubOnlyFields...) {
		if _, ok := fields[k]; !ok {
			t.Errorf("field %q: got none, want it in %s", k, line)
		}
	}
	for _, k := range subscriberFields {
		if !strings.Contains(string(line), `"`+k+`":`) {
			t.Errorf("subscriber field %q: got none, want it in %s", k, line)
		}
	}
	for _, k := range []string{"cpu_sec", "maxrss_kb"} {
		if strings.Contains(string(line), `"`+k+`":`) {
			t.Errorf("subscriber field %q: got it in %s, want it absent when zero", k, line)
		}
	}
}

func TestBroker(t *testing.T) {
	for _, tr := range []string{"tcp", "ipc"} {
		t.Run(tr, func(t *testing.T) {
			// The ipc socket files go into fresh directories under TMPDIR,
			// which the run must remove.
			tmp := t.TempDir()
			t.Setenv("TMPDIR", tmp)
			var r result
			args := []string{"thr", "-pattern", "broker", "-transport", tr, "-size", "32", "-count", "301", "-clients", "3", "-workers", "2", "-window", "7"}
			oneJSONLine(t, args, append(thrFields, brokerOnlyFields...), &r)
			if r.Pattern != "broker" || r.Transport != tr || r.Size != 32 || r.Count != 301 || r.Clients != 3 || r.Workers != 2 || r.Window != 7 || !r.Acks {
				t.Errorf("got %+v, want pattern broker, %s, size 32, count 301, 3 clients, 2 workers, window 7, acks", r, tr)
			}
			if !(r.Seconds > 0) || !(r.MsgsPerSec > 0) || !(r.MBPerSec > 0) || r.OneProcess {
				t.Errorf("got %+v, want positive seconds and rates, not one process", r)
			}
			if !(r.SenderCPUSec > 0) || !(r.ReceiverCPUSec > 0) || !(r.BrokerCPUSec > 0) || r.SenderMaxRSSKB <= 0 || r.ReceiverMaxRSSKB <= 0 || r.BrokerMaxRSSKB <= 0 {
				t.Errorf("got %+v, want positive CPU and RSS for clients, workers and broker", r)
			}
			if left, err := os.ReadDir(tmp); err != nil || len(left) != 0 {
				t.Errorf("TMPDIR after the run: got %d entries, %v, want none", len(left), err)
			}
		})
	}
}

func TestSummarize(t *testing.T) {
	var rtts []time.Duration
	for i := 100; i >= 1; i-- { // unsorted on purpose
		rtts = append(rtts, time.Duration(i)*time.Microsecond)
	}
	var r latResult
	summarize(rtts, &r)
	got := []float64{r.RTTMinUS, r.RTTP50US, r.RTTP90US, r.RTTP99US, r.RTTMaxUS, r.RTTMeanUS}
	want := []float64{1, 50, 90, 99, 100, 50.5}
	if !slices.Equal(got, want) {
		t.Errorf("min, p50, p90, p99, max, mean: got %v, want %v", got, want)
	}
	summarize([]time.Duration{1500 * time.Nanosecond}, &r)
	if r.RTTP50US != 1.5 || r.RTTP99US != 1.5 || r.RTTMeanUS != 1.5 {
		t.Errorf("one sample: got p50 %v p99 %v mean %v, want 1.5 each", r.RTTP50US, r.RTTP99US, r.RTTMeanUS)
	}
}

func TestThrBadArguments(t *testing.T) {
	for _, args := range [][]string{
		{"thr", "-transport", "udp"},
		{"thr", "-pattern", "nope"},
		{"thr", "-count", "1"},
		{"thr", "-size", "-1"},
		{"thr", "extra"},
		{"nope"},
		{pushPullRecvCmd, "-count", "10"}, // no endpoint
		{"thr", "-pattern", "broker", "-transport", "inproc"},
		{"thr", "-pattern", "broker", "-clients", "0"},
		{"thr", "-pattern", "broker", "-workers", "0"},
		{"thr", "-pattern", "broker", "-workers", "65"},
		{"thr", "-pattern", "broker", "-window", "0"},
		{"thr", "-pattern", "broker", "-window", "1001"},             // above the default receive mark
		{"thr", "-pattern", "broker", "-hwm", "10", "-window", "11"}, // above -hwm
		{"lat", "-transport", "udp"},
		{"lat", "-pattern", "pushpull"},
		{"lat", "-count", "0"},
		{"lat", "-count", "10000001"},
		{"lat", "-size", "-1"},
		{"lat", "-timeout", "0s"},
		{"lat", "-busy-poll", "-1us"},
		{"lat", "-busy-poll", "2s"},
		{"lat", "-busy-poll", "100us", "-transport", "inproc"},
		{"lat", "-busy-poll", "100us", "-protocol", "zmtp"},
		{"lat", "-nope"},
		{"lat", "extra"},
		{repServerCmd, "-count", "10"}, // no endpoint
		{brokerWorkersCmd, "-endpoint", "tcp://127.0.0.1:1", "-peers", "0"},
		{brokerClientsCmd, "-endpoint", "tcp://127.0.0.1:1", "-count", "10", "-window", "0"},
		{"thr", "-pattern", "pubsub", "-subs", "0"},
		{"thr", "-pattern", "pubsub", "-subs", "65"},
		{"thr", "-pattern", "pubsub", "-match", "70"},
		{"thr", "-pattern", "pubsub", "-match", "0"},
		{"thr", "-pattern", "pubsub", "-size", "1"}, // smaller than the topic
		{"thr", "-pattern", "pubsub", "-hwm", "-1"},
		{"thr", "-pattern", "pubsub", "-count", "1"},
		{"thr", "-pattern", "pubsub", "-transport", "udp"},
		{"thr", "-pattern", "pubsub", "-subs", "x"},
		{pubSubSubCmd, "-count", "10", "-size", "16"}, // no endpoint
		{pubSubSubCmd, "-endpoint", "tcp://127.0.0.1:1", "-count", "10", "-size", "1"},
		{pubSubSubCmd, "-endpoint", "tcp://127.0.0.1:1", "-count", "0", "-size", "16"},
		{"thr", "-batch", "-1"},
		{"thr", "-batch", "4097"},
		{"thr", "-pattern", "broker", "-batch", "8"},
		{"thr", "-protocol", "zmq"},
		{"thr", "-protocol", "zmtp", "-transport", "inproc"}, // inproc carries no protocol
		{"thr", "-pattern", "broker", "-protocol", "zmtp"},
		{"thr", "-pattern", "pubsub", "-protocol", "zmtp"},
		{"lat", "-protocol", "zmq"},
		{"lat", "-protocol", "zmtp", "-transport", "inproc"},
		{pushPullRecvCmd, "-endpoint", "tcp://127.0.0.1:1", "-count", "10", "-protocol", "zmq"},
		{repServerCmd, "-endpoint", "tcp://127.0.0.1:1", "-count", "10", "-protocol", "zmq"},
		// Children that speak WISP/1 only have no -protocol to ignore.
		{brokerWorkersCmd, "-endpoint", "tcp://127.0.0.1:1", "-protocol", "zmtp"},
		{pubSubSubCmd, "-endpoint", "tcp://127.0.0.1:1", "-count", "10", "-size", "16", "-protocol", "zmtp"},
		{"peer"},
		{"peer", "-protocol", "zmq", "recv", "tcp://127.0.0.1:1", "16", "10"},
		{"peer", "pull", "tcp://127.0.0.1:1", "16", "10"},
		{"peer", "recv", "tcp://127.0.0.1:1", "16"},
		{"peer", "recv", "tcp://127.0.0.1:1", "16", "10", "1"},
		{"peer", "recv", "inproc://x", "16", "10"},
		{"peer", "send", "tcp://127.0.0.1:1", "-1", "10"},
		{"peer", "send", "tcp://127.0.0.1:1", "16", "0"},
		{"peer", "send", "tcp://127.0.0.1:1", "x", "10"},
		{"peer", "req", "tcp://127.0.0.1:1", "16", "10"},
		{"peer", "req", "tcp://127.0.0.1:1", "16", "10000001", "0"},
		{"peer", "rep", "tcp://127.0.0.1:1", "16", "10", "-1"},
		{"peer", "-timeout", "0s", "rep", "tcp://127.0.0.1:1", "16", "10", "1"},
		{"peer", "-nope", "rep", "tcp://127.0.0.1:1", "16", "10", "1"},
		{"-format", "xml"},
		{"-format", ""},
	} {
		var stdout, stderr bytes.Buffer
		if code := run(args, &stdout, &stderr); code != exitUsage {
			t.Errorf("run %q: got exit code %d, want %d; stderr: %s", args, code, exitUsage, stderr.String())
		}
		if stdout.Len() != 0 {
			t.Errorf("run %q: got stdout %q, want none", args, stdout.String())
		}
	}
}

func TestSuiteTable(t *testing.T) {
	var stdout, stderr bytes.Buffer
	code := run([]string{"-scale", "0.005", "-sizes", "16,4096", "-rounds", "2"}, &stdout, &stderr)
	if code != exitOK {
		t.Fatalf("exit code: got %d, want 0; stderr: %s", code, stderr.String())
	}
	out := stdout.String()
	rows := 0
	for l := range strings.Lines(out) {
		if strings.HasPrefix(l, "| pushpull ") {
			rows++
		}
	}
	if want := 5 * 2; rows != want { // inproc, ipc, tcp, ws, quic
		t.Errorf("table rows: got %d, want %d in:\n%s", rows, want, out)
	}
	// pubsub: tcp at 16 B, match 100 and 50 (its 256 B row is filtered out).
	for prefix, want := range map[string]int{"| broker ": 1, "| reqrep ": 5 * 2, "| pubsub ": 2} {
		if got := strings.Count(out, "\n"+prefix); got != want {
			t.Errorf("%q rows: got %d, want %d in:\n%s", prefix, got, want, out)
		}
	}
	for _, s := range []string{"| pattern ", "msg/s", "MB/s", "CPU s/1M msgs (send/recv)", "peak RSS MiB (send/recv)", "Medians over 2 rounds",
		"p50 us", "p99 us", "round trips/s", "CPU us/round trip (client/server)", "broker: count is requests",
		"pub msg/s", "sub msg/s median", "sub msg/s min", "| dropped % |", "CPU s/1M msgs (pub/subs)", "pubsub: pub msg/s is",
		noCopyMark + " |", "inproc: MB/s " + noCopyMark} {
		if !strings.Contains(out, s) {
			t.Errorf("table: got no %q, want it in:\n%s", s, out)
		}
	}
	// Every inproc throughput row says its MB/s copied nothing; no other
	// row does.
	for l := range strings.Lines(out) {
		if strings.HasPrefix(l, "| pushpull ") && strings.Contains(l, "| inproc ") != strings.Contains(l, noCopyMark) {
			t.Errorf("row %q: got mark %v, want %q exactly on inproc rows", l, strings.Contains(l, noCopyMark), noCopyMark)
		}
	}
	// Progress: one line per run on stderr (10 pushpull, 1 broker, 2
	// pubsub and 10 reqrep cases, 2 rounds each), numbered, and nothing of
	// it on stdout.
	const runs = (10 + 1 + 2 + 10) * 2
	progressLines := 0
	for l := range strings.Lines(stderr.String()) {
		if strings.HasPrefix(l, "bench: [") {
			progressLines++
			if want := fmt.Sprintf("bench: [%d/%d] ", progressLines, runs); !strings.HasPrefix(l, want) {
				t.Errorf("progress line %d: got %q, want it to start %q", progressLines, l, want)
			}
			if progressLines > 1 && !strings.Contains(l, "left (estimate)") {
				t.Errorf("progress line %d: got %q, want an estimate of the time left", progressLines, l)
			}
		}
	}
	if progressLines != runs {
		t.Errorf("progress lines: got %d, want %d in:\n%s", progressLines, runs, stderr.String())
	}
	if strings.Contains(out, "bench: [") {
		t.Errorf("stdout: got progress in it, want it on stderr only:\n%s", out)
	}
}

func TestThousands(t *testing.T) {
	for v, want := range map[float64]string{0: "0", 999: "999", 1000: "1,000", 1234567.4: "1,234,567", 100000: "100,000"} {
		if got := thousands(v); got != want {
			t.Errorf("thousands(%v): got %q, want %q", v, got, want)
		}
	}
}

func TestMedianResult(t *testing.T) {
	rs := []result{{Seconds: 3, SenderMaxRSSKB: 10}, {Seconds: 1, SenderMaxRSSKB: 30}, {Seconds: 2, SenderMaxRSSKB: 20}}
	m := medianResult(rs)
	if m.Seconds != 2 || m.SenderMaxRSSKB != 20 {
		t.Errorf("got seconds %v rss %v, want 2 and 20", m.Seconds, m.SenderMaxRSSKB)
	}
	m = medianResult(rs[:2])
	if m.Seconds != 2 || m.SenderMaxRSSKB != 20 {
		t.Errorf("even: got seconds %v rss %v, want 2 and 20", m.Seconds, m.SenderMaxRSSKB)
	}
	if m.PubSubResult != nil {
		t.Errorf("pushpull: got pubsub fields %+v, want none", m.PubSubResult)
	}

	first := []subResult{{Received: 7}}
	ps := []result{
		{PubSubResult: &PubSubResult{Subs: 4, PubMsgsPerSec: 30, SubMsgsPerSecMedian: 3, SubMsgsPerSecMin: 1, PubMsgsWritten: 5, Subscribers: first}},
		{PubSubResult: &PubSubResult{Subs: 4, PubMsgsPerSec: 10, SubMsgsPerSecMedian: 1, SubMsgsPerSecMin: 3, PubMsgsWritten: 9}},
		{PubSubResult: &PubSubResult{Subs: 4, PubMsgsPerSec: 20, SubMsgsPerSecMedian: 2, SubMsgsPerSecMin: 2, PubMsgsWritten: 7}},
	}
	m = medianResult(ps)
	got := m.PubSubResult
	if got == nil || got.Subs != 4 || got.PubMsgsPerSec != 20 || got.SubMsgsPerSecMedian != 2 || got.SubMsgsPerSecMin != 2 || got.PubMsgsWritten != 7 {
		t.Errorf("pubsub: got %+v, want subs 4 and medians 20, 2, 2, 7", got)
	}
	if got != nil && (len(got.Subscribers) != 1 || &got.Subscribers[0] == &first[0]) {
		t.Errorf("pubsub subscribers: got %+v, want a copy of the first run's", got.Subscribers)
	}
	if ps[0].PubMsgsPerSec != 30 {
		t.Errorf("pubsub: medianResult changed its input: got %v, want 30", ps[0].PubMsgsPerSec)
	}
}

func TestThrZMTP(t *testing.T) {
	for _, tr := range []string{"ipc", "tcp"} {
		t.Run(tr, func(t *testing.T) {
			var r result
			// -acks is true by default; ZMTP has none, and the line says so.
			oneJSONLine(t, []string{"thr", "-protocol", "zmtp", "-transport", tr, "-size", "100", "-count", "20000"}, thrFields, &r)
			if r.Protocol != "zmtp" || r.Acks || r.Count != 20000 || r.Size != 100 || r.Transport != tr || r.OneProcess {
				t.Errorf("got %+v, want protocol zmtp, no acks, count 20000, size 100, transport %s, two processes", r, tr)
			}
			if !(r.Seconds > 0) || !(r.MsgsPerSec > 0) || !(r.SenderCPUSec > 0) || !(r.ReceiverCPUSec > 0) || r.SenderMaxRSSKB <= 0 || r.ReceiverMaxRSSKB <= 0 {
				t.Errorf("got %+v, want positive seconds, rate, CPU and RSS", r)
			}
		})
	}
}

func TestLatZMTP(t *testing.T) {
	for _, tr := range []string{"ipc", "tcp"} {
		t.Run(tr, func(t *testing.T) {
			var r latResult
			oneJSONLine(t, []string{"lat", "-protocol", "zmtp", "-transport", tr, "-size", "100", "-count", "50"}, latFields, &r)
			if r.Protocol != "zmtp" || r.Acks || r.Count != 50 || r.Warmup != 5 || r.Size != 100 || r.Transport != tr {
				t.Errorf("got %+v, want protocol zmtp, no acks, count 50, warmup 5, size 100, transport %s", r, tr)
			}
			if !(r.RTTMinUS > 0 && r.RTTP50US <= r.RTTP99US && r.RTTP99US <= r.RTTMaxUS) || !(r.ServerCPUSec > 0) {
				t.Errorf("got %+v, want 0 < min, p50 <= p99 <= max and the server's CPU", r)
			}
		})
	}
}

// runPeers runs two peer subcommands at once in this process, as
// bench/compare runs them in two, and returns each one's stdout.
func runPeers(t *testing.T, first, second []string) (string, string) {
	t.Helper()
	type out struct {
		code           int
		stdout, stderr bytes.Buffer
	}
	var a, b out
	done := make(chan struct{})
	go func() {
		defer close(done)
		a.code = run(first, &a.stdout, &a.stderr)
	}()
	b.code = run(second, &b.stdout, &b.stderr)
	<-done
	if a.code != exitOK || b.code != exitOK {
		t.Fatalf("run %q: exit %d, stderr %q; run %q: exit %d, stderr %q; want 0 and 0",
			first, a.code, a.stderr.String(), second, b.code, b.stderr.String())
	}
	return a.stdout.String(), b.stdout.String()
}

// The peer subcommand with itself on both sides, over both protocols and
// both transports: bench/compare pairs it with libzmq's peers (its own
// tests run those).
func TestPeer(t *testing.T) {
	for _, proto := range []string{"zmtp", "wisp"} {
		for _, tr := range []string{"ipc", "tcp"} {
			t.Run(proto+"/"+tr, func(t *testing.T) {
				ep := "ipc://" + t.TempDir() + "/p.sock"
				if tr == "tcp" {
					ep = freeTCPEndpoint(t)
				}
				recvOut, sendOut := runPeers(t,
					[]string{"peer", "-protocol", proto, "recv", ep, "100", "5000"},
					[]string{"peer", "-protocol", proto, "send", ep, "100", "5000"})
				if sendOut != "" {
					t.Errorf("sender stdout: got %q, want none", sendOut)
				}
				var rl peerRecvLine
				if err := json.Unmarshal([]byte(recvOut), &rl); err != nil || strings.Count(recvOut, "\n") != 1 {
					t.Fatalf("receiver stdout %q: got %v, want one JSON line", recvOut, err)
				}
				if rl.Count != 5000 || rl.Size != 100 || rl.Protocol != proto || !(rl.Seconds > 0) {
					t.Errorf("receiver: got %+v, want count 5000, size 100, protocol %s, seconds > 0", rl, proto)
				}

				repOut, reqOut := runPeers(t,
					[]string{"peer", "-protocol", proto, "rep", ep, "64", "50", "5"},
					[]string{"peer", "-protocol", proto, "req", ep, "64", "50", "5"})
				if repOut != "" {
					t.Errorf("server stdout: got %q, want none", repOut)
				}
				var fields map[string]any
				var ll peerLatLine
				if err := errors.Join(json.Unmarshal([]byte(reqOut), &fields), json.Unmarshal([]byte(reqOut), &ll)); err != nil {
					t.Fatalf("client stdout %q: got %v, want one JSON line", reqOut, err)
				}
				// lat.c's fields, which bench/compare reads.
				for _, k := range []string{"pattern", "size", "count", "warmup", "seconds", "rtt_mean_us", "rtt_p50_us", "rtt_p99_us", "rtt_min_us", "rtt_max_us"} {
					if _, ok := fields[k]; !ok {
						t.Errorf("field %q: got none, want it in %s", k, reqOut)
					}
				}
				if ll.Pattern != "reqrep" || ll.Protocol != proto || ll.Size != 64 || ll.Count != 50 || ll.Warmup != 5 ||
					!(ll.RTTMinUS > 0 && ll.RTTMinUS <= ll.RTTP50US && ll.RTTP50US <= ll.RTTP99US && ll.RTTP99US <= ll.RTTMaxUS) {
					t.Errorf("client: got %+v, want reqrep, %s, size 64, count 50, warmup 5, 0 < min <= p50 <= p99 <= max", ll, proto)
				}
			})
		}
	}
}

// A WISP/1 peer cannot talk to a ZMTP one; the pair fails rather than
// hangs (the receiver gives up at its timeout).
func TestPeerProtocolMismatch(t *testing.T) {
	ep := "ipc://" + t.TempDir() + "/p.sock"
	done := make(chan int, 1)
	var recvErr bytes.Buffer
	go func() {
		done <- run([]string{"peer", "-protocol", "zmtp", "-timeout", "2s", "recv", ep, "16", "10"}, io.Discard, &recvErr)
	}()
	var sendErr bytes.Buffer
	send := run([]string{"peer", "-protocol", "wisp", "-timeout", "2s", "send", ep, "16", "10"}, io.Discard, &sendErr)
	if recv := <-done; recv != exitFail || send != exitFail {
		t.Errorf("got exit codes %d (recv: %s) and %d (send: %s), want %d and %d",
			recv, recvErr.String(), send, sendErr.String(), exitFail, exitFail)
	}
}

// freeTCPEndpoint returns a loopback endpoint whose port was free a moment
// ago: the peer's command line names the endpoint to bind, like libzmq's.
func freeTCPEndpoint(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ep := "tcp://" + l.Addr().String()
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	return ep
}

// TestHelp: -h prints the usage, naming the subcommands, and exits 0, for
// the suite and for each subcommand.
func TestHelp(t *testing.T) {
	for _, args := range [][]string{{"-h"}, {"help"}, {"thr", "-h"}, {"lat", "-h"}, {"peer", "-h"}} {
		var stdout, stderr strings.Builder
		if code := run(args, &stdout, &stderr); code != exitOK {
			t.Errorf("%q: exit %d, want 0; stderr %s", args, code, stderr.String())
		}
		if stdout.Len() != 0 {
			t.Errorf("%q: printed %q on stdout, which stays machine-readable", args, stdout.String())
		}
		if args[0] == "-h" && (!strings.Contains(stderr.String(), "bench thr") || !strings.Contains(stderr.String(), "bench lat")) {
			t.Errorf("-h: the usage does not name thr and lat:\n%s", stderr.String())
		}
		if strings.Contains(stderr.String(), "help requested") {
			t.Errorf("%q: %q is no message for a user who asked for help", args, "flag: help requested")
		}
	}
}
