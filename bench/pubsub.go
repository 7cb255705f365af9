package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strconv"
	"time"

	"github.com/wispmq/wisp/socket"
)

// pubSubSubCmd is the hidden subcommand that runs one subscriber of a
// PUB/SUB run in its own process.
const pubSubSubCmd = "__pubsub-sub"

// defaultSubs is thr's -subs default and the suite's subscriber count.
const defaultSubs = 4

// Topics: the first bytes of every message. Each subscriber subscribes to
// feedPrefix alone, which covers both the data and the end marker: one
// prefix per subscriber, so WaitSubscribers returning means every
// subscriber will get both (with two prefixes, one could arrive at the
// publisher after the barrier).
var (
	feedPrefix = []byte("f")
	dataTopic  = []byte("fd") // data that matches every subscription
	otherTopic = []byte("xd") // data that matches none (-match 50)
	endMarker  = []byte("fe") // the whole end marker message
)

// topicLen is the topic's share of a data message, and so its least size.
const topicLen = 2

// endInterval is how often the publisher repeats the end marker until
// every subscriber has reported: PUB/SUB is at most once, so one marker
// could be dropped.
const endInterval = 10 * time.Millisecond

// settlePoll is how often the publisher reads its counters while its last
// batches are written.
const settlePoll = time.Millisecond

// pubSubCount is the suite's message count per size: the publisher never
// waits, so a run takes about a second on 2 cores.
func pubSubCount(size int) int64 {
	if size <= 16 {
		return 2_000_000
	}
	return 1_000_000
}

// checkPubSub validates the pubsub parameters.
func checkPubSub(c config) error {
	switch {
	case c.Subs < 1 || c.Subs > maxPeers:
		return fmt.Errorf("%w: subs: got %d, want 1 to %d", errBadConfig, c.Subs, maxPeers)
	case c.Match != 100 && c.Match != 50:
		return fmt.Errorf("%w: match: got %d, want 100 or 50", errBadConfig, c.Match)
	case c.Size < topicLen:
		return fmt.Errorf("%w: size: got %d, want >= %d (the topic)", errBadConfig, c.Size, topicLen)
	}
	return nil
}

// matchedOf is how many of count messages match the subscriptions: all,
// or with -match 50 the first, third, fifth...
func matchedOf(count int64, match int) int64 {
	if match == 50 {
		return (count + 1) / 2
	}
	return count
}

// PubSubResult holds the fields of thr's line that only pubsub has. It is
// exported only because encoding/json cannot decode into an embedded
// pointer to an unexported struct, as the suite does.
type PubSubResult struct {
	Subs  int `json:"subs"`
	Match int `json:"match"` // percent of the messages that match
	// NoDrop says the publisher waited for full subscribers (-nodrop).
	NoDrop bool `json:"nodrop"`
	// Matched is how many messages matched the subscriptions: what each
	// subscriber would get without drops.
	Matched int64 `json:"matched"`
	// PubMsgsPerSec is the publisher's send rate over every message it
	// published, as msgs_per_sec.
	PubMsgsPerSec float64 `json:"pub_msgs_per_sec"`
	// PubMsgsWritten and PubDrops are the publisher's Stats().MsgsOut and
	// Drops after the data (end markers not counted): together they are
	// Matched x Subs.
	PubMsgsWritten      uint64      `json:"pub_msgs_written"`
	PubDrops            uint64      `json:"pub_drops"`
	SubMsgsPerSecMedian float64     `json:"sub_msgs_per_sec_median"`
	SubMsgsPerSecMin    float64     `json:"sub_msgs_per_sec_min"`
	Subscribers         []subResult `json:"subscribers"`
}

