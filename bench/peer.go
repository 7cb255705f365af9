package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/wispmq/wisp/socket"
)

// peerCmd is the subcommand that runs one side of a measurement whose other
// side is another program. It takes the command lines of bench/compare's
// libzmq peers (bench/compare/libzmq/thr.c and lat.c) and prints what they
// print, so that bench/compare can pair wisp with libzmq, either way round:
//
//	bench peer [-protocol wisp|zmtp] [-timeout D] recv|send ENDPOINT SIZE COUNT
//	bench peer [-protocol wisp|zmtp] [-timeout D] rep|req ENDPOINT SIZE COUNT WARMUP
//
// The flags come before the role because Go's flag package stops at the
// first argument that is not one; bench/compare appends the role and the
// rest to a fixed prefix.
const peerCmd = "peer"

// maxPeerSize bounds SIZE, as lat.c does.
const maxPeerSize = 256 << 20

// peerRecvLine is what a receiving peer prints: thr.c's fields, plus the
// protocol.
type peerRecvLine struct {
	Seconds  float64 `json:"seconds"`
	Count    int64   `json:"count"`
	Size     int     `json:"size"`
	Protocol string  `json:"protocol"`
}

// peerLatLine is what a REQ peer prints: lat.c's fields, plus the protocol
// and the 90th percentile. Times are microseconds.
type peerLatLine struct {
	Pattern   string  `json:"pattern"`
	Protocol  string  `json:"protocol"`
	Size      int     `json:"size"`
	Count     int64   `json:"count"`
	Warmup    int64   `json:"warmup"`
	Seconds   float64 `json:"seconds"`
	RTTMeanUS float64 `json:"rtt_mean_us"`
	RTTP50US  float64 `json:"rtt_p50_us"`
	RTTP90US  float64 `json:"rtt_p90_us"`
	RTTP99US  float64 `json:"rtt_p99_us"`
	RTTMinUS  float64 `json:"rtt_min_us"`
	RTTMaxUS  float64 `json:"rtt_max_us"`
}

// peerArgs is a parsed peer command line.
type peerArgs struct {
	role     string // recv, send, rep or req
	endpoint string
	size     int
	count    int64
	warmup   int64 // rep and req only
	proto    socket.Protocol
}

// runPeer is the peer subcommand; it returns the exit code.
func runPeer(args []string, stdout, stderr io.Writer) int {
	fs := newFlagSet(peerCmd, stderr)
	protoName := fs.String("protocol", "wisp", "wire protocol: wisp, or zmtp to talk to libzmq")
	timeout := fs.Duration("timeout", defaultTimeout, "give up after this long")
	fs.Usage = func() { peerUsage(stderr) }
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return exitOK
		}
		return exitUsage
	}
	pa, err := parsePeerArgs(fs.Args(), *protoName)
	if err == nil && *timeout <= 0 {
		err = fmt.Errorf("%w: timeout: got %v, want > 0", errBadConfig, *timeout)
	}
	if err != nil {
		fmt.Fprintf(stderr, "bench peer: %v\n", err)
		peerUsage(stderr)
		return exitUsage
	}
	ctx, cancel := context.WithTimeout(context.Background(), *timeout)
	defer cancel()
	switch pa.role {
	case "recv":
		err = peerRecv(ctx, pa, stdout)
	case "send":
		err = peerSend(ctx, pa)
	case "rep":
		err = peerRep(ctx, pa)
	case "req":
		err = peerReq(ctx, pa, stdout)
	}
	if err != nil {
		fmt.Fprintf(stderr, "bench peer %s: %v\n", pa.role, err)
		return exitFail
	}
	return exitOK
}

