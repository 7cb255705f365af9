package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"slices"
	"strconv"
	"time"

	"github.com/wispmq/wisp/socket"
)

// repServerCmd is the hidden subcommand that runs the REP side of a latency
// measurement in its own process.
const repServerCmd = "__reqrep-server"

// maxLatCount bounds -count: every round trip's time is kept (8 bytes
// each) to compute percentiles.
const maxLatCount = 10_000_000

// latConfig is what one latency measurement runs.
type latConfig struct {
	Pattern   string
	Transport string
	Size      int
	Count     int64
	Acks      bool
	Timeout   time.Duration
	// Protocol is the wire protocol's name, "wisp" or "zmtp"; "" means
	// wisp.
	Protocol string
	// BusyPoll is both sockets' socket.WithBusyPoll; 0: none.
	BusyPoll time.Duration
}

// latResult is the JSON line lat prints. Field names are a contract with
// scripts and bench/compare.
type latResult struct {
	Pattern   string `json:"pattern"`
	Transport string `json:"transport"`
	Size      int    `json:"size"`
	Count     int64  `json:"count"`  // timed round trips
	Warmup    int64  `json:"warmup"` // untimed round trips before them
	Acks      bool   `json:"acks"`   // always false over ZMTP, which has none
	// Seconds is the time of the count timed round trips, back to back.
	Seconds          float64 `json:"seconds"`
	RoundTripsPerSec float64 `json:"round_trips_per_sec"`
	RTTMeanUS        float64 `json:"rtt_mean_us"`
	RTTMinUS         float64 `json:"rtt_min_us"`
	RTTP50US         float64 `json:"rtt_p50_us"`
	RTTP90US         float64 `json:"rtt_p90_us"`
	RTTP99US         float64 `json:"rtt_p99_us"`
	RTTMaxUS         float64 `json:"rtt_max_us"`
	ClientCPUSec     float64 `json:"client_cpu_sec"`
	ServerCPUSec     float64 `json:"server_cpu_sec"`
	ClientMaxRSSKB   int64   `json:"client_maxrss_kb"`
	ServerMaxRSSKB   int64   `json:"server_maxrss_kb"`
	// OneProcess says client and server shared a process (inproc), so the
	// CPU and RSS fields are both the whole process's.
	OneProcess bool `json:"one_process"`
	// Protocol is the wire protocol the sockets spoke: "wisp" or "zmtp".
	Protocol string `json:"protocol"`
	// BusyPollUS is both sockets' socket.WithBusyPoll in microseconds; 0:
	// none.
	BusyPollUS float64 `json:"busy_poll_us"`
}

// latBenchmark is one entry of the suite's latency table.
type latBenchmark struct {
	pattern    string
	transports []string
	sizes      []int
	count      func(size int) int64
}

// latencies is the latency part of the suite, in the order its table shows
// it. reqrep is also the only pattern lat accepts.
var latencies = []latBenchmark{
	{
		pattern:    "reqrep",
		transports: []string{"inproc", "ipc", "tcp", "ws", "quic"},
		sizes:      []int{16, 4096},
		count:      reqRepCount,
	},
}

// reqRepCount is the suite's round trips per size: a second or two each on
// a small machine, enough for a stable 99th percentile.
func reqRepCount(int) int64 { return 20_000 }

// warmupOf is the number of untimed round trips before the timed ones: they
// pay for connecting, the first allocations and the scheduler settling.
func warmupOf(count int64) int64 { return min(1000, count/10) }

func (c latConfig) check() error {
	i := slices.IndexFunc(latencies, func(b latBenchmark) bool { return b.pattern == c.Pattern })
	switch {
	case i < 0:
		return fmt.Errorf("%w: pattern: got %q, want reqrep", errBadConfig, c.Pattern)
	case !slices.Contains(latencies[i].transports, c.Transport):
		return fmt.Errorf("%w: transport: got %q, want one of %v", errBadConfig, c.Transport, latencies[i].transports)
	case c.Size < 0:
		return fmt.Errorf("%w: size: got %d, want >= 0", errBadConfig, c.Size)
	case c.Count < 1 || c.Count > maxLatCount:
		return fmt.Errorf("%w: count: got %d, want 1 to %d", errBadConfig, c.Count, maxLatCount)
	case c.Timeout <= 0:
		return fmt.Errorf("%w: timeout: got %v, want > 0", errBadConfig, c.Timeout)
	case c.BusyPoll < 0 || c.BusyPoll > time.Second:
		return fmt.Errorf("%w: busy-poll: got %v, want 0 to 1s", errBadConfig, c.BusyPoll)
	}
	proto, err := parseProtocol(c.Protocol)
	if err == nil && proto == socket.ZMTP {
		err = checkZMTPTransport(c.Transport)
	}
	if err == nil && c.BusyPoll > 0 && (proto != socket.WISP || (c.Transport != "tcp" && c.Transport != "ipc")) {
		// socket.WithBusyPoll would do nothing there: a figure labelled
		// with it would not be one.
		err = fmt.Errorf("%w: busy-poll: got %v over %s with -protocol %s, want it over tcp or ipc with -protocol wisp", errBadConfig, c.BusyPoll, c.Transport, proto)
	}
	return err
}