// subResult is one subscriber's part of the line.
type subResult struct {
	Session  string `json:"session"`
	Received int64  `json:"received"` // data messages
	// Seconds is from its first data message to its last; MsgsPerSec is
	// Received over it (0 with fewer than 2 messages).
	Seconds    float64 `json:"seconds"`
	MsgsPerSec float64 `json:"msgs_per_sec"`
	// Drops is the publisher's count of this subscriber's messages it
	// dropped at the send high-water mark.
	Drops uint64 `json:"drops"`
	// CPU and peak RSS of its process: absent for inproc, where every
	// subscriber shares the one process.
	CPUSec   float64 `json:"cpu_sec,omitempty"`
	MaxRSSKB int64   `json:"maxrss_kb,omitempty"`
}

// runPubSub measures PUB -> SUB fan-out: one PUB binds, here; c.Subs SUBs
// (each in a child process for tcp and ipc, goroutines here for inproc)
// connect and subscribe. Once every subscription has arrived the PUB
// publishes c.Count messages of c.Size bytes as fast as Send returns
// (which is never blocked: a subscriber whose queue is full loses the
// message), then repeats an end marker until every subscriber has
// reported. The publisher times its sends; each subscriber times its first
// to its last data message.
func runPubSub(ctx context.Context, c config) (result, error) {
	matched := matchedOf(c.Count, c.Match)
	// Acks stays false: publication never uses acknowledgements.
	r := result{
		Pattern: c.Pattern, Transport: c.Transport, Size: c.Size, Count: c.Count, HWM: c.HWM,
		PubSubResult: &PubSubResult{Subs: c.Subs, Match: c.Match, NoDrop: c.NoDrop, Matched: matched},
	}
	if r.HWM == 0 {
		r.HWM = socket.DefaultSendHWM
	}
	ctx, cancel := context.WithTimeout(ctx, c.Timeout)
	defer cancel()
	before, err := selfUsage()
	if err != nil {
		return result{}, err
	}
	opts := []socket.Option{socket.WithNoDrop(c.NoDrop)}
	if c.HWM > 0 {
		opts = append(opts, socket.WithSendHWM(c.HWM))
	}
	pub, err := socket.New(socket.Pub, opts...)
	if err != nil {
		return result{}, err
	}
	ep := fmt.Sprintf("inproc://wispbench-pub-%d-%d", os.Getpid(), inprocSeq.Add(1))
	if c.Transport != "inproc" {
		var cleanup func()
		if ep, cleanup, err = listenEndpoint(c.Transport, "pub.sock"); err != nil {
			return result{}, errors.Join(err, pub.Close())
		}
		defer cleanup()
	}
	bound, err := pub.Bind(ep)
	if err != nil {
		return result{}, errors.Join(err, pub.Close())
	}
	var g *subscribers
	if c.Transport == "inproc" {
		g, err = startSubsInproc(ctx, c, bound, matched)
	} else {
		g, err = startSubsApart(ctx, c, bound, matched)
	}
	if err != nil {
		return result{}, errors.Join(err, pub.Close())
	}
	reports, err := publishFeed(ctx, pub, g, c, &r)
	if err != nil {
		g.abort()
		return result{}, errors.Join(err, pub.Close())
	}
	if err := pub.Close(); err != nil {
		return result{}, err
	}
	after, err := selfUsage()
	if err != nil {
		return result{}, err
	}
	r.fillRates()
	ps := r.PubSubResult
	ps.PubMsgsPerSec = r.MsgsPerSec
	var rates []float64
	for i, rep := range reports {
		s := &ps.Subscribers[i]
		s.Received, s.Seconds = rep.line.Count, rep.line.Seconds
		if s.Seconds > 0 {
			s.MsgsPerSec = float64(s.Received) / s.Seconds
		}
		rates = append(rates, s.MsgsPerSec)
		s.CPUSec, s.MaxRSSKB = rep.usage.cpuSec, rep.usage.maxRSSKB
		r.ReceiverCPUSec += rep.usage.cpuSec
		r.ReceiverMaxRSSKB = max(r.ReceiverMaxRSSKB, rep.usage.maxRSSKB)
	}
	ps.SubMsgsPerSecMedian = median(rates, func(v float64) float64 { return v })
	ps.SubMsgsPerSecMin = slices.Min(rates)
	r.SenderCPUSec, r.SenderMaxRSSKB = after.cpuSec-before.cpuSec, after.maxRSSKB
	if c.Transport == "inproc" {
		r.ReceiverCPUSec, r.ReceiverMaxRSSKB = r.SenderCPUSec, r.SenderMaxRSSKB
		r.OneProcess = true
	}
	return r, nil
}

