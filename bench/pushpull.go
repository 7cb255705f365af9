package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/wispmq/wisp/socket"
)

// Hidden subcommands: the two sides of a PUSH/PULL run in their own processes.
const (
	pushPullRecvCmd = "__pushpull-recv"
	pushPullSendCmd = "__pushpull-send"
)

// errWrongMessages reports a receiver that got other messages than were sent.
var errWrongMessages = errors.New("wrong messages received")

// pushPullCount is the suite's count per size: each run takes a few seconds
// at most on 2 cores (the whole suite well under a minute), and long enough
// that start-up noise does not matter.
func pushPullCount(size int) int64 {
	switch {
	case size <= 16:
		return 4_000_000
	case size <= 256:
		return 2_000_000
	case size <= 4096:
		return 300_000
	default:
		return 30_000
	}
}

// inprocSeq makes inproc names unique within the process.
var inprocSeq atomic.Int64

// runPushPull measures PUSH -> PULL throughput: one PULL binds, one PUSH
// connects and sends c.Count messages of c.Size bytes, then waits for all to
// be acknowledged. The receiver times from the first message to the last.
//
// With c.Protocol zmtp both sockets speak ZMTP 3.1, which has no
// acknowledgements: Flush then waits until every message is written, and
// the line says "acks":false.
func runPushPull(ctx context.Context, c config) (result, error) {
	proto, err := parseProtocol(c.Protocol)
	if err != nil {
		return result{}, err
	}
	r := result{
		Pattern: c.Pattern, Transport: c.Transport, Size: c.Size, Count: c.Count,
		Acks: c.Acks && proto == socket.WISP, HWM: c.HWM, Release: c.Release,
	}
	if c.Batch > 1 {
		r.Batch = c.Batch
	}
	if r.HWM == 0 {
		r.HWM = socket.DefaultSendHWM
	}
	if c.Spool != "" {
		policy, _ := socket.ParseSpoolSync(spoolSyncName(c.SpoolSync)) // checkPushPull checked it
		r.SpoolSync = policy.String()
		dir, err := os.MkdirTemp(c.Spool, "wispbench-spool-")
		if err != nil {
			return result{}, err
		}
		defer os.RemoveAll(dir)
		c.Spool = dir
	}
	if c.Transport == "inproc" {
		return pushPullInproc(ctx, c, r)
	}
	ep, cleanup, err := listenEndpoint(c.Transport, "pull.sock")
	if err != nil {
		return result{}, err
	}
	defer cleanup()
	common := []string{
		"-size=" + strconv.Itoa(c.Size), "-count=" + strconv.FormatInt(c.Count, 10),
		"-hwm=" + strconv.Itoa(c.HWM), "-acks=" + strconv.FormatBool(c.Acks),
		"-protocol=" + proto.String(), "-batch=" + strconv.Itoa(max(c.Batch, 1)),
	}
	sendOwn := []string{"-spool=" + c.Spool, "-spool-sync=" + spoolSyncName(c.SpoolSync)}
	sr, err := runPair(ctx, c.Timeout, pair{
		recvArgs: append([]string{pushPullRecvCmd, "-endpoint=" + ep, "-release=" + strconv.FormatBool(c.Release)}, common...),
		sendArgs: func(real string) []string {
			return append(append([]string{pushPullSendCmd, "-endpoint=" + real}, common...), sendOwn...)
		},
	})
	if err != nil {
		return result{}, err
	}
	if sr.recv.Count != c.Count || sr.recv.Size != c.Size {
		return result{}, fmt.Errorf("%w: receiver reported count %d size %d, want count %d size %d",
			errWrongMessages, sr.recv.Count, sr.recv.Size, c.Count, c.Size)
	}
	r.Seconds = sr.recv.Seconds
	r.SenderCPUSec, r.SenderMaxRSSKB = sr.send.cpuSec, sr.send.maxRSSKB
	r.ReceiverCPUSec, r.ReceiverMaxRSSKB = sr.rcv.cpuSec, sr.rcv.maxRSSKB
	r.fillRates()
	return r, nil
}

