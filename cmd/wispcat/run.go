package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/wispmq/wisp/socket"
)

// Exit statuses. A run ended by a signal exits with 128 plus the signal's
// number, as shells report it: 130 for SIGINT, 143 for SIGTERM.
const (
	exitOK      = 0
	exitFailure = 1
	exitUsage   = 2
)

// maxLine bounds a stdin line: one line is one message, so it may be as
// large as the socket's maximum message size.
const maxLine = socket.DefaultMaxMessageSize

// defaultLinger is how long a sending type waits for acknowledgements after
// its input ended. It is longer than the socket's own default because a
// command line tool is usually run once and should not give up early.
const defaultLinger = 5 * time.Second

// defaultRetry is how often req sends its request again while no reply
// comes, so a client outlives a restarted or lost server.
const defaultRetry = time.Second

// SignalError is the cancellation cause main gives the context passed to run
// when a signal asks the run to stop. run then exits with 128 plus the
// signal's number.
type SignalError struct{ Signal syscall.Signal }

func (e SignalError) Error() string { return "interrupted by " + e.Signal.String() }

// mode is what wispcat does with one socket type. Adding a type is one entry
// in modes and one run function.
type mode struct {
	typ socket.Type
	// sends: the type sends messages, and waits for their
	// acknowledgements with Flush (or not at all) rather than in Close.
	sends bool
	// data says what -data means for the type.
	data dataUse
	// countsSent: -count bounds what it sends (one message per stdin
	// line), so -data, sent once, cannot be counted beyond 1.
	countsSent bool
	// routable: a ROUTER peer can talk to it, so -routing-id matters.
	routable bool
	// setup, if set, prepares the socket before it binds or connects.
	setup func(r *runner) int
	run   func(r *runner) int
}

// dataUse is what -data means for a type.
type dataUse uint8

const (
	dataNone  dataUse = iota // no -data
	dataOnce                 // -data is sent once instead of stdin
	dataReply                // -data is the reply to every request
)

var modes = map[string]mode{
	"push":   {typ: socket.Push, sends: true, data: dataOnce, countsSent: true, run: runPush},
	"pull":   {typ: socket.Pull, run: runPull},
	"req":    {typ: socket.Req, sends: true, data: dataOnce, countsSent: true, routable: true, run: runReq},
	"rep":    {typ: socket.Rep, sends: true, data: dataReply, run: runRep},
	"dealer": {typ: socket.Dealer, sends: true, data: dataOnce, routable: true, run: runDuplex},
	"router": {typ: socket.Router, sends: true, routable: true, run: runRouter},
	"pair":   {typ: socket.Pair, sends: true, data: dataOnce, run: runDuplex},
	"pub":    {typ: socket.Pub, sends: true, data: dataOnce, countsSent: true, run: runPub},
	"sub":    {typ: socket.Sub, setup: setupSub, run: runPull},
	"xpub":   {typ: socket.XPub, sends: true, data: dataOnce, run: runXPub},
	"xsub":   {typ: socket.XSub, setup: setupXSub, run: runPull},
	"bus":    {typ: socket.Bus, sends: true, data: dataOnce, run: runBus},
}

// config holds the parsed command line.
type config struct {
	typeName string
	mode     mode
	binds    []string
	connects []string
	count    int
	timeout  time.Duration
	linger   time.Duration
	data     string
	hasData  bool
	hwm      int
	verbose  bool
	checksum bool // wisp: frame checksums on every connection

	retry        time.Duration // req: negative means no retries
	replyTimeout time.Duration // req: 0 means wait as long as the run
	routingID    string

	subscribe stringList // sub, xsub: the prefixes, in order
	waitSubs  int        // pub, xpub: subscribers to wait for before sending
	waitPeers int        // bus: members to wait for before sending (see peersToWaitFor)

	protocol       socket.Protocol
	curveSecret    string     // this socket's CURVE secret key (Z85)
	curveServer    bool       // take CURVE's server role
	curveServerKey string     // a CURVE client's trusted server key (Z85)
	curveAllow     stringList // a CURVE server's allowed client keys
	plainUser      string     // a PLAIN client's credentials
	plainPassword  string
	plainAllow     stringList // a PLAIN server's USER:PASSWORD pairs

	spool      string // push: the spool's directory
	spoolSync  string // push: its sync policy, as ParseSpoolSync reads it
	spoolLimit int64  // push: the bound of its files (0: the default)

	format  format // how received messages are printed
	tlsCert string // this socket's certificate and key files (PEM)
	tlsKey  string
	tlsCA   string // the CA certificates (PEM) peers must be signed by
}