// publishFeed runs the publisher's side once the subscribers are started:
// it waits for their subscriptions, publishes, settles its counters, sends
// end markers until every subscriber has reported, checks the counts and
// returns the reports in subscriber order. It fills r's Seconds and the
// publisher's counters.
func publishFeed(ctx context.Context, pub *socket.Socket, g *subscribers, c config, r *result) ([]subReport, error) {
	ps := r.PubSubResult
	if err := pub.WaitSubscribers(ctx, c.Subs); err != nil {
		return nil, fmt.Errorf("waiting for %d subscribers: %w", c.Subs, err)
	}
	// Shared and never modified, like sendAll's payload: inproc
	// subscribers get these very slices and only read them.
	data, other := topicPayload(dataTopic, c.Size), topicPayload(otherTopic, c.Size)
	start := time.Now()
	for i := range c.Count {
		m := data
		if c.Match == 50 && i%2 == 1 {
			m = other
		}
		if err := pub.Send(ctx, m); err != nil {
			return nil, fmt.Errorf("publishing message %d of %d: %w", i+1, c.Count, err)
		}
	}
	r.Seconds = time.Since(start).Seconds()
	if err := ctx.Err(); err != nil { // Send does not look at it
		return nil, fmt.Errorf("publishing %d messages: %w", c.Count, err)
	}

	st, err := settle(ctx, pub, g, uint64(ps.Matched)*uint64(c.Subs))
	if err != nil {
		return nil, err
	}
	ps.PubMsgsWritten, ps.PubDrops = st.MsgsOut, st.Drops
	ps.Subscribers = make([]subResult, c.Subs)
	for i, session := range g.sessions {
		j := slices.IndexFunc(st.Peers, func(p socket.PeerStats) bool { return p.Session == session })
		if j < 0 {
			return nil, fmt.Errorf("subscriber %d: got no peer with its session %s at the publisher, want one", i+1, session)
		}
		ps.Subscribers[i] = subResult{Session: session, Drops: st.Peers[j].Drops}
	}

	reports := make([]subReport, c.Subs)
	tick := time.NewTicker(endInterval)
	defer tick.Stop()
	for due := true; g.pending > 0; {
		if due {
			if err := pub.Send(ctx, endMarker); err != nil {
				return nil, fmt.Errorf("sending the end marker: %w", err)
			}
		}
		select {
		case rep := <-g.done:
			g.pending--
			if rep.err != nil {
				return nil, rep.err
			}
			reports[rep.i] = rep
			due = false
		case <-tick.C:
			due = true
		case <-ctx.Done():
			return nil, fmt.Errorf("waiting for %d of %d subscribers to see the end marker: %w", g.pending, c.Subs, ctx.Err())
		}
	}
	for i, rep := range reports {
		drops := ps.Subscribers[i].Drops
		if rep.line.Size != c.Size || uint64(rep.line.Count)+drops != uint64(ps.Matched) {
			return nil, fmt.Errorf("%w: subscriber %d: got %d messages of %d bytes received and %d dropped, want %d bytes and %d in all",
				errWrongMessages, i+1, rep.line.Count, rep.line.Size, drops, c.Size, ps.Matched)
		}
	}
	return reports, nil
}

