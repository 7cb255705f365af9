package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/wispmq/wisp/socket"
)

// Hidden subcommands: the clients and the workers of a broker run, each
// group in its own process.
const (
	brokerClientsCmd = "__broker-clients"
	brokerWorkersCmd = "__broker-workers"
)

// Broker defaults and limits.
const (
	defaultClients = 4
	defaultWorkers = 4
	defaultWindow  = 100
	maxPeers       = 64 // clients or workers in one process
)

// brokerCount is the suite's request count per size: a few seconds at most
// on 2 cores.
func brokerCount(size int) int64 {
	switch {
	case size <= 256:
		return 400_000
	case size <= 4096:
		return 100_000
	default:
		return 10_000
	}
}

// checkBroker validates the broker's own parameters. A client keeps at most
// window replies unread, and its receive high-water mark must hold them:
// otherwise its replies could stall in the broker while the client itself
// waits to send, and the run would deadlock.
func checkBroker(c config) error {
	recvHWM := c.HWM
	if recvHWM == 0 {
		recvHWM = socket.DefaultRecvHWM
	}
	switch {
	case c.Clients < 1 || c.Clients > maxPeers:
		return fmt.Errorf("%w: clients: got %d, want 1 to %d", errBadConfig, c.Clients, maxPeers)
	case c.Workers < 1 || c.Workers > maxPeers:
		return fmt.Errorf("%w: workers: got %d, want 1 to %d", errBadConfig, c.Workers, maxPeers)
	case c.Window < 1 || c.Window > recvHWM:
		return fmt.Errorf("%w: window: got %d, want 1 to %d (the receive high-water mark)", errBadConfig, c.Window, recvHWM)
	}
	return nil
}

