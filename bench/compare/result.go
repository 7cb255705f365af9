package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
)

// peerLine is the JSON line a receiver prints. libzmq's thr and the zmq4 peer
// print the first three fields; wisp's bench command prints them all, because
// it runs its own peer process and so measures both sides itself.
type peerLine struct {
	Pattern          string   `json:"pattern,omitempty"`
	Transport        string   `json:"transport,omitempty"`
	Size             *int     `json:"size"`
	Count            *int64   `json:"count"`
	Seconds          *float64 `json:"seconds"`
	MsgsPerSec       *float64 `json:"msgs_per_sec,omitempty"`
	MBPerSec         *float64 `json:"mb_per_sec,omitempty"`
	SenderCPUSec     *float64 `json:"sender_cpu_sec,omitempty"`
	ReceiverCPUSec   *float64 `json:"receiver_cpu_sec,omitempty"`
	SenderMaxRSSKB   *int64   `json:"sender_maxrss_kb,omitempty"`
	ReceiverMaxRSSKB *int64   `json:"receiver_maxrss_kb,omitempty"`
}

// errNoPeerLine says a receiver's output held no JSON result.
var errNoPeerLine = errors.New("no JSON result line")

// parsePeerLine finds the last line of out that starts with '{' and decodes
// it. Earlier lines (a program's chatter) are ignored. size, count and seconds
// must be present and sane.
func parsePeerLine(out []byte) (peerLine, error) {
	var line []byte
	for l := range bytes.Lines(out) {
		if l = bytes.TrimSpace(l); bytes.HasPrefix(l, []byte("{")) {
			line = l
		}
	}
	if line == nil {
		return peerLine{}, errNoPeerLine
	}
	var pl peerLine
	if err := json.Unmarshal(line, &pl); err != nil {
		return peerLine{}, fmt.Errorf("result line %q: %w", line, err)
	}
	switch {
	case pl.Size == nil || pl.Count == nil || pl.Seconds == nil:
		return peerLine{}, fmt.Errorf("result line %q: got no size, count or seconds, want all three", line)
	case *pl.Size < 0 || *pl.Count < 1:
		return peerLine{}, fmt.Errorf("result line %q: got size %d count %d, want size >= 0 and count >= 1", line, *pl.Size, *pl.Count)
	case !(*pl.Seconds > 0) || math.IsInf(*pl.Seconds, 0):
		return peerLine{}, fmt.Errorf("result line %q: got seconds %v, want a finite number above 0", line, *pl.Seconds)
	}
	return pl, nil
}

// sample is one measured run of one implementation. CPU and RSS fields are
// NaN when unknown (wisp's command did not report them).
type sample struct {
	count     int64
	size      int
	seconds   float64
	sendCPU   float64 // seconds, user + system
	recvCPU   float64
	sendRSSKB float64
	recvRSSKB float64
}

// msgsPerSec and mbPerSec are computed here for every implementation alike,
// rather than trusting each program's own rounding or idea of a megabyte.
func (s sample) msgsPerSec() float64 { return float64(s.count) / s.seconds }
func (s sample) mbPerSec() float64   { return float64(s.count) * float64(s.size) / s.seconds / 1e6 }

// checkShape verifies that a peer measured what it was asked to.
func (pl peerLine) checkShape(size int, count int64) error {
	if *pl.Size != size || *pl.Count != count {
		return fmt.Errorf("got size %d count %d, want size %d count %d", *pl.Size, *pl.Count, size, count)
	}
	return nil
}

// orNaN turns a missing number into NaN, which the tables show as n/a.
func orNaN[T int64 | float64](p *T) float64 {
	if p == nil {
		return math.NaN()
	}
	return float64(*p)
}
