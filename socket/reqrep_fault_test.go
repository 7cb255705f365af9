package socket

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// The tests in this file break the server side of request-reply while
// requests are in flight (a killed process, a closed socket, a broken
// link) and the client side before its reply (a REQ that leaves), and check
// that every client gets exactly one reply to each request it still waits
// for, and that the server goes on serving the others.

// rfFastReconnect makes a REQ redial a restarted server within
// milliseconds, so the tests spend their time on the faults, not on
// backoff.
var rfFastReconnect = WithReconnectInterval(time.Millisecond, 10*time.Millisecond)

// rfWaitAcked waits until s holds nothing unacknowledged: for a REQ, until
// the server's socket took the request with Recv, so a server that dies
// afterwards has it for sure and only a retry can bring it elsewhere.
func rfWaitAcked(t *testing.T, ctx context.Context, s *Socket) {
	t.Helper()
	waitFor(t, ctx, "every request acknowledged", func() bool { return s.Stats().Unacked == 0 })
}

// rfRecvBody receives on s and checks the message is the single frame want.
func rfRecvBody(t *testing.T, ctx context.Context, s *Socket, want string) {
	t.Helper()
	m, err := s.Recv(ctx)
	if err != nil {
		t.Fatalf("%v Recv: got error %v, want %q", s.Type(), err, want)
	}
	if len(m) != 1 || string(m[0]) != want {
		t.Fatalf("%v Recv: got %q, want [%s]", s.Type(), m, want)
	}
}

// rfSend sends one single-frame message and fails the test on error.
func rfSend(t *testing.T, ctx context.Context, s *Socket, body string) {
	t.Helper()
	if err := s.Send(ctx, []byte(body)); err != nil {
		t.Fatalf("%v Send(%q): got error %v, want nil", s.Type(), body, err)
	}
}

// rfRoundTrip sends body from req, answers it on rep with "re:"+body, and
// checks req gets that answer.
func rfRoundTrip(t *testing.T, ctx context.Context, req, rep *Socket, body string) {
	t.Helper()
	rfSend(t, ctx, req, body)
	rfRecvBody(t, ctx, rep, body)
	rfSend(t, ctx, rep, "re:"+body)
	rfRecvBody(t, ctx, req, "re:"+body)
}

// rfNoReplyLeft checks that req has no request outstanding: it got its one
// reply and waits for no other.
func rfNoReplyLeft(t *testing.T, ctx context.Context, req *Socket) {
	t.Helper()
	if m, err := req.Recv(ctx); !errors.Is(err, ErrState) {
		t.Fatalf("Recv after the reply: got %q, %v, want ErrState (exactly one reply per request)", m, err)
	}
}

// Environment of the REP helper process that TestReqRepFaultServerKilled
// starts.
const (
	rfHelperEndpointEnv = "WISP_TEST_REQREP_HELPER_EP"
	rfHelperModeEnv     = "WISP_TEST_REQREP_HELPER_MODE"
)

// TestReqRepHelperProcess is not a test: run by TestReqRepFaultServerKilled
// as a child process, it is a REP that binds the endpoint in its
// environment and prints every request it takes, one "REQ body" line each.
// In mode "hold" it never replies, so its clients' requests stay in flight;
// in mode "echo" it answers each request with "re:" and the body. It exits
// when its standard input closes.
func TestReqRepHelperProcess(t *testing.T) {
	ep := os.Getenv(rfHelperEndpointEnv)
	if ep == "" {
		return
	}
	hold := os.Getenv(rfHelperModeEnv) == "hold"
	ctx, cancel := context.WithCancel(context.Background())
	stdin := make(chan struct{})
	go func() {
		io.Copy(io.Discard, os.Stdin)
		cancel()
		close(stdin)
	}()
	rep, err := New(Rep)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := rep.Bind(ep); err != nil {
		t.Fatal(err)
	}
	for range 1 << 20 {
		m, err := rep.Recv(ctx)
		if err != nil {
			break
		}
		fmt.Fprintf(os.Stdout, "REQ %s\n", m.Bytes())
		if !hold {
			if err := rep.Send(ctx, append([]byte("re:"), m.Bytes()...)); err != nil {
				break
			}
		}
	}
	<-stdin
	rep.Close()
}

