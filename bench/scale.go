package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"runtime"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/wispmq/wisp/socket"
)

// The scale subcommand measures what one socket costs per peer: a server
// socket (PUB, ROUTER or PULL) in a child process of its own, so that its
// memory is nobody else's, and its many client sockets in other children.
// The parent drives both sides through phases with one-line commands on
// their stdin and one-line answers on their stdout, and times the phases.

// Hidden subcommands: the server socket, and a group of client sockets.
const (
	scaleServerCmd  = "__scale-server"
	scaleClientsCmd = "__scale-clients"
)

// Scale defaults and limits.
const (
	defaultScaleTimeout = 10 * time.Minute
	// peersPerProc is how many client sockets one child runs by default:
	// well below the ~28,000 ephemeral ports one source address has for
	// one destination.
	peersPerProc = 12_500
	// maxScaleProcs is how many client processes there can be: each dials
	// from its own address, 127.0.0.2 to 127.0.0.254.
	maxScaleProcs = 253
	// fileMargin is the open files a process needs besides its
	// connections: standard streams, pipes, the listener, the runtime's
	// poller.
	fileMargin = 64
	// exchangeSize is the size of the one message per peer of the
	// exchange phase.
	exchangeSize = 16
	// goneGrace bounds how long the server waits, once no peer is
	// connected, for the connections' goroutines to finish returning.
	goneGrace = time.Second
	// gonePoll is how often the server counts its connected peers while
	// the clients close.
	gonePoll = 20 * time.Millisecond
)

// Commands from the parent to the children, one per line. Each child
// answers each with one line: "ok", or a JSON object for stats and idle.
const (
	cmdStats     = "stats"      // server: its figures now
	cmdFreed     = "freed"      // server: its figures once the runtime returned freed memory to the OS
	cmdIdle      = "idle"       // server, "idle D": its CPU seconds over D
	cmdWaitPeers = "wait-peers" // server: wait until every peer is connected
	cmdWaitGone  = "wait-gone"  // server, "wait-gone G": wait until no peer is, then for G goroutines
	cmdConnect   = "connect"    // clients: connect every socket
	cmdExchange  = "exchange"   // both: one message per peer
	cmdBurst     = "burst"      // both: -burst messages per peer
	cmdClose     = "close"      // clients: close every socket
	answerOK     = "ok"
	clientsReady = "ready" // the clients' first line: every socket is made
)

// scaleConfig is what one scale run measures.
type scaleConfig struct {
	Pattern    string
	Peers      int
	Procs      int // 0: one per peersPerProc peers
	Idle       time.Duration
	Settle     time.Duration
	AfterBurst time.Duration
	Burst      int
	BurstSize  int
	Heartbeat  time.Duration // 0: no heartbeats
	RecvQueue  int64         // the server's WithRecvQueueBytes
	MemLimit   int64         // the server's runtime memory limit; 0: none
	Timeout    time.Duration
	Format     string
}

// scalePatterns maps each -pattern to its server's and its clients'
// socket types.
var scalePatterns = map[string][2]socket.Type{
	"pub":    {socket.Pub, socket.Sub},
	"router": {socket.Router, socket.Dealer},
	"pull":   {socket.Pull, socket.Push},
}

func scalePatternNames() []string {
	names := make([]string, 0, len(scalePatterns))
	for name := range scalePatterns {
		names = append(names, name)
	}
	slices.Sort(names)
	return names
}

func knownScalePattern(name string) bool {
	_, ok := scalePatterns[name]
	return ok
}

// procsFor is -procs's default: one client process per peersPerProc peers.
func procsFor(peers int) int { return max(1, (peers+peersPerProc-1)/peersPerProc) }

func (c *scaleConfig) check() error {
	if c.Procs == 0 {
		c.Procs = procsFor(c.Peers)
	}
	switch {
	case !knownScalePattern(c.Pattern):
		return fmt.Errorf("%w: pattern: got %q, want one of %v", errBadConfig, c.Pattern, scalePatternNames())
	case c.Peers < 1:
		return fmt.Errorf("%w: peers: got %d, want >= 1", errBadConfig, c.Peers)
	case c.Procs < 1 || c.Procs > min(c.Peers, maxScaleProcs):
		return fmt.Errorf("%w: procs: got %d, want 1 to %d (at most one per peer, and one per loopback address 127.0.0.2-254)",
			errBadConfig, c.Procs, min(c.Peers, maxScaleProcs))
	case c.Idle <= 0:
		return fmt.Errorf("%w: idle: got %v, want > 0", errBadConfig, c.Idle)
	case c.Settle < 0 || c.AfterBurst < 0:
		return fmt.Errorf("%w: settle %v, after-burst %v: want >= 0", errBadConfig, c.Settle, c.AfterBurst)
	case c.Burst < 0 || c.BurstSize < 0:
		return fmt.Errorf("%w: burst %d, burst-size %d: want >= 0", errBadConfig, c.Burst, c.BurstSize)
	case c.MemLimit < 0:
		return fmt.Errorf("%w: memory-limit: got %d, want >= 0 (0: none)", errBadConfig, c.MemLimit)
	case c.RecvQueue < 0:
		return fmt.Errorf("%w: recv-queue-bytes: got %d, want >= 0 (0: no bound)", errBadConfig, c.RecvQueue)
	case c.Heartbeat < 0:
		return fmt.Errorf("%w: heartbeat: got %v, want >= 0 (0: none)", errBadConfig, c.Heartbeat)
	case c.Timeout <= c.Settle+c.Idle+c.AfterBurst:
		return fmt.Errorf("%w: timeout: got %v, want more than settle + idle + after-burst (%v), with room to connect and exchange",
			errBadConfig, c.Timeout, c.Settle+c.Idle+c.AfterBurst)
	case c.Format != "table" && c.Format != "json":
		return fmt.Errorf("%w: format: got %q, want table or json", errBadConfig, c.Format)
	}
	if ports, ok := ephemeralPorts(); ok {
		if per := (c.Peers + c.Procs - 1) / c.Procs; per > ports {
			return fmt.Errorf("%w: %d peers per process, but one source address has %d ephemeral ports: use -procs %d or more",
				errBadConfig, per, ports, (c.Peers+ports-1)/ports)
		}
	}
	return nil
}

