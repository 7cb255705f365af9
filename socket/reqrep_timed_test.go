package socket

import (
	"context"
	"errors"
	"testing"
	"testing/synctest"
	"time"

	"go.uber.org/goleak"
)

// The tests in this file check the timed behaviour of request-reply in a
// synctest bubble over inproc links (see timed_test.go): a request retried
// exactly at its interval and not while nobody waits for the reply, and a
// reply to a departed client dropped exactly at the resume timeout.

// rtNew makes a socket that is closed, inside the bubble, when the test
// ends: a test that fails half way then leaves no goroutine blocked, which
// the bubble would report as a deadlock instead of the failure.
func rtNew(t *testing.T, typ Type, opts ...Option) *Socket {
	t.Helper()
	s := rawMustNew(t, typ, opts...)
	t.Cleanup(func() { s.Close() })
	return s
}

// rtBind binds a new socket of type typ to an inproc name.
func rtBind(t *testing.T, typ Type, name string, opts ...Option) (*Socket, string) {
	t.Helper()
	s := rtNew(t, typ, opts...)
	ep, err := s.Bind("inproc://" + name)
	if err != nil {
		t.Fatal(err)
	}
	return s, ep
}

// rtConnect connects s to every endpoint and waits until all are connected.
func rtConnect(t *testing.T, s *Socket, eps ...string) {
	t.Helper()
	for _, ep := range eps {
		if err := s.Connect(ep); err != nil {
			t.Fatal(err)
		}
	}
	synctest.Wait()
	if got := rawOfKind(rawEventsNow(s), EventConnected); len(got) != len(eps) {
		t.Fatalf("%v: got %d connected events, want %d", s.Type(), len(got), len(eps))
	}
}

// rtHolder returns which of two receiving sockets has a message queued,
// and the other. Call it after synctest.Wait.
func rtHolder(t *testing.T, a, b *Socket) (holder, other *Socket) {
	t.Helper()
	qa, qb := a.Stats().RecvQueue, b.Stats().RecvQueue
	switch {
	case qa == 1 && qb == 0:
		return a, b
	case qa == 0 && qb == 1:
		return b, a
	}
	t.Fatalf("RecvQueue of the two servers: got %d, %d, want the request at exactly one", qa, qb)
	return nil, nil
}

// rtReply is what a Recv running in its own goroutine returned.
type rtReply struct {
	m   Message
	err error
}

func rtRecvAsync(ctx context.Context, s *Socket) <-chan rtReply {
	ch := make(chan rtReply, 1)
	go func() {
		m, err := s.Recv(ctx)
		ch <- rtReply{m, err}
	}()
	return ch
}

// rtServeOnce answers one request on rep with "re:" and its body.
func rtServeOnce(ctx context.Context, rep *Socket) <-chan error {
	done := make(chan error, 1)
	go func() {
		m, err := rep.Recv(ctx)
		if err == nil {
			err = rep.Send(ctx, append([]byte("re:"), m.Bytes()...))
		}
		done <- err
	}()
	return done
}

// rtNotYet fails the test if ch has a value.
func rtNotYet[T any](t *testing.T, ch <-chan T, what string) {
	t.Helper()
	select {
	case v := <-ch:
		t.Fatalf("%s: got %v already, want nothing yet", what, v)
	default:
	}
}

// rtNow takes the value ch must have by now.
func rtNow[T any](t *testing.T, ch <-chan T, what string) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	default:
		t.Fatalf("%s: got nothing, want it done by now", what)
	}
	var zero T
	return zero
}

// rtWantReply checks a reply a REQ's Recv returned.
func rtWantReply(t *testing.T, r rtReply, want string) {
	t.Helper()
	if r.err != nil || len(r.m) != 1 || string(r.m[0]) != want {
		t.Fatalf("REQ Recv: got %q, %v, want [%s]", r.m, r.err, want)
	}
}