// rfChild is a REP helper process and the request bodies it printed.
type rfChild struct {
	cmd   *exec.Cmd
	stdin io.WriteCloser
	lines chan string
}

func rfStartChild(t *testing.T, ep, mode string) *rfChild {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestReqRepHelperProcess$", "-test.count=1")
	cmd.Env = append(os.Environ(), rfHelperEndpointEnv+"="+ep, rfHelperModeEnv+"="+mode)
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting the helper process: got error %v, want nil", err)
	}
	c := &rfChild{cmd: cmd, stdin: stdin, lines: make(chan string, 1<<12)}
	// The reader keeps the pipe drained, so the child never blocks printing.
	go func() {
		defer close(c.lines)
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if s, ok := strings.CutPrefix(sc.Text(), "REQ "); ok {
				c.lines <- s
			}
		}
	}()
	t.Cleanup(func() {
		c.cmd.Process.Kill()
		c.stdin.Close()
		for range c.lines {
		}
		c.cmd.Wait()
	})
	return c
}

// TestReqRepFaultServerKilled is the headline failure of request-reply: the
// REP process dies with SIGKILL while 100 clients each have a request in
// flight, taken by the server's application and never answered. A new REP
// process starts on the same endpoint. Every client, made with
// WithRequestRetry, gets exactly one reply to its request, from the new
// server, and then a follow-up request works too.
func TestReqRepFaultServerKilled(t *testing.T) {
	for _, transport := range []string{"tcp", "ipc"} {
		t.Run(transport, func(t *testing.T) {
			t.Parallel()
			const clients = 100
			ctx := testContext(t)
			var ep string
			if transport == "tcp" {
				ep = newNetwork(t, "tcp").reserve()
			} else {
				ep = "ipc://" + filepath.Join(t.TempDir(), "rep")
			}
			c1 := rfStartChild(t, ep, "hold")

			reqs := make([]*Socket, clients)
			for i := range reqs {
				// Half retry only on a lost connection, half also on an
				// interval far longer than the test: the lost connection
				// must bring the retry, not the clock.
				interval := time.Duration(0)
				if i%2 == 1 {
					interval = time.Hour
				}
				reqs[i] = newSocket(t, Req, WithRequestRetry(interval), rfFastReconnect)
				if err := reqs[i].Connect(ep); err != nil {
					t.Fatalf("Connect(%q): got error %v, want nil", ep, err)
				}
				rfSend(t, ctx, reqs[i], fmt.Sprintf("q%d", i))
			}

			held := map[string]bool{}
			for len(held) < clients {
				select {
				case s, ok := <-c1.lines:
					if !ok {
						t.Fatalf("first server: output ended after %d requests, want %d", len(held), clients)
					}
					held[s] = true
				case <-ctx.Done():
					t.Fatalf("first server: got %d requests, then %v, want %d", len(held), ctx.Err(), clients)
				}
			}
			for _, req := range reqs {
				rfWaitAcked(t, ctx, req)
			}
			if err := c1.cmd.Process.Signal(syscall.SIGKILL); err != nil {
				t.Fatalf("kill: got error %v, want nil", err)
			}
			for range c1.lines {
			}
			c1.cmd.Wait()

			c2 := rfStartChild(t, ep, "echo")
			for i, req := range reqs {
				rfRecvBody(t, ctx, req, fmt.Sprintf("re:q%d", i))
				rfNoReplyLeft(t, ctx, req)
			}
			var retries, stale uint64
			for i, req := range reqs {
				body := fmt.Sprintf("f%d", i)
				rfSend(t, ctx, req, body)
				rfRecvBody(t, ctx, req, "re:"+body)
				st := req.Stats()
				// The first server acknowledged the request, so only a
				// retry could bring it to the second.
				if st.Retries == 0 {
					t.Errorf("client %d: got Retries 0, want at least 1", i)
				}
				retries += st.Retries
				stale += st.StaleReplies
			}
			c2.stdin.Close()
			served := map[string]int{}
			for s := range c2.lines {
				served[s]++
			}
			if err := c2.cmd.Wait(); err != nil {
				t.Errorf("second server: got exit %v, want success", err)
			}
			for i := range clients {
				if q := fmt.Sprintf("q%d", i); served[q] == 0 {
					t.Errorf("second server: never got request %s, want it retried there", q)
				}
			}
			t.Logf("%d clients: %d retries, %d stale replies dropped", clients, retries, stale)
		})
	}
}