// ephemeralPorts is the size of Linux's local port range, which bounds the
// connections one source address can open to one destination.
func ephemeralPorts() (int, bool) {
	b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range")
	if err != nil {
		return 0, false
	}
	f := strings.Fields(string(b))
	if len(f) != 2 {
		return 0, false
	}
	lo, err1 := strconv.Atoi(f[0])
	hi, err2 := strconv.Atoi(f[1])
	if err1 != nil || err2 != nil || hi < lo {
		return 0, false
	}
	return hi - lo + 1, true
}

// scaleResult is scale's JSON line. Field names are a contract with
// scripts. Per-peer figures are the server's after the phase minus its
// baseline (bound, no peer yet), divided by peers.
type scaleResult struct {
	Pattern           string  `json:"pattern"`
	Peers             int     `json:"peers"`
	Procs             int     `json:"procs"` // client processes
	Transport         string  `json:"transport"`
	ConnectSeconds    float64 `json:"connect_seconds"`
	ConnectsPerSecond float64 `json:"connects_per_second"`
	ExchangeSeconds   float64 `json:"exchange_seconds"`
	// Idle: after -settle with every peer connected and quiet.
	IdleRSSKiBPerPeer  float64 `json:"idle_rss_kib_per_peer"`
	IdleHeapKiBPerPeer float64 `json:"idle_heap_kib_per_peer"`
	GoroutinesPerPeer  float64 `json:"goroutines_per_peer"`
	// IdleStackKiBPerPeer is the goroutine stacks the server grew by
	// (StackInuse), outside the heap figure and inside RSS.
	IdleStackKiBPerPeer float64 `json:"idle_stack_kib_per_peer"`
	// IdleCPUSecondsPerMinute is the server's CPU time over the -idle
	// window, scaled to a minute: mostly heartbeats.
	IdleCPUSecondsPerMinute float64 `json:"idle_cpu_seconds_per_minute"`
	BurstSeconds            float64 `json:"burst_seconds"`
	// Burst: -after-burst after the burst, with the memory it took.
	BurstRSSKiBPerPeer  float64 `json:"burst_rss_kib_per_peer"`
	BurstHeapKiBPerPeer float64 `json:"burst_heap_kib_per_peer"`
	// BurstStackKiBPerPeer: the stacks after the burst (a collection
	// shrinks those using little of theirs).
	BurstStackKiBPerPeer float64 `json:"burst_stack_kib_per_peer"`
	// BurstRSSFreedKiBPerPeer is the server's RSS after the burst once the
	// Go runtime has returned the memory it freed to the OS
	// (debug.FreeOSMemory), which an idle program's runtime does only at
	// its next collection: what the socket itself still holds.
	BurstRSSFreedKiBPerPeer float64 `json:"burst_rss_freed_kib_per_peer"`
	CloseSeconds            float64 `json:"close_seconds"`
	// GoroutinesLeft is the server's goroutines once every peer has gone,
	// minus its baseline.
	GoroutinesLeft int `json:"goroutines_left"`
	// ClientRSSKiBPerPeer is the client processes' peak RSS, summed, over
	// peers: what a client socket costs, the process's own share included.
	ClientRSSKiBPerPeer float64 `json:"client_rss_kib_per_peer"`
	GoVersion           string  `json:"go_version"`
	CPU                 string  `json:"cpu"`
	Cores               int     `json:"cores"`
	// The parameters, and the server's baseline the per-peer figures
	// subtract.
	Burst              int     `json:"burst"`
	BurstSize          int     `json:"burst_size"`
	IdleSeconds        float64 `json:"idle_seconds"`
	SettleSeconds      float64 `json:"settle_seconds"`
	AfterBurstSeconds  float64 `json:"after_burst_seconds"`
	HeartbeatSeconds   float64 `json:"heartbeat_seconds"`
	RecvQueueBytes     int64   `json:"recv_queue_bytes"`   // the server's bound on queued payload
	MemoryLimitBytes   int64   `json:"memory_limit_bytes"` // the server's runtime memory limit; 0: none
	BaselineRSSKiB     int64   `json:"baseline_rss_kib"`
	BaselineHeapKiB    int64   `json:"baseline_heap_kib"`
	BaselineGoroutines int     `json:"baseline_goroutines"`
}