// endpoints collects a repeatable endpoint flag, remembering the order
// across -bind and -connect so they are applied as given.
type endpoints struct {
	order *[]endpoint
	bind  bool
}

type endpoint struct {
	addr string
	bind bool
}

// stringList collects a repeatable string flag; the empty string is a
// value like any other.
type stringList []string

func (l *stringList) String() string { return "" }

func (l *stringList) Set(v string) error {
	*l = append(*l, v)
	return nil
}

func (e endpoints) String() string { return "" }

func (e endpoints) Set(v string) error {
	if v == "" {
		return errors.New("empty endpoint")
	}
	*e.order = append(*e.order, endpoint{addr: v, bind: e.bind})
	return nil
}

const usageText = `Usage: wispcat -type TYPE (-bind EP | -connect EP)... [flags]

wispcat sends lines of stdin as messages, or prints received messages as
lines, over a wisp socket.

Types: push (sends stdin or -data), pull (prints what it receives),
req (sends each line as a request, prints each reply), rep (prints each
request, answers with it or -data), dealer and pair (send stdin and print
what they receive, both at once), router (prints "HEXID<TAB>message",
sends stdin lines "HEXID<TAB>text" to that peer), pub (publishes stdin or
-data to its subscribers, at most once), sub and xsub (print the messages
that start with a -subscribe prefix), xpub (publishes as pub does and
prints "subscribe PREFIX" and "cancel PREFIX" as its subscribers change),
bus (a member of a mesh of bus peers: sends stdin to every member once
-wait-peers of them are connected, and prints what they send).

Endpoints: tcp://HOST:PORT (port 0 picks one; wispcat prints it),
tls://HOST:PORT (the same with TLS: see -tls-ca), ipc:///path/to/socket,
ws://HOST:PORT/PATH and wss://HOST:PORT/PATH (WebSocket; wss with TLS),
quic://HOST:PORT (QUIC over UDP, always TLS 1.3: needs the -tls flags),
inproc://NAME (same process only).

Protocols: wisp (WISP/1, the default) or, with -protocol zmtp, ZMTP 3.1 to
talk to libzmq, pyzmq and other ZeroMQ peers (delivery across a lost
connection is then at most once), optionally with PLAIN or CURVE security.

Flags:
`

const examplesText = `
Examples:
  wispcat -type pull -bind ipc:///tmp/w.sock > out.txt
  seq 1000 | wispcat -type push -connect ipc:///tmp/w.sock
  wispcat -type pull -bind tcp://127.0.0.1:5555 -count 10 -timeout 30s
  wispcat -type push -connect tcp://127.0.0.1:5555 -data hello -linger 1s
  seq 1000 | wispcat -type push -connect tcp://127.0.0.1:5555 -spool /var/spool/w
  wispcat -type rep -bind tcp://127.0.0.1:5556
  seq 10 | wispcat -type req -connect tcp://127.0.0.1:5556 -reply-timeout 30s
  wispcat -type sub -connect tcp://127.0.0.1:5557 -subscribe weather.
  wispcat -type rep -protocol zmtp -bind tcp://127.0.0.1:5558 -data pong
  wispcat -type req -protocol zmtp -connect tcp://127.0.0.1:5559 \
          -curve-secret SECRETKEY -curve-serverkey SERVERPUBLICKEY -data ping
  wispcat -type pub -bind tcp://127.0.0.1:5557 -wait-subs 1 < feed.txt
  wispcat -type bus -bind tcp://127.0.0.1:5561 \
          -connect tcp://127.0.0.1:5562 -connect tcp://127.0.0.1:5563

Exit status: 0 success; 1 failure (undelivered messages, timeout, socket
error); 2 usage error; 130 after SIGINT, 143 after SIGTERM.
`