func peerUsage(w io.Writer) {
	fmt.Fprint(w, `usage:
  bench peer [-protocol wisp|zmtp] [-timeout D] recv ENDPOINT SIZE COUNT
      bind a PULL, receive COUNT messages of SIZE bytes, print {"seconds":..,"count":..,"size":..,"protocol":..}
  bench peer [-protocol wisp|zmtp] [-timeout D] send ENDPOINT SIZE COUNT
      connect a PUSH, send COUNT messages of SIZE bytes, flush, close
  bench peer [-protocol wisp|zmtp] [-timeout D] rep ENDPOINT SIZE COUNT WARMUP
      bind a REP, echo WARMUP+COUNT requests, then take the client's goodbye and exit
  bench peer [-protocol wisp|zmtp] [-timeout D] req ENDPOINT SIZE COUNT WARMUP
      connect a REQ, WARMUP untimed and COUNT timed round trips, send a goodbye, print the times
ENDPOINT: tcp://HOST:PORT or ipc://PATH
`)
}

// parsePeerArgs checks the positional arguments: the role, then what the
// libzmq peer with that role takes.
func parsePeerArgs(args []string, protoName string) (peerArgs, error) {
	var pa peerArgs
	var err error
	if pa.proto, err = parseProtocol(protoName); err != nil {
		return pa, err
	}
	if len(args) == 0 {
		return pa, fmt.Errorf("%w: got no role, want recv, send, rep or req", errBadConfig)
	}
	pa.role = args[0]
	want := 0
	switch pa.role {
	case "recv", "send":
		want = 4
	case "rep", "req":
		want = 5
	default:
		return pa, fmt.Errorf("%w: role: got %q, want recv, send, rep or req", errBadConfig, pa.role)
	}
	if len(args) != want {
		return pa, fmt.Errorf("%w: %s: got %d arguments %q, want %d", errBadConfig, pa.role, len(args)-1, args[1:], want-1)
	}
	pa.endpoint = args[1]
	if !strings.HasPrefix(pa.endpoint, "tcp://") && !strings.HasPrefix(pa.endpoint, "ipc://") {
		// inproc would wait for a partner that can never come: it is
		// within one process.
		return pa, fmt.Errorf("%w: endpoint: got %q, want tcp://HOST:PORT or ipc://PATH", errBadConfig, pa.endpoint)
	}
	size, err1 := strconv.Atoi(args[2])
	count, err2 := strconv.ParseInt(args[3], 10, 64)
	maxCount := int64(1<<63 - 1)
	if want == 5 {
		maxCount = maxLatCount // every round trip's time is kept
	}
	if err1 != nil || err2 != nil || size < 0 || size > maxPeerSize || count < 1 || count > maxCount {
		return pa, fmt.Errorf("%w: got size %q count %q, want size 0 to %d and count 1 to %d", errBadConfig, args[2], args[3], maxPeerSize, maxCount)
	}
	pa.size, pa.count = size, count
	if want == 5 {
		w, err := strconv.ParseInt(args[4], 10, 64)
		if err != nil || w < 0 || w > maxLatCount {
			return pa, fmt.Errorf("%w: got warmup %q, want 0 to %d", errBadConfig, args[4], maxLatCount)
		}
		pa.warmup = w
	}
	return pa, nil
}

// peerRecv binds a PULL, receives and checks count messages, times them
// from the first to the last like thr.c, prints the line and closes.
func peerRecv(ctx context.Context, pa peerArgs, stdout io.Writer) error {
	pull, err := socket.New(socket.Pull, socket.WithProtocol(pa.proto))
	if err != nil {
		return err
	}
	defer pull.Close()
	if _, err := pull.Bind(pa.endpoint); err != nil {
		return err
	}
	secs, err := receiveAll(ctx, pull, pa.size, pa.count, false, 1)
	if err != nil {
		return err
	}
	if err := printJSON(stdout, peerRecvLine{Seconds: secs, Count: pa.count, Size: pa.size, Protocol: pa.proto.String()}); err != nil {
		return err
	}
	return closeWhenPeerLeft(ctx, pull, pa.proto)
}

