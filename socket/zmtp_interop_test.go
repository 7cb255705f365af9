package socket

import (
	"bytes"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"
)

// These tests talk ZMTP to real libzmq sockets (libzmq 4.3, through pyzmq,
// in a child process) over loopback TCP, in both directions, and check
// what arrives by sequence number.

const (
	interopMessages   = 10000
	interopRoundTrips = 1000
)

func TestZMTPInteropReqRep(t *testing.T) {
	t.Run("libzmq REQ to wisp REP", func(t *testing.T) {
		ctx := testContext(t)
		rep := zmtpSocket(t, Rep)
		ep, err := rep.Bind("tcp://127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		py := startPy(t, ctx, "--type", "REQ", "--connect", ep, "--job", "req", "--count", strconv.Itoa(interopRoundTrips))
		for i := range interopRoundTrips {
			m, err := rep.Recv(ctx)
			if err != nil {
				t.Fatalf("Recv %d: %v", i, err)
			}
			if want := fmt.Sprintf("req-%d", i); len(m) != 1 || string(m[0]) != want {
				t.Fatalf("request %d: got %q, want [%q]", i, m, want)
			}
			if err := rep.Send(ctx, fmt.Appendf(nil, "rep-%d", i)); err != nil {
				t.Fatal(err)
			}
		}
		py.expect(ctx, fmt.Sprintf("REQ_OK %d", interopRoundTrips))
		py.finish(ctx)
	})
	t.Run("wisp REQ to libzmq REP", func(t *testing.T) {
		ctx := testContext(t)
		py := startPy(t, ctx, "--type", "REP", "--bind", "tcp://127.0.0.1:0", "--job", "echo", "--count", strconv.Itoa(interopRoundTrips))
		req := zmtpSocket(t, Req)
		if err := req.Connect(py.Endpoint); err != nil {
			t.Fatal(err)
		}
		for i := range interopRoundTrips {
			body := fmt.Appendf(nil, "req-%d", i)
			if err := req.Send(ctx, body, []byte("second frame")); err != nil {
				t.Fatal(err)
			}
			m, err := req.Recv(ctx)
			if err != nil {
				t.Fatalf("Recv %d: %v", i, err)
			}
			if len(m) != 2 || !bytes.Equal(m[0], body) || string(m[1]) != "second frame" {
				t.Fatalf("reply %d: got %q, want [%q \"second frame\"]", i, m, body)
			}
		}
		py.finish(ctx)
	})
}

func TestZMTPInteropDealerRouter(t *testing.T) {
	t.Run("wisp DEALER to libzmq ROUTER", func(t *testing.T) {
		ctx := testContext(t)
		// A libzmq ROUTER drops what exceeds its high-water mark: none.
		py := startPy(t, ctx, "--type", "ROUTER", "--sndhwm", "0", "--bind", "tcp://127.0.0.1:0", "--job", "echo", "--count", strconv.Itoa(interopMessages))
		dealer := zmtpSocket(t, Dealer, WithRoutingID([]byte("wisp-dealer")))
		if err := dealer.Connect(py.Endpoint); err != nil {
			t.Fatal(err)
		}
		done := sendAll(ctx, dealer, 0, interopMessages)
		for i := range interopMessages {
			m, err := dealer.Recv(ctx)
			if err != nil {
				t.Fatalf("Recv %d: %v", i, err)
			}
			if n := number(t, m); n != i {
				t.Fatalf("echo %d: got %d (lost, duplicated or reordered)", i, n)
			}
		}
		wait(t, done)
		py.finish(ctx)
	})
	t.Run("libzmq DEALER to wisp ROUTER", func(t *testing.T) {
		ctx := testContext(t)
		router := zmtpSocket(t, Router)
		ep, err := router.Bind("tcp://127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		py := startPy(t, ctx, "--type", "DEALER", "--identity", "py-dealer", "--connect", ep, "--job", "dealer", "--count", strconv.Itoa(interopMessages))
		for i := range interopMessages {
			m, err := router.Recv(ctx)
			if err != nil {
				t.Fatalf("Recv %d: %v", i, err)
			}
			if len(m) != 2 || string(m[0]) != "py-dealer" || string(m[1]) != strconv.Itoa(i) {
				t.Fatalf("message %d: got %q, want [\"py-dealer\" %q]", i, m, strconv.Itoa(i))
			}
			if err := router.Send(ctx, m...); err != nil {
				t.Fatal(err)
			}
		}
		py.expect(ctx, fmt.Sprintf("DEALER_OK %d", interopMessages))
		py.finish(ctx)
	})
	t.Run("libzmq REQ to wisp ROUTER", func(t *testing.T) {
		// What a ROUTER application sees of a libzmq REQ: its identity, the
		// empty delimiter, the body.
		ctx := testContext(t)
		router := zmtpSocket(t, Router)
		ep, err := router.Bind("tcp://127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		py := startPy(t, ctx, "--type", "REQ", "--identity", "py-req", "--connect", ep, "--job", "req", "--count", "100")
		for i := range 100 {
			m, err := router.Recv(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if len(m) != 3 || string(m[0]) != "py-req" || len(m[1]) != 0 || string(m[2]) != fmt.Sprintf("req-%d", i) {
				t.Fatalf("request %d: got %q, want [\"py-req\" \"\" \"req-%d\"]", i, m, i)
			}
			if err := router.Send(ctx, m[0], nil, fmt.Appendf(nil, "rep-%d", i)); err != nil {
				t.Fatal(err)
			}
		}
		py.expect(ctx, "REQ_OK 100")
		py.finish(ctx)
	})
}

func TestZMTPInteropPushPull(t *testing.T) {
	t.Run("libzmq PUSH to wisp PULL", func(t *testing.T) {
		ctx := testContext(t)
		pull := zmtpSocket(t, Pull)
		ep, err := pull.Bind("tcp://127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		py := startPy(t, ctx, "--type", "PUSH", "--connect", ep, "--job", "send", "--count", strconv.Itoa(interopMessages))
		for i, m := range recvN(t, ctx, pull, interopMessages) {
			if n := number(t, m); n != i {
				t.Fatalf("message %d: got %d (lost, duplicated or reordered)", i, n)
			}
		}
		py.finish(ctx)
	})
	t.Run("wisp PUSH to libzmq PULL", func(t *testing.T) {
		ctx := testContext(t)
		py := startPy(t, ctx, "--type", "PULL", "--bind", "tcp://127.0.0.1:0", "--job", "recv", "--count", strconv.Itoa(interopMessages))
		push := zmtpSocket(t, Push)
		if err := push.Connect(py.Endpoint); err != nil {
			t.Fatal(err)
		}
		wait(t, sendAll(ctx, push, 0, interopMessages))
		py.expect(ctx, fmt.Sprintf("RECV_OK %d", interopMessages))
		py.finish(ctx)
		if err := push.Flush(ctx); err != nil {
			t.Fatalf("Flush: %v", err)
		}
	})
}

// interopTopics are what the publishers cycle over; a subscription to "A"
// matches the first two.
var interopTopics = []string{"A", "AB", "B", "CA"}

func TestZMTPInteropPubSub(t *testing.T) {
	t.Run("libzmq XPUB to wisp SUB", func(t *testing.T) {
		ctx := testContext(t)
		// No high-water mark: libzmq drops at it, and this checks that
		// nothing is lost on the way.
		py := startPy(t, ctx, "--type", "XPUB", "--sndhwm", "0", "--bind", "tcp://127.0.0.1:0", "--job", "pub",
			"--topics", strings.Join(interopTopics, ","), "--count", strconv.Itoa(interopMessages))
		sub := zmtpSocket(t, Sub)
		if err := sub.Subscribe([]byte("A")); err != nil {
			t.Fatal(err)
		}
		if err := sub.Connect(py.Endpoint); err != nil {
			t.Fatal(err)
		}
		if got := py.expect(ctx, "SUBSCRIPTION"); got != "SUBSCRIPTION 0141" {
			t.Fatalf("libzmq got subscription %q, want [1 'A'] (0141)", got)
		}
		checkTopicSequence(t, ctx, func() (string, error) {
			m, err := sub.Recv(ctx)
			if err != nil {
				return "", err
			}
			return string(m[0]), nil
		})
		py.finish(ctx)
	})
	t.Run("wisp PUB to libzmq SUB", func(t *testing.T) {
		ctx := testContext(t)
		pub := zmtpSocket(t, Pub, WithNoDrop(true))
		ep, err := pub.Bind("tcp://127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		py := startPy(t, ctx, "--type", "SUB", "--subscribe", "A", "--connect", ep, "--job", "sub", "--count", strconv.Itoa(interopMessages/2))
		if err := pub.WaitSubscribers(ctx, 1); err != nil {
			t.Fatal(err)
		}
		for i := range interopMessages {
			if err := pub.Send(ctx, fmt.Appendf(nil, "%s-%d", interopTopics[i%len(interopTopics)], i)); err != nil {
				t.Fatal(err)
			}
		}
		checkTopicSequence(t, ctx, func() (string, error) {
			return strings.TrimPrefix(py.expect(ctx, "GOT "), "GOT "), nil
		})
		py.finish(ctx)
	})
}

// checkTopicSequence reads interopMessages/2 publications with next and
// checks they are exactly those whose topic starts with "A", in order.
func checkTopicSequence(t *testing.T, ctx interface{ Err() error }, next func() (string, error)) {
	t.Helper()
	want := 0
	for range interopMessages / 2 {
		for !strings.HasPrefix(interopTopics[want%len(interopTopics)], "A") {
			want++
		}
		got, err := next()
		if err != nil {
			t.Fatalf("waiting for publication %d: %v", want, err)
		}
		if exp := fmt.Sprintf("%s-%d", interopTopics[want%len(interopTopics)], want); got != exp {
			t.Fatalf("got publication %q, want %q (filtered wrongly, lost or reordered)", got, exp)
		}
		want++
	}
}

// TestZMTPInteropHeartbeats: ZMTP 3.1's PING and PONG both ways. A libzmq
// peer that pings and hangs up without a PONG keeps its connection to an
// idle wisp socket; a wisp socket's own pings keep its connection to an
// idle libzmq peer, and find a frozen one (SIGSTOP) within its heartbeat
// timeout.
func TestZMTPInteropHeartbeats(t *testing.T) {
	t.Run("libzmq pings wisp", func(t *testing.T) {
		ctx := testContext(t)
		router := zmtpSocket(t, Router, WithHeartbeat(0, 0))
		ep, err := router.Bind("tcp://127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		// libzmq pings every 100 ms and gives up after 1 s without
		// traffic (margin for a loaded machine); the DEALER stays idle for
		// 2.5 s before it sends.
		py := startPy(t, ctx, "--type", "DEALER", "--heartbeat", "100", "1000", "2000", "--wait-ms", "2500",
			"--connect", ep, "--job", "dealer", "--count", "10")
		for i := range 10 {
			m, err := router.Recv(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if string(m[1]) != strconv.Itoa(i) {
				t.Fatalf("got %q, want %d", m, i)
			}
			router.Send(ctx, m...)
		}
		py.expect(ctx, "DEALER_OK 10")
		py.finish(ctx)
		if n := countEvents(router, EventAccepted); n != 1 {
			t.Fatalf("the ROUTER accepted %d connections, want 1: libzmq hung up for want of a PONG", n)
		}
	})
	t.Run("wisp pings libzmq", func(t *testing.T) {
		ctx := testContext(t)
		py := startPy(t, ctx, "--type", "REP", "--bind", "tcp://127.0.0.1:0", "--job", "echo", "--count", "1")
		req := zmtpSocket(t, Req, WithHeartbeat(50*time.Millisecond, time.Second))
		if err := req.Connect(py.Endpoint); err != nil {
			t.Fatal(err)
		}
		waitKind(t, ctx, req, EventConnected)
		time.Sleep(2500 * time.Millisecond) // idle: only PINGs and PONGs cross
		// Counted before the request: the peer exits once it answered.
		if n := countEvents(req, EventDisconnected); n != 0 {
			t.Fatalf("%d disconnects while libzmq answered every PING, want 0", n)
		}
		if err := req.Send(ctx, []byte("still there?")); err != nil {
			t.Fatal(err)
		}
		if m, err := req.Recv(ctx); err != nil || string(m[0]) != "still there?" {
			t.Fatalf("Recv: got %q, %v", m, err)
		}
		py.finish(ctx)
	})
	t.Run("libzmq peer frozen", func(t *testing.T) {
		ctx := testContext(t)
		py := startPy(t, ctx, "--type", "REP", "--bind", "tcp://127.0.0.1:0", "--job", "echo", "--count", "1")
		req := zmtpSocket(t, Req, WithHeartbeat(50*time.Millisecond, 300*time.Millisecond), WithLinger(0))
		if err := req.Connect(py.Endpoint); err != nil {
			t.Fatal(err)
		}
		waitKind(t, ctx, req, EventConnected)
		py.stop()
		defer py.resume()
		start := time.Now()
		ev := waitKind(t, ctx, req, EventDisconnected)
		if !errors.Is(ev.Err, ErrHeartbeatTimeout) {
			t.Fatalf("got %v, want ErrHeartbeatTimeout", ev.Err)
		}
		t.Logf("a frozen libzmq peer was found in %v (heartbeat timeout 300ms)", time.Since(start))
	})
}

// countEvents drains the events s has reported so far and counts those of
// kind k.
func countEvents(s *Socket, k EventKind) int {
	n := 0
	for {
		select {
		case e := <-s.Events():
			if e.Kind == k {
				n++
			}
		default:
			return n
		}
	}
}

// TestZMTPInteropPeerRestarted: a libzmq PULL killed in the middle of a
// stream and started again on the same port gets the rest of the stream
// from a wisp PUSH that reconnects by itself, including what was sent
// while it was down. ZMTP has no acknowledgements, so what the dead peer
// had not taken, and what went into its dead connection, is lost (at most
// once, as with libzmq); nothing arrives twice or out of order.
func TestZMTPInteropPeerRestarted(t *testing.T) {
	ctx := testContext(t)
	const first, total = 3000, interopMessages
	py := startPy(t, ctx, "--type", "PULL", "--bind", "tcp://127.0.0.1:0", "--job", "recv", "--count", strconv.Itoa(first))
	push := zmtpSocket(t, Push, WithReconnectInterval(20*time.Millisecond, 100*time.Millisecond), WithLinger(0))
	if err := push.Connect(py.Endpoint); err != nil {
		t.Fatal(err)
	}
	wait(t, sendAll(ctx, push, 0, first))
	py.expect(ctx, fmt.Sprintf("RECV_OK %d", first))
	py.kill()
	wait(t, sendAll(ctx, push, first, total-first)) // queued while the peer is down
	again := startPy(t, ctx, "--type", "PULL", "--bind", py.Endpoint, "--job", "recvuntil", "--count", strconv.Itoa(total-1))
	line := again.expect(ctx, "RECV_UNTIL ")
	var count, from int
	if _, err := fmt.Sscanf(line, "RECV_UNTIL %d %d", &count, &from); err != nil {
		t.Fatal(err)
	}
	if from < first {
		t.Fatalf("the restarted peer got message %d first, which its predecessor had taken", from)
	}
	t.Logf("restarted peer got %d messages from %d on; %d lost with the killed one", count, from, from-first)
	again.finish(ctx)
}

// TestZMTPInteropXPubPair: the other types libzmq shares with wisp. A wisp
// XPUB reports a libzmq SUB's subscription as libzmq's XPUB would ([1
// prefix]) and publishes to it; a wisp PAIR and a libzmq PAIR exchange a
// stream both ways.
func TestZMTPInteropXPubPair(t *testing.T) {
	t.Run("libzmq SUB to wisp XPUB", func(t *testing.T) {
		ctx := testContext(t)
		xpub := zmtpSocket(t, XPub)
		ep, err := xpub.Bind("tcp://127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		py := startPy(t, ctx, "--type", "SUB", "--subscribe", "A", "--connect", ep, "--job", "sub", "--count", "2")
		m, err := xpub.Recv(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if len(m) != 1 || string(m[0]) != "\x01A" {
			t.Fatalf("XPUB reported %q, want [\"\\x01A\"]", m)
		}
		for _, topic := range []string{"B-0", "A-1", "A-2"} {
			if err := xpub.Send(ctx, []byte(topic)); err != nil {
				t.Fatal(err)
			}
		}
		py.expect(ctx, "GOT A-1")
		py.expect(ctx, "GOT A-2")
		py.finish(ctx)
	})
	t.Run("libzmq PAIR and wisp PAIR", func(t *testing.T) {
		ctx := testContext(t)
		pair := zmtpSocket(t, Pair)
		ep, err := pair.Bind("tcp://127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		py := startPy(t, ctx, "--type", "PAIR", "--connect", ep, "--job", "dealer", "--count", strconv.Itoa(interopMessages))
		for i := range interopMessages {
			m, err := pair.Recv(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if n := number(t, m); n != i {
				t.Fatalf("message %d: got %d", i, n)
			}
			if err := pair.Send(ctx, m...); err != nil {
				t.Fatal(err)
			}
		}
		py.expect(ctx, fmt.Sprintf("DEALER_OK %d", interopMessages))
		py.finish(ctx)
	})
}