// pushPullInproc runs both sides in this process. CPU is the process's
// (getrusage RUSAGE_SELF) over the run, and goes in both fields; RSS is the
// process's peak.
func pushPullInproc(ctx context.Context, c config, r result) (result, error) {
	ctx, cancel := context.WithTimeout(ctx, c.Timeout)
	defer cancel()
	before, err := selfUsage()
	if err != nil {
		return result{}, err
	}
	pull, err := socket.New(socket.Pull, recvOptions(c.HWM)...)
	if err != nil {
		return result{}, err
	}
	push, err := socket.New(socket.Push, withSpool(c.Spool, c.SpoolSync, sendOptions(c.Acks, c.HWM))...)
	if err != nil {
		pull.Close()
		return result{}, err
	}
	ep, err := pull.Bind(fmt.Sprintf("inproc://wispbench-%d-%d", os.Getpid(), inprocSeq.Add(1)))
	if err == nil {
		err = push.Connect(ep)
	}
	if err != nil {
		push.Close()
		pull.Close()
		return result{}, err
	}
	sent := make(chan error, 1)
	go func() { sent <- sendAll(ctx, push, c.Size, c.Count, c.Batch) }()
	secs, rerr := receiveAll(ctx, pull, c.Size, c.Count, c.Release, c.Batch)
	if rerr != nil {
		cancel() // unblocks the sender
	}
	serr := <-sent
	cerr := push.Close()
	if rerr == nil && serr == nil && cerr == nil {
		rerr = checkNoMore(pull)
	}
	if err := errors.Join(rerr, serr, cerr, pull.Close()); err != nil {
		return result{}, err
	}
	after, err := selfUsage()
	if err != nil {
		return result{}, err
	}
	r.Seconds = secs
	r.SenderCPUSec = after.cpuSec - before.cpuSec
	r.ReceiverCPUSec = r.SenderCPUSec
	r.SenderMaxRSSKB, r.ReceiverMaxRSSKB = after.maxRSSKB, after.maxRSSKB
	r.OneProcess = true
	r.fillRates()
	return r, nil
}

func sendOptions(acks bool, hwm int) []socket.Option {
	opts := []socket.Option{socket.WithAcks(acks)}
	if hwm > 0 {
		opts = append(opts, socket.WithSendHWM(hwm))
	}
	return opts
}

func recvOptions(hwm int) []socket.Option {
	if hwm > 0 {
		return []socket.Option{socket.WithRecvHWM(hwm)}
	}
	return nil
}

// checkPushPull refuses a spool where it cannot apply: the spool needs
// acknowledgements, which ZMTP and -acks=false turn off.
func checkPushPull(c config) error {
	if c.Spool == "" {
		return nil
	}
	if _, err := socket.ParseSpoolSync(spoolSyncName(c.SpoolSync)); err != nil {
		return fmt.Errorf("%w: spool-sync: got %q, want always, none or a duration", errBadConfig, c.SpoolSync)
	}
	if !c.Acks || c.Protocol == "zmtp" {
		return fmt.Errorf("%w: spool: needs acknowledgements (wisp, -acks=true)", errBadConfig)
	}
	return nil
}

// spoolSyncName is the policy name, "" meaning always.
func spoolSyncName(name string) string {
	if name == "" {
		return "always"
	}
	return name
}

// withSpool adds a spool in dir, synced as policy says, to opts; no dir,
// no spool.
func withSpool(dir, policy string, opts []socket.Option) []socket.Option {
	if dir == "" {
		return opts
	}
	p, _ := socket.ParseSpoolSync(spoolSyncName(policy)) // checked by checkPushPull
	return append(opts, socket.WithSpool(dir), socket.WithSpoolSync(p))
}

// withProtocol puts proto in front of opts. With ZMTP, WithAcks in opts has
// no effect: the socket turns acknowledgements off itself.
func withProtocol(proto socket.Protocol, opts []socket.Option) []socket.Option {
	return append([]socket.Option{socket.WithProtocol(proto)}, opts...)
}

// maxBatch bounds -batch.
const maxBatch = 4096