// parse reads the command line. A usage error has already been reported on
// stderr when it returns a non-nil error; flag.ErrHelp means -h was asked.
func parse(args []string, stderr io.Writer) (*config, error) {
	cfg := &config{}
	var eps []endpoint
	fs := flag.NewFlagSet("wispcat", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(stderr, usageText)
		fs.PrintDefaults()
		fmt.Fprint(stderr, examplesText)
	}
	fs.StringVar(&cfg.typeName, "type", "", "socket `TYPE`: push, pull, req, rep, dealer, router, pair,\npub, sub, xpub, xsub or bus")
	fs.Var(endpoints{order: &eps, bind: true}, "bind", "bind to endpoint `EP` (repeatable)")
	fs.Var(endpoints{order: &eps}, "connect", "connect to endpoint `EP` (repeatable)")
	fs.IntVar(&cfg.count, "count", 0, "stop after `N` messages sent or received (0: no limit);\nreq: replies, rep: requests answered, dealer, router, pair, bus: received;\nxpub: subscription changes received")
	fs.DurationVar(&cfg.timeout, "timeout", 0, "give up after `DUR` with exit status 1 (0: never)")
	fs.DurationVar(&cfg.linger, "linger", defaultLinger, "wait up to `DUR` for acknowledgements when a sender is done\n(pub, xpub: for queued messages to be written)")
	fs.Func("data", "send `STR` as one message instead of reading stdin;\nrep: answer every request with STR", func(v string) error {
		cfg.data, cfg.hasData = v, true
		return nil
	})
	fs.StringVar(&cfg.spool, "spool", "", "push: keep every message in an on-disk spool in directory `DIR` until a\nreceiver acknowledges it; a later run on DIR (after a crash, say) first\nsends what is left there")
	fs.StringVar(&cfg.spoolSync, "spool-sync", "always", "push: when the spool syncs to disk, `POLICY`: always (before each send\nreturns), none (left to the system), or a duration such as 100ms (that often)")
	fs.Int64Var(&cfg.spoolLimit, "spool-limit", 0, "push: bound the spool's files to `BYTES`; sending waits while it is full\n(0: the socket default, 1 GiB)")
	fs.IntVar(&cfg.hwm, "hwm", 0, "set the send and receive high-water marks to `N` messages (0: socket default)")
	fs.BoolVar(&cfg.checksum, "checksum", false, "wisp: a CRC-32C with every message and command, so corruption past TCP's\nchecksum ends the connection instead of reaching the application")
	fs.BoolVar(&cfg.verbose, "v", false, "print socket events on stderr;\npub, xpub: then how many messages were written and dropped")
	fs.DurationVar(&cfg.retry, "retry", defaultRetry, "req: send the request again every `DUR` while no reply came,\nand at once when its connection ends (0: only then; negative: never)")
	fs.DurationVar(&cfg.replyTimeout, "reply-timeout", 0, "req: fail with exit status 1 when a reply takes longer than `DUR` (0: no limit)")
	fs.StringVar(&cfg.routingID, "routing-id", "", "req, dealer, router: state routing id `STR` to router peers\n(1 to 255 bytes; they print it in hex)")
	fs.Var(&cfg.subscribe, "subscribe", "sub, xsub: receive the messages whose first frame starts with `PREFIX`\n(repeatable; without it, every message)")
	fs.IntVar(&cfg.waitSubs, "wait-subs", 0, "pub, xpub: before sending, wait until `N` subscribers have subscribed\n(0: send at once, to whoever has subscribed by then)")
	fs.IntVar(&cfg.waitPeers, "wait-peers", waitPeersDefault, "bus: before sending, wait until `N` members are connected\n(-1: as many as there are -connect endpoints; 0: send at once)")
	fs.Func("protocol", "wire protocol `NAME`: wisp (default) or zmtp (ZMTP 3.1, to talk to\nlibzmq, pyzmq and other ZeroMQ peers)", func(v string) error {
		p, err := socket.ParseProtocol(v)
		cfg.protocol = p
		return err
	})
	fs.StringVar(&cfg.curveSecret, "curve-secret", "", "zmtp: use CURVE with this socket's Z85 secret `KEY`\n(see -curve-server, -curve-serverkey)")
	fs.BoolVar(&cfg.curveServer, "curve-server", false, "zmtp: take CURVE's server role (with -curve-secret)")
	fs.StringVar(&cfg.curveServerKey, "curve-serverkey", "", "zmtp: as a CURVE client, trust the server with Z85 public `KEY`")
	fs.Var(&cfg.curveAllow, "curve-allow", "zmtp: as a CURVE server, serve only the client with Z85 public `KEY`\n(repeatable; without it, every client that knows the server's key)")
	fs.StringVar(&cfg.plainUser, "plain-user", "", "zmtp: use PLAIN as a client, with user name `USER` (and -plain-password)")
	fs.StringVar(&cfg.plainPassword, "plain-password", "", "zmtp: the PLAIN client's password `PASS`")
	fs.Var(&cfg.plainAllow, "plain-allow", "zmtp: use PLAIN as a server that lets in `USER:PASS` (repeatable)")
	fs.Func("format", "print received messages as `FMT`: raw (frames as they are, the default),\nquoted (Go string literals), hex, or json (one object per message)", func(v string) error {
		f, err := parseFormat(v)
		cfg.format = f
		return err
	})
	fs.StringVar(&cfg.tlsCert, "tls-cert", "", "tls://, wss:// and quic:// endpoints: present the certificate in PEM `FILE`\n(with -tls-key)")
	fs.StringVar(&cfg.tlsKey, "tls-key", "", "the private key of -tls-cert, in PEM `FILE`")
	fs.StringVar(&cfg.tlsCA, "tls-ca", "", "tls://, wss:// and quic:// endpoints: trust the CA certificates in PEM `FILE`: a connecting\nsocket checks its server against them, a binding one requires client\ncertificates signed by them (mutual TLS)")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	bad := func(format string, a ...any) (*config, error) {
		err := fmt.Errorf(format, a...)
		fmt.Fprintf(stderr, "wispcat: %v\n", err)
		fmt.Fprintln(stderr, "Run wispcat -h for usage.")
		return nil, err
	}
	if fs.NArg() > 0 {
		return bad("unexpected argument %q", fs.Arg(0))
	}
	if cfg.typeName == "" {
		return bad("-type is required (one of %s)", strings.Join(typeNames(), ", "))
	}
	m, ok := modes[cfg.typeName]
	if !ok {
		return bad("unknown -type %q (implemented: %s)", cfg.typeName, strings.Join(typeNames(), ", "))
	}
	cfg.mode = m
	if len(eps) == 0 {
		return bad("at least one -bind or -connect endpoint is required")
	}
	for _, e := range eps {
		if e.bind {
			cfg.binds = append(cfg.binds, e.addr)
		} else {
			cfg.connects = append(cfg.connects, e.addr)
		}
	}
	set := make(map[string]bool)
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	switch {
	case cfg.count < 0:
		return bad("-count %d: want 0 or more", cfg.count)
	case cfg.timeout < 0:
		return bad("-timeout %v: want 0 or more", cfg.timeout)
	case cfg.linger < 0:
		return bad("-linger %v: want 0 or more", cfg.linger)
	case cfg.hwm < 0:
		return bad("-hwm %d: want 0 or more", cfg.hwm)
	case cfg.hasData && !cfg.mode.sends:
		return bad("-data is for sending types, not %s", cfg.typeName)
	case cfg.hasData && cfg.mode.data == dataNone:
		return bad("-data is not for %s: each stdin line names the peer it goes to", cfg.typeName)
	case cfg.hasData && cfg.mode.countsSent && cfg.count > 1:
		return bad("-data sends its message once; -count %d would not repeat it", cfg.count)
	case cfg.checksum && cfg.protocol == socket.ZMTP:
		return bad("-checksum is for the wisp protocol: zmtp has no frame checksums")
	case set["retry"] && cfg.mode.typ != socket.Req:
		return bad("-retry is for req, not %s", cfg.typeName)
	case set["reply-timeout"] && cfg.mode.typ != socket.Req:
		return bad("-reply-timeout is for req, not %s", cfg.typeName)
	case cfg.replyTimeout < 0:
		return bad("-reply-timeout %v: want 0 or more", cfg.replyTimeout)
	case set["routing-id"] && !cfg.mode.routable:
		return bad("-routing-id is for the types a router talks to (req, dealer, router), not %s", cfg.typeName)
	case set["routing-id"] && (len(cfg.routingID) == 0 || len(cfg.routingID) > maxRoutingID):
		return bad("-routing-id %s: got %d bytes, want 1 to %d", strconv.Quote(cfg.routingID), len(cfg.routingID), maxRoutingID)
	case set["subscribe"] && cfg.mode.typ != socket.Sub && cfg.mode.typ != socket.XSub:
		return bad("-subscribe is for sub and xsub, not %s", cfg.typeName)
	case set["wait-subs"] && cfg.mode.typ != socket.Pub && cfg.mode.typ != socket.XPub:
		return bad("-wait-subs is for pub and xpub, not %s", cfg.typeName)
	case cfg.waitSubs < 0:
		return bad("-wait-subs %d: want 0 or more", cfg.waitSubs)
	case set["wait-peers"] && cfg.mode.typ != socket.Bus:
		return bad("-wait-peers is for bus, not %s", cfg.typeName)
	case cfg.waitPeers < waitPeersDefault:
		return bad("-wait-peers %d: want -1 or more", cfg.waitPeers)
	case cfg.mode.typ == socket.Bus && cfg.protocol == socket.ZMTP:
		return bad("-type bus speaks the wisp protocol only: zmtp has no bus")
	case set["spool"] && cfg.mode.typ != socket.Push:
		return bad("-spool is for push, not %s", cfg.typeName)
	case set["spool"] && cfg.spool == "":
		return bad("-spool needs a directory")
	case (set["spool-sync"] || set["spool-limit"]) && cfg.spool == "":
		return bad("-spool-sync and -spool-limit go with -spool")
	case cfg.spoolLimit < 0:
		return bad("-spool-limit %d: want 0 or more", cfg.spoolLimit)
	}
	if _, err := socket.ParseSpoolSync(cfg.spoolSync); err != nil {
		return bad("-spool-sync %q: want always, none or a duration", cfg.spoolSync)
	}
	if msg := checkSecurityFlags(cfg, set); msg != "" {
		return bad("%s", msg)
	}
	if (cfg.tlsCert == "") != (cfg.tlsKey == "") {
		return bad("-tls-cert and -tls-key go together")
	}
	tlsEndpoint := slices.ContainsFunc(eps, func(e endpoint) bool {
		return strings.HasPrefix(e.addr, "tls://") || strings.HasPrefix(e.addr, "wss://") || strings.HasPrefix(e.addr, "quic://")
	})
	switch withTLS := cfg.tlsCert != "" || cfg.tlsCA != ""; {
	case withTLS && !tlsEndpoint:
		return bad("the -tls flags are for tls://, wss:// and quic:// endpoints, and none is given")
	case tlsEndpoint && !withTLS:
		return bad("a tls://, wss:// or quic:// endpoint needs -tls-ca (to check peers) or -tls-cert and -tls-key")
	}
	return cfg, nil
}