// serverFigures is the server's answer to cmdStats.
type serverFigures struct {
	RSSKiB     int64   `json:"rss_kib"`   // VmRSS, 0 where unknown
	HeapKiB    int64   `json:"heap_kib"`  // HeapInuse after a GC
	StackKiB   int64   `json:"stack_kib"` // StackInuse after the same GC
	Goroutines int     `json:"goroutines"`
	CPUSeconds float64 `json:"cpu_seconds"` // user + system, since it started
}

// idleFigures is the server's answer to cmdIdle.
type idleFigures struct {
	CPUSeconds float64 `json:"cpu_seconds"`
	Seconds    float64 `json:"seconds"`
}

// runScale is the scale subcommand.
func runScale(args []string, stdout, stderr io.Writer) int {
	c := scaleConfig{}
	fs := newFlagSet("scale", stderr)
	fs.StringVar(&c.Pattern, "pattern", "pull", "server socket and its clients: pub (SUBs), router (DEALERs) or pull (PUSHes)")
	fs.IntVar(&c.Peers, "peers", 1000, "client sockets, all connected to the one server socket")
	fs.IntVar(&c.Procs, "procs", 0, fmt.Sprintf("client processes, each dialing from its own 127.0.0.x; 0: one per %d peers", peersPerProc))
	fs.DurationVar(&c.Idle, "idle", 30*time.Second, "window over which the idle server's CPU is measured")
	fs.DurationVar(&c.Settle, "settle", 5*time.Second, "wait after the exchange before measuring idle memory")
	fs.DurationVar(&c.AfterBurst, "after-burst", 10*time.Second, "wait after the burst before measuring memory again")
	fs.IntVar(&c.Burst, "burst", 10, "messages per peer in the burst; 0: no burst")
	fs.IntVar(&c.BurstSize, "burst-size", 8192, "bytes per burst message")
	fs.DurationVar(&c.Heartbeat, "heartbeat", socket.DefaultHeartbeatInterval, "heartbeat interval of every socket (timeout 3x); 0: none")
	fs.Int64Var(&c.MemLimit, "memory-limit", 0, "the server process's Go memory limit in bytes (debug.SetMemoryLimit, as GOMEMLIMIT would set it); 0: none")
	fs.Int64Var(&c.RecvQueue, "recv-queue-bytes", socket.DefaultRecvQueueBytes, "the server socket's WithRecvQueueBytes: payload it queues across all peers; 0: no bound")
	fs.DurationVar(&c.Timeout, "timeout", defaultScaleTimeout, "kill the run after this long")
	fs.StringVar(&c.Format, "format", "table", "output: table (Markdown) or json (one line)")
	if err := parseFlags(fs, args); err != nil {
		return flagError(stderr, "bench scale", err)
	}
	fail := func(err error) int {
		fmt.Fprintf(stderr, "bench scale: %v\n", err)
		if errors.Is(err, errBadConfig) {
			return exitUsage
		}
		return exitFail
	}
	if err := c.check(); err != nil {
		return fail(err)
	}
	r, err := measureScale(context.Background(), c, stderr)
	if err != nil {
		return fail(fmt.Errorf("%s, %d peers: %w", c.Pattern, c.Peers, err))
	}
	if c.Format == "json" {
		err = printJSON(stdout, r)
	} else {
		err = writeScaleTable(stdout, r)
	}
	if err != nil {
		return fail(err)
	}
	return exitOK
}

// scaleRun is a run's children while it runs.
type scaleRun struct {
	c       scaleConfig
	ctx     context.Context
	server  *peer
	clients []*peer
	log     io.Writer // progress
}

// abort kills every child still running.
func (s *scaleRun) abort() {
	if s.server != nil {
		s.server.abort()
	}
	for _, p := range s.clients {
		p.abort()
	}
}

// measureScale runs the phases and computes the result.
func measureScale(ctx context.Context, c scaleConfig, log io.Writer) (scaleResult, error) {
	if err := raiseFileLimit(uint64(3*c.Procs + fileMargin)); err != nil {
		return scaleResult{}, err
	}
	ctx, cancel := context.WithTimeout(ctx, c.Timeout)
	defer cancel()
	s := &scaleRun{c: c, ctx: ctx, log: log}
	r, err := s.phases()
	if err != nil {
		s.abort()
		if ctx.Err() != nil {
			err = fmt.Errorf("%w (the run timed out: -timeout %v)", err, c.Timeout)
		}
		return scaleResult{}, err
	}
	return r, nil
}