// runBroker measures request-reply throughput through a broker: a ROUTER
// frontend and a DEALER backend joined by socket.Proxy, here in this
// process, both bound over c.Transport (tcp or ipc); c.Clients DEALER clients in one child process, each keeping
// c.Window requests in flight; c.Workers REP workers in another, echoing.
// The clients time from their first timed request to the last reply.
func runBroker(ctx context.Context, c config) (result, error) {
	r := result{
		Pattern: c.Pattern, Transport: c.Transport, Size: c.Size, Count: c.Count,
		Acks: c.Acks, HWM: c.HWM, Clients: c.Clients, Workers: c.Workers, Window: c.Window,
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
	opts := append(sendOptions(c.Acks, c.HWM), recvOptions(c.HWM)...)
	front, err := socket.New(socket.Router, opts...)
	if err != nil {
		return result{}, err
	}
	back, err := socket.New(socket.Dealer, opts...)
	if err != nil {
		front.Close()
		return result{}, err
	}
	frontEP, frontCleanup, err := bindBroker(front, c.Transport, "front.sock")
	if err != nil {
		return result{}, errors.Join(err, front.Close(), back.Close())
	}
	defer frontCleanup() // deferred calls run after the Closes below
	backEP, backCleanup, err := bindBroker(back, c.Transport, "back.sock")
	if err != nil {
		return result{}, errors.Join(err, front.Close(), back.Close())
	}
	defer backCleanup()
	pctx, stopProxy := context.WithCancel(ctx)
	proxyDone := make(chan error, 1)
	go func() {
		err := socket.Proxy(pctx, front, back, nil)
		if pctx.Err() == nil {
			cancel() // the proxy failed: kill the children now, not at the timeout
		}
		proxyDone <- err
	}()
	runErr := brokerPeers(ctx, c, frontEP, backEP, &r)
	stopProxy()
	perr := <-proxyDone
	if errors.Is(perr, context.Canceled) {
		perr = nil // our own stop
	} else if perr != nil {
		perr = fmt.Errorf("broker: %w", perr)
	}
	if err := errors.Join(runErr, perr, front.Close(), back.Close()); err != nil {
		return result{}, err
	}
	after, err := selfUsage()
	if err != nil {
		return result{}, err
	}
	r.BrokerCPUSec, r.BrokerMaxRSSKB = after.cpuSec-before.cpuSec, after.maxRSSKB
	r.fillRates()
	return r, nil
}

// bindBroker binds one of the broker's sockets for transport and returns
// the endpoint its peers connect to, and a cleanup that removes an ipc
// socket's directory; call it once the socket is closed.
func bindBroker(s *socket.Socket, transport, file string) (string, func(), error) {
	ep, cleanup, err := listenEndpoint(transport, file)
	if err != nil {
		return "", nil, err
	}
	bound, err := s.Bind(ep)
	if err != nil {
		cleanup()
		return "", nil, err
	}
	return bound, cleanup, nil
}

// brokerPeers runs the workers' process until every worker is connected,
// then the clients' process to its end, then tells the workers to stop, and
// fills r from what both report.
func brokerPeers(ctx context.Context, c config, frontEP, backEP string, r *result) error {
	common := []string{
		"-size=" + strconv.Itoa(c.Size), "-hwm=" + strconv.Itoa(c.HWM),
		"-acks=" + strconv.FormatBool(c.Acks), "-timeout=" + c.Timeout.String(),
	}
	workers, err := startPeer(ctx, "workers", append([]string{brokerWorkersCmd,
		"-endpoint=" + backEP, "-peers=" + strconv.Itoa(c.Workers)}, common...))
	if err != nil {
		return err
	}
	if line, err := workers.readLine(); err != nil || line != workersReady {
		workers.abort()
		return errors.Join(err, fmt.Errorf("workers: got first line %q, want %q", line, workersReady))
	}
	clients, err := startPeer(ctx, "clients", append([]string{brokerClientsCmd,
		"-endpoint=" + frontEP, "-peers=" + strconv.Itoa(c.Clients),
		"-count=" + strconv.FormatInt(c.Count, 10), "-window=" + strconv.Itoa(c.Window)}, common...))
	if err != nil {
		workers.abort()
		return err
	}
	out, cu, err := clients.finish()
	if err != nil {
		workers.abort()
		return err
	}
	var cl recvLine
	if err := json.Unmarshal(bytes.TrimSpace(out), &cl); err != nil {
		workers.abort()
		return fmt.Errorf("clients output %q: %w", out, err)
	}
	out, wu, err := workers.finish()
	if err != nil {
		return err
	}
	var wl serveLine
	if err := json.Unmarshal(bytes.TrimSpace(out), &wl); err != nil {
		return fmt.Errorf("workers output %q: %w", out, err)
	}
	// Each client makes one untimed warm-up request besides its share.
	if want := c.Count + int64(c.Clients); cl.Count != c.Count || cl.Size != c.Size || wl.Served != want {
		return fmt.Errorf("%w: clients reported %d replies of %d bytes and workers %d requests, want %d, %d and %d",
			errWrongMessages, cl.Count, cl.Size, wl.Served, c.Count, c.Size, want)
	}
	r.Seconds = cl.Seconds
	r.SenderCPUSec, r.SenderMaxRSSKB = cu.cpuSec, cu.maxRSSKB
	r.ReceiverCPUSec, r.ReceiverMaxRSSKB = wu.cpuSec, wu.maxRSSKB
	return nil
}

// workersReady is the workers' first line: every worker is connected.
const workersReady = "ready"

// brokerFlags are the flags of the broker's hidden subcommands.
type brokerFlags struct {
	childFlags
	peers  int // clients or workers
	window int // clients only
}

func parseBrokerFlags(name string, args []string, minCount int64) (brokerFlags, error) {
	var f brokerFlags
	var err error
	f.childFlags, err = parseChildFlags(name, args, minCount, func(fs *flag.FlagSet) {
		fs.IntVar(&f.peers, "peers", 1, "sockets to run")
		fs.IntVar(&f.window, "window", 1, "requests each client keeps in flight")
	})
	if err != nil {
		return f, err
	}
	if f.peers < 1 || f.peers > maxPeers || f.window < 1 {
		return f, fmt.Errorf("%w: got peers %d window %d, want peers 1 to %d, window >= 1", errBadConfig, f.peers, f.window, maxPeers)
	}
	return f, nil
}

// newPeers makes n sockets of type t and connects each to endpoint.
func newPeers(t socket.Type, n int, endpoint string, opts []socket.Option) ([]*socket.Socket, error) {
	var socks []*socket.Socket
	for range n {
		s, err := socket.New(t, opts...)
		if err != nil {
			return socks, err
		}
		socks = append(socks, s)
		if err := s.Connect(endpoint); err != nil {
			return socks, err
		}
	}
	return socks, nil
}

func closeAll(socks []*socket.Socket) error {
	var errs []error
	for _, s := range socks {
		errs = append(errs, s.Close())
	}
	return errors.Join(errs...)
}

// brokerWorkers is the workers' process: -peers REP sockets connect to the
// broker's backend; once all are connected it prints workersReady, and each
// echoes every request until stdin closes (the clients are done). Then it
// closes them and prints how many requests they answered in all.
func brokerWorkers(args []string, stdout io.Writer, stdin io.Reader) error {
	f, err := parseBrokerFlags(brokerWorkersCmd, args, 0)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), f.timeout)
	defer cancel()
	reps, err := newPeers(socket.Rep, f.peers, f.endpoint, append(sendOptions(f.acks, f.hwm), recvOptions(f.hwm)...))
	if err != nil {
		return errors.Join(err, closeAll(reps))
	}
	for i, rep := range reps {
		if err := waitConnected(ctx, rep); err != nil {
			return errors.Join(fmt.Errorf("worker %d: %w", i+1, err), closeAll(reps))
		}
	}
	if _, err := fmt.Fprintln(stdout, workersReady); err != nil {
		return errors.Join(err, closeAll(reps))
	}
	wctx, stop := context.WithCancel(ctx)
	var served atomic.Int64
	failed := make(chan error, len(reps))
	var wg sync.WaitGroup
	for _, rep := range reps {
		wg.Go(func() {
			for {
				m, err := rep.Recv(wctx)
				if err == nil {
					err = rep.Send(wctx, m...)
				}
				if err != nil {
					if wctx.Err() == nil {
						failed <- err
					}
					return
				}
				served.Add(1)
			}
		})
	}
	eof := make(chan error, 1)
	go func() { eof <- waitEOF(wctx, stdin, "the clients") }()
	var runErr error
	select {
	case runErr = <-eof:
	case runErr = <-failed:
	}
	stop()
	wg.Wait()
	if err := errors.Join(runErr, closeAll(reps)); err != nil {
		return err
	}
	return printJSON(stdout, serveLine{Served: served.Load()})
}