// TestReqRepTimedRetryInterval: a REQ with WithRequestRetry(interval)
// whose request is held by a REP that never answers sends it again exactly
// when the interval has passed, to the next REP in turn, and gets that
// REP's reply.
func TestReqRepTimedRetryInterval(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const interval = 3 * time.Second
		ctx := context.Background()
		repA, epA := rtBind(t, Rep, "rt-interval-a")
		repB, epB := rtBind(t, Rep, "rt-interval-b")
		req := rtNew(t, Req, WithRequestRetry(interval))
		rtConnect(t, req, epA, epB)

		start := time.Now()
		rfSend(t, ctx, req, "q")
		synctest.Wait()
		silent, answering := rtHolder(t, repA, repB)
		rfRecvBody(t, ctx, silent, "q") // and never answers
		served := rtServeOnce(ctx, answering)
		reply := rtRecvAsync(ctx, req)

		time.Sleep(interval - time.Nanosecond)
		synctest.Wait()
		if r := req.Stats().Retries; r != 0 {
			t.Fatalf("at %v: got Retries %d, want 0 before the interval", time.Since(start), r)
		}
		rtNotYet(t, reply, "REQ Recv before the interval")
		rtNotYet(t, served, "the answering REP before the interval")

		time.Sleep(time.Nanosecond)
		synctest.Wait()
		if err := rtNow(t, served, "the answering REP at the interval"); err != nil {
			t.Fatalf("answering REP: got error %v, want nil", err)
		}
		rtWantReply(t, rtNow(t, reply, "REQ Recv at the interval"), "re:q")
		if r := req.Stats().Retries; r != 1 {
			t.Errorf("Retries: got %d, want 1", r)
		}
		// No retry after the reply.
		time.Sleep(10 * interval)
		synctest.Wait()
		if r := req.Stats().Retries; r != 1 {
			t.Errorf("Retries after the reply: got %d, want still 1", r)
		}
		if q := silent.Stats().RecvQueue + answering.Stats().RecvQueue; q != 0 {
			t.Errorf("requests queued at the servers after the reply: got %d, want 0", q)
		}
		rawMustClose(t, req)
		rawMustClose(t, repA)
		rawMustClose(t, repB)
	})
	goleak.VerifyNone(t)
}

// TestReqRepTimedRetryPausedWhileGaveUp: once Recv's context has ended the
// REQ does not retry, however long it waits; a new Recv starts the interval
// again, and the retry comes exactly one interval after it.
func TestReqRepTimedRetryPausedWhileGaveUp(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const interval = 3 * time.Second
		ctx := context.Background()
		repA, epA := rtBind(t, Rep, "rt-gaveup-a")
		repB, epB := rtBind(t, Rep, "rt-gaveup-b")
		req := rtNew(t, Req, WithRequestRetry(interval))
		rtConnect(t, req, epA, epB)

		rfSend(t, ctx, req, "q")
		synctest.Wait()
		silent, other := rtHolder(t, repA, repB)
		rfRecvBody(t, ctx, silent, "q")

		rctx, cancel := context.WithCancel(ctx)
		first := rtRecvAsync(rctx, req)
		time.Sleep(interval / 2)
		cancel()
		synctest.Wait()
		if r := rtNow(t, first, "REQ Recv after its context ended"); !errors.Is(r.err, context.Canceled) {
			t.Fatalf("REQ Recv: got %q, %v, want context.Canceled", r.m, r.err)
		}

		time.Sleep(10 * interval)
		synctest.Wait()
		if r := req.Stats().Retries; r != 0 {
			t.Fatalf("got Retries %d while no Recv waited, want 0", r)
		}
		if st := other.Stats(); st.MsgsIn != 0 {
			t.Fatalf("the other REP got %d messages while no Recv waited, want 0", st.MsgsIn)
		}

		resumed := time.Now()
		reply := rtRecvAsync(ctx, req)
		time.Sleep(interval - time.Nanosecond)
		synctest.Wait()
		if r := req.Stats().Retries; r != 0 {
			t.Fatalf("at %v after Recv resumed: got Retries %d, want 0 before the interval", time.Since(resumed), r)
		}
		time.Sleep(time.Nanosecond)
		synctest.Wait()
		if r := req.Stats().Retries; r != 1 {
			t.Fatalf("at %v after Recv resumed: got Retries %d, want 1", time.Since(resumed), r)
		}
		rfRecvBody(t, ctx, other, "q")
		rfSend(t, ctx, other, "re:q")
		synctest.Wait()
		rtWantReply(t, rtNow(t, reply, "REQ Recv after the reply was sent"), "re:q")
		rawMustClose(t, req)
		rawMustClose(t, repA)
		rawMustClose(t, repB)
	})
	goleak.VerifyNone(t)
}