// childArgs are the flags both kinds of child take. Children give up a
// little before the parent would kill them, so that their own error, which
// says what they were waiting for, is what the user sees.
func (s *scaleRun) childArgs() []string {
	timeout := s.c.Timeout - min(10*time.Second, s.c.Timeout/10)
	return []string{"-pattern=" + s.c.Pattern, "-burst=" + strconv.Itoa(s.c.Burst),
		"-burst-size=" + strconv.Itoa(s.c.BurstSize), "-heartbeat=" + s.c.Heartbeat.String(),
		"-timeout=" + timeout.String(), "-recv-queue-bytes=" + strconv.FormatInt(s.c.RecvQueue, 10),
		"-memory-limit=" + strconv.FormatInt(s.c.MemLimit, 10)}
}

func (s *scaleRun) progress(format string, args ...any) {
	fmt.Fprintf(s.log, "scale: "+format+"\n", args...)
}

// sleep waits d, or until the run's time is up.
func (s *scaleRun) sleep(d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-s.ctx.Done():
		return s.ctx.Err()
	}
}

// phases starts the children and runs the six phases: baseline, connect,
// exchange, idle, burst and close. On an error the caller kills whatever
// children are left.
func (s *scaleRun) phases() (scaleResult, error) {
	c := s.c
	r := scaleResult{
		Pattern: c.Pattern, Peers: c.Peers, Procs: c.Procs, Transport: "tcp",
		GoVersion: runtime.Version(), CPU: cpuModel(), Cores: runtime.NumCPU(),
		Burst: c.Burst, BurstSize: c.BurstSize, IdleSeconds: c.Idle.Seconds(),
		SettleSeconds: c.Settle.Seconds(), AfterBurstSeconds: c.AfterBurst.Seconds(),
		HeartbeatSeconds: c.Heartbeat.Seconds(), RecvQueueBytes: c.RecvQueue, MemoryLimitBytes: c.MemLimit,
	}
	var err error
	s.server, err = startPeer(s.ctx, "server", append([]string{scaleServerCmd, "-peers=" + strconv.Itoa(c.Peers)}, s.childArgs()...))
	if err != nil {
		return r, err
	}
	endpoint, err := s.server.readLine()
	if err != nil {
		return r, err
	}
	base, err := s.serverStats()
	if err != nil {
		return r, err
	}
	r.BaselineRSSKiB, r.BaselineHeapKiB, r.BaselineGoroutines = base.RSSKiB, base.HeapKiB, base.Goroutines

	// The clients make their sockets before the clock starts: what is
	// timed is connecting.
	for i := range c.Procs {
		n := c.Peers / c.Procs
		if i < c.Peers%c.Procs {
			n++
		}
		local := fmt.Sprintf("127.0.0.%d:0", i+2)
		p, err := startPeer(s.ctx, fmt.Sprintf("clients %d (%s)", i+1, local), append([]string{scaleClientsCmd,
			"-endpoint=" + endpoint, "-peers=" + strconv.Itoa(n), "-local=" + local}, s.childArgs()...))
		if err != nil {
			return r, err
		}
		s.clients = append(s.clients, p)
	}
	for _, p := range s.clients {
		if err := expect(p, clientsReady); err != nil {
			return r, err
		}
	}

	s.progress("connecting %d peers from %d client %s...", c.Peers, c.Procs, processes(c.Procs))
	start := time.Now()
	if err := s.both("", cmdConnect); err != nil {
		return r, err
	}
	if err := s.both(cmdWaitPeers, ""); err != nil {
		return r, fmt.Errorf("connecting: %w", err)
	}
	secs := time.Since(start).Seconds()
	r.ConnectSeconds, r.ConnectsPerSecond = round(secs, 6), round(float64(c.Peers)/secs, 1)

	s.progress("exchanging one message per peer...")
	start = time.Now()
	if err := s.both(cmdExchange, cmdExchange); err != nil {
		return r, fmt.Errorf("exchanging: %w", err)
	}
	r.ExchangeSeconds = round(time.Since(start).Seconds(), 6)

	s.progress("settling %v, then measuring idle CPU over %v...", c.Settle, c.Idle)
	if err := s.sleep(c.Settle); err != nil {
		return r, err
	}
	idle, err := s.serverStats()
	if err != nil {
		return r, err
	}
	r.IdleRSSKiBPerPeer, r.IdleHeapKiBPerPeer, r.GoroutinesPerPeer = perPeer(idle, base, c.Peers)
	r.IdleStackKiBPerPeer = stackPerPeer(idle, base, c.Peers)
	answer, err := ask(s.server, cmdIdle+" "+c.Idle.String())
	if err != nil {
		return r, err
	}
	var cpu idleFigures
	if err := json.Unmarshal([]byte(answer), &cpu); err != nil || !(cpu.Seconds > 0) {
		return r, fmt.Errorf("server: got %q for %s, want idle figures (%v)", answer, cmdIdle, err)
	}
	r.IdleCPUSecondsPerMinute = round(cpu.CPUSeconds/cpu.Seconds*60, 6)

	if c.Burst > 0 {
		s.progress("burst: %d messages of %d bytes per peer, then %v idle...", c.Burst, c.BurstSize, c.AfterBurst)
		start = time.Now()
		if err := s.both(cmdBurst, cmdBurst); err != nil {
			return r, fmt.Errorf("burst: %w", err)
		}
		r.BurstSeconds = round(time.Since(start).Seconds(), 6)
		if err := s.sleep(c.AfterBurst); err != nil {
			return r, err
		}
		after, err := s.serverStats()
		if err != nil {
			return r, err
		}
		r.BurstRSSKiBPerPeer, r.BurstHeapKiBPerPeer, _ = perPeer(after, base, c.Peers)
		r.BurstStackKiBPerPeer = stackPerPeer(after, base, c.Peers)
		freed, err := s.serverFigures(cmdFreed)
		if err != nil {
			return r, err
		}
		r.BurstRSSFreedKiBPerPeer, _, _ = perPeer(freed, base, c.Peers)
	}

	s.progress("closing %d peers...", c.Peers)
	start = time.Now()
	if err := s.tellAll("", cmdClose); err != nil {
		return r, err
	}
	if _, err := ask(s.server, fmt.Sprintf("%s %d", cmdWaitGone, base.Goroutines)); err != nil {
		return r, fmt.Errorf("closing: %w", err)
	}
	r.CloseSeconds = round(time.Since(start).Seconds(), 6)
	for _, p := range s.clients {
		if err := expect(p, answerOK); err != nil {
			return r, fmt.Errorf("closing: %w", err)
		}
	}
	closed, err := s.serverStats()
	if err != nil {
		return r, err
	}
	r.GoroutinesLeft = closed.Goroutines - base.Goroutines

	var clientRSS int64
	for len(s.clients) > 0 {
		p := s.clients[0]
		_, ru, err := p.finish()
		s.clients = s.clients[1:]
		if err != nil {
			return r, err
		}
		clientRSS += ru.maxRSSKB
	}
	r.ClientRSSKiBPerPeer = round(float64(clientRSS)/float64(c.Peers), 3)
	srv := s.server
	s.server = nil
	if _, _, err := srv.finish(); err != nil {
		return r, err
	}
	return r, nil
}

