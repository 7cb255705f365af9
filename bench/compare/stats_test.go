package main

import (
	"math"
	"testing"
)

func TestMedian(t *testing.T) {
	nan := math.NaN()
	for _, tc := range []struct {
		in   []float64
		want float64
	}{
		{[]float64{3}, 3},
		{[]float64{3, 1, 2}, 2},
		{[]float64{4, 1, 3, 2}, 2.5},
		{[]float64{5, nan, 1, 3}, 3},
		{[]float64{}, nan},
		{[]float64{nan, nan}, nan},
	} {
		got := median(tc.in)
		if !(got == tc.want || math.IsNaN(got) && math.IsNaN(tc.want)) {
			t.Errorf("median(%v): got %v, want %v", tc.in, got, tc.want)
		}
	}
}

func TestMedianKeepsInput(t *testing.T) {
	in := []float64{3, 1, 2}
	median(in)
	if in[0] != 3 || in[1] != 1 || in[2] != 2 {
		t.Errorf("median changed its input: got %v, want [3 1 2]", in)
	}
}

func TestSummarize(t *testing.T) {
	s := summarize([]sample{
		{count: 1_000_000, size: 100, seconds: 1, sendCPU: 1, recvCPU: 2, sendRSSKB: 1024, recvRSSKB: 2048},
		{count: 1_000_000, size: 100, seconds: 2, sendCPU: 3, recvCPU: 4, sendRSSKB: 3072, recvRSSKB: 4096},
		{count: 1_000_000, size: 100, seconds: 4, sendCPU: 5, recvCPU: 6, sendRSSKB: 5120, recvRSSKB: 6144},
	})
	want := implStats{rounds: 3, msgsPerSec: 500_000, mbPerSec: 50, sendCPUPM: 3, recvCPUPM: 4, sendRSSMiB: 3, recvRSSMiB: 4}
	if s != want {
		t.Errorf("summarize: got %+v, want %+v", s, want)
	}
}

func TestSummarizeEmpty(t *testing.T) {
	s := summarize(nil)
	if s.rounds != 0 || !math.IsNaN(s.msgsPerSec) || !math.IsNaN(s.recvRSSMiB) {
		t.Errorf("summarize(nil): got %+v, want 0 rounds and NaN values", s)
	}
}

func TestRowRatio(t *testing.T) {
	r := row{impls: map[string]implStats{
		implWisp:   {msgsPerSec: 300},
		implLibzmq: {msgsPerSec: 200},
	}}
	if got := r.ratio(implLibzmq); got != 1.5 {
		t.Errorf("ratio(libzmq): got %v, want 1.5", got)
	}
	if got := r.ratio(implZMQ4); !math.IsNaN(got) {
		t.Errorf("ratio(zmq4) without zmq4: got %v, want NaN", got)
	}
}