// settle waits until the publisher has written or dropped every copy of
// the matching messages, and returns its Stats then. Flush alone is not
// enough: with no acknowledgements a message is done once the writer has
// taken it, and MsgsOut counts it after the write. More than want means
// the publisher wrote a message no subscription matched. A subscriber that
// ends now, before any end marker, has failed: settle returns its error
// rather than wait for the timeout.
func settle(ctx context.Context, pub *socket.Socket, g *subscribers, want uint64) (socket.Stats, error) {
	if err := pub.Flush(ctx); err != nil {
		return socket.Stats{}, fmt.Errorf("publisher: flushing: %w", err)
	}
	tick := time.NewTicker(settlePoll)
	defer tick.Stop()
	for {
		st := pub.Stats()
		if got := st.MsgsOut + st.Drops; got == want {
			return st, nil
		} else if got > want {
			return st, fmt.Errorf("%w: publisher wrote %d and dropped %d messages, want %d in all (matching messages x subscribers)",
				errWrongMessages, st.MsgsOut, st.Drops, want)
		}
		select {
		case <-tick.C:
		case rep := <-g.done:
			g.pending--
			if rep.err == nil {
				rep.err = fmt.Errorf("subscriber %d: got its end before any end marker, want it after", rep.i+1)
			}
			return st, rep.err
		case <-ctx.Done():
			return st, fmt.Errorf("publisher: waiting for its messages to be written (%d written, %d dropped, want %d in all): %w",
				st.MsgsOut, st.Drops, want, ctx.Err())
		}
	}
}

// topicPayload returns a message of size bytes that starts with topic.
func topicPayload(topic []byte, size int) []byte {
	return append(bytes.Clone(topic), bytes.Repeat([]byte{'w'}, size-len(topic))...)
}

// subReport is what one subscriber reports when it has seen the end
// marker and closed.
type subReport struct {
	i     int      // which subscriber, from 0
	line  recvLine // Count: data messages received; Seconds: first to last
	usage rusage   // its process's, tcp and ipc only
	err   error
}

// subscribers is the SUB side of a run, running: child processes or
// goroutines of this one.
type subscribers struct {
	sessions []string       // each subscriber's Session, in order
	done     chan subReport // one report per subscriber, buffered for all
	pending  int            // reports not yet taken from done
	stop     context.CancelFunc
}

// abort stops every subscriber still running (kills its process, or ends
// its Recv) and waits for all of them.
func (g *subscribers) abort() {
	g.stop()
	for ; g.pending > 0; g.pending-- {
		<-g.done
	}
}

// startSubsApart starts c.Subs subscriber processes connecting to
// endpoint and reads each one's session from its first line.
func startSubsApart(ctx context.Context, c config, endpoint string, matched int64) (*subscribers, error) {
	ctx, stop := context.WithCancel(ctx)
	g := &subscribers{done: make(chan subReport, c.Subs), stop: stop}
	args := []string{pubSubSubCmd, "-endpoint=" + endpoint,
		"-size=" + strconv.Itoa(c.Size), "-count=" + strconv.FormatInt(matched, 10),
		"-hwm=" + strconv.Itoa(c.HWM), "-timeout=" + c.Timeout.String()}
	var peers []*peer
	fail := func(err error) (*subscribers, error) {
		for _, p := range peers {
			p.abort()
		}
		stop()
		return nil, err
	}
	for i := range c.Subs {
		p, err := startPeer(ctx, fmt.Sprintf("subscriber %d", i+1), args)
		if err != nil {
			return fail(err)
		}
		peers = append(peers, p)
	}
	for _, p := range peers {
		session, err := p.readLine()
		if err != nil {
			return fail(err)
		}
		g.sessions = append(g.sessions, session)
	}
	for i, p := range peers {
		g.pending++
		go func() {
			rep := subReport{i: i}
			var out []byte
			out, rep.usage, rep.err = p.finish() // the child ignores its stdin
			if rep.err == nil {
				if err := json.Unmarshal(bytes.TrimSpace(out), &rep.line); err != nil {
					rep.err = fmt.Errorf("%s output %q: %w", p.name, out, err)
				}
			}
			g.done <- rep
		}()
	}
	return g, nil
}