// perPeer is what the server grew by from base to now, per peer.
func perPeer(now, base serverFigures, peers int) (rssKiB, heapKiB, goroutines float64) {
	n := float64(peers)
	return round(float64(now.RSSKiB-base.RSSKiB)/n, 3), round(float64(now.HeapKiB-base.HeapKiB)/n, 3),
		round(float64(now.Goroutines-base.Goroutines)/n, 3)
}

// stackPerPeer is what the server's goroutine stacks grew by from base to
// now, per peer.
func stackPerPeer(now, base serverFigures, peers int) float64 {
	return round(float64(now.StackKiB-base.StackKiB)/float64(peers), 3)
}

// round keeps places decimals, so the JSON line stays readable.
func round(v float64, places int) float64 {
	p := math.Pow(10, float64(places))
	return math.Round(v*p) / p
}

// serverStats asks the server for its figures.
func (s *scaleRun) serverStats() (serverFigures, error) { return s.serverFigures(cmdStats) }

// serverFigures asks the server for its figures with cmd: cmdStats or
// cmdFreed.
func (s *scaleRun) serverFigures(cmd string) (serverFigures, error) {
	answer, err := ask(s.server, cmd)
	if err != nil {
		return serverFigures{}, err
	}
	var f serverFigures
	if err := json.Unmarshal([]byte(answer), &f); err != nil {
		return f, fmt.Errorf("server: got %q for %s, want its figures: %w", answer, cmd, err)
	}
	return f, nil
}

// tell writes one command line to a child.
func tell(p *peer, cmd string) error {
	if _, err := io.WriteString(p.stdin, cmd+"\n"); err != nil {
		return fmt.Errorf("%s: telling it %q: %w; stderr: %s", p.name, cmd, err, p.errText())
	}
	return nil
}

// expect reads a child's next line, which must be want.
func expect(p *peer, want string) error {
	line, err := p.readLine()
	if err != nil {
		return err
	}
	if line != want {
		return fmt.Errorf("%s: got %q, want %q; stderr: %s", p.name, line, want, p.errText())
	}
	return nil
}

// ask sends a command to a child and returns its answer.
func ask(p *peer, cmd string) (string, error) {
	if err := tell(p, cmd); err != nil {
		return "", err
	}
	return p.readLine()
}

// tellAll sends the server its command and every client theirs ("" sends
// none), without waiting for the answers.
func (s *scaleRun) tellAll(serverCmd, clientCmd string) error {
	if serverCmd != "" {
		if err := tell(s.server, serverCmd); err != nil {
			return err
		}
	}
	if clientCmd != "" {
		for _, p := range s.clients {
			if err := tell(p, clientCmd); err != nil {
				return err
			}
		}
	}
	return nil
}

// both sends the commands as tellAll does, so that every child works at
// once, then waits for every "ok".
func (s *scaleRun) both(serverCmd, clientCmd string) error {
	if err := s.tellAll(serverCmd, clientCmd); err != nil {
		return err
	}
	if clientCmd != "" {
		for _, p := range s.clients {
			if err := expect(p, answerOK); err != nil {
				return err
			}
		}
	}
	if serverCmd != "" {
		return expect(s.server, answerOK)
	}
	return nil
}