// maxRoutingID is the longest routing id a socket may state.
const maxRoutingID = 255

func typeNames() []string {
	names := make([]string, 0, len(modes))
	for n := range modes {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}

// lockedWriter serialises writes from the event printer and the run.
type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// runner is the state one run function works with.
type runner struct {
	cfg    *config
	s      *socket.Socket
	stdin  io.Reader
	stdout io.Writer
	stderr io.Writer
	start  time.Time

	// base ends on a signal (or whatever the caller cancels it for); ctx
	// also ends at the -timeout deadline.
	base     context.Context
	ctx      context.Context
	deadline time.Time // zero without -timeout

	// report, if set by the run function, prints a last word on stderr
	// after every event has been printed.
	report func()
}

func (r *runner) errorf(format string, a ...any) {
	fmt.Fprintf(r.stderr, "wispcat: "+format+"\n", a...)
}

// stopped reports why ctx ended, or "" if it has not: "timeout" or
// "signal".
func (r *runner) stopped() string {
	switch {
	case r.base.Err() != nil:
		return "signal"
	case r.ctx.Err() != nil:
		return "timeout"
	}
	return ""
}

// signalStatus is the exit status for a run stopped through base.
func (r *runner) signalStatus() int {
	var se SignalError
	if errors.As(context.Cause(r.base), &se) {
		return 128 + int(se.Signal)
	}
	return exitFailure
}

// run is the whole program, callable in-process: it parses args, opens the
// socket, runs the type's mode and returns the exit status. Cancelling ctx
// stops the run as a signal does; with a SignalError cause the status is
// 128 plus the signal's number.
func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	cfg, err := parse(args, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return exitOK
	}
	if err != nil {
		return exitUsage
	}
	stderr = &lockedWriter{w: stderr}
	r := &runner{cfg: cfg, stdin: stdin, stdout: stdout, stderr: stderr, start: time.Now(), base: ctx, ctx: ctx}
	if cfg.timeout > 0 {
		r.deadline = r.start.Add(cfg.timeout)
		var cancel context.CancelFunc
		r.ctx, cancel = context.WithDeadline(ctx, r.deadline)
		defer cancel()
	}

	var opts []socket.Option
	if cfg.mode.sends {
		// A sender does not linger in Close: it waits with Flush instead,
		// which a -timeout can cut short. A receiver keeps the default
		// linger, which bounds how long Close waits to write its final
		// ACK; with zero it may skip it.
		opts = append(opts, socket.WithLinger(0))
	}
	if cfg.hwm > 0 {
		opts = append(opts, socket.WithSendHWM(cfg.hwm), socket.WithRecvHWM(cfg.hwm))
	}
	switch cfg.mode.typ {
	case socket.Req:
		if cfg.retry >= 0 {
			opts = append(opts, socket.WithRequestRetry(cfg.retry))
		}
	case socket.Router:
		// An unknown peer is reported per stdin line rather than the
		// message dropped in silence.
		opts = append(opts, socket.WithRouterMandatory(true))
	}
	if cfg.routingID != "" {
		opts = append(opts, socket.WithRoutingID([]byte(cfg.routingID)))
	}
	if cfg.checksum {
		opts = append(opts, socket.WithChecksum(true))
	}
	if cfg.spool != "" {
		policy, _ := socket.ParseSpoolSync(cfg.spoolSync) // parse checked it
		opts = append(opts, socket.WithSpool(cfg.spool), socket.WithSpoolSync(policy))
		if cfg.spoolLimit > 0 {
			opts = append(opts, socket.WithSpoolLimit(cfg.spoolLimit))
		}
	}
	opts = append(opts, socket.WithProtocol(cfg.protocol))
	if cfg.tlsCert != "" || cfg.tlsCA != "" {
		tc, err := tlsConfig(cfg)
		if err != nil {
			r.errorf("%v", err)
			return exitFailure
		}
		opts = append(opts, socket.WithTLS(tc))
	}
	if sec, ok := security(cfg); ok {
		opts = append(opts, socket.WithSecurity(sec))
	}
	s, err := socket.New(cfg.mode.typ, opts...)
	if err != nil {
		r.errorf("%v", err)
		return exitFailure
	}
	r.s = s
	var events sync.WaitGroup
	events.Add(1)
	go func() {
		defer events.Done()
		// Always drained so the channel's end is seen; printed with -v.
		for e := range s.Events() {
			if cfg.verbose {
				fmt.Fprintf(stderr, "wispcat: event: %v\n", e)
			}
		}
	}()
	status := exitOK
	if cfg.mode.setup != nil {
		status = cfg.mode.setup(r)
	}
	if status == exitOK {
		status = r.open()
	}
	if status == exitOK {
		status = cfg.mode.run(r)
	} else {
		s.Close()
	}
	events.Wait()
	if r.report != nil {
		r.report()
	}
	return status
}

