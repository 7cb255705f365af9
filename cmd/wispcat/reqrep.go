package main

import (
	"bufio"
	"context"
)

// runReq sends each input line as a request and prints its reply, one at a
// time, until the input ends, -count replies, a signal, the timeout, or a
// reply slower than -reply-timeout. The socket resends a request whose
// connection ended or that stays unanswered for -retry, and hands over
// exactly one reply per request, so a restarted server costs the client
// nothing but time.
func runReq(r *runner) int {
	s := r.s
	stop := make(chan struct{})
	defer close(stop)
	in := r.input(stop, r.cfg.count)
	w := bufio.NewWriterSize(r.stdout, 64<<10)
	got, status := 0, exitOK
	var why string
	for {
		var it inputItem
		var ok bool
		select {
		case it, ok = <-in:
		case <-r.ctx.Done():
		}
		if why = r.stopped(); why != "" || !ok {
			break
		}
		if it.err != nil {
			r.errorf("%v", it.err)
			status = exitFailure
			break
		}
		if err := s.Send(r.ctx, it.line); err != nil {
			if why = r.stopped(); why == "" {
				r.errorf("send: %v", err)
				status = exitFailure
			}
			break
		}
		ctx, cancel := r.ctx, context.CancelFunc(func() {})
		if r.cfg.replyTimeout > 0 {
			ctx, cancel = context.WithTimeout(r.ctx, r.cfg.replyTimeout)
		}
		m, err := s.Recv(ctx)
		cancel()
		if err != nil {
			if why = r.stopped(); why != "" {
				break
			}
			if ctx.Err() != nil {
				r.errorf("no reply within %v to request %d (%d replies received)", r.cfg.replyTimeout, it.n, got)
			} else {
				r.errorf("recv: %v", err)
			}
			status = exitFailure
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
	// Nothing to wait for: a request whose reply came is done, and one
	// without a reply is given up.
	s.Close()
	switch why {
	case "timeout":
		r.errorf("%s: received %s replies", r.timeoutReason(), r.ofCount(got))
		return exitFailure
	case "signal":
		return r.signalStatus()
	}
	return status
}

// runRep prints each request as a line and answers it with itself, or with
// -data, until -count requests are answered, a signal or the timeout. Then
// it waits up to -linger for its replies to be acknowledged.
//
// Like pull, it writes each request out before it answers and takes the
// next: a rep killed outright has answered every request it printed but
// the last, and its client asks again for that one.
func runRep(r *runner) int {
	s := r.s
	w := bufio.NewWriterSize(r.stdout, 64<<10)
	var fixed [][]byte
	if r.cfg.hasData {
		fixed = [][]byte{[]byte(r.cfg.data)}
	}
	answered, status := 0, exitOK
	var why string
	for r.cfg.count == 0 || answered < r.cfg.count {
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
		reply := [][]byte(m)
		if fixed != nil {
			reply = fixed
		}
		if err := s.Send(r.ctx, reply...); err != nil {
			if why = r.stopped(); why == "" {
				r.errorf("send: %v", err)
				status = exitFailure
			}
			break
		}
		answered++
	}
	why = r.lingerFlush(why)
	s.Close()
	left := s.Stats().SendQueue
	switch why {
	case "timeout":
		r.errorf("%s: answered %s requests, %d replies unacknowledged", r.timeoutReason(), r.ofCount(answered), left)
		return exitFailure
	case "signal":
		if left > 0 {
			r.errorf("%d messages undelivered", left)
		}
		return r.signalStatus()
	}
	if left > 0 {
		r.errorf("%d messages undelivered", left)
		return exitFailure
	}
	return status
}
