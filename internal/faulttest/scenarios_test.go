//go:build linux

package faulttest

import (
	"fmt"
	"syscall"
	"testing"
	"time"
)

// The scenarios. Each builds its own namespaces, runs its own children and
// removes everything when it ends; they run in parallel, so the suite takes
// about as long as its longest scenario. Sockets keep wisp's defaults
// (PING every 10 s, 30 s heartbeat timeout, 5 s resume timeout,
// acknowledgements on) unless a scenario says otherwise.

// port is the receiver's port; every scenario has its own namespaces, so
// they can all use it.
const port = 5555

// Figures of a PUSH/PULL stream: 500 messages of 128 bytes a second.
const (
	streamRate = 500
	streamSize = 128
	warmup     = 3 * time.Second  // of clean stream before the fault
	settle     = 3 * time.Second  // of stream after recovery, before the end
	recoverMax = 90 * time.Second // the longest a stream may take to resume
)

// stream is a PUSH in A sending to a PULL in B, and the checker of what
// arrives.
type stream struct {
	t         *testing.T
	p         pair
	chk       *seqChecker
	push      childConfig
	pull      childConfig
	sender    *child
	receivers []*child
	stopped   time.Time // when finish began stopping the children
	// corruptible: the scenario changes bytes that nothing checks, so a
	// message may arrive with its sequence number garbled (the control of
	// the corruption scenario).
	corruptible bool
}

// startStream starts the receiver, then the sender, and waits for the
// first message; tweak, if not nil, changes the children's options.
func startStream(t *testing.T, p pair, tweak func(push, pull *childConfig)) *stream {
	t.Helper()
	endpoint := fmt.Sprintf("tcp://%s:%d", p.ipB, port)
	s := &stream{
		t: t, p: p, chk: newSeqChecker(),
		push: childConfig{Role: "push", Endpoint: endpoint, Rate: streamRate, Size: streamSize, FlushTimeout: 2 * time.Minute},
		pull: childConfig{Role: "pull", Endpoint: endpoint},
	}
	if tweak != nil {
		tweak(&s.push, &s.pull)
	}
	s.startReceiver()
	s.sender = startChild(t, p.nsA, "push", s.push, nil)
	if s.waitArrival(time.Now().Add(-time.Hour), 30*time.Second) < 0 {
		t.Fatalf("no message arrived within 30s: sender %s receiver %s", s.sender.output(), s.receiver().output())
	}
	return s
}

// startReceiver starts a (new) PULL in B and waits until it listens.
func (s *stream) startReceiver() *child {
	s.t.Helper()
	c := startChild(s.t, s.p.nsB, fmt.Sprintf("pull#%d", len(s.receivers)+1), s.pull, s.chk.add)
	if _, ok := c.waitFor(30*time.Second, func(r record) bool { return r.K == "ev" && r.Ev == "listening" }); !ok {
		s.t.Fatalf("%s did not bind: %s", c.name, c.output())
	}
	s.receivers = append(s.receivers, c)
	return c
}

// receiver is the current PULL.
func (s *stream) receiver() *child { return s.receivers[len(s.receivers)-1] }