// runLat is the lat subcommand: one latency measurement, one JSON line on
// stdout.
func runLat(args []string, stdout, stderr io.Writer) int {
	c := latConfig{}
	fs := newFlagSet("lat", stderr)
	fs.StringVar(&c.Pattern, "pattern", "reqrep", "pattern to measure: reqrep")
	fs.StringVar(&c.Transport, "transport", "tcp", "transport: tcp, ipc, inproc, ws (WebSocket) or quic")
	fs.IntVar(&c.Size, "size", 16, "request and reply size in bytes")
	fs.Int64Var(&c.Count, "count", 10_000, "timed round trips (after min(1000, count/10) untimed ones)")
	fs.BoolVar(&c.Acks, "acks", true, "acknowledged delivery (wisp's default)")
	fs.DurationVar(&c.Timeout, "timeout", defaultTimeout, "kill the run after this long")
	fs.StringVar(&c.Protocol, "protocol", "wisp", "wire protocol, wisp or zmtp (ZeroMQ's ZMTP 3.1, no acks); tcp and ipc only")
	fs.DurationVar(&c.BusyPoll, "busy-poll", 0, "both sockets poll for a reply or request this long before they sleep\n(socket.WithBusyPoll, e.g. 100us); 0: they sleep at once")
	if err := parseFlags(fs, args); err != nil {
		return flagError(stderr, "bench lat", err)
	}
	r, err := measureLat(context.Background(), c)
	if err != nil {
		fmt.Fprintf(stderr, "bench lat: %v\n", err)
		if errors.Is(err, errBadConfig) {
			return exitUsage
		}
		return exitFail
	}
	line, err := json.Marshal(r)
	if err != nil {
		fmt.Fprintf(stderr, "bench lat: %v\n", err)
		return exitFail
	}
	fmt.Fprintf(stdout, "%s\n", line)
	return exitOK
}

// measureLat validates c and runs it once. A REQ client sends a request of
// c.Size bytes and waits for the reply, c.Count times after the warm-up;
// the REP server echoes each request. Over tcp and ipc the server is a
// child process and the client this one; over inproc both are here. With
// c.Protocol zmtp both speak ZMTP 3.1, without acknowledgements.
func measureLat(ctx context.Context, c latConfig) (latResult, error) {
	if err := c.check(); err != nil {
		return latResult{}, err
	}
	proto, err := parseProtocol(c.Protocol)
	if err != nil {
		return latResult{}, err
	}
	r := latResult{
		Pattern: c.Pattern, Transport: c.Transport, Size: c.Size, Count: c.Count,
		Warmup: warmupOf(c.Count), Acks: c.Acks && proto == socket.WISP, Protocol: proto.String(),
		BusyPollUS: float64(c.BusyPoll) / float64(time.Microsecond),
	}
	if c.Transport == "inproc" {
		err = reqRepInproc(ctx, c, &r)
	} else {
		err = reqRepApart(ctx, c, proto, &r)
	}
	if err != nil {
		return latResult{}, fmt.Errorf("%s over %s, %d x %d bytes: %w", c.Pattern, c.Transport, c.Count, c.Size, err)
	}
	return r, nil
}