// writeScaleTable prints r as a Markdown table, one figure per row.
func writeScaleTable(w io.Writer, r scaleResult) error {
	var b strings.Builder
	fmt.Fprintf(&b, "| %s, %s peers, %d client %s | |\n| --- | ---: |\n", r.Pattern, thousands(float64(r.Peers)), r.Procs, processes(r.Procs))
	row := func(name, value string) { fmt.Fprintf(&b, "| %s | %s |\n", name, value) }
	f3 := func(v float64) string { return strconv.FormatFloat(v, 'f', 3, 64) }
	row("connect s", f3(r.ConnectSeconds))
	row("connects/s", thousands(r.ConnectsPerSecond))
	row("exchange s", f3(r.ExchangeSeconds))
	row("idle RSS KiB/peer", fmt2(r.IdleRSSKiBPerPeer))
	row("idle heap KiB/peer", fmt2(r.IdleHeapKiBPerPeer))
	row("goroutines/peer", fmt2(r.GoroutinesPerPeer))
	row("idle stack KiB/peer", fmt2(r.IdleStackKiBPerPeer))
	row("idle CPU s/min", f3(r.IdleCPUSecondsPerMinute))
	if r.Burst > 0 {
		row(fmt.Sprintf("burst s (%d x %d B per peer)", r.Burst, r.BurstSize), f3(r.BurstSeconds))
		row("after burst RSS KiB/peer", fmt2(r.BurstRSSKiBPerPeer))
		row("after burst heap KiB/peer", fmt2(r.BurstHeapKiBPerPeer))
		row("after burst stack KiB/peer", fmt2(r.BurstStackKiBPerPeer))
		row("after burst RSS KiB/peer, freed memory returned", fmt2(r.BurstRSSFreedKiBPerPeer))
	}
	row("close s", f3(r.CloseSeconds))
	row("goroutines left", strconv.Itoa(r.GoroutinesLeft))
	row("client RSS KiB/peer", fmt2(r.ClientRSSKiBPerPeer))
	fmt.Fprintf(&b, "\nServer (%s) over tcp loopback. Per peer: the server's growth over its baseline (bound, no peer) of %s KiB RSS, %s KiB heap, %d goroutines; "+
		"idle figures %v after the exchange, CPU over the next %v, heartbeat every %v",
		scalePatterns[r.Pattern][0], thousands(float64(r.BaselineRSSKiB)), thousands(float64(r.BaselineHeapKiB)), r.BaselineGoroutines,
		seconds(r.SettleSeconds), seconds(r.IdleSeconds), seconds(r.HeartbeatSeconds))
	if r.Burst > 0 {
		fmt.Fprintf(&b, "; after-burst figures %v after it", seconds(r.AfterBurstSeconds))
		if r.Pattern != "pub" {
			fmt.Fprintf(&b, ", the server queuing at most %s KiB of what it received (-recv-queue-bytes)", thousands(float64(r.RecvQueueBytes)/1024))
		}
	}
	if r.MemoryLimitBytes > 0 {
		fmt.Fprintf(&b, "; the server's Go memory limit %s KiB", thousands(float64(r.MemoryLimitBytes)/1024))
	}
	fmt.Fprintf(&b, ". %s, %d cores, %s.\n", r.CPU, r.Cores, r.GoVersion)
	_, err := io.WriteString(w, b.String())
	return err
}

func processes(n int) string {
	if n == 1 {
		return "process"
	}
	return "processes"
}

// seconds turns a figure of the line back into a duration to print.
func seconds(s float64) time.Duration { return time.Duration(s * float64(time.Second)) }

// scaleChildFlags are the flags of scale's hidden subcommands.
type scaleChildFlags struct {
	pattern   string
	peers     int
	endpoint  string // clients
	local     string // clients: the address they dial from
	burst     int
	burstSize int
	heartbeat time.Duration
	timeout   time.Duration
	recvQueue int64 // server
	memLimit  int64 // server; 0: none
}

func parseScaleChildFlags(name string, args []string) (scaleChildFlags, error) {
	var f scaleChildFlags
	fs := newFlagSet(name, os.Stderr)
	fs.StringVar(&f.pattern, "pattern", "", "pub, router or pull")
	fs.IntVar(&f.peers, "peers", 0, "peers (server) or sockets (clients)")
	fs.StringVar(&f.endpoint, "endpoint", "", "clients: the server's endpoint")
	fs.StringVar(&f.local, "local", "", "clients: local address to dial from, host:0")
	fs.IntVar(&f.burst, "burst", 0, "burst messages per peer")
	fs.IntVar(&f.burstSize, "burst-size", 0, "burst message size")
	fs.DurationVar(&f.heartbeat, "heartbeat", socket.DefaultHeartbeatInterval, "heartbeat interval; 0: none")
	fs.DurationVar(&f.timeout, "timeout", time.Minute, "give up after this long")
	fs.Int64Var(&f.recvQueue, "recv-queue-bytes", socket.DefaultRecvQueueBytes, "server: WithRecvQueueBytes")
	fs.Int64Var(&f.memLimit, "memory-limit", 0, "server: debug.SetMemoryLimit; 0: none")
	if err := parseFlags(fs, args); err != nil {
		return f, fmt.Errorf("%w: %v", errBadConfig, err)
	}
	if !knownScalePattern(f.pattern) || f.peers < 1 || f.burst < 0 || f.burstSize < 0 || f.heartbeat < 0 || f.timeout <= 0 || f.recvQueue < 0 || f.memLimit < 0 {
		return f, fmt.Errorf("%w: got pattern %q peers %d burst %d burst-size %d heartbeat %v timeout %v, recv-queue-bytes %d memory-limit %d, want one of %v, peers >= 1, burst and size >= 0, heartbeat >= 0, timeout > 0, recv-queue-bytes and memory-limit >= 0",
			errBadConfig, f.pattern, f.peers, f.burst, f.burstSize, f.heartbeat, f.timeout, f.recvQueue, f.memLimit, scalePatternNames())
	}
	return f, nil
}

