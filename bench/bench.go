package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"time"

	"github.com/wispmq/wisp/socket"
)

// errBadConfig marks a run whose parameters make no sense; the command exits
// with a usage error for it.
var errBadConfig = errors.New("bad benchmark parameters")

// config is what one measurement runs.
type config struct {
	Pattern   string
	Transport string
	Size      int
	Count     int64
	Acks      bool
	HWM       int // 0: the socket's defaults
	Timeout   time.Duration
	// Protocol is the wire protocol's name, "wisp" or "zmtp"
	// (socket.ParseProtocol); "" means wisp.
	Protocol string
	// Broker only: client and worker sockets, and requests each client
	// keeps in flight.
	Clients, Workers, Window int
	// PUB/SUB only: subscriber sockets, and the share of messages (percent)
	// that match their subscription.
	Subs, Match int
	// NoDrop makes the publisher wait for full subscribers
	// (socket.WithNoDrop) instead of dropping.
	NoDrop bool
	// PUSH/PULL only: Spool, if set, is a directory in which the sender
	// spools (socket.WithSpool), each run in a fresh subdirectory it
	// removes after; SpoolSync is the sync policy as
	// socket.ParseSpoolSync reads it ("" means always).
	Spool, SpoolSync string
	// Release makes the PUSH/PULL receiver give every message back once
	// checked (socket.Message.Release).
	Release bool
	// Batch is how many messages the PUSH/PULL sender hands to one
	// SendMany and the receiver takes at most per RecvMany; 1 (or 0):
	// Send and Recv.
	Batch int
}

// result is one measurement: the JSON line thr prints. Field names are a
// contract with scripts and bench/compare.
type result struct {
	Pattern          string  `json:"pattern"`
	Transport        string  `json:"transport"`
	Size             int     `json:"size"`
	Count            int64   `json:"count"`
	Acks             bool    `json:"acks"` // always false over ZMTP, which has none
	HWM              int     `json:"hwm"`
	Seconds          float64 `json:"seconds"`
	MsgsPerSec       float64 `json:"msgs_per_sec"`
	MBPerSec         float64 `json:"mb_per_sec"` // 10^6 bytes of payload
	SenderCPUSec     float64 `json:"sender_cpu_sec"`
	ReceiverCPUSec   float64 `json:"receiver_cpu_sec"`
	SenderMaxRSSKB   int64   `json:"sender_maxrss_kb"`
	ReceiverMaxRSSKB int64   `json:"receiver_maxrss_kb"`
	// OneProcess says sender and receiver shared a process (inproc), so the
	// CPU and RSS fields are both the whole process's.
	OneProcess bool `json:"one_process"`
	// Protocol is the wire protocol the sockets spoke: "wisp" or "zmtp".
	Protocol string `json:"protocol"`
	// SpoolSync is the sender's spool sync policy ("always", "none",
	// "100ms"), absent when it did not spool.
	SpoolSync string `json:"spool_sync,omitempty"`
	// Release says the receiver released every message (-release).
	Release bool `json:"release,omitempty"`
	// Batch is -batch when above 1: SendMany and RecvMany moved the
	// messages that many at a time.
	Batch int `json:"batch,omitempty"`
	// Broker only (absent for other patterns): the sender fields above are
	// the clients' process, the receiver fields the workers' process, and
	// these the broker's, which is the thr process itself.
	Clients        int     `json:"clients,omitempty"`
	Workers        int     `json:"workers,omitempty"`
	Window         int     `json:"window,omitempty"`
	BrokerCPUSec   float64 `json:"broker_cpu_sec,omitempty"`
	BrokerMaxRSSKB int64   `json:"broker_maxrss_kb,omitempty"`
	// PUB/SUB only: its fields are in the line when this is set, and
	// absent for other patterns.
	*PubSubResult
}

// fillRates computes the derived fields from Count, Size and Seconds.
func (r *result) fillRates() {
	r.MsgsPerSec = float64(r.Count) / r.Seconds
	r.MBPerSec = float64(r.Count) * float64(r.Size) / r.Seconds / 1e6
}

// benchmark is one entry of the suite: a pattern and how to measure it.
// New throughput patterns are new entries; the suite and thr pick them up
// from here. Latency has its own table, latencies.
type benchmark struct {
	pattern    string
	transports []string
	sizes      []int
	// count is the suite's message count for a size, chosen so each run
	// takes a few seconds at most on a small machine.
	count func(size int) int64
	// run measures once. For tcp and ipc it starts its peers as child
	// processes (see runPair); for inproc it runs both sides itself.
	run func(ctx context.Context, c config) (result, error)
	// checkMore, if set, validates the pattern's own parameters.
	checkMore func(c config) error
	// cases, if set, are the suite's rows for the pattern, in place of
	// every transport with every size; thr still accepts any of
	// transports.
	cases []suiteCase
	// zmtp says the pattern can be measured with -protocol zmtp; the
	// others speak WISP/1 only.
	zmtp bool
}

// suiteCase is one row of the suite: a transport, a size and, for pubsub,
// the match percentage.
type suiteCase struct {
	transport string
	size      int
	match     int // pubsub; 0 otherwise
}

// suiteCases returns b's rows of the suite.
func (b *benchmark) suiteCases() []suiteCase {
	if b.cases != nil {
		return b.cases
	}
	var cs []suiteCase
	for _, tr := range b.transports {
		for _, size := range b.sizes {
			cs = append(cs, suiteCase{transport: tr, size: size})
		}
	}
	return cs
}