// TestReqRepFaultServerClosed closes the REP socket while it holds a
// request, without any process dying, and binds a new REP on the same
// endpoint. A REQ with WithRequestRetry gets its reply from the new REP; a
// REQ without waits until its Recv's context ends, and can then ask the new
// REP a new question.
func TestReqRepFaultServerClosed(t *testing.T) {
	for _, transport := range []string{"tcp", "ipc", "inproc"} {
		t.Run(transport, func(t *testing.T) {
			t.Parallel()
			nw := newNetwork(t, transport)

			t.Run("retry", func(t *testing.T) {
				ctx := testContext(t)
				ep := nw.reserve()
				rep1 := newSocket(t, Rep)
				ep = nw.bindAt(rep1, ep)
				req := newSocket(t, Req, WithRequestRetry(0), rfFastReconnect)
				nw.connect(req, ep)
				rfSend(t, ctx, req, "q")
				rfRecvBody(t, ctx, rep1, "q")
				rfWaitAcked(t, ctx, req)
				if err := rep1.Close(); err != nil {
					t.Fatalf("closing the first REP: got %v, want nil", err)
				}
				rep2 := newSocket(t, Rep)
				nw.bindAt(rep2, ep)
				rfRecvBody(t, ctx, rep2, "q")
				rfSend(t, ctx, rep2, "re:q")
				rfRecvBody(t, ctx, req, "re:q")
				rfNoReplyLeft(t, ctx, req)
				if r := req.Stats().Retries; r == 0 {
					t.Errorf("Retries: got 0, want at least 1")
				}
				rfRoundTrip(t, ctx, req, rep2, "again")
			})

			t.Run("no-retry", func(t *testing.T) {
				ctx := testContext(t)
				ep := nw.reserve()
				rep1 := newSocket(t, Rep)
				ep = nw.bindAt(rep1, ep)
				req := newSocket(t, Req, rfFastReconnect)
				nw.connect(req, ep)
				waitKind(t, ctx, req, EventConnected)
				rfSend(t, ctx, req, "q")
				rfRecvBody(t, ctx, rep1, "q")
				rfWaitAcked(t, ctx, req)

				rctx, cancel := context.WithCancel(ctx)
				defer cancel()
				got := make(chan error, 1)
				go func() {
					m, err := req.Recv(rctx)
					if err == nil {
						err = fmt.Errorf("got reply %q", m)
					}
					got <- err
				}()
				if err := rep1.Close(); err != nil {
					t.Fatalf("closing the first REP: got %v, want nil", err)
				}
				rep2 := newSocket(t, Rep)
				nw.bindAt(rep2, ep)
				waitKind(t, ctx, req, EventDisconnected)
				waitKind(t, ctx, req, EventConnected)
				select {
				case err := <-got:
					t.Fatalf("Recv returned %v once the REQ reached the new REP, want it to wait for its context", err)
				default:
				}
				cancel()
				if err := <-got; !errors.Is(err, context.Canceled) {
					t.Fatalf("Recv: got %v, want context.Canceled", err)
				}
				// The old request is abandoned, not sent to the new REP:
				// its first request is the new one.
				rfRoundTrip(t, ctx, req, rep2, "q2")
				rfNoReplyLeft(t, ctx, req)
				if r := req.Stats().Retries; r != 0 {
					t.Errorf("Retries: got %d, want 0 without WithRequestRetry", r)
				}
			})
		})
	}
}