// sendAll sends count messages of size bytes, batch at a time with
// SendMany when batch is above 1, and waits until every one is
// acknowledged (written, with acks off). Every message is the same payload
// slice: Send keeps a reference until the message is acknowledged but never
// modifies it, and nobody else does either, so sharing it is safe and the
// benchmark measures wisp rather than the allocator.
func sendAll(ctx context.Context, push *socket.Socket, size int, count int64, batch int) error {
	payload := bytes.Repeat([]byte{'w'}, size)
	if batch > 1 {
		msgs := make([]socket.Message, batch)
		for i := range msgs {
			msgs[i] = socket.Message{payload}
		}
		for i := int64(0); i < count; i += int64(batch) {
			k := int(min(int64(batch), count-i))
			if n, err := push.SendMany(ctx, msgs[:k]); err != nil {
				return fmt.Errorf("sending message %d of %d: %w", i+int64(n)+1, count, err)
			}
		}
	} else {
		for i := range count {
			if err := push.Send(ctx, payload); err != nil {
				return fmt.Errorf("sending message %d of %d: %w", i+1, count, err)
			}
		}
	}
	if err := push.Flush(ctx); err != nil {
		return fmt.Errorf("flushing: %w", err)
	}
	return nil
}

// receiveAll receives count messages, up to batch at a time with RecvMany
// when batch is above 1, checks each is one frame of size bytes, and
// returns the seconds from the first message to the last. With release,
// each message is given back once checked (Message.Release).
func receiveAll(ctx context.Context, pull *socket.Socket, size int, count int64, release bool, batch int) (float64, error) {
	var start time.Time
	dst := make([]socket.Message, max(batch, 1))
	for i := int64(0); i < count; {
		var n int
		var err error
		if batch > 1 {
			n, err = pull.RecvMany(ctx, dst[:min(int64(batch), count-i)])
		} else {
			n = 1
			dst[0], err = pull.Recv(ctx)
		}
		if err != nil {
			return 0, fmt.Errorf("receiving message %d of %d: %w", i+1, count, err)
		}
		if i == 0 {
			// With batches the first call's other messages arrived
			// before the clock too: at most batch-1 of count.
			start = time.Now()
		}
		for _, m := range dst[:n] {
			if len(m) != 1 || len(m[0]) != size {
				return 0, fmt.Errorf("%w: message %d: got %d frames of %d bytes, want 1 frame of %d bytes",
					errWrongMessages, i+1, len(m), m.Size(), size)
			}
			if release {
				m.Release()
			}
			i++
		}
		clear(dst[:n])
	}
	return time.Since(start).Seconds(), nil
}

// checkNoMore fails if a message beyond the count is queued, once the sender
// is done.
func checkNoMore(pull *socket.Socket) error {
	done, cancel := context.WithCancel(context.Background())
	cancel() // Recv then returns a queued message or the context's error
	if m, err := pull.Recv(done); err == nil {
		return fmt.Errorf("%w: got a message of %d bytes after the last one, want none", errWrongMessages, m.Size())
	}
	return nil
}

// childFlags are the flags of the hidden subcommands that bind or connect
// one endpoint.
type childFlags struct {
	endpoint string
	size     int
	count    int64
	hwm      int
	acks     bool
	timeout  time.Duration
}

// parseChildFlags parses a hidden subcommand's flags; minCount is the
// smallest -count it accepts, and register, if not nil, adds the
// subcommand's own flags (which it validates itself).
func parseChildFlags(name string, args []string, minCount int64, register func(*flag.FlagSet)) (childFlags, error) {
	var f childFlags
	fs := newFlagSet(name, os.Stderr)
	if register != nil {
		register(fs)
	}
	fs.StringVar(&f.endpoint, "endpoint", "", "endpoint to bind (receiver) or connect (sender)")
	fs.IntVar(&f.size, "size", 0, "message size in bytes")
	fs.Int64Var(&f.count, "count", 0, "messages")
	fs.IntVar(&f.hwm, "hwm", 0, "high-water mark; 0: default")
	fs.BoolVar(&f.acks, "acks", true, "acknowledged delivery")
	fs.DurationVar(&f.timeout, "timeout", time.Minute, "give up after this long")
	if err := parseFlags(fs, args); err != nil {
		return f, fmt.Errorf("%w: %v", errBadConfig, err)
	}
	if f.endpoint == "" || f.size < 0 || f.count < minCount || f.hwm < 0 || f.timeout <= 0 {
		return f, fmt.Errorf("%w: got endpoint %q size %d count %d hwm %d timeout %v, want an endpoint, size >= 0, count >= %d, hwm >= 0, timeout > 0",
			errBadConfig, f.endpoint, f.size, f.count, f.hwm, f.timeout, minCount)
	}
	return f, nil
}