// startSubsInproc makes c.Subs SUB sockets here, connected to endpoint,
// each receiving in its own goroutine.
func startSubsInproc(ctx context.Context, c config, endpoint string, matched int64) (*subscribers, error) {
	ctx, stop := context.WithCancel(ctx)
	g := &subscribers{done: make(chan subReport, c.Subs), stop: stop}
	var subs []*socket.Socket
	for range c.Subs {
		sub, err := newSubscriber(c.HWM, endpoint)
		if err != nil {
			stop()
			return nil, errors.Join(err, closeAll(subs))
		}
		subs = append(subs, sub)
		g.sessions = append(g.sessions, sub.Session())
	}
	for i, sub := range subs {
		g.pending++
		go func() {
			rep := subReport{i: i}
			rep.line, rep.err = receiveFeed(ctx, sub, c.Size, matched)
			if err := errors.Join(rep.err, sub.Close()); err != nil {
				rep.err = fmt.Errorf("subscriber %d: %w", i+1, err)
			}
			g.done <- rep
		}()
	}
	return g, nil
}

// newSubscriber makes a SUB socket subscribed to the feed and connects it.
func newSubscriber(hwm int, endpoint string) (*socket.Socket, error) {
	sub, err := socket.New(socket.Sub, recvOptions(hwm)...)
	if err != nil {
		return nil, err
	}
	err = sub.Subscribe(feedPrefix) // before Connect: it goes out with the handshake
	if err == nil {
		err = sub.Connect(endpoint)
	}
	if err != nil {
		return nil, errors.Join(err, sub.Close())
	}
	return sub, nil
}

// receiveFeed receives data messages until the end marker. Each must be
// one frame of size bytes on the data topic, and there may be at most
// limit of them. It returns how many came and the seconds from the first
// to the last.
func receiveFeed(ctx context.Context, sub *socket.Socket, size int, limit int64) (recvLine, error) {
	var n int64
	// One monotonic clock reading per message, as the C subscriber's
	// clock_gettime: time.Now would read the wall clock too, which costs
	// as much again and is a third of a 16-byte message's receive on
	// some machines.
	began := time.Now()
	var first, last time.Duration
	for {
		m, err := sub.Recv(ctx)
		if err != nil {
			return recvLine{}, fmt.Errorf("receiving after %d data messages: %w", n, err)
		}
		if len(m) == 1 && bytes.Equal(m[0], endMarker) {
			l := recvLine{Count: n, Size: size}
			if n > 1 {
				l.Seconds = (last - first).Seconds()
			}
			return l, nil
		}
		if len(m) != 1 || len(m[0]) != size || !bytes.HasPrefix(m[0], dataTopic) {
			var head []byte
			if len(m) > 0 {
				head = m[0][:min(len(m[0]), topicLen)]
			}
			return recvLine{}, fmt.Errorf("%w: message %d: got %d frames of %d bytes starting %q, want 1 frame of %d bytes starting %q, or the end marker %q",
				errWrongMessages, n+1, len(m), m.Size(), head, size, dataTopic, endMarker)
		}
		if n == limit {
			return recvLine{}, fmt.Errorf("%w: got more than %d data messages, want at most the %d that matched", errWrongMessages, limit, limit)
		}
		last = time.Since(began)
		if n == 0 {
			first = last
		}
		n++
	}
}

// pubSubSub is one subscriber's process: it subscribes, connects, prints
// its session, receives until the end marker, closes and prints what it
// received as JSON. -count is the number of matching messages, the most it
// may receive.
func pubSubSub(args []string, stdout io.Writer, _ io.Reader) error {
	f, err := parseChildFlags(pubSubSubCmd, args, 1, nil)
	if err != nil {
		return err
	}
	if f.size < topicLen {
		return fmt.Errorf("%w: size: got %d, want >= %d", errBadConfig, f.size, topicLen)
	}
	ctx, cancel := context.WithTimeout(context.Background(), f.timeout)
	defer cancel()
	sub, err := newSubscriber(f.hwm, f.endpoint)
	if err != nil {
		return err
	}
	if _, err := fmt.Fprintln(stdout, sub.Session()); err != nil {
		return errors.Join(err, sub.Close())
	}
	l, err := receiveFeed(ctx, sub, f.size, f.count)
	if err := errors.Join(err, sub.Close()); err != nil {
		return err
	}
	return printJSON(stdout, l)
}
