package main

import (
	"bufio"
	"encoding/json"
	"math"
	"strings"
	"testing"
)

func testRows() []row {
	nan := math.NaN()
	return []row{{
		transport: "tcp", size: 16, count: 1_000_000,
		impls: map[string]implStats{
			implLibzmq: {rounds: 1, msgsPerSec: 2_000_000, mbPerSec: 32, sendCPUPM: 0.5, recvCPUPM: 0.75, sendRSSMiB: 6.5, recvRSSMiB: 6.25},
			implZMQ4:   {rounds: 1, msgsPerSec: 40_000.4, mbPerSec: 0.64, sendCPUPM: 20, recvCPUPM: 25, sendRSSMiB: 10, recvRSSMiB: 11},
		},
	}, {
		transport: "ipc", size: 4096, count: 500_000,
		impls: map[string]implStats{
			implWisp:   {rounds: 1, msgsPerSec: 300_000, mbPerSec: 1228.8, sendCPUPM: nan, recvCPUPM: 1.5, sendRSSMiB: nan, recvRSSMiB: nan},
			implLibzmq: {rounds: 1, msgsPerSec: 200_000, mbPerSec: 819.2, sendCPUPM: 1, recvCPUPM: 2, sendRSSMiB: 8, recvRSSMiB: 9},
			implZMQ4:   {rounds: 1, msgsPerSec: 30_000, mbPerSec: 122.88, sendCPUPM: 20, recvCPUPM: 25, sendRSSMiB: 10, recvRSSMiB: 11},
		},
	}}
}

var testMachine = machine{CPU: "Test CPU", Cores: 2, Go: "go1.26.0", OSArch: "linux/amd64", Libzmq: "4.3.4"}

func TestWriteTable(t *testing.T) {
	var b strings.Builder
	if err := writeTable(&b, testMachine, testRows(), 3, []string{"wisp skipped: no\nbuild"}); err != nil {
		t.Fatalf("writeTable: got error %v, want nil", err)
	}
	want := `machine: Test CPU, 2 cores, go1.26.0 linux/amd64, libzmq 4.3.4
PUSH/PULL throughput, medians over 3 round(s); MB = 10^6 bytes; CPU = user+sys seconds per 1M messages; RSS = peak.

| transport | size | count | wisp msg/s | libzmq msg/s | zmq4 msg/s | wisp/libzmq | wisp/zmq4 | wisp MB/s | libzmq MB/s | zmq4 MB/s | wisp CPU s/1M send/recv | libzmq CPU s/1M send/recv | zmq4 CPU s/1M send/recv | wisp RSS MiB send/recv | libzmq RSS MiB send/recv | zmq4 RSS MiB send/recv |
| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |
| tcp | 16 B | 1,000,000 | n/a | 2,000,000 | 40,000 | n/a | n/a | n/a | 32.0 | 0.6 | n/a | 0.50/0.75 | 20.00/25.00 | n/a | 6.5/6.2 | 10.0/11.0 |
| ipc | 4 KiB | 500,000 | 300,000 | 200,000 | 30,000 | 1.50x | 10.00x | 1228.8 | 819.2 | 122.9 | n/a/1.50 | 1.00/2.00 | 20.00/25.00 | n/a | 8.0/9.0 | 10.0/11.0 |

Notes:
- wisp skipped: no
  build
`
	if got := b.String(); got != want {
		t.Errorf("writeTable:\ngot\n%s\nwant\n%s", got, want)
	}
}

func TestWriteJSON(t *testing.T) {
	var b strings.Builder
	if err := writeJSON(&b, testMachine, testRows(), 3); err != nil {
		t.Fatalf("writeJSON: got error %v, want nil", err)
	}
	sc := bufio.NewScanner(strings.NewReader(b.String()))
	var got []jsonRow
	for sc.Scan() {
		var r jsonRow
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			t.Fatalf("line %q: got error %v, want valid JSON", sc.Text(), err)
		}
		got = append(got, r)
	}
	if len(got) != 2 {
		t.Fatalf("got %d lines, want 2", len(got))
	}
	first := got[0]
	if first.Transport != "tcp" || first.Size != 16 || first.Count != 1_000_000 || first.Rounds != 3 || first.Machine != testMachine {
		t.Errorf("first row: got %+v, want tcp 16 1000000 3 rounds and the test machine", first)
	}
	if first.WispPerLibzmq != nil || first.Results[implWisp].MsgsPerSec != nil || first.Results[implWisp].OKRounds != 0 {
		t.Errorf("first row: got wisp values %+v and ratio %v, want nulls and 0 rounds", first.Results[implWisp], first.WispPerLibzmq)
	}
	if v := first.Results[implLibzmq].MsgsPerSec; v == nil || *v != 2_000_000 {
		t.Errorf("first row libzmq msgs_per_sec: got %v, want 2000000", v)
	}
	second := got[1]
	if second.WispPerLibzmq == nil || *second.WispPerLibzmq != 1.5 {
		t.Errorf("second row wisp_per_libzmq: got %v, want 1.5", second.WispPerLibzmq)
	}
	if w := second.Results[implWisp]; w.SenderCPUPer1M != nil || w.ReceiverCPUPer1M == nil || *w.ReceiverCPUPer1M != 1.5 {
		t.Errorf("second row wisp CPU: got %v/%v, want null/1.5", w.SenderCPUPer1M, w.ReceiverCPUPer1M)
	}
}

func TestFormatters(t *testing.T) {
	for _, tc := range []struct{ got, want string }{
		{fmtInt(0), "0"},
		{fmtInt(999), "999"},
		{fmtInt(1000), "1,000"},
		{fmtInt(1234567.6), "1,234,568"},
		{fmtInt(-1234), "-1,234"},
		{fmtInt(math.NaN()), "n/a"},
		{fmtSize(16), "16 B"},
		{fmtSize(1000), "1000 B"},
		{fmtSize(65536), "64 KiB"},
		{fmtSize(1536), "1536 B"},
		{fmtRatio(0.5), "0.50x"},
		{fmtRatio(math.Inf(1)), "n/a"},
		{fmtPair(1, math.NaN(), 1), "1.0/n/a"},
	} {
		if tc.got != tc.want {
			t.Errorf("got %q, want %q", tc.got, tc.want)
		}
	}
}

func TestParseCPUModel(t *testing.T) {
	in := "processor\t: 0\nvendor_id\t: GenuineIntel\nmodel name\t: Some CPU @ 2.0GHz\nprocessor\t: 1\nmodel name\t: Some CPU @ 2.0GHz\n"
	if got, want := parseCPUModel(bufio.NewScanner(strings.NewReader(in))), "Some CPU @ 2.0GHz"; got != want {
		t.Errorf("parseCPUModel: got %q, want %q", got, want)
	}
	if got, want := parseCPUModel(bufio.NewScanner(strings.NewReader("processor : 0\n"))), "unknown CPU"; got != want {
		t.Errorf("parseCPUModel without model name: got %q, want %q", got, want)
	}
}