// waitConnected waits for s's first completed handshake.
func waitConnected(ctx context.Context, s *socket.Socket) error {
	for {
		select {
		case e, ok := <-s.Events():
			if !ok {
				return fmt.Errorf("waiting to connect: %w", socket.ErrClosed)
			}
			if e.Kind == socket.EventConnected {
				return nil
			}
		case <-ctx.Done():
			return fmt.Errorf("waiting to connect: %w", ctx.Err())
		}
	}
}

// brokerClients is the clients' process: -peers DEALER sockets connect to
// the broker's frontend, each makes one untimed request, then all together
// make -count requests, shared evenly, each client keeping -window in
// flight. It checks every reply, closes the clients and prints the time
// from the start of the timed requests to the last reply.
func brokerClients(args []string, stdout io.Writer, _ io.Reader) error {
	f, err := parseBrokerFlags(brokerClientsCmd, args, 1)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), f.timeout)
	defer cancel()
	dealers, err := newPeers(socket.Dealer, f.peers, f.endpoint, append(sendOptions(f.acks, f.hwm), recvOptions(f.hwm)...))
	if err != nil {
		return errors.Join(err, closeAll(dealers))
	}
	payload := bytes.Repeat([]byte{'w'}, f.size) // shared, never modified: see sendAll
	var ready sync.WaitGroup
	start := make(chan struct{})
	done := make(chan error, len(dealers))
	n := int64(len(dealers))
	for i, d := range dealers {
		share := f.count / n
		if int64(i) < f.count%n {
			share++
		}
		ready.Add(1)
		go func() {
			err := requests(ctx, d, payload, 1, 1) // warm-up: connected, first buffers
			ready.Done()
			if err == nil {
				select {
				case <-start:
					err = requests(ctx, d, payload, share, f.window)
				case <-ctx.Done():
					err = ctx.Err()
				}
			}
			if err != nil {
				err = fmt.Errorf("client %d: %w", i+1, err)
			}
			done <- err
		}()
	}
	ready.Wait()
	began := time.Now()
	close(start)
	var runErr error
	for range dealers {
		if err := <-done; err != nil && runErr == nil {
			runErr = err
			cancel() // the others stop too
		}
	}
	secs := time.Since(began).Seconds()
	if err := errors.Join(runErr, closeAll(dealers)); err != nil {
		return err
	}
	return printJSON(stdout, recvLine{Seconds: secs, Count: f.count, Size: f.size})
}

// requests makes n requests on a DEALER, each an empty delimiter and the
// payload, keeping up to window unanswered, and checks that every reply is
// a delimiter and len(payload) bytes.
func requests(ctx context.Context, d *socket.Socket, payload []byte, n int64, window int) error {
	delim := []byte{}
	sent := int64(0)
	send := func() error {
		if err := d.Send(ctx, delim, payload); err != nil {
			return fmt.Errorf("sending request %d of %d: %w", sent+1, n, err)
		}
		sent++
		return nil
	}
	for sent < min(n, int64(window)) {
		if err := send(); err != nil {
			return err
		}
	}
	for i := range n {
		m, err := d.Recv(ctx)
		if err != nil {
			return fmt.Errorf("receiving reply %d of %d: %w", i+1, n, err)
		}
		if len(m) != 2 || len(m[0]) != 0 || len(m[1]) != len(payload) {
			return fmt.Errorf("%w: reply %d: got %d frames of %d bytes, want a delimiter and %d bytes",
				errWrongMessages, i+1, len(m), m.Size(), len(payload))
		}
		if sent < n {
			if err := send(); err != nil {
				return err
			}
		}
	}
	return nil
}
