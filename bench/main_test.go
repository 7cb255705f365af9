package main

import (
	"bytes"
	"encoding/json"
	"os"
	"strings"
	"testing"

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
	"sender_cpu_sec", "receiver_cpu_sec", "sender_maxrss_kb", "receiver_maxrss_kb", "acks", "hwm",
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
			if r.Count != 20000 || r.Size != 100 || r.Transport != tr || r.Pattern != "pushpull" || r.HWM != 500 || !r.Acks {
				t.Errorf("got %+v, want count 20000, size 100, transport %s, pattern pushpull, hwm 500, acks", r, tr)
			}
			if !(r.Seconds > 0) || !(r.MsgsPerSec > 0) || !(r.SenderCPUSec > 0) || !(r.ReceiverCPUSec > 0) || r.SenderMaxRSSKB <= 0 || r.ReceiverMaxRSSKB <= 0 {
				t.Errorf("got %+v, want positive seconds, rate, CPU and RSS", r)
			}
			if got, want := r.OneProcess, tr == "inproc"; got != want {
				t.Errorf("one_process: got %v, want %v", got, want)
			}
		})
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
	if want := 3 * 2; rows != want {
		t.Errorf("table rows: got %d, want %d in:\n%s", rows, want, out)
	}
	for _, s := range []string{"| pattern ", "msg/s", "MB/s", "CPU s/1M msgs (send/recv)", "peak RSS MiB (send/recv)", "Medians over 2 rounds"} {
		if !strings.Contains(out, s) {
			t.Errorf("table: got no %q, want it in:\n%s", s, out)
		}
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
}