// parseProtocolChildFlags is parseChildFlags plus -protocol, for the hidden
// subcommands that can speak ZMTP (the others have no such flag, so they
// cannot be asked for it and silently speak WISP/1).
// register, if not nil, adds more flags of the subcommand's own.
func parseProtocolChildFlags(name string, args []string, minCount int64, register func(*flag.FlagSet)) (childFlags, socket.Protocol, error) {
	var proto string
	f, err := parseChildFlags(name, args, minCount, func(fs *flag.FlagSet) {
		fs.StringVar(&proto, "protocol", "wisp", "wire protocol: wisp or zmtp")
		if register != nil {
			register(fs)
		}
	})
	if err != nil {
		return f, 0, err
	}
	p, err := parseProtocol(proto)
	return f, p, err
}

// pushPullRecv is the receiving process: it binds, prints its real endpoint,
// receives and checks count messages, prints the timing as JSON, then waits
// for stdin to close (the sender is done) before it checks that nothing more
// arrived and closes. Closing earlier could lose the last acknowledgement
// and leave the sender waiting.
func pushPullRecv(args []string, stdout io.Writer, stdin io.Reader) error {
	var release bool
	var batch int
	f, proto, err := parseProtocolChildFlags(pushPullRecvCmd, args, 2, func(fs *flag.FlagSet) {
		fs.BoolVar(&release, "release", false, "release every message received (Message.Release)")
		fs.IntVar(&batch, "batch", 1, "messages per RecvMany at most; 1: Recv")
	})
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), f.timeout)
	defer cancel()
	opts, err := endpointOptions(f.endpoint, withProtocol(proto, recvOptions(f.hwm)))
	if err != nil {
		return err
	}
	pull, err := socket.New(socket.Pull, opts...)
	if err != nil {
		return err
	}
	defer pull.Close()
	ep, err := pull.Bind(f.endpoint)
	if err != nil {
		return err
	}
	if _, err := fmt.Fprintln(stdout, ep); err != nil {
		return err
	}
	secs, err := receiveAll(ctx, pull, f.size, f.count, release, min(max(batch, 1), maxBatch))
	if err != nil {
		return err
	}
	line, err := json.Marshal(recvLine{Seconds: secs, Count: f.count, Size: f.size})
	if err != nil {
		return err
	}
	if _, err := fmt.Fprintf(stdout, "%s\n", line); err != nil {
		return err
	}
	if err := waitEOF(ctx, stdin, "the sender"); err != nil {
		return err
	}
	if err := checkNoMore(pull); err != nil {
		return err
	}
	return pull.Close()
}

// pushPullSend is the sending process: connect, send, wait for every
// acknowledgement (over ZMTP: until every message is written), close.
func pushPullSend(args []string, _ io.Writer, _ io.Reader) error {
	var proto, spool, spoolSync string
	var batch int
	f, err := parseChildFlags(pushPullSendCmd, args, 2, func(fs *flag.FlagSet) {
		fs.IntVar(&batch, "batch", 1, "messages per SendMany; 1: Send")
		fs.StringVar(&proto, "protocol", "wisp", "wire protocol: wisp or zmtp")
		fs.StringVar(&spool, "spool", "", "spool in this directory; empty: no spool")
		fs.StringVar(&spoolSync, "spool-sync", "always", "the spool's sync policy")
	})
	if err != nil {
		return err
	}
	p, err := parseProtocol(proto)
	if err != nil {
		return err
	}
	if err := checkPushPull(config{Spool: spool, SpoolSync: spoolSync, Acks: f.acks, Protocol: proto}); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), f.timeout)
	defer cancel()
	opts, err := endpointOptions(f.endpoint, withSpool(spool, spoolSync, withProtocol(p, sendOptions(f.acks, f.hwm))))
	if err != nil {
		return err
	}
	push, err := socket.New(socket.Push, opts...)
	if err != nil {
		return err
	}
	if err := push.Connect(f.endpoint); err != nil {
		push.Close()
		return err
	}
	err = sendAll(ctx, push, f.size, f.count, min(max(batch, 1), maxBatch))
	return errors.Join(err, push.Close())
}