// rfBreakableDialer dials for real and keeps the connections, so a test
// can break a link under a socket that stays open.
type rfBreakableDialer struct {
	mu    sync.Mutex
	conns []net.Conn
}

func (d *rfBreakableDialer) dial(ctx context.Context, network, address string) (net.Conn, error) {
	c, err := (&net.Dialer{}).DialContext(ctx, network, address)
	if err == nil {
		d.mu.Lock()
		d.conns = append(d.conns, c)
		d.mu.Unlock()
	}
	return c, err
}

// breakAll closes every connection dialed so far.
func (d *rfBreakableDialer) breakAll() {
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, c := range d.conns {
		c.Close()
	}
	d.conns = nil
}

// TestReqRepFaultLinkBroken breaks the connection between a REQ and its
// REP while the REP holds the request; both sockets stay open and the REQ
// redials the same REP session. The reply the REP sends meanwhile reaches
// the REQ, exactly once, with or without WithRequestRetry (with it the REP
// may see the request again and answer it twice; the REQ drops the extra
// reply).
func TestReqRepFaultLinkBroken(t *testing.T) {
	for _, transport := range []string{"tcp", "ipc"} {
		for _, retry := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s/retry=%v", transport, retry), func(t *testing.T) {
				t.Parallel()
				ctx := testContext(t)
				nw := newNetwork(t, transport)
				rep := newSocket(t, Rep)
				ep := nw.bind(rep)
				d := &rfBreakableDialer{}
				opts := []Option{WithDialer(d.dial), rfFastReconnect}
				if retry {
					opts = append(opts, WithRequestRetry(0))
				}
				req := newSocket(t, Req, opts...)
				nw.connect(req, ep)
				rfSend(t, ctx, req, "q")
				rfRecvBody(t, ctx, rep, "q")
				rfWaitAcked(t, ctx, req)
				d.breakAll()
				waitKind(t, ctx, req, EventDisconnected)
				rfSend(t, ctx, rep, "re:q")
				rfRecvBody(t, ctx, req, "re:q")
				rfNoReplyLeft(t, ctx, req)

				// A server loop answers whatever comes, the retried request
				// included; the REQ sees only the reply to its new request.
				sctx, stop := context.WithCancel(ctx)
				served := make(chan int, 1)
				go func() {
					n := 0
					defer func() { served <- n }()
					for range 1 << 10 {
						m, err := rep.Recv(sctx)
						if err != nil {
							return
						}
						n++
						if err := rep.Send(sctx, append([]byte("re:"), m.Bytes()...)); err != nil {
							return
						}
					}
				}()
				rfSend(t, ctx, req, "q2")
				rfRecvBody(t, ctx, req, "re:q2")
				rfNoReplyLeft(t, ctx, req)
				stop()
				n := <-served
				st := req.Stats()
				if !retry && (st.Retries != 0 || n != 1) {
					t.Errorf("Retries, requests served after the break: got %d, %d, want 0, 1 without WithRequestRetry", st.Retries, n)
				}
				if uint64(n) != 1+st.StaleReplies {
					t.Errorf("requests served after the break, stale replies: got %d, %d, want every extra reply dropped as stale", n, st.StaleReplies)
				}
				t.Logf("retries %d, served after the break %d, stale %d", st.Retries, n, st.StaleReplies)
			})
		}
	}
}

