package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strconv"
	"time"

	"github.com/go-zeromq/zmq4"
)

// latPeerMain runs one side of a zmq4 latency run and returns the process
// exit code: "rep|req ENDPOINT SIZE COUNT WARMUP", the same protocol as
// libzmq/lat.c.
func latPeerMain(args []string, stdout, stderr io.Writer) int {
	if len(args) != 5 {
		fmt.Fprintf(stderr, "usage: %s rep|req ENDPOINT SIZE COUNT WARMUP\n", peerArg)
		return 2
	}
	size, err1 := strconv.Atoi(args[2])
	count, err2 := strconv.ParseInt(args[3], 10, 64)
	warmup, err3 := strconv.ParseInt(args[4], 10, 64)
	if err1 != nil || err2 != nil || err3 != nil || size < 0 || count < 1 || count > latMaxCount || warmup < 0 || warmup > latMaxCount {
		fmt.Fprintf(stderr, "%s: got size %q count %q warmup %q, want size >= 0, count 1 to %d, warmup 0 to %d\n",
			peerArg, args[2], args[3], args[4], latMaxCount, latMaxCount)
		return 2
	}
	var err error
	if args[0] == "rep" {
		err = zmq4Rep(args[1], size, warmup+count)
	} else {
		err = zmq4Req(args[1], size, count, warmup, stdout)
	}
	if err != nil {
		fmt.Fprintf(stderr, "%s %s: %v\n", peerArg, args[0], err)
		return 1
	}
	return 0
}

// zmq4Rep binds a REP, echoes total requests, then takes the client's
// goodbye request, which says every reply has arrived, and returns.
// zmq4's REP hands a reply to a writer goroutine, so returning right after
// the last Send could close the connection before the reply is written.
func zmq4Rep(endpoint string, size int, total int64) error {
	rep := zmq4.NewRep(context.Background())
	defer rep.Close()
	if err := rep.Listen(endpoint); err != nil {
		return err
	}
	for i := range total {
		msg, err := rep.Recv()
		if err != nil {
			return fmt.Errorf("request %d: %w", i, err)
		}
		if len(msg.Frames) != 1 || len(msg.Frames[0]) != size {
			return fmt.Errorf("request %d: got %d frames of %d bytes, want 1 of %d", i, len(msg.Frames), len(msg.Bytes()), size)
		}
		if err := rep.Send(msg); err != nil {
			return fmt.Errorf("reply %d: %w", i, err)
		}
	}
	if _, err := rep.Recv(); err != nil {
		return fmt.Errorf("goodbye: %w", err)
	}
	return nil
}

// zmq4Req connects a REQ, makes warmup untimed round trips and count timed
// ones, sends the goodbye and prints the JSON line. zmq4's REQ writes a
// request to the connection before Send returns, so Close loses nothing.
func zmq4Req(endpoint string, size int, count, warmup int64, stdout io.Writer) error {
	req := zmq4.NewReq(context.Background(),
		zmq4.WithDialerRetry(zmq4DialRetry), zmq4.WithDialerMaxRetries(zmq4DialRetries))
	defer req.Close()
	if err := req.Dial(endpoint); err != nil {
		return err
	}
	payload := bytes.Repeat([]byte{'w'}, size)
	roundTrip := func(i int64) error {
		if err := req.Send(zmq4.NewMsg(payload)); err != nil {
			return fmt.Errorf("request %d: %w", i, err)
		}
		msg, err := req.Recv()
		if err != nil {
			return fmt.Errorf("reply %d: %w", i, err)
		}
		if len(msg.Frames) != 1 || len(msg.Frames[0]) != size {
			return fmt.Errorf("reply %d: got %d frames of %d bytes, want 1 of %d", i, len(msg.Frames), len(msg.Bytes()), size)
		}
		return nil
	}
	for i := range warmup {
		if err := roundTrip(i); err != nil {
			return err
		}
	}
	rtt := make([]time.Duration, count)
	start := time.Now()
	for i := range count {
		t0 := time.Now()
		if err := roundTrip(warmup + i); err != nil {
			return err
		}
		rtt[i] = time.Since(t0)
	}
	elapsed := time.Since(start)
	// One byte, not zero: zmq4 writes a frame's header and body separately,
	// and an empty body written after the server has the whole frame, and
	// has closed, fails with EPIPE.
	if err := req.Send(zmq4.NewMsg([]byte{'.'})); err != nil {
		return fmt.Errorf("goodbye: %w", err)
	}
	line := rttLine(rtt)
	line.Size, line.Count, line.Warmup, line.Seconds = size, count, warmup, elapsed.Seconds()
	b, err := json.Marshal(line)
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(stdout, "%s\n", b)
	return err
}

// rttJSON is the line a REQ client prints, the same fields as libzmq/lat.c.
type rttJSON struct {
	Pattern   string  `json:"pattern"`
	Size      int     `json:"size"`
	Count     int64   `json:"count"`
	Warmup    int64   `json:"warmup"`
	Seconds   float64 `json:"seconds"`
	RTTMeanUS float64 `json:"rtt_mean_us"`
	RTTP50US  float64 `json:"rtt_p50_us"`
	RTTP99US  float64 `json:"rtt_p99_us"`
	RTTMinUS  float64 `json:"rtt_min_us"`
	RTTMaxUS  float64 `json:"rtt_max_us"`
}

// rttLine computes the statistics of one or more round-trip times (it sorts
// rtt) exactly as lat.c does: percentiles by nearest rank.
func rttLine(rtt []time.Duration) rttJSON {
	slices.Sort(rtt)
	var sum float64
	for _, d := range rtt {
		sum += float64(d)
	}
	us := func(d time.Duration) float64 { return float64(d) / 1e3 }
	return rttJSON{
		Pattern:   "reqrep",
		RTTMeanUS: sum / float64(len(rtt)) / 1e3,
		RTTP50US:  us(nearestRank(rtt, 50)),
		RTTP99US:  us(nearestRank(rtt, 99)),
		RTTMinUS:  us(rtt[0]),
		RTTMaxUS:  us(rtt[len(rtt)-1]),
	}
}

// nearestRank returns the smallest value that at least pct percent of the
// sorted values do not exceed: index ceil(pct*n/100)-1, in integers.
func nearestRank(sorted []time.Duration, pct int) time.Duration {
	rank := (pct*len(sorted) + 99) / 100
	return sorted[max(rank, 1)-1]
}
