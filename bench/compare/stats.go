package main

import (
	"math"
	"slices"
)

// median returns the median of the values that are not NaN, or NaN if none
// are. With an even number it is the mean of the middle two.
func median(xs []float64) float64 {
	v := make([]float64, 0, len(xs))
	for _, x := range xs {
		if !math.IsNaN(x) {
			v = append(v, x)
		}
	}
	if len(v) == 0 {
		return math.NaN()
	}
	slices.Sort(v)
	n := len(v)
	if n%2 == 1 {
		return v[n/2]
	}
	return (v[n/2-1] + v[n/2]) / 2
}

// implStats are one implementation's medians for one (transport, size).
// Every value is NaN when no round succeeded or it was not reported.
type implStats struct {
	rounds     int // successful rounds
	msgsPerSec float64
	mbPerSec   float64
	sendCPUPM  float64 // CPU seconds per million messages
	recvCPUPM  float64
	sendRSSMiB float64
	recvRSSMiB float64
}

// summarize takes the medians of each metric over the rounds separately.
func summarize(samples []sample) implStats {
	col := func(f func(sample) float64) float64 {
		xs := make([]float64, len(samples))
		for i, s := range samples {
			xs[i] = f(s)
		}
		return median(xs)
	}
	perM := func(cpu float64, s sample) float64 { return cpu / float64(s.count) * 1e6 }
	return implStats{
		rounds:     len(samples),
		msgsPerSec: col(sample.msgsPerSec),
		mbPerSec:   col(sample.mbPerSec),
		sendCPUPM:  col(func(s sample) float64 { return perM(s.sendCPU, s) }),
		recvCPUPM:  col(func(s sample) float64 { return perM(s.recvCPU, s) }),
		sendRSSMiB: col(func(s sample) float64 { return s.sendRSSKB / 1024 }),
		recvRSSMiB: col(func(s sample) float64 { return s.recvRSSKB / 1024 }),
	}
}

// row is one line of the report: one transport and message size.
type row struct {
	transport string
	size      int
	count     int64
	impls     map[string]implStats // by implementation name; only those that ran
}

// ratio is wisp's median msg/s over other's, NaN when either is missing.
func (r row) ratio(other string) float64 {
	return r.stat(implWisp).msgsPerSec / r.stat(other).msgsPerSec
}

// perLibzmq is name's median msg/s over libzmq's, NaN when either is
// missing: how a ZMTP pair does against libzmq talking to itself.
func (r row) perLibzmq(name string) float64 {
	return r.stat(name).msgsPerSec / r.stat(implLibzmq).msgsPerSec
}

// stat returns the stats of one implementation, all NaN if it did not run.
func (r row) stat(name string) implStats {
	if s, ok := r.impls[name]; ok {
		return s
	}
	nan := math.NaN()
	return implStats{msgsPerSec: nan, mbPerSec: nan, sendCPUPM: nan, recvCPUPM: nan, sendRSSMiB: nan, recvRSSMiB: nan}
}