// reqRepApart runs the REP server as a child process, which binds and prints
// its endpoint, and the REQ client here. The client's CPU is this process's
// over the client's life (socket, connection, warm-up and timed round
// trips); the server's is the child's whole life.
func reqRepApart(ctx context.Context, c latConfig, proto socket.Protocol, r *latResult) error {
	ctx, cancel := context.WithTimeout(ctx, c.Timeout)
	defer cancel()
	ep, cleanup, err := listenEndpoint(c.Transport, "rep.sock")
	if err != nil {
		return err
	}
	defer cleanup()
	total := r.Warmup + c.Count
	srv, err := startPeer(ctx, "server", []string{repServerCmd, "-endpoint=" + ep,
		"-size=" + strconv.Itoa(c.Size), "-count=" + strconv.FormatInt(total, 10),
		"-acks=" + strconv.FormatBool(c.Acks), "-timeout=" + c.Timeout.String(), "-protocol=" + proto.String(),
		"-busy-poll=" + c.BusyPoll.String()})
	if err != nil {
		return err
	}
	bound, err := srv.readLine()
	if err != nil {
		srv.abort()
		return err
	}
	before, err := selfUsage()
	if err != nil {
		srv.abort()
		return err
	}
	opts, err := endpointOptions(bound, []socket.Option{socket.WithProtocol(proto), socket.WithAcks(c.Acks), socket.WithBusyPoll(c.BusyPoll)})
	if err != nil {
		srv.abort()
		return err
	}
	req, err := socket.New(socket.Req, opts...)
	if err != nil {
		srv.abort()
		return err
	}
	err = req.Connect(bound)
	if err == nil {
		err = roundTrips(ctx, req, c.Size, r.Warmup, c.Count, r)
	}
	if err := errors.Join(err, req.Close()); err != nil {
		srv.abort()
		return err
	}
	after, err := selfUsage()
	if err != nil {
		srv.abort()
		return err
	}
	out, su, err := srv.finish()
	if err != nil {
		return err
	}
	var sl serveLine
	if err := json.Unmarshal(bytes.TrimSpace(out), &sl); err != nil {
		return fmt.Errorf("server output %q: %w", out, err)
	}
	if sl.Served != total {
		return fmt.Errorf("%w: server answered %d requests, want %d", errWrongMessages, sl.Served, total)
	}
	r.ClientCPUSec, r.ClientMaxRSSKB = after.cpuSec-before.cpuSec, after.maxRSSKB
	r.ServerCPUSec, r.ServerMaxRSSKB = su.cpuSec, su.maxRSSKB
	return nil
}

// reqRepInproc runs server and client in this process. CPU is the process's
// over the run, in both fields; RSS is the process's peak.
func reqRepInproc(ctx context.Context, c latConfig, r *latResult) error {
	ctx, cancel := context.WithTimeout(ctx, c.Timeout)
	defer cancel()
	before, err := selfUsage()
	if err != nil {
		return err
	}
	rep, err := socket.New(socket.Rep, socket.WithAcks(c.Acks), socket.WithBusyPoll(c.BusyPoll))
	if err != nil {
		return err
	}
	req, err := socket.New(socket.Req, socket.WithAcks(c.Acks), socket.WithBusyPoll(c.BusyPoll))
	if err != nil {
		rep.Close()
		return err
	}
	ep, err := rep.Bind(fmt.Sprintf("inproc://wispbench-rep-%d-%d", os.Getpid(), inprocSeq.Add(1)))
	if err == nil {
		err = req.Connect(ep)
	}
	if err != nil {
		req.Close()
		rep.Close()
		return err
	}
	total := r.Warmup + c.Count
	served := make(chan error, 1)
	go func() { served <- serve(ctx, rep, c.Size, total) }()
	cerr := roundTrips(ctx, req, c.Size, r.Warmup, c.Count, r)
	if cerr != nil {
		cancel() // unblocks the server
	}
	serr := <-served
	if err := errors.Join(cerr, serr, req.Close(), rep.Close()); err != nil {
		return err
	}
	after, err := selfUsage()
	if err != nil {
		return err
	}
	r.ClientCPUSec = after.cpuSec - before.cpuSec
	r.ServerCPUSec = r.ClientCPUSec
	r.ClientMaxRSSKB, r.ServerMaxRSSKB = after.maxRSSKB, after.maxRSSKB
	r.OneProcess = true
	return nil
}

// listenEndpoint returns the endpoint a child binds for transport: an
// ephemeral loopback port, or a socket file in a fresh directory that
// cleanup removes.
func listenEndpoint(transport, file string) (ep string, cleanup func(), err error) {
	switch transport {
	case "tcp":
		return "tcp://127.0.0.1:0", func() {}, nil
	case "ws":
		return "ws://127.0.0.1:0/wisp", func() {}, nil
	case "quic":
		return "quic://127.0.0.1:0", func() {}, nil
	case "ipc":
		dir, err := os.MkdirTemp("", "wispbench-")
		if err != nil {
			return "", nil, err
		}
		return "ipc://" + dir + "/" + file, func() { os.RemoveAll(dir) }, nil
	}
	return "", nil, fmt.Errorf("%w: transport: got %q, want tcp, ipc, ws or quic", errBadConfig, transport)
}