// TestReqRepTimedRetryOnLostConnection: when the REP holding the request
// goes away, a REQ with WithRequestRetry(0) sends the request to its other
// REP at once, not after any delay, and never again on a clock.
func TestReqRepTimedRetryOnLostConnection(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx := context.Background()
		repA, epA := rtBind(t, Rep, "rt-lost-a")
		repB, epB := rtBind(t, Rep, "rt-lost-b")
		req := rtNew(t, Req, WithRequestRetry(0))
		rtConnect(t, req, epA, epB)

		rfSend(t, ctx, req, "q")
		synctest.Wait()
		holder, other := rtHolder(t, repA, repB)
		rfRecvBody(t, ctx, holder, "q")
		synctest.Wait() // its ACK reached the REQ
		start := time.Now()
		rawMustClose(t, holder)
		synctest.Wait()
		if d := time.Since(start); d != 0 {
			t.Fatalf("closing the REP took %v of fake time, want none", d)
		}
		if r := req.Stats().Retries; r != 1 {
			t.Fatalf("got Retries %d at once after the REP left, want 1", r)
		}
		if q := other.Stats().RecvQueue; q != 1 {
			t.Fatalf("the other REP holds %d requests at once after the first left, want 1", q)
		}
		served := rtServeOnce(ctx, other)
		reply := rtRecvAsync(ctx, req)
		synctest.Wait()
		if err := rtNow(t, served, "the other REP"); err != nil {
			t.Fatal(err)
		}
		rtWantReply(t, rtNow(t, reply, "REQ Recv"), "re:q")
		time.Sleep(time.Hour)
		synctest.Wait()
		if r := req.Stats().Retries; r != 1 {
			t.Errorf("Retries an hour later: got %d, want still 1 (no interval set)", r)
		}
		rawMustClose(t, req)
		rawMustClose(t, other)
	})
	goleak.VerifyNone(t)
}

// TestReqRepTimedReplyToDepartedAsker: a REP's reply to a REQ that left
// after asking is held for the REQ's return and dropped, counted as
// unroutable, exactly when the REP's resume timeout ends; the REP keeps
// serving its other REQ.
func TestReqRepTimedReplyToDepartedAsker(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const resume = 2 * time.Second
		ctx := context.Background()
		rep, ep := rtBind(t, Rep, "rt-departed", WithResumeTimeout(resume))
		leaver := rtNew(t, Req)
		rtConnect(t, leaver, ep)
		stayer := rtNew(t, Req)
		rtConnect(t, stayer, ep)

		rfSend(t, ctx, leaver, "leaving")
		synctest.Wait()
		rfRecvBody(t, ctx, rep, "leaving")
		rawMustClose(t, leaver)
		synctest.Wait()
		start := time.Now()
		rfSend(t, ctx, rep, "re:leaving")
		synctest.Wait()
		if u := rep.Stats().Unroutable; u != 0 {
			t.Fatalf("got Unroutable %d at once, want the reply held for the resume timeout", u)
		}

		time.Sleep(resume - time.Nanosecond)
		synctest.Wait()
		if u := rep.Stats().Unroutable; u != 0 {
			t.Fatalf("at %v: got Unroutable %d, want 0 before the resume timeout", time.Since(start), u)
		}
		time.Sleep(time.Nanosecond)
		synctest.Wait()
		if u := rep.Stats().Unroutable; u != 1 {
			t.Fatalf("at %v: got Unroutable %d, want 1 at the resume timeout", time.Since(start), u)
		}
		if q := rep.Stats().SendQueue; q != 0 {
			t.Errorf("REP SendQueue: got %d, want 0 once the reply is dropped", q)
		}
		rfRoundTrip(t, ctx, stayer, rep, "staying")
		rawMustClose(t, stayer)
		rawMustClose(t, rep)
	})
	goleak.VerifyNone(t)
}