// waitArrival waits up to d for a message to arrive at or after since and
// returns how long after since it came, or -1.
func (s *stream) waitArrival(since time.Time, d time.Duration) time.Duration {
	deadline := time.Now().Add(d)
	for {
		if at, ok := s.chk.firstAfter(since); ok {
			return max(0, at.Sub(since))
		}
		if time.Now().After(deadline) {
			return -1
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// finish stops the sender, which waits for every acknowledgement, then
// the receiver, and returns the figures; it logs the children's events
// relative to t0, the fault's start. Detection and recovery times are the
// scenario's to fill in.
func (s *stream) finish(t0 time.Time) figures {
	t := s.t
	t.Helper()
	s.stopped = time.Now()
	if err := s.sender.stop(s.push.FlushTimeout + 30*time.Second); err != nil {
		t.Error(err)
	}
	end, ok := s.sender.end()
	switch {
	case !ok:
		t.Errorf("the sender wrote no final record: %s", s.sender.output())
	case end.Err != "":
		t.Errorf("sender: %s", end.Err)
	}
	if err := s.receiver().stop(30 * time.Second); err != nil {
		t.Error(err)
	}
	if r, ok := s.receiver().end(); ok && r.Err != "" {
		t.Errorf("receiver: %s", r.Err)
	}
	f := figures{sent: end.S, received: s.chk.count(), detect: -1, recover: -1}
	f.lost = s.chk.missing(end.S)
	s.chk.mu.Lock()
	f.dups, f.reordered = s.chk.dups, s.chk.reordered
	if s.chk.bad > 0 && !s.corruptible {
		t.Errorf("%d messages without a sequence number", s.chk.bad)
	}
	s.chk.mu.Unlock()
	f.rssSender, f.heapSender = peakMemory(s.sender)
	f.rssRecv, f.heapRecv = peakMemory(s.receivers...)
	// The disconnects the faults caused, not the one that closing makes.
	for _, at := range events(s.sender, "disconnected") {
		if at.Before(s.stopped) {
			f.disconnects++
		}
	}
	t.Logf("sender events (seconds after the fault began):%s", s.sender.eventLog(t0))
	for _, c := range s.receivers {
		t.Logf("%s events:%s", c.name, c.eventLog(t0))
	}
	if end.Stats != nil {
		f.resends = end.Stats.Resends
	}
	return f
}

// peerGone says whether the sender gave up waiting for its receiver to
// return (EventPeerGone): the case, with a dead receiver, in which the
// Guarantees allow a message to arrive twice.
func (s *stream) peerGone() bool { return len(events(s.sender, "peer-gone")) > 0 }

// senderDetect is how long after t the sender noticed the fault: its
// first disconnect, or failed dial, before finish; -1 if it noticed none.
func (s *stream) senderDetect(t time.Time) time.Duration {
	return firstEvent(s.sender, t, s.stopped, "disconnected", "retrying")
}

// receiverDetect is senderDetect for the receiver, as a figure for the log.
func (s *stream) receiverDetect(t time.Time) string {
	return "receiver_detect=" + fmtDur(firstEvent(s.receiver(), t, s.stopped, "disconnected"))
}

func TestPartition60s(t *testing.T) { silentPartition(t, "partition-60s", 60*time.Second) }
func TestPartition90s(t *testing.T) { silentPartition(t, "partition-90s", 90*time.Second) }

// silentPartition drops every packet between A and B for d, without a
// word to either side: longer than the heartbeat timeout, so both sides
// must notice on their own, and the sender must keep its messages within
// its marks until the receiver is back.
func silentPartition(t *testing.T, name string, d time.Duration) {
	need(t)
	t.Parallel()
	p := newVethPair(t)
	s := startStream(t, p, nil)
	time.Sleep(warmup)
	start := time.Now()
	heal, err := partition(p)
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(d)
	if err := heal(); err != nil {
		t.Fatal(err)
	}
	healed := time.Now()
	rec := s.waitArrival(healed, recoverMax)
	time.Sleep(settle)
	f := s.finish(start)
	f.detect = s.senderDetect(start)
	f.recover = rec
	f.extra = s.receiverDetect(start)
	logFigures(t, name, f)
	if rec < 0 {
		t.Errorf("no message arrived within %v of the partition's end", recoverMax)
	}
	check(t, f, s.peerGone())
}

// TestLinkDown20s takes A's link down for 20 s: A loses its route to B and
// B its carrier, so packets are refused locally rather than lost on the
// way; shorter than the heartbeat timeout.
func TestLinkDown20s(t *testing.T) {
	need(t)
	t.Parallel()
	p := newVethPair(t)
	s := startStream(t, p, nil)
	time.Sleep(warmup)
	start := time.Now()
	if err := setLink(p, false); err != nil {
		t.Fatal(err)
	}
	time.Sleep(20 * time.Second)
	if err := setLink(p, true); err != nil {
		t.Fatal(err)
	}
	up := time.Now()
	rec := s.waitArrival(up, recoverMax)
	time.Sleep(settle)
	f := s.finish(start)
	f.detect = s.senderDetect(start)
	f.recover = rec
	f.extra = s.receiverDetect(start)
	logFigures(t, "link-down-20s", f)
	if rec < 0 {
		t.Errorf("no message arrived within %v of the link coming up", recoverMax)
	}
	check(t, f, s.peerGone())
}

// TestResets destroys the connection ten times during a stream, 2.5 s
// apart, alternately from the sender's side and the receiver's (ss -K: the
// killing side's socket fails with ECONNABORTED, the other receives a
// reset). Each must cost a reconnect and nothing else.
func TestResets(t *testing.T) {
	need(t, "ss")
	t.Parallel()
	p := newVethPair(t)
	s := startStream(t, p, nil)
	time.Sleep(warmup)
	var worstDetect, worstRecover time.Duration
	killed := 0
	first := time.Now()
	var detects []time.Time // when the resets that killed a connection were made
	for i := range 10 {
		at := time.Now()
		var n int
		var err error
		if i%2 == 0 {
			n, err = resetConns(p.nsA, "dst", p.ipB, "dport", "=", fmt.Sprint(port))
		} else {
			n, err = resetConns(p.nsB, "src", p.ipB, "sport", "=", fmt.Sprint(port))
		}
		if err != nil {
			t.Fatal(err)
		}
		killed += n
		// Recovered once a message came over the new connection: messages
		// the receiver had queued before the reset do not count.
		conn, ok := s.receiver().waitFor(recoverMax, func(r record) bool {
			return r.K == "ev" && r.Ev == "connected" && r.T >= at.UnixNano()
		})
		if !ok {
			t.Fatalf("reset %d: the sender did not reconnect within %v", i+1, recoverMax)
		}
		reconnected := time.Unix(0, conn.T)
		rec := s.waitArrival(reconnected, recoverMax)
		if rec < 0 {
			t.Fatalf("reset %d: no message arrived within %v of the reconnect", i+1, recoverMax)
		}
		worstRecover = max(worstRecover, reconnected.Sub(at)+rec)
		time.Sleep(2500*time.Millisecond - time.Since(at))
		if n > 0 {
			detects = append(detects, at)
		}
	}
	time.Sleep(settle)
	f := s.finish(first)
	for _, at := range detects {
		worstDetect = max(worstDetect, firstEvent(s.sender, at, s.stopped, "disconnected"))
	}
	f.detect, f.recover = worstDetect, worstRecover
	f.extra = fmt.Sprintf("connections_killed=%d", killed)
	logFigures(t, "resets-10", f)
	if killed < 10 {
		t.Errorf("only %d of 10 resets found a connection to kill", killed)
	}
	check(t, f, s.peerGone())
}

// TestReceiverStopped30s freezes the receiver with SIGSTOP for 30 s: its
// kernel still acknowledges TCP, but it reads nothing, and the heartbeat
// timeout is just about over when it continues.
func TestReceiverStopped30s(t *testing.T) {
	need(t)
	t.Parallel()
	p := newVethPair(t)
	s := startStream(t, p, nil)
	time.Sleep(warmup)
	start := time.Now()
	if err := s.receiver().signal(syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	time.Sleep(30 * time.Second)
	if err := s.receiver().signal(syscall.SIGCONT); err != nil {
		t.Fatal(err)
	}
	cont := time.Now()
	rec := s.waitArrival(cont, recoverMax)
	time.Sleep(settle)
	f := s.finish(start)
	f.detect = s.senderDetect(start)
	f.recover = rec
	logFigures(t, "sigstop-30s", f)
	if rec < 0 {
		t.Errorf("no message arrived within %v of SIGCONT", recoverMax)
	}
	check(t, f, s.peerGone())
}

// TestReceiverKilled kills the receiver with SIGKILL mid-stream and starts
// a new one on the same endpoint. The receivers defer their
// acknowledgements (WithDeferredAck): a message is acknowledged only once
// the child has written it out, so one killed between Recv and that write
// is resent rather than missing from the count. This is the one case,
// with peerGone, where a message may arrive twice.
func TestReceiverKilled(t *testing.T) {
	need(t)
	t.Parallel()
	p := newVethPair(t)
	s := startStream(t, p, func(_, pull *childConfig) { pull.DeferredAck = true })
	time.Sleep(warmup)
	start := time.Now()
	if err := s.receiver().kill(); err != nil {
		t.Fatal(err)
	}
	s.startReceiver()
	restarted := time.Now()
	rec := s.waitArrival(restarted, recoverMax)
	time.Sleep(settle)
	f := s.finish(start)
	f.detect = s.senderDetect(start)
	f.recover = rec
	logFigures(t, "sigkill-restart", f)
	if rec < 0 {
		t.Errorf("no message arrived within %v of the restart", recoverMax)
	}
	check(t, f, true)
}

func TestLoss1(t *testing.T) { impaired(t, "loss-1pct", 0.01, 1) }
func TestLoss5(t *testing.T) { impaired(t, "loss-5pct", 0.05, 5) }

// impaired streams for 45 s through the relay: loss, a delay of 20 to
// 100 ms each way with jitter (which reorders), 1 % of packets held back
// further (reordered) and 1 % duplicated. TCP repairs all of it; wisp must
// see only a slow connection.
func impaired(t *testing.T, name string, loss float64, seed uint64) {
	need(t)
	t.Parallel()
	imp := impairment{loss: loss, delayMin: 20 * time.Millisecond, delayMax: 100 * time.Millisecond, reorder: 0.01, duplicate: 0.01, seed: seed}
	p, r := newTUNPair(t, imp)
	s := startStream(t, p, nil)
	start := time.Now()
	time.Sleep(45 * time.Second)
	f := s.finish(start)
	f.extra = fmt.Sprintf("impairment=[%v] relay=[%v]", imp, &r.stats)
	logFigures(t, name, f)
	check(t, f, s.peerGone())
}

// TestCorruptionChecksum streams for 30 s through the relay, which flips a
// byte in 0.5 % of the TCP segments that carry data and fixes the TCP
// checksum up, as a faulty NIC or a rewriting middlebox would: with
// WithChecksum on both sides no corrupted message may reach the
// application, and nothing may be lost. TestCorruptionNoChecksum is the
// control: the same stream without checksums, whose corrupted deliveries
// it reports.
func TestCorruptionChecksum(t *testing.T) { corrupted(t, "corrupt-checksum", true) }

func TestCorruptionNoChecksum(t *testing.T) { corrupted(t, "corrupt-no-checksum", false) }

func corrupted(t *testing.T, name string, checksum bool) {
	need(t)
	t.Parallel()
	imp := impairment{corrupt: 0.005, seed: 7}
	p, r := newTUNPair(t, imp)
	s := startStream(t, p, func(push, pull *childConfig) {
		push.Checksum, pull.Checksum = checksum, checksum
	})
	s.corruptible = !checksum
	start := time.Now()
	time.Sleep(30 * time.Second)
	f := s.finish(start)
	bad := 0
	for _, r := range s.receiver().snapshot() {
		if r.K == "corrupt" {
			bad++
		}
	}
	f.extra = fmt.Sprintf("corrupted_delivered=%d impairment=[%v] relay=[%v]", bad, imp, &r.stats)
	logFigures(t, name, f)
	if r.stats.corrupted.Load() == 0 {
		t.Fatal("the relay corrupted nothing; the scenario proved nothing")
	}
	if checksum {
		if bad > 0 {
			t.Errorf("corrupted messages delivered: got %d, want 0", bad)
		}
		check(t, f, s.peerGone())
	}
}

// TestReqRepPartition5s runs a REQ in A (WithRequestRetry(time.Second)),
// asking a REP in B up to 20 times a second, through a 5 s silent
// partition. The target is a worst round trip under 7 s: the partition
// plus two retry intervals.
func TestReqRepPartition5s(t *testing.T) {
	need(t)
	t.Parallel()
	p := newVethPair(t)
	endpoint := fmt.Sprintf("tcp://%s:%d", p.ipB, port)
	rep := startChild(t, p.nsB, "rep", childConfig{Role: "rep", Endpoint: endpoint}, nil)
	if _, ok := rep.waitFor(30*time.Second, func(r record) bool { return r.K == "ev" && r.Ev == "listening" }); !ok {
		t.Fatalf("rep did not bind: %s", rep.output())
	}
	req := startChild(t, p.nsA, "req", childConfig{Role: "req", Endpoint: endpoint, Rate: 20, RequestRetry: time.Second}, nil)
	if _, ok := req.waitFor(30*time.Second, func(r record) bool { return r.K == "rt" && r.Err == "" }); !ok {
		t.Fatalf("no reply within 30s: %s", req.output())
	}
	time.Sleep(warmup)
	heal, err := partition(p)
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(5 * time.Second)
	if err := heal(); err != nil {
		t.Fatal(err)
	}
	healed := time.Now()
	// Long enough for the stuck request to come back even at today's ~9 s.
	time.Sleep(10 * time.Second)
	if err := req.stop(2 * time.Minute); err != nil {
		t.Error(err)
	}
	if err := rep.stop(30 * time.Second); err != nil {
		t.Error(err)
	}
	var worst time.Duration
	var worstAt time.Time
	recover := time.Duration(-1)
	requests, failed := 0, 0
	for _, r := range req.snapshot() {
		if r.K != "rt" {
			continue
		}
		requests++
		if r.Err != "" {
			failed++
			t.Errorf("request %d: %s", r.S, r.Err)
		}
		if d := time.Duration(r.D); d > worst {
			worst, worstAt = d, time.Unix(0, r.T)
		}
		if at := time.Unix(0, r.T); recover < 0 && !at.Before(healed) {
			recover = at.Sub(healed)
		}
	}
	var retries uint64
	if end, ok := req.end(); ok && end.Stats != nil {
		retries = end.Stats.Retries
	}
	f := figures{sent: int64(requests), received: int64(requests - failed), lost: int64(failed), detect: -1, recover: recover}
	f.rssSender, f.heapSender = peakMemory(req)
	f.rssRecv, f.heapRecv = peakMemory(rep)
	f.disconnects = len(events(req, "disconnected"))
	f.extra = fmt.Sprintf("worst_rtt=%s worst_reply_after_heal=%s retries=%d", fmtDur(worst), fmtDur(worstAt.Sub(healed)), retries)
	logFigures(t, "reqrep-partition-5s", f)
	if worst >= 7*time.Second {
		t.Errorf("worst round trip %v through a 5s partition; the target is under 7s", worst.Round(time.Millisecond))
	}
	if f.rssSender > rssLimit || f.rssRecv > rssLimit {
		t.Errorf("peak resident set over %d MiB", rssLimit/mib)
	}
}