// roundTrips runs warmup untimed round trips, then count timed ones, and
// fills r's timing fields. Each round trip is timed on its own with the
// monotonic clock, from before Send to after Recv returned the reply, which
// must be one frame of size bytes.
func roundTrips(ctx context.Context, req *socket.Socket, size int, warmup, count int64, r *latResult) error {
	payload := bytes.Repeat([]byte{'w'}, size) // shared, never modified: see sendAll
	one := func(i int64) error {
		if err := req.Send(ctx, payload); err != nil {
			return fmt.Errorf("sending request %d of %d: %w", i+1, warmup+count, err)
		}
		m, err := req.Recv(ctx)
		if err != nil {
			return fmt.Errorf("receiving reply %d of %d: %w", i+1, warmup+count, err)
		}
		if len(m) != 1 || len(m[0]) != size {
			return fmt.Errorf("%w: reply %d: got %d frames of %d bytes, want 1 frame of %d bytes",
				errWrongMessages, i+1, len(m), m.Size(), size)
		}
		return nil
	}
	for i := range warmup {
		if err := one(i); err != nil {
			return err
		}
	}
	rtts := make([]time.Duration, count)
	start := time.Now()
	for i := range count {
		t := time.Now()
		if err := one(warmup + i); err != nil {
			return err
		}
		rtts[i] = time.Since(t)
	}
	r.Seconds = time.Since(start).Seconds()
	r.RoundTripsPerSec = float64(count) / r.Seconds
	summarize(rtts, r)
	return nil
}

// summarize fills r's round-trip statistics from rtts, which it sorts.
// Percentiles are nearest-rank: the smallest time that at least p% of the
// round trips did not exceed.
func summarize(rtts []time.Duration, r *latResult) {
	if len(rtts) == 0 {
		return
	}
	slices.Sort(rtts)
	var sum time.Duration
	for _, d := range rtts {
		sum += d
	}
	us := func(ns float64) float64 { return math.Round(ns) / 1e3 }
	rank := func(p float64) float64 {
		i := int(math.Ceil(p/100*float64(len(rtts)))) - 1
		return us(float64(rtts[max(i, 0)]))
	}
	r.RTTMeanUS = us(float64(sum) / float64(len(rtts)))
	r.RTTMinUS = us(float64(rtts[0]))
	r.RTTP50US = rank(50)
	r.RTTP90US = rank(90)
	r.RTTP99US = rank(99)
	r.RTTMaxUS = us(float64(rtts[len(rtts)-1]))
}

// serve answers count requests on rep, echoing each; every request must be
// one frame of size bytes.
func serve(ctx context.Context, rep *socket.Socket, size int, count int64) error {
	for i := range count {
		m, err := rep.Recv(ctx)
		if err != nil {
			return fmt.Errorf("receiving request %d of %d: %w", i+1, count, err)
		}
		if len(m) != 1 || len(m[0]) != size {
			return fmt.Errorf("%w: request %d: got %d frames of %d bytes, want 1 frame of %d bytes",
				errWrongMessages, i+1, len(m), m.Size(), size)
		}
		if err := rep.Send(ctx, m...); err != nil {
			return fmt.Errorf("replying to request %d of %d: %w", i+1, count, err)
		}
	}
	return nil
}

// serveLine is what a serving child prints when it is done.
type serveLine struct {
	Served int64 `json:"served"`
}

// repServer is the server process of a latency run: it binds, prints its
// real endpoint, answers count requests, then waits for stdin to close (the
// client is done) before it checks that no other request came, prints how
// many it answered and closes.
func repServer(args []string, stdout io.Writer, stdin io.Reader) error {
	var busyPoll time.Duration
	f, proto, err := parseProtocolChildFlags(repServerCmd, args, 1, func(fs *flag.FlagSet) {
		fs.DurationVar(&busyPoll, "busy-poll", 0, "socket.WithBusyPoll")
	})
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), f.timeout)
	defer cancel()
	opts, err := endpointOptions(f.endpoint, []socket.Option{socket.WithProtocol(proto), socket.WithAcks(f.acks), socket.WithBusyPoll(busyPoll)})
	if err != nil {
		return err
	}
	rep, err := socket.New(socket.Rep, opts...)
	if err != nil {
		return err
	}
	defer rep.Close()
	ep, err := rep.Bind(f.endpoint)
	if err != nil {
		return err
	}
	if _, err := fmt.Fprintln(stdout, ep); err != nil {
		return err
	}
	if err := serve(ctx, rep, f.size, f.count); err != nil {
		return err
	}
	if err := waitEOF(ctx, stdin, "the client"); err != nil {
		return err
	}
	if err := checkNoMore(rep); err != nil {
		return err
	}
	if err := rep.Close(); err != nil {
		return err
	}
	return printJSON(stdout, serveLine{Served: f.count})
}

// waitEOF waits until stdin closes: the parent's word that the other side
// is done.
func waitEOF(ctx context.Context, stdin io.Reader, who string) error {
	eof := make(chan struct{})
	go func() { // ends with the process if stdin never closes
		io.Copy(io.Discard, stdin)
		close(eof)
	}()
	select {
	case <-eof:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("waiting for %s to finish: %w", who, ctx.Err())
	}
}

// printJSON writes v as one JSON line.
func printJSON(w io.Writer, v any) error {
	line, err := json.Marshal(v)
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(w, "%s\n", line)
	return err
}
