package main

import (
	"errors"
	"fmt"

	"github.com/wispmq/wisp/socket"
)

// prefixes returns the -subscribe prefixes, or the empty prefix (every
// message) when none was given.
func (r *runner) prefixes() []string {
	if len(r.cfg.subscribe) == 0 {
		return []string{""}
	}
	return r.cfg.subscribe
}

// setupSub subscribes a SUB to its prefixes before it connects, so every
// connection states them from its start.
func setupSub(r *runner) int {
	for _, p := range r.prefixes() {
		if err := r.s.Subscribe([]byte(p)); err != nil {
			return r.subscribeFailed(err)
		}
	}
	return exitOK
}

// setupXSub subscribes an XSUB the way an XSUB does: by sending [1,
// prefix...] for each prefix.
func setupXSub(r *runner) int {
	for _, p := range r.prefixes() {
		m := append([]byte{socket.SubscriptionAdd}, p...)
		if err := r.s.Send(r.ctx, m); err != nil {
			return r.subscribeFailed(err)
		}
	}
	return exitOK
}

// subscribeFailed reports a prefix the socket refused (run closes the
// socket). A prefix it rejects as invalid (too long) is a bad flag value,
// so a usage error.
func (r *runner) subscribeFailed(err error) int {
	if errors.Is(err, socket.ErrInvalidMessage) {
		r.errorf("-subscribe: %v", err)
		fmt.Fprintln(r.stderr, "Run wispcat -h for usage.")
		return exitUsage
	}
	r.errorf("subscribe: %v", err)
	return exitFailure
}

// subscribers counts the connected peers that subscribe to something, as
// WaitSubscribers counts them.
func subscribers(st socket.Stats) int {
	n := 0
	for _, p := range st.Peers {
		if p.Connected && p.Subscriptions > 0 {
			n++
		}
	}
	return n
}

// runPub publishes the input, after -wait-subs subscribers, then waits up
// to -linger for what is queued to be written. Publishing is at most once:
// a subscriber that is not there, or too slow, misses messages, and that is
// no failure; -v reports the counts.
func runPub(r *runner) int {
	if status, ok := r.awaitSubscribers(); !ok {
		return status
	}
	s := r.s
	sent, status, why := r.sendInput(r.cfg.count)
	why = r.lingerFlush(why)
	s.Close()
	// Close drops what a subscriber had not been written yet, counting it.
	st := s.Stats()
	switch why {
	case "timeout":
		r.errorf("%s: sent %s messages, %d dropped", r.timeoutReason(), r.ofCount(sent), st.Drops)
		status = exitFailure
	case "signal":
		status = r.signalStatus()
	}
	r.pubReport(sent, st)
	return status
}

// runXPub is xpub: it publishes the input as pub does while it prints the
// subscription changes it receives, as "subscribe PREFIX" and "cancel
// PREFIX" lines, the way dealer sends and prints.
func runXPub(r *runner) int {
	if status, ok := r.awaitSubscribers(); !ok {
		return status
	}
	status, sent := duplex(r, r.cfg.format.subscription, oneFrame)
	r.pubReport(sent, r.s.Stats())
	return status
}

// awaitSubscribers waits, with -wait-subs, until that many subscribers
// have subscribed. When the run ends while it waits (a signal, the timeout
// or an error) it closes the socket, reports why and returns false with the
// exit status.
func (r *runner) awaitSubscribers() (int, bool) {
	if r.cfg.waitSubs == 0 {
		return exitOK, true
	}
	err := r.s.WaitSubscribers(r.ctx, r.cfg.waitSubs)
	if err == nil {
		return exitOK, true
	}
	have := subscribers(r.s.Stats())
	r.s.Close()
	switch r.stopped() {
	case "timeout":
		r.errorf("%s: %d of %d subscribers, sent 0 messages", r.timeoutReason(), have, r.cfg.waitSubs)
		return exitFailure, false
	case "signal":
		return r.signalStatus(), false
	}
	r.errorf("waiting for subscribers: %v", err)
	return exitFailure, false
}

// pubReport arranges for -v to print, last, what a publisher's messages
// became.
func (r *runner) pubReport(sent int, st socket.Stats) {
	if r.cfg.verbose {
		r.report = func() {
			r.errorf("sent %d messages; %d written to subscribers, %d dropped", sent, st.MsgsOut, st.Drops)
		}
	}
}

// unsent describes, in a timeout report, the messages a sender still held:
// unacknowledged ones, or for a publisher, which holds none after Close,
// the ones it dropped.
func (r *runner) unsent(left int) string {
	if r.cfg.mode.typ == socket.XPub {
		return fmt.Sprintf("%d dropped", r.s.Stats().Drops)
	}
	return fmt.Sprintf("%d unacknowledged", left)
}
