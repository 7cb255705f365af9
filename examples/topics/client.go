package main

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/wispmq/wisp/socket"
)

// Requests and replies are messages of text frames: a request is
// [op, arguments...] (see serve.go for each op), a reply is
// [status, results...] where status is one of these.
const (
	statusOK        = "ok"
	statusNotLeader = "not-leader" // a follower does not serve clients
	statusFenced    = "fenced"     // the member does not own the partition in this generation
	// statusUnavailable: the leader could not commit in time (its
	// follower is away); another broker may be leading by now.
	statusUnavailable = "unavailable"
	statusError       = "error" // followed by a frame saying why
)

// errNotLeader, errFenced: a reply said so.
var (
	errNotLeader   = errors.New("broker is not the leader")
	errUnavailable = errors.New("broker could not commit in time")
	errFenced      = errors.New("fenced: partition not assigned to this member in this generation")
)

// client sends requests to the leader among brokers, one at a time. It
// talks to one broker until that one fails to answer within the attempt
// timeout, says it is not the leader or cannot commit, then to the next:
// this is the whole failover rule on the clients' side. It has a REQ socket per
// broker rather than one connected to all, because a REQ deals its
// requests round-robin and would ask a follower half of the time.
type client struct {
	brokers []string
	socks   []*socket.Socket
	cur     int
	timeout time.Duration // one attempt's
}

func newClient(brokers []string, timeout time.Duration) (*client, error) {
	c := &client{brokers: brokers, timeout: timeout}
	for _, b := range brokers {
		// No linger: what a dead broker did not take is not worth
		// waiting for at Close, the request has gone elsewhere. Fail
		// fast: a broker not connected (dead, or not yet dialed) is
		// passed over at once rather than after the attempt timeout.
		s, err := socket.New(socket.Req, socket.WithLinger(0), socket.WithFailFast(true))
		if err != nil {
			c.close()
			return nil, err
		}
		c.socks = append(c.socks, s)
		if err := s.Connect(b); err != nil {
			c.close()
			return nil, err
		}
	}
	return c, nil
}

func (c *client) close() {
	for _, s := range c.socks {
		s.Close()
	}
}

// call sends the request and returns the reply's results, trying broker
// after broker until one answers that it is the leader or ctx ends. A
// request may thus reach a broker twice (the first attempt's reply lost):
// every op is safe to repeat (produce by the idempotent producer's
// numbers, commit and the reads by their nature).
func (c *client) call(ctx context.Context, req ...string) ([][]byte, error) {
	frames := make([][]byte, len(req))
	for i, f := range req {
		frames[i] = []byte(f)
	}
	return c.callFrames(ctx, frames)
}

func (c *client) callFrames(ctx context.Context, frames [][]byte) ([][]byte, error) {
	for {
		reply, err := c.attempt(ctx, c.socks[c.cur], frames)
		switch {
		case err == nil:
			return reply, nil
		case ctx.Err() != nil:
			return nil, ctx.Err()
		case errors.Is(err, errFenced), errors.As(err, new(*brokerError)):
			return nil, err // an answer from the leader: asking another will not change it
		}
		c.cur = (c.cur + 1) % len(c.socks)
		if c.cur == 0 {
			// Every broker tried: do not spin while none answers.
			select {
			case <-ctx.Done():
				return nil, ctx.Err()
			case <-time.After(50 * time.Millisecond):
			}
		}
	}
}

// brokerError is an error the leader answered with.
type brokerError struct{ msg string }

func (e *brokerError) Error() string { return "broker: " + e.msg }

func (c *client) attempt(ctx context.Context, s *socket.Socket, frames [][]byte) ([][]byte, error) {
	actx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	if err := s.Send(actx, frames...); err != nil {
		return nil, err
	}
	m, err := s.Recv(actx)
	if err != nil {
		return nil, err
	}
	if len(m) == 0 {
		return nil, errors.New("empty reply")
	}
	switch string(m[0]) {
	case statusOK:
		return m[1:], nil
	case statusNotLeader:
		return nil, errNotLeader
	case statusFenced:
		return nil, errFenced
	case statusUnavailable:
		return nil, errUnavailable
	case statusError:
		msg := "unknown"
		if len(m) > 1 {
			msg = string(m[1])
		}
		return nil, &brokerError{msg}
	}
	return nil, fmt.Errorf("reply with status %q", m[0])
}

// num parses a decimal frame.
func num(b []byte) (int64, error) { return strconv.ParseInt(string(b), 10, 64) }

func itoa(n int64) string { return strconv.FormatInt(n, 10) }