// open binds and connects every endpoint, closing nothing on failure (the
// caller does).
func (r *runner) open() int {
	for _, ep := range r.cfg.binds {
		real, err := r.s.Bind(ep)
		if err != nil {
			r.errorf("bind %s: %v", ep, err)
			return exitFailure
		}
		if real != ep {
			// The port was chosen by the system: tell the user.
			r.errorf("bound %s", real)
		}
	}
	for _, ep := range r.cfg.connects {
		if err := r.s.Connect(ep); err != nil {
			r.errorf("connect %s: %v", ep, err)
			return exitFailure
		}
	}
	return exitOK
}

// timeoutReason formats the -timeout message's prefix.
func (r *runner) timeoutReason() string {
	return fmt.Sprintf("timeout after %v", r.cfg.timeout)
}

// ofCount renders "N" or "N of COUNT" with -count.
func (r *runner) ofCount(n int) string {
	if r.cfg.count > 0 {
		return fmt.Sprintf("%d of %d", n, r.cfg.count)
	}
	return fmt.Sprint(n)
}

// errLineTooLong reports a stdin line larger than a message may be.
var errLineTooLong = fmt.Errorf("line longer than the maximum message size (%d bytes)", maxLine)

// readLine returns the next line of br without its "\n" or "\r\n", in a new
// slice (the socket keeps it until acknowledged). It returns io.EOF at the
// end of input; a last line without a newline is still returned.
func readLine(br *bufio.Reader, limit int) ([]byte, error) {
	var line []byte
	for {
		chunk, err := br.ReadSlice('\n')
		if len(line)+len(chunk) > limit+2 { // +2: room for "\r\n"
			return nil, errLineTooLong
		}
		line = append(line, chunk...)
		if err == bufio.ErrBufferFull {
			continue
		}
		if err != nil && (err != io.EOF || len(line) == 0) {
			return nil, err
		}
		if n := len(line); n > 0 && line[n-1] == '\n' {
			line = line[:n-1]
			if n := len(line); n > 0 && line[n-1] == '\r' {
				line = line[:n-1]
			}
		}
		if len(line) > limit {
			return nil, errLineTooLong
		}
		if line == nil {
			line = []byte{}
		}
		return line, nil
	}
}

