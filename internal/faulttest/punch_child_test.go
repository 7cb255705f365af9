//go:build linux

package faulttest

import (
	"bufio"
	"context"
	"encoding/binary"
	"fmt"
	"net"
	"os"
	"sync"
	"time"

	"github.com/wispmq/wisp/rendezvous"
)

// The children of the hole-punching scenarios (punch_test.go): the
// introducer, in the "internet" namespace, and the two peers, each behind
// its NAT. Records: "listening" (introducer), "registered", "linked" and
// "done" (peers), "end" (all).

var punchRoles = map[string]bool{"introducer": true, "punch-connect": true, "punch-accept": true, "probe-dial": true}

// runPunchChild runs a hole-punching role until it is done and stdin says
// stop (or ends).
func runPunchChild(cfg childConfig, out *lineWriter) error {
	ctx, stop := context.WithTimeout(context.Background(), 2*time.Minute)
	defer stop()
	if cfg.Role == "probe-dial" {
		return probeDial(ctx, cfg, out)
	}
	stopped := make(chan struct{})
	go func() { // ends on stop or end of input, one of which the parent always gives
		sc := bufio.NewScanner(os.Stdin)
		for sc.Scan() && sc.Text() != "stop" {
		}
		close(stopped)
	}()
	if cfg.Role == "introducer" {
		return introducer(ctx, cfg, out, stopped)
	}
	return punchPeer(ctx, cfg, out, stopped)
}

func introducer(ctx context.Context, cfg childConfig, out *lineWriter, stopped <-chan struct{}) error {
	in, err := rendezvous.NewIntroducer()
	if err != nil {
		return err
	}
	if _, err := in.Bind(cfg.Endpoint); err != nil {
		in.Close()
		return err
	}
	served := make(chan error, 1)
	go func() { served <- in.Serve(ctx) }()
	out.put(record{K: "listening"})
	select {
	case <-stopped:
	case err := <-served:
		return fmt.Errorf("introducer stopped: %v", err)
	}
	st := in.Stats()
	in.Close()
	<-served
	out.put(record{K: "end", Intro: &st})
	return nil
}

// punchPeer registers, links (Connect or Accept), then sends Messages
// numbered messages of Size bytes while receiving as many, each checked to
// be the next number.
func punchPeer(ctx context.Context, cfg childConfig, out *lineWriter, stopped <-chan struct{}) error {
	opts := []rendezvous.Option{rendezvous.WithLocalAddr(cfg.Local)}
	if cfg.PunchTimeout > 0 {
		opts = append(opts, rendezvous.WithPunchTimeout(cfg.PunchTimeout))
	}
	p, err := rendezvous.Register(ctx, cfg.Endpoint, cfg.Name, opts...)
	if err != nil {
		return err
	}
	defer p.Close()
	out.put(record{K: "registered", Public: p.Public()})
	var l *rendezvous.Link
	if cfg.Role == "punch-connect" {
		l, err = p.Connect(ctx, cfg.Target)
	} else {
		l, err = p.Accept(ctx)
	}
	if err != nil {
		return err
	}
	out.put(record{K: "linked", Path: l.Path().String(), Remote: l.Remote(), Attempts: l.Attempts(), D: int64(l.PunchTime())})

	var wg sync.WaitGroup
	var sendErr error
	wg.Go(func() {
		for i := range cfg.Messages {
			if sendErr = l.Send(ctx, fillPayload(make([]byte, cfg.Size), int64(i+1))); sendErr != nil {
				return
			}
		}
	})
	var got int64
	for got < int64(cfg.Messages) {
		m, err := l.Recv(ctx)
		if err != nil {
			wg.Wait()
			return fmt.Errorf("after %d messages: %w", got, err)
		}
		b := m.Bytes()
		if len(b) != cfg.Size || int64(binary.BigEndian.Uint64(b)) != got+1 {
			wg.Wait()
			return fmt.Errorf("message %d: got %d bytes numbered %d", got+1, len(b), seqOf(m))
		}
		got++
	}
	wg.Wait()
	if sendErr != nil {
		return sendErr
	}
	st := p.Stats()
	out.put(record{K: "done", S: got, Stats: &st})
	<-stopped // the other side may still be receiving what this one sent
	return nil
}

// probeDial makes one plain TCP dial to cfg.Endpoint ("ip:port"), bounded
// by two seconds (a SYN the NAT drops is retransmitted after one), and
// records its outcome: the control showing a NAT lets nothing unsolicited
// in.
func probeDial(ctx context.Context, cfg childConfig, out *lineWriter) error {
	dctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	c, err := (&net.Dialer{}).DialContext(dctx, "tcp", cfg.Endpoint)
	r := record{K: "probe"}
	if err != nil {
		r.Err = err.Error()
	} else {
		c.Close()
	}
	out.put(r)
	return nil
}