// peerSend connects a PUSH and sends count messages of size bytes (the
// same payload slice every time, see sendAll), then flushes and closes:
// over ZMTP Flush returns once all are written, over WISP/1 once all are
// acknowledged.
func peerSend(ctx context.Context, pa peerArgs) error {
	push, err := socket.New(socket.Push, socket.WithProtocol(pa.proto))
	if err != nil {
		return err
	}
	if err := push.Connect(pa.endpoint); err != nil {
		push.Close()
		return err
	}
	return errors.Join(sendAll(ctx, push, pa.size, pa.count, 1), push.Close())
}

// peerRep binds a REP, echoes warmup+count requests, then takes the
// client's goodbye (a request it does not answer: every reply has arrived)
// and closes, as lat.c does.
func peerRep(ctx context.Context, pa peerArgs) error {
	rep, err := socket.New(socket.Rep, socket.WithProtocol(pa.proto))
	if err != nil {
		return err
	}
	defer rep.Close()
	if _, err := rep.Bind(pa.endpoint); err != nil {
		return err
	}
	if err := serve(ctx, rep, pa.size, pa.warmup+pa.count); err != nil {
		return err
	}
	if _, err := rep.Recv(ctx); err != nil {
		return fmt.Errorf("receiving the goodbye: %w", err)
	}
	return closeWhenPeerLeft(ctx, rep, pa.proto)
}

// peerReq connects a REQ, makes warmup untimed and count timed round trips
// (roundTrips, as lat does), sends the one-byte goodbye lat.c sends, prints
// the line and closes.
func peerReq(ctx context.Context, pa peerArgs, stdout io.Writer) error {
	req, err := socket.New(socket.Req, socket.WithProtocol(pa.proto))
	if err != nil {
		return err
	}
	defer req.Close()
	if err := req.Connect(pa.endpoint); err != nil {
		return err
	}
	var r latResult
	if err := roundTrips(ctx, req, pa.size, pa.warmup, pa.count, &r); err != nil {
		return err
	}
	if err := req.Send(ctx, []byte{'.'}); err != nil {
		return fmt.Errorf("sending the goodbye: %w", err)
	}
	if err := req.Flush(ctx); err != nil {
		return fmt.Errorf("flushing the goodbye: %w", err)
	}
	if err := printJSON(stdout, peerLatLine{
		Pattern: "reqrep", Protocol: pa.proto.String(), Size: pa.size, Count: pa.count, Warmup: pa.warmup,
		Seconds: r.Seconds, RTTMeanUS: r.RTTMeanUS, RTTP50US: r.RTTP50US, RTTP90US: r.RTTP90US,
		RTTP99US: r.RTTP99US, RTTMinUS: r.RTTMinUS, RTTMaxUS: r.RTTMaxUS,
	}); err != nil {
		return err
	}
	return req.Close()
}

// closeWhenPeerLeft closes s, a socket that has received everything its
// peer will send. Over ZMTP it closes at once, as libzmq's peers do: the
// other side waits for nothing from it. Over WISP/1 the other side's Flush
// or linger waits for the acknowledgement of its last message, which this
// socket sends after the application took the message; closing before it
// is out could leave the other side waiting until its timeout, so it
// waits until that side has disconnected (it only does once it has every
// acknowledgement), or ctx ends.
func closeWhenPeerLeft(ctx context.Context, s *socket.Socket, proto socket.Protocol) error {
	if proto == socket.WISP {
		if err := waitDisconnected(ctx, s); err != nil {
			s.Close()
			return err
		}
	}
	return s.Close()
}

// waitDisconnected waits for s's first EventDisconnected. s has one peer,
// so that is the peer leaving. Events before it (listening, accepted,
// connected) are few enough to fit the event buffer unread.
func waitDisconnected(ctx context.Context, s *socket.Socket) error {
	for {
		select {
		case ev, ok := <-s.Events():
			if !ok {
				return errors.New("waiting for the peer to leave: socket closed")
			}
			if ev.Kind == socket.EventDisconnected {
				return nil
			}
		case <-ctx.Done():
			return fmt.Errorf("waiting for the peer to leave: %w", ctx.Err())
		}
	}
}