// benchmarks is the suite, in the order the table shows it.
var benchmarks = []benchmark{
	{
		pattern:    "pushpull",
		transports: []string{"inproc", "ipc", "tcp", "ws", "quic"},
		sizes:      []int{16, 256, 4096, 65536},
		count:      pushPullCount,
		run:        runPushPull,
		checkMore:  checkPushPull,
		zmtp:       true,
	},
	{
		pattern:    "broker",
		transports: []string{"tcp", "ipc"},
		sizes:      []int{16},
		count:      brokerCount,
		run:        runBroker,
		checkMore:  checkBroker,
		// The suite keeps its one broker row; thr takes ipc too.
		cases: []suiteCase{{transport: "tcp", size: 16}},
	},
	{
		pattern:    "pubsub",
		transports: []string{"inproc", "ipc", "tcp"},
		sizes:      []int{16, 256},
		count:      pubSubCount,
		run:        runPubSub,
		checkMore:  checkPubSub,
		cases: []suiteCase{
			{transport: "tcp", size: 16, match: 100},
			{transport: "tcp", size: 256, match: 100},
			{transport: "tcp", size: 16, match: 50},
		},
	},
}

func findBenchmark(pattern string) (*benchmark, error) {
	for i := range benchmarks {
		if benchmarks[i].pattern == pattern {
			return &benchmarks[i], nil
		}
	}
	return nil, fmt.Errorf("%w: pattern: got %q, want one of %v", errBadConfig, pattern, patternNames())
}

func patternNames() []string {
	var names []string
	for _, b := range benchmarks {
		names = append(names, b.pattern)
	}
	return names
}

// check validates c against the benchmark.
func (b *benchmark) check(c config) error {
	switch {
	case !slices.Contains(b.transports, c.Transport):
		return fmt.Errorf("%w: transport: got %q, want one of %v", errBadConfig, c.Transport, b.transports)
	case c.Size < 0:
		return fmt.Errorf("%w: size: got %d, want >= 0", errBadConfig, c.Size)
	case c.Count < 2:
		// Timing starts at the first message, so one message measures nothing.
		return fmt.Errorf("%w: count: got %d, want >= 2", errBadConfig, c.Count)
	case c.HWM < 0:
		return fmt.Errorf("%w: hwm: got %d, want >= 0 (0: default)", errBadConfig, c.HWM)
	case c.Timeout <= 0:
		return fmt.Errorf("%w: timeout: got %v, want > 0", errBadConfig, c.Timeout)
	}
	proto, err := parseProtocol(c.Protocol)
	if err != nil {
		return err
	}
	if proto == socket.ZMTP {
		if !b.zmtp {
			return fmt.Errorf("%w: protocol zmtp: got pattern %q, want %s", errBadConfig, b.pattern, zmtpPatterns())
		}
		if err := checkZMTPTransport(c.Transport); err != nil {
			return err
		}
	}
	if c.Release && b.pattern != "pushpull" {
		return fmt.Errorf("%w: release: got pattern %q, want pushpull", errBadConfig, b.pattern)
	}
	if c.Batch < 0 || c.Batch > maxBatch {
		return fmt.Errorf("%w: batch: got %d, want 1 to %d (0 means 1)", errBadConfig, c.Batch, maxBatch)
	}
	if c.Batch > 1 && b.pattern != "pushpull" {
		return fmt.Errorf("%w: batch: got pattern %q, want pushpull", errBadConfig, b.pattern)
	}
	if b.checkMore != nil {
		return b.checkMore(c)
	}
	return nil
}

// zmtpPatterns names the thr patterns that take -protocol zmtp.
func zmtpPatterns() string {
	var names []string
	for _, b := range benchmarks {
		if b.zmtp {
			names = append(names, b.pattern)
		}
	}
	return fmt.Sprint(names)
}

// parseProtocol is socket.ParseProtocol with "" meaning wisp, its error
// marked as a bad parameter.
func parseProtocol(name string) (socket.Protocol, error) {
	if name == "" {
		return socket.WISP, nil
	}
	p, err := socket.ParseProtocol(name)
	if err != nil {
		return 0, fmt.Errorf("%w: protocol: got %q, want wisp or zmtp", errBadConfig, name)
	}
	return p, nil
}

// checkZMTPTransport refuses inproc for ZMTP: inproc links carry no wire
// protocol, so such a run would measure WISP's inproc path with acks off
// under ZMTP's name.
func checkZMTPTransport(transport string) error {
	if transport == "inproc" {
		return fmt.Errorf("%w: protocol zmtp: got transport inproc, which carries no wire protocol; want tcp or ipc", errBadConfig)
	}
	return nil
}

// protocolName is the name the JSON lines give a protocol: "" is wisp.
func protocolName(name string) string {
	if name == "" {
		return socket.WISP.String()
	}
	return name
}

// child is a hidden subcommand: one side of a measurement, run in its own
// process by the command itself.
type child struct {
	name string
	run  func(args []string, stdout io.Writer, stdin io.Reader) error
}

// children lists every hidden subcommand.
var children = []child{
	{name: pushPullRecvCmd, run: pushPullRecv},
	{name: pushPullSendCmd, run: pushPullSend},
	{name: repServerCmd, run: repServer},
	{name: brokerWorkersCmd, run: brokerWorkers},
	{name: brokerClientsCmd, run: brokerClients},
	{name: pubSubSubCmd, run: pubSubSub},
	{name: scaleServerCmd, run: scaleServer},
	{name: scaleClientsCmd, run: scaleClients},
}