// scaleOptions are every scale socket's options: the heartbeat asked
// for, and for the publisher no drops, so that every subscriber gets the
// whole burst however large.
func scaleOptions(f scaleChildFlags, t socket.Type) []socket.Option {
	opts := []socket.Option{socket.WithHeartbeat(f.heartbeat, 3*f.heartbeat), socket.WithRecvQueueBytes(f.recvQueue)}
	if t == socket.Pub {
		opts = append(opts, socket.WithNoDrop(true))
	}
	return opts
}

// commandLines delivers stdin's lines to a child's command loop. Its
// goroutine ends at EOF, or with the process.
func commandLines(stdin io.Reader) <-chan string {
	lines := make(chan string)
	go func() {
		defer close(lines)
		sc := bufio.NewScanner(stdin)
		for sc.Scan() {
			lines <- sc.Text()
		}
	}()
	return lines
}

// nextCommand waits for the parent's next command; ok is false at EOF, the
// parent's word that the run is over.
func nextCommand(ctx context.Context, lines <-chan string, waiting string) (cmd string, ok bool, err error) {
	select {
	case cmd, ok := <-lines:
		return cmd, ok, nil
	case <-ctx.Done():
		return "", false, fmt.Errorf("waiting for a command %s: %w", waiting, ctx.Err())
	}
}

// scaleServer is the server's process: it binds, prints its endpoint, and
// serves the parent's commands until stdin closes.
func scaleServer(args []string, stdout io.Writer, stdin io.Reader) error {
	f, err := parseScaleChildFlags(scaleServerCmd, args)
	if err != nil {
		return err
	}
	if err := raiseFileLimit(uint64(f.peers + fileMargin)); err != nil {
		return err
	}
	if f.memLimit > 0 {
		debug.SetMemoryLimit(f.memLimit)
	}
	ctx, cancel := context.WithTimeout(context.Background(), f.timeout)
	defer cancel()
	t := scalePatterns[f.pattern][0]
	srv, err := socket.New(t, scaleOptions(f, t)...)
	if err != nil {
		return err
	}
	defer srv.Close()
	ep, err := srv.Bind("tcp://127.0.0.1:0")
	if err != nil {
		return err
	}
	if _, err := fmt.Fprintln(stdout, ep); err != nil {
		return err
	}
	lines := commandLines(stdin)
	for {
		cmd, ok, err := nextCommand(ctx, lines, "(server)")
		if err != nil {
			return err
		}
		if !ok {
			return srv.Close()
		}
		answer, err := serveCommand(ctx, srv, f, cmd)
		if err != nil {
			return fmt.Errorf("%s: %w", cmd, err)
		}
		if _, err := fmt.Fprintln(stdout, answer); err != nil {
			return err
		}
	}
}

// serveCommand runs one of the parent's commands on the server socket and
// returns the answer line.
func serveCommand(ctx context.Context, srv *socket.Socket, f scaleChildFlags, cmd string) (string, error) {
	verb, arg, _ := strings.Cut(cmd, " ")
	switch verb {
	case cmdStats, cmdFreed:
		if verb == cmdFreed {
			debug.FreeOSMemory()
		}
		fig, err := ownFigures()
		if err != nil {
			return "", err
		}
		line, err := json.Marshal(fig)
		return string(line), err
	case cmdIdle:
		d, err := time.ParseDuration(arg)
		if err != nil {
			return "", err
		}
		return idleCPU(ctx, d)
	case cmdWaitPeers:
		if err := srv.WaitPeers(ctx, f.peers); err != nil {
			return "", fmt.Errorf("got %d of %d peers connected: %w", connectedPeers(srv), f.peers, err)
		}
		if f.pattern == "pub" {
			// Subscriptions go out with the handshake, but arrive
			// after it: the exchange must not publish before them.
			if err := srv.WaitSubscribers(ctx, f.peers); err != nil {
				return "", fmt.Errorf("waiting for %d subscribers: %w", f.peers, err)
			}
		}
		return answerOK, nil
	case cmdExchange:
		return answerOK, serverExchange(ctx, srv, f.pattern, f.peers)
	case cmdBurst:
		return answerOK, serverBurst(ctx, srv, f)
	case cmdWaitGone:
		goroutines, err := strconv.Atoi(arg)
		if err != nil {
			return "", err
		}
		return answerOK, waitGone(ctx, srv, goroutines)
	}
	return "", fmt.Errorf("unknown command %q", cmd)
}