// TestReqRepTimedBrokerRetry: behind ROUTER|Proxy|DEALER the REQ's
// connection survives a worker that holds the request without answering;
// the retry interval alone brings the request, through the proxy, to the
// next worker, exactly when it passes.
func TestReqRepTimedBrokerRetry(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const interval = 3 * time.Second
		ctx := context.Background()
		front, frontEP := rtBind(t, Router, "rt-broker-front")
		back, backEP := rtBind(t, Dealer, "rt-broker-back")
		pctx, stop := context.WithCancel(ctx)
		proxyDone := make(chan error, 1)
		go func() { proxyDone <- Proxy(pctx, front, back, nil) }()
		workerA, workerB := rtNew(t, Rep), rtNew(t, Rep)
		rtConnect(t, workerA, backEP)
		rtConnect(t, workerB, backEP)
		req := rtNew(t, Req, WithRequestRetry(interval))
		rtConnect(t, req, frontEP)

		start := time.Now()
		rfSend(t, ctx, req, "q")
		synctest.Wait()
		silent, answering := rtHolder(t, workerA, workerB)
		rfRecvBody(t, ctx, silent, "q")
		served := rtServeOnce(ctx, answering)
		reply := rtRecvAsync(ctx, req)

		time.Sleep(interval - time.Nanosecond)
		synctest.Wait()
		rtNotYet(t, served, "the answering worker before the interval")
		rtNotYet(t, reply, "REQ Recv before the interval")
		time.Sleep(time.Nanosecond)
		synctest.Wait()
		if err := rtNow(t, served, "the answering worker at the interval"); err != nil {
			t.Fatal(err)
		}
		rtWantReply(t, rtNow(t, reply, "REQ Recv at the interval"), "re:q")
		if r := req.Stats().Retries; r != 1 {
			t.Errorf("Retries: got %d, want 1 (at %v)", r, time.Since(start))
		}

		rawMustClose(t, req)
		stop()
		synctest.Wait()
		if err := rtNow(t, proxyDone, "Proxy after its context ended"); !errors.Is(err, context.Canceled) {
			t.Errorf("Proxy: got %v, want context.Canceled", err)
		}
		for _, s := range []*Socket{workerA, workerB, front, back} {
			rawMustClose(t, s)
		}
	})
	goleak.VerifyNone(t)
}

// TestReqRepTimedRetryAfterPausedLoss: a REQ with WithRequestRetry(0)
// whose Recv gave up loses the connection that carried its request and
// reconnects to a new REP while no Recv waits. The next Recv resumes the
// retries: the request, whose server is gone, goes to the new REP at once,
// and the reply arrives. (A client that polls Recv with a timeout per call
// is in exactly this state whenever its server restarts.)
func TestReqRepTimedRetryAfterPausedLoss(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx := context.Background()
		const name = "rt-paused-loss"
		rep1, ep := rtBind(t, Rep, name)
		req := rtNew(t, Req, WithRequestRetry(0), WithReconnectInterval(time.Millisecond, time.Millisecond))
		rtConnect(t, req, ep)
		rfSend(t, ctx, req, "q")
		rfRecvBody(t, ctx, rep1, "q") // and never answers
		synctest.Wait()

		rctx, cancel := context.WithCancel(ctx)
		cancel()
		if _, err := req.Recv(rctx); !errors.Is(err, context.Canceled) {
			t.Fatalf("REQ Recv with an ended context: got %v, want context.Canceled", err)
		}
		rawMustClose(t, rep1)
		rep2, _ := rtBind(t, Rep, name)
		time.Sleep(time.Second) // ample fake time to redial
		synctest.Wait()
		if got := rawOfKind(rawEventsNow(req), EventConnected); len(got) != 1 {
			t.Fatalf("got %d new connected events, want 1 (to the new REP)", len(got))
		}

		reply := rtRecvAsync(ctx, req)
		synctest.Wait()
		if q := rep2.Stats().RecvQueue; q != 1 {
			time.Sleep(time.Hour)
			synctest.Wait()
			t.Fatalf("at once after Recv resumed: the new REP holds %d requests (and %d an hour later), want 1; REQ Retries %d",
				q, rep2.Stats().RecvQueue, req.Stats().Retries)
		}
		rfRecvBody(t, ctx, rep2, "q")
		rfSend(t, ctx, rep2, "re:q")
		synctest.Wait()
		rtWantReply(t, rtNow(t, reply, "REQ Recv"), "re:q")
		rawMustClose(t, req)
		rawMustClose(t, rep2)
	})
	goleak.VerifyNone(t)
}
