package main

import (
	"bytes"
	"os"
	"runtime"
	"strings"
	"testing"
)

// scaleFields is the JSON contract of scale's line.
var scaleFields = []string{
	"pattern", "peers", "procs", "transport", "connect_seconds", "connects_per_second", "exchange_seconds",
	"idle_rss_kib_per_peer", "idle_heap_kib_per_peer", "goroutines_per_peer", "idle_cpu_seconds_per_minute",
	"burst_rss_kib_per_peer", "burst_heap_kib_per_peer", "close_seconds", "goroutines_left",
	"client_rss_kib_per_peer", "go_version", "cpu", "recv_queue_bytes", "memory_limit_bytes",
	"idle_stack_kib_per_peer", "burst_stack_kib_per_peer",
}

// TestScale runs the whole command, children and all, with few peers: each
// pattern takes about the -idle second.
func TestScale(t *testing.T) {
	for _, pattern := range scalePatternNames() {
		t.Run(pattern, func(t *testing.T) {
			var r scaleResult
			oneJSONLine(t, []string{"scale", "-pattern", pattern, "-peers", "50", "-procs", "2", "-idle", "1s",
				"-settle", "0s", "-after-burst", "0s", "-burst", "3", "-burst-size", "1000", "-timeout", "1m", "-format", "json",
				"-recv-queue-bytes", "4096", "-memory-limit", "1073741824"},
				scaleFields, &r)
			if r.Pattern != pattern || r.Peers != 50 || r.Procs != 2 || r.Transport != "tcp" || r.Burst != 3 || r.BurstSize != 1000 || r.RecvQueueBytes != 4096 || r.MemoryLimitBytes != 1<<30 {
				t.Errorf("got %+v, want pattern %s, 50 peers, 2 procs, tcp, burst 3 x 1000, recv-queue-bytes 4096, memory-limit 1 GiB", r, pattern)
			}
			for name, v := range map[string]float64{
				"connect_seconds": r.ConnectSeconds, "connects_per_second": r.ConnectsPerSecond,
				"exchange_seconds": r.ExchangeSeconds, "burst_seconds": r.BurstSeconds, "close_seconds": r.CloseSeconds,
			} {
				if !(v > 0) {
					t.Errorf("%s: got %v, want > 0", name, v)
				}
			}
			// Whatever goroutines the connections have on the server end
			// with them; a few may be late.
			if !(r.GoroutinesPerPeer >= 0 && r.GoroutinesPerPeer <= 10) || r.GoroutinesLeft > 5 || r.GoroutinesLeft < -5 {
				t.Errorf("goroutines: got %v per peer and %d left, want 0 to 10 and about 0", r.GoroutinesPerPeer, r.GoroutinesLeft)
			}
			// Each peer's connection has a reading goroutine, whose stack
			// the stack figure counts.
			if !(r.IdleStackKiBPerPeer > 0) {
				t.Errorf("idle stack: got %v KiB/peer, want > 0", r.IdleStackKiBPerPeer)
			}
			if !(r.IdleCPUSecondsPerMinute >= 0) || !(r.ClientRSSKiBPerPeer > 0) || !(r.IdleHeapKiBPerPeer > 0) || r.BaselineGoroutines <= 0 {
				t.Errorf("got idle CPU %v/min, client RSS %v KiB/peer, idle heap %v KiB/peer, baseline %d goroutines; want >= 0, > 0, > 0, > 0",
					r.IdleCPUSecondsPerMinute, r.ClientRSSKiBPerPeer, r.IdleHeapKiBPerPeer, r.BaselineGoroutines)
			}
			if runtime.GOOS == "linux" && r.BaselineRSSKiB <= 0 {
				t.Errorf("baseline RSS: got %d KiB, want it measured on Linux", r.BaselineRSSKiB)
			}
			if r.GoVersion != runtime.Version() || r.CPU == "" {
				t.Errorf("got go_version %q cpu %q, want %q and a CPU", r.GoVersion, r.CPU, runtime.Version())
			}
		})
	}
}

func TestScaleTable(t *testing.T) {
	var b bytes.Buffer
	r := scaleResult{Pattern: "pull", Peers: 10000, Procs: 1, ConnectSeconds: 1.5, ConnectsPerSecond: 6666.7, Burst: 10, BurstSize: 8192,
		IdleRSSKiBPerPeer: 12.5, GoVersion: "go1.99", CPU: "a CPU", Cores: 2}
	if err := writeScaleTable(&b, r); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	for _, s := range []string{"| pull, 10,000 peers, 1 client process | |", "| --- | ---: |", "| connects/s | 6,667 |",
		"| idle RSS KiB/peer | 12.50 |", "| burst s (10 x 8192 B per peer) |", "| goroutines left | 0 |", "Server (PULL)", "go1.99"} {
		if !strings.Contains(out, s) {
			t.Errorf("table: got no %q in:\n%s", s, out)
		}
	}
	b.Reset()
	r.Burst = 0
	if err := writeScaleTable(&b, r); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(b.String(), "burst") {
		t.Errorf("table with -burst 0: got burst rows, want none:\n%s", b.String())
	}
}

func TestScaleBadArguments(t *testing.T) {
	for _, args := range [][]string{
		{"scale", "-pattern", "push"},
		{"scale", "-peers", "0"},
		{"scale", "-peers", "10", "-procs", "11"},
		{"scale", "-peers", "1000", "-procs", "254"},
		{"scale", "-procs", "-1"},
		{"scale", "-idle", "0s"},
		{"scale", "-settle", "-1s"},
		{"scale", "-after-burst", "-1s"},
		{"scale", "-burst", "-1"},
		{"scale", "-burst-size", "-1"},
		{"scale", "-heartbeat", "-1s"},
		{"scale", "-recv-queue-bytes", "-1"},
		{"scale", "-memory-limit", "-1"},
		{"scale", "-idle", "1m", "-timeout", "1m"}, // no time left for the rest
		{"scale", "-format", "csv"},
		{"scale", "extra"},
		{scaleServerCmd, "-pattern", "pull"},                                          // no peers
		{scaleServerCmd, "-pattern", "xpub", "-peers", "1"},                           // not a scale pattern
		{scaleClientsCmd, "-pattern", "pull", "-peers", "1", "-local", "127.0.0.2:0"}, // no endpoint
		{scaleClientsCmd, "-pattern", "pull", "-peers", "1", "-endpoint", "tcp://127.0.0.1:1"},
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

func TestScaleHelp(t *testing.T) {
	var stdout, stderr bytes.Buffer
	if code := run([]string{"scale", "-h"}, &stdout, &stderr); code != exitOK || stdout.Len() != 0 {
		t.Errorf("scale -h: got exit %d, stdout %q; want 0 and none", code, stdout.String())
	}
	stderr.Reset()
	run([]string{"help"}, &stdout, &stderr)
	if !strings.Contains(stderr.String(), "bench scale -pattern pub|router|pull -peers N") {
		t.Errorf("usage: got no scale line in:\n%s", stderr.String())
	}
}

func TestRaiseFileLimit(t *testing.T) {
	if err := raiseFileLimit(16); err != nil {
		t.Errorf("raiseFileLimit(16): got %v, want nil", err)
	}
	if runtime.GOOS == "windows" || os.Geteuid() == 0 {
		t.Skip("no limit to exceed on Windows; root would raise this process's hard limit for good")
	}
	err := raiseFileLimit(1 << 40)
	if err == nil || !strings.Contains(err.Error(), "ulimit -n") {
		t.Errorf("raiseFileLimit(1<<40): got %v, want an error that says how to raise the limit", err)
	}
}
