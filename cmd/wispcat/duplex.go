package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"fmt"

	"github.com/wispmq/wisp/socket"
)

// runDuplex is dealer and pair: each input line is sent as a message, as
// push sends it, while each message received is printed, as pull prints it.
func runDuplex(r *runner) int {
	status, _ := duplex(r, r.cfg.format.message, oneFrame)
	return status
}

// runRouter is router: it prints each message as the sender's routing id
// in hex, a tab, and the frames as pull prints them; an input line
// "HEXID<TAB>text" sends text to the peer with that routing id.
func runRouter(r *runner) int {
	status, _ := duplex(r, r.cfg.format.routed, parseRouted)
	return status
}

// oneFrame makes an input line a one-frame message.
func oneFrame(line []byte) ([][]byte, error) { return [][]byte{line}, nil }

// errRoutedLine reports an input line of a router that is not
// "HEXID<TAB>text".
var errRoutedLine = errors.New(`want "HEXID<TAB>text"`)

// parseRouted splits a router's input line into its routing id and text.
func parseRouted(line []byte) ([][]byte, error) {
	h, text, ok := bytes.Cut(line, []byte{'\t'})
	if !ok || len(h) == 0 {
		return nil, errRoutedLine
	}
	id := make([]byte, hex.DecodedLen(len(h)))
	if _, err := hex.Decode(id, h); err != nil {
		return nil, fmt.Errorf("%w: routing id %q: %v", errRoutedLine, h, err)
	}
	return [][]byte{id, text}, nil
}

// duplex sends the input and prints what arrives, at once. The run ends
// when the input has ended and, with -count, that many messages have
// arrived; then it waits up to -linger for its messages to be
// acknowledged, receiving all the while without -count. Both conditions,
// not either: a run that stopped at -count before its input ended would
// leave lines unsent, and whether it did would depend on timing. An input
// line that frames rejects, or whose peer is unknown, is reported and
// skipped. It returns the exit status and how many messages it sent.
func duplex(r *runner, write func(*bufio.Writer, socket.Message), frames func([]byte) ([][]byte, error)) (status, sent int) {
	s := r.s
	// rctx ends the receiver when the sender is done; sctx ends the sender
	// when the receiver failed.
	rctx, stopRecv := context.WithCancel(r.ctx)
	defer stopRecv()
	sctx, stopSend := context.WithCancel(r.ctx)
	defer stopSend()
	got, recvStatus := 0, exitOK // the receiver's until recvDone closes
	recvDone := make(chan struct{})
	go func() {
		defer close(recvDone)
		w := bufio.NewWriterSize(r.stdout, 64<<10)
		for r.cfg.count == 0 || got < r.cfg.count {
			m, err := s.Recv(rctx)
			if err != nil {
				if rctx.Err() == nil {
					r.errorf("recv: %v", err)
					recvStatus = exitFailure
					stopSend()
				}
				return
			}
			// Written out before the next Recv acknowledges it, as pull does.
			write(w, m)
			if err := w.Flush(); err != nil {
				r.errorf("writing output: %v", err)
				recvStatus = exitFailure
				stopSend()
				return
			}
			got++
		}
	}()

	stop := make(chan struct{})
	defer close(stop)
	in := r.input(stop, 0)
	status = exitOK
	var why string
	ended := false // the input ended
	for {
		var it inputItem
		var ok bool
		select {
		case it, ok = <-in:
		case <-sctx.Done():
		}
		if why = r.stopped(); why != "" || sctx.Err() != nil {
			break
		}
		if !ok {
			ended = true
			break
		}
		if it.err != nil {
			r.errorf("%v", it.err)
			status = exitFailure
			break
		}
		m, err := frames(it.line)
		if err != nil {
			r.errorf("stdin line %d: %v", it.n, err)
			continue
		}
		if err := s.Send(sctx, m...); err != nil {
			if why = r.stopped(); why != "" || sctx.Err() != nil {
				break
			}
			if errors.Is(err, socket.ErrUnroutable) {
				r.errorf("stdin line %d: %v", it.n, err)
				continue
			}
			r.errorf("send: %v", err)
			status = exitFailure
			break
		}
		sent++
	}
	if ended && r.cfg.count > 0 {
		select {
		case <-recvDone: // -count messages, or a failure
		case <-r.ctx.Done():
		}
		why = r.stopped()
	}
	why = r.lingerFlush(why)
	stopRecv()
	<-recvDone
	s.Close()
	if status == exitOK {
		status = recvStatus
	}
	left := s.Stats().SendQueue
	switch why {
	case "timeout":
		r.errorf("%s: sent %d messages, %s; received %s messages", r.timeoutReason(), sent, r.unsent(left), r.ofCount(got))
		return exitFailure, sent
	case "signal":
		if left > 0 {
			r.errorf("%d messages undelivered", left)
		}
		return r.signalStatus(), sent
	}
	if left > 0 {
		r.errorf("%d messages undelivered", left)
		return exitFailure, sent
	}
	return status, sent
}