// input yields the messages a sending type sends: -data once, or the lines
// of stdin, at most limit of them (0: no limit). Reading stdin happens in
// its own goroutine so a signal or timeout can stop the run while a read
// blocks; that goroutine ends at the next line or end of input after stop
// closes.
func (r *runner) input(stop <-chan struct{}, limit int) <-chan inputItem {
	if r.cfg.hasData {
		ch := make(chan inputItem, 1)
		ch <- inputItem{line: []byte(r.cfg.data), n: 1}
		close(ch)
		return ch
	}
	ch := make(chan inputItem)
	go func() {
		defer close(ch)
		br := bufio.NewReaderSize(r.stdin, 64<<10)
		for n := 0; limit == 0 || n < limit; n++ {
			line, err := readLine(br, maxLine)
			if err == io.EOF {
				return
			}
			it := inputItem{line: line, err: err, n: n + 1}
			if err != nil {
				it.err = fmt.Errorf("reading stdin line %d: %w", n+1, err)
			}
			select {
			case ch <- it:
			case <-stop:
				return
			}
			if err != nil {
				return
			}
		}
	}()
	return ch
}

type inputItem struct {
	line []byte
	err  error
	n    int // the line's number, from 1
}

// runPush sends the input, then waits up to -linger for every message to be
// acknowledged.
func runPush(r *runner) int {
	s := r.s
	sent, status, why := r.sendInput(r.cfg.count)
	why = r.lingerFlush(why)
	s.Close()
	// After Close every goroutine of the socket has ended: what it still
	// holds is final.
	st := s.Stats()
	left := st.SendQueue
	undelivered := "messages undelivered"
	if r.cfg.spool != "" {
		left = st.Spooled
		undelivered = "messages undelivered, kept in the spool for the next run"
	}
	switch why {
	case "timeout":
		r.errorf("%s: sent %s messages, %d unacknowledged", r.timeoutReason(), r.ofCount(sent), left)
		return exitFailure
	case "signal":
		if left > 0 {
			r.errorf("%d %s", left, undelivered)
		}
		return r.signalStatus()
	}
	if left > 0 {
		r.errorf("%d %s", left, undelivered)
		return exitFailure
	}
	return status
}