// TestReqRepFaultAskerLeft closes a REQ after its REP took the request and
// before the reply: the REP's Send succeeds, the reply is dropped and
// counted as unroutable once the REP's resume timeout has passed, and the
// REP goes on serving its other REQ.
func TestReqRepFaultAskerLeft(t *testing.T) {
	forEachTransport(t, func(t *testing.T, nw *network) {
		ctx := testContext(t)
		rep := newSocket(t, Rep, WithResumeTimeout(20*time.Millisecond))
		ep := nw.bind(rep)
		leaver := newSocket(t, Req)
		nw.connect(leaver, ep)
		stayer := newSocket(t, Req)
		nw.connect(stayer, ep)

		rfSend(t, ctx, leaver, "leaving")
		rfRecvBody(t, ctx, rep, "leaving")
		rfWaitAcked(t, ctx, leaver)
		if err := leaver.Close(); err != nil {
			t.Fatalf("closing the REQ: got %v, want nil", err)
		}
		rfSend(t, ctx, rep, "re:leaving")
		waitFor(t, ctx, "the reply counted as unroutable", func() bool { return rep.Stats().Unroutable >= 1 })
		rfRoundTrip(t, ctx, stayer, rep, "staying")
		rfRoundTrip(t, ctx, stayer, rep, "still")
		if st := rep.Stats(); st.Unroutable != 1 || st.BadEnvelopes != 0 || st.ProtocolErrors != 0 {
			t.Errorf("Unroutable, BadEnvelopes, ProtocolErrors: got %d, %d, %d, want 1, 0, 0", st.Unroutable, st.BadEnvelopes, st.ProtocolErrors)
		}
	})
}

// TestReqRepFaultGaveUpThenStale: a REQ whose Recv gave up may send a new
// request; the late reply to the abandoned one is dropped as stale and the
// REQ gets the reply to its new request.
func TestReqRepFaultGaveUpThenStale(t *testing.T) {
	forEachTransport(t, func(t *testing.T, nw *network) {
		ctx := testContext(t)
		rep := newSocket(t, Rep)
		req := newSocket(t, Req)
		nw.connect(req, nw.bind(rep))
		rfSend(t, ctx, req, "slow")
		rfRecvBody(t, ctx, rep, "slow")

		rctx, cancel := context.WithCancel(ctx)
		cancel()
		if _, err := req.Recv(rctx); !errors.Is(err, context.Canceled) {
			t.Fatalf("Recv with an ended context: got %v, want context.Canceled", err)
		}
		rfSend(t, ctx, rep, "re:slow") // late: the REQ gave up
		rfSend(t, ctx, req, "fast")
		rfRecvBody(t, ctx, rep, "fast")
		rfSend(t, ctx, rep, "re:fast")
		rfRecvBody(t, ctx, req, "re:fast")
		if s := req.Stats().StaleReplies; s != 1 {
			t.Errorf("StaleReplies: got %d, want 1 (the late reply)", s)
		}
		rfNoReplyLeft(t, ctx, req)
	})
}

// TestReqRepFaultBrokerClientLeft runs a REQ through ROUTER|Proxy|DEALER to
// a REP and closes the REQ before its reply: the reply comes back through
// the proxy to a routing id that is gone and is dropped and counted by the
// ROUTER once its resume timeout has passed; the proxy keeps running and
// serves another client.
func TestReqRepFaultBrokerClientLeft(t *testing.T) {
	forEachTransport(t, func(t *testing.T, nw *network) {
		if nw.name == "conn" {
			t.Skip("the broker binds and connects several sockets; covered by tcp")
		}
		ctx := testContext(t)
		front := newSocket(t, Router, WithResumeTimeout(20*time.Millisecond))
		back := newSocket(t, Dealer)
		frontEP, backEP := nw.bind(front), nw.bind(back)
		pctx, stop := context.WithCancel(ctx)
		proxyDone := make(chan error, 1)
		go func() { proxyDone <- Proxy(pctx, front, back, nil) }()
		defer func() {
			stop()
			if err := <-proxyDone; !errors.Is(err, context.Canceled) {
				t.Errorf("Proxy: got %v, want context.Canceled", err)
			}
		}()

		rep := newSocket(t, Rep)
		nw.connect(rep, backEP)
		leaver := newSocket(t, Req)
		nw.connect(leaver, frontEP)
		stayer := newSocket(t, Req)
		nw.connect(stayer, frontEP)

		rfSend(t, ctx, leaver, "leaving")
		rfRecvBody(t, ctx, rep, "leaving")
		rfWaitAcked(t, ctx, leaver)
		if err := leaver.Close(); err != nil {
			t.Fatalf("closing the REQ: got %v, want nil", err)
		}
		rfSend(t, ctx, rep, "re:leaving")
		waitFor(t, ctx, "the reply counted as unroutable by the ROUTER", func() bool { return front.Stats().Unroutable >= 1 })
		rfRoundTrip(t, ctx, stayer, rep, "staying")
		if u := front.Stats().Unroutable; u != 1 {
			t.Errorf("ROUTER Unroutable: got %d, want 1", u)
		}
		select {
		case err := <-proxyDone:
			t.Fatalf("Proxy returned %v while its sockets were open, want it running", err)
		default:
		}
	})
}