// ownFigures are this process's figures now. It collects garbage first, so
// the heap is what is live; it does not hand freed memory back to the OS,
// so RSS is what the OS sees without help.
func ownFigures() (serverFigures, error) {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	u, err := selfUsage()
	if err != nil {
		return serverFigures{}, err
	}
	return serverFigures{RSSKiB: rssKiB(), HeapKiB: int64(ms.HeapInuse / 1024), StackKiB: int64(ms.StackInuse / 1024), Goroutines: runtime.NumGoroutine(), CPUSeconds: u.cpuSec}, nil
}

// rssKiB is VmRSS from /proc/self/status, or 0 where there is none.
func rssKiB() int64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for line := range strings.Lines(string(b)) {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			n, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			if err != nil {
				return 0
			}
			return n
		}
	}
	return 0
}

// idleCPU measures this process's CPU time over d, doing nothing itself.
func idleCPU(ctx context.Context, d time.Duration) (string, error) {
	before, err := selfUsage()
	if err != nil {
		return "", err
	}
	start := time.Now()
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
		return "", ctx.Err()
	}
	after, err := selfUsage()
	if err != nil {
		return "", err
	}
	line, err := json.Marshal(idleFigures{CPUSeconds: after.cpuSec - before.cpuSec, Seconds: time.Since(start).Seconds()})
	return string(line), err
}

// connectedPeers counts the peers with a connection now; Stats also lists
// departed peers that may come back.
func connectedPeers(s *socket.Socket) int {
	n := 0
	for _, p := range s.Stats().Peers {
		if p.Connected {
			n++
		}
	}
	return n
}

// serverExchange is the server's side of one message per peer: PUB
// publishes it, ROUTER echoes each DEALER's, PULL takes each PUSH's.
func serverExchange(ctx context.Context, srv *socket.Socket, pattern string, peers int) error {
	if pattern == "pub" {
		return srv.Send(ctx, bytes.Repeat([]byte{'x'}, exchangeSize))
	}
	for i := range peers {
		m, err := srv.Recv(ctx)
		if err != nil {
			return fmt.Errorf("receiving message %d of %d: %w", i+1, peers, err)
		}
		if err := checkMessage(m, pattern, exchangeSize); err != nil {
			return fmt.Errorf("message %d: %w", i+1, err)
		}
		if pattern == "router" {
			if err := srv.Send(ctx, m...); err != nil {
				return fmt.Errorf("echoing message %d of %d: %w", i+1, peers, err)
			}
		}
	}
	return nil
}

// serverBurst is the server's side of the burst: PUB publishes -burst
// messages, ROUTER and PULL take -burst from every peer.
func serverBurst(ctx context.Context, srv *socket.Socket, f scaleChildFlags) error {
	if f.pattern == "pub" {
		payload := bytes.Repeat([]byte{'b'}, f.burstSize) // shared by every peer's queue, never modified
		for i := range f.burst {
			if err := srv.Send(ctx, payload); err != nil {
				return fmt.Errorf("publishing message %d of %d: %w", i+1, f.burst, err)
			}
		}
		return nil
	}
	total := f.peers * f.burst
	for i := range total {
		m, err := srv.Recv(ctx)
		if err != nil {
			return fmt.Errorf("receiving message %d of %d: %w", i+1, total, err)
		}
		if err := checkMessage(m, f.pattern, f.burstSize); err != nil {
			return fmt.Errorf("message %d: %w", i+1, err)
		}
	}
	return nil
}

// checkMessage checks a message the server received: one frame of size
// bytes, after the routing id on a ROUTER.
func checkMessage(m socket.Message, pattern string, size int) error {
	if pattern == "router" {
		if len(m) != 2 || len(m[1]) != size {
			return fmt.Errorf("%w: got %d frames of %d bytes, want a routing id and %d bytes", errWrongMessages, len(m), m.Size(), size)
		}
		return nil
	}
	if len(m) != 1 || len(m[0]) != size {
		return fmt.Errorf("%w: got %d frames of %d bytes, want 1 frame of %d bytes", errWrongMessages, len(m), m.Size(), size)
	}
	return nil
}

// waitGone waits until no peer is connected, then, for at most goneGrace,
// until this process is back to baseline goroutines: a connection counts as
// gone a moment before its goroutines have returned.
func waitGone(ctx context.Context, srv *socket.Socket, baseline int) error {
	tick := time.NewTicker(gonePoll)
	defer tick.Stop()
	for n := connectedPeers(srv); n > 0; n = connectedPeers(srv) {
		select {
		case <-tick.C:
		case <-ctx.Done():
			return fmt.Errorf("waiting for the peers to go, %d still connected: %w", n, ctx.Err())
		}
	}
	grace := time.Now().Add(goneGrace)
	for runtime.NumGoroutine() > baseline && time.Now().Before(grace) {
		time.Sleep(time.Millisecond)
	}
	return nil
}