// sendInput sends each input message (at most limit, 0: no limit) until
// the input ends, a send fails, a signal or the timeout. It returns how many
// it sent, the status so far and why the run stopped ("" if it did not).
func (r *runner) sendInput(limit int) (sent, status int, why string) {
	stop := make(chan struct{})
	defer close(stop)
	in := r.input(stop, limit)
	for {
		var it inputItem
		var ok bool
		select {
		case it, ok = <-in:
		case <-r.ctx.Done():
		}
		if why = r.stopped(); why != "" {
			return sent, status, why
		}
		if !ok {
			return sent, status, why
		}
		if it.err != nil {
			r.errorf("%v", it.err)
			return sent, exitFailure, why
		}
		if err := r.s.Send(r.ctx, it.line); err != nil {
			if why = r.stopped(); why != "" {
				return sent, status, why
			}
			r.errorf("send: %v", err)
			return sent, exitFailure, why
		}
		sent++
	}
}

// lingerFlush waits up to -linger, and not past -timeout, until every
// message sent is acknowledged: also after a signal, not after the timeout,
// which ends the run. It returns why the run stopped, "timeout" if the
// deadline passed while it waited.
func (r *runner) lingerFlush(why string) string {
	if why == "timeout" {
		return why
	}
	lctx, cancel := context.WithTimeout(context.WithoutCancel(r.base), r.cfg.linger)
	defer cancel()
	if !r.deadline.IsZero() {
		var c2 context.CancelFunc
		lctx, c2 = context.WithDeadline(lctx, r.deadline)
		defer c2()
	}
	err := r.s.Flush(lctx)
	if err != nil && !r.deadline.IsZero() && !time.Now().Before(r.deadline) {
		why = "timeout"
	}
	return why
}

// runPull prints each received message as a line until -count messages,
// a signal or the timeout. Frames of a multi-frame message are joined by
// one space.
//
// Taking a message with Recv is what acknowledges it to its sender, so a
// message wispcat took is the sender's no longer: each line is written out
// (the buffer flushed) before the next Recv rather than held in a buffer
// until the socket goes quiet, so a wispcat killed mid-stream loses at most
// the one message it was writing instead of a buffer full.
func runPull(r *runner) int {
	s := r.s
	w := bufio.NewWriterSize(r.stdout, 64<<10)
	got, status := 0, exitOK
	var why string
	for r.cfg.count == 0 || got < r.cfg.count {
		m, err := s.Recv(r.ctx)
		if err != nil {
			if why = r.stopped(); why == "" {
				r.errorf("recv: %v", err)
				status = exitFailure
			}
			break
		}
		r.cfg.format.message(w, m)
		if err := w.Flush(); err != nil {
			r.errorf("writing output: %v", err)
			status = exitFailure
			break
		}
		got++
	}
	s.Close()
	switch why {
	case "timeout":
		r.errorf("%s: received %s messages", r.timeoutReason(), r.ofCount(got))
		return exitFailure
	case "signal":
		return r.signalStatus()
	}
	return status
}