// TestReqRepFaultRouterPeerReturns: a ROUTER's message for a peer whose
// link broke is kept for it and delivered when the same peer session
// redials, not dropped.
func TestReqRepFaultRouterPeerReturns(t *testing.T) {
	for _, transport := range []string{"tcp", "ipc"} {
		t.Run(transport, func(t *testing.T) {
			t.Parallel()
			ctx := testContext(t)
			nw := newNetwork(t, transport)
			router := newSocket(t, Router)
			ep := nw.bind(router)
			d := &rfBreakableDialer{}
			dealer := newSocket(t, Dealer, WithDialer(d.dial), rfFastReconnect)
			nw.connect(dealer, ep)
			rfSend(t, ctx, dealer, "hello")
			m, err := router.Recv(ctx)
			if err != nil || len(m) != 2 || string(m[1]) != "hello" {
				t.Fatalf("ROUTER Recv: got %q, %v, want [rid hello]", m, err)
			}
			rid := m[0]
			d.breakAll()
			waitKind(t, ctx, dealer, EventDisconnected)
			if err := router.Send(ctx, rid, []byte("while away")); err != nil {
				t.Fatalf("ROUTER Send to the departed peer: got %v, want nil", err)
			}
			rfRecvBody(t, ctx, dealer, "while away")
			if err := router.Send(ctx, rid, []byte("after")); err != nil {
				t.Fatalf("ROUTER Send: got %v, want nil", err)
			}
			rfRecvBody(t, ctx, dealer, "after")
			if u := router.Stats().Unroutable; u != 0 {
				t.Errorf("Unroutable: got %d, want 0", u)
			}
		})
	}
}

// TestReqRepFaultRoutingIDTakeover: when the DEALER that had a routing id
// is gone, a new DEALER stating the same id takes it over, with the
// messages the ROUTER queued for the id meanwhile.
func TestReqRepFaultRoutingIDTakeover(t *testing.T) {
	forEachTransport(t, func(t *testing.T, nw *network) {
		ctx := testContext(t)
		router := newSocket(t, Router)
		ep := nw.bind(router)
		rid := []byte("worker")
		first := newSocket(t, Dealer, WithRoutingID(rid))
		nw.connect(first, ep)
		rfSend(t, ctx, first, "one")
		m, err := router.Recv(ctx)
		if err != nil || len(m) != 2 || string(m[0]) != "worker" || string(m[1]) != "one" {
			t.Fatalf("ROUTER Recv: got %q, %v, want [worker one]", m, err)
		}
		if err := first.Close(); err != nil {
			t.Fatalf("closing the first DEALER: got %v, want nil", err)
		}
		waitKind(t, ctx, router, EventDisconnected)
		for _, body := range []string{"queued1", "queued2"} {
			if err := router.Send(ctx, rid, []byte(body)); err != nil {
				t.Fatalf("ROUTER Send to the departed id: got %v, want nil", err)
			}
		}
		second := newSocket(t, Dealer, WithRoutingID(rid))
		nw.connect(second, ep)
		rfRecvBody(t, ctx, second, "queued1")
		rfRecvBody(t, ctx, second, "queued2")
		rfSend(t, ctx, second, "two")
		m, err = router.Recv(ctx)
		if err != nil || len(m) != 2 || string(m[0]) != "worker" || string(m[1]) != "two" {
			t.Fatalf("ROUTER Recv: got %q, %v, want [worker two]", m, err)
		}
		if st := router.Stats(); st.Unroutable != 0 || st.HandshakeFailures != 0 {
			t.Errorf("Unroutable, HandshakeFailures: got %d, %d, want 0, 0", st.Unroutable, st.HandshakeFailures)
		}
	})
}
