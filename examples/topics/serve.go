package main

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/wispmq/wisp/socket"
)

// serve answers requests on the ROUTER bound to cfg.bind until ctx ends,
// each in its own goroutine since a fetch may wait for records.
func (b *broker) serve(ctx context.Context, router *socket.Socket) error {
	var wg sync.WaitGroup
	defer wg.Wait()
	for {
		m, err := router.Recv(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return err
		}
		// [peer, request id, delimiter, op, arguments...]
		if len(m) < 4 || len(m[2]) != 0 {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			reply := b.handle(ctx, string(m[3]), m[4:])
			sctx, cancel := context.WithTimeout(ctx, 5*time.Second)
			defer cancel()
			// A reply whose client is gone is dropped by the ROUTER.
			router.Send(sctx, append([][]byte{m[0], m[1], {}}, reply...)...)
		}()
	}
}

// handle answers one request. Ops:
//
//	meta                                   -> ok, partitions
//	produce P BATCH                        -> ok, log end   (once committed)
//	fetch GROUP MEMBER GEN P OFFSET MAX    -> ok, hw, BATCH
//	commit GROUP MEMBER GEN P OFFSET       -> ok            (once committed)
//	committed GROUP P                      -> ok, offset (-1: none)
//	heartbeat GROUP MEMBER                 -> ok, gen, partitions (comma separated)
//	leave GROUP MEMBER                     -> ok
//	replica P OFFSET                       -> ok, BATCH     (the follower's fetch)
//
// A BATCH is records as the log holds them (record.encode), packed into
// one frame (pack). fetch with GROUP "" reads without a group (replay).
func (b *broker) handle(ctx context.Context, op string, args [][]byte) [][]byte {
	b.mu.Lock()
	defer b.mu.Unlock()
	if !b.lead {
		return [][]byte{[]byte(statusNotLeader)}
	}
	res, err := b.dispatch(ctx, op, args)
	switch {
	case errors.Is(err, errFenced):
		return [][]byte{[]byte(statusFenced)}
	case errors.Is(err, errUnavailable):
		return [][]byte{[]byte(statusUnavailable)}
	case err != nil:
		return [][]byte{[]byte(statusError), []byte(err.Error())}
	}
	return append([][]byte{[]byte(statusOK)}, res...)
}

var errArgs = errors.New("bad arguments")

// ints parses the decimal arguments.
func ints(args [][]byte) ([]int64, error) {
	out := make([]int64, len(args))
	for i, a := range args {
		n, err := num(a)
		if err != nil {
			return nil, errArgs
		}
		out[i] = n
	}
	return out, nil
}

// partArg checks a partition number a client gave: the internal
// partition is only the broker's to write and the follower's to copy.
func (b *broker) partArg(p int64, internal bool) (int, error) {
	n := int64(b.cfg.partitions)
	if internal {
		n++
	}
	if p < 0 || p >= n {
		return 0, fmt.Errorf("no partition %d", p)
	}
	return int(p), nil
}

// commitWait is how long a produce or commit waits for the follower
// before answering unavailable, which makes the client ask again, the
// next broker first.
const commitWait = 2 * time.Second

func (b *broker) dispatch(ctx context.Context, op string, args [][]byte) ([][]byte, error) {
	now := time.Now()
	switch op {
	case "meta":
		return [][]byte{[]byte(strconv.Itoa(b.cfg.partitions))}, nil

	case "produce":
		if len(args) != 2 {
			return nil, errArgs
		}
		pn, err := num(args[0])
		if err != nil {
			return nil, errArgs
		}
		p, err := b.partArg(pn, false)
		if err != nil {
			return nil, err
		}
		bodies, err := unpack(args[1])
		if err != nil {
			return nil, err
		}
		recs := make([]record, len(bodies))
		for i, body := range bodies {
			if recs[i], err = decodeBody(body); err != nil {
				return nil, err
			}
			if recs[i].producer == 0 || recs[i].pseq == 0 {
				return nil, errors.New("producer and pseq 0 are reserved")
			}
		}
		end, err := b.appendRecords(p, recs)
		if err != nil {
			return nil, err
		}
		// acks=all: answer once the follower has the records. A
		// resent batch waits for its first sending's records too.
		part := b.parts[p]
		if !b.waitFor(ctx, part, commitWait, func() bool { return part.hw >= end }) {
			return nil, errUnavailable
		}
		return [][]byte{[]byte(itoa(end))}, nil

	case "fetch":
		if len(args) != 6 {
			return nil, errArgs
		}
		n, err := ints(args[2:])
		if err != nil {
			return nil, err
		}
		p, err := b.partArg(n[1], true)
		if err != nil {
			return nil, err
		}
		if g := string(args[0]); g != "" && !b.coord.owns(g, string(args[1]), n[0], p, now) {
			return nil, errFenced
		}
		part, from := b.parts[p], n[2]
		// A consumer waiting at the end of the committed log is
		// answered when more is committed, or after a while with nothing.
		b.waitFor(ctx, part, 200*time.Millisecond, func() bool { return part.hw > from })
		bodies, err := part.log.read(from, part.hw, int(n[3]))
		if err != nil {
			return nil, err
		}
		return [][]byte{[]byte(itoa(part.hw)), pack(bodies)}, nil

	case "commit":
		if len(args) != 5 {
			return nil, errArgs
		}
		n, err := ints(args[2:])
		if err != nil {
			return nil, err
		}
		p, err := b.partArg(n[1], false)
		if err != nil {
			return nil, err
		}
		g, member := string(args[0]), string(args[1])
		if !b.coord.owns(g, member, n[0], p, now) {
			return nil, errFenced
		}
		key := g + "\x00" + strconv.Itoa(p)
		end, err := b.appendRecords(b.offsetsPartition(), []record{{key: []byte(key), value: []byte(itoa(n[2]))}})
		if err != nil {
			return nil, err
		}
		part := b.parts[b.offsetsPartition()]
		if !b.waitFor(ctx, part, commitWait, func() bool { return part.hw >= end }) {
			return nil, errUnavailable
		}
		return nil, nil

	case "committed":
		if len(args) != 2 {
			return nil, errArgs
		}
		key := string(args[0]) + "\x00" + string(args[1])
		off, ok := b.commits[key]
		if !ok {
			off = -1
		}
		return [][]byte{[]byte(itoa(off))}, nil

	case "heartbeat":
		if len(args) != 2 {
			return nil, errArgs
		}
		gen, mine := b.coord.heartbeat(string(args[0]), string(args[1]), now)
		ps := make([]string, len(mine))
		for i, p := range mine {
			ps[i] = strconv.Itoa(p)
		}
		return [][]byte{[]byte(itoa(gen)), []byte(strings.Join(ps, ","))}, nil

	case "leave":
		if len(args) != 2 {
			return nil, errArgs
		}
		b.coord.leave(string(args[0]), string(args[1]))
		return nil, nil

	case "replica":
		return b.serveReplica(ctx, args)
	}
	return nil, fmt.Errorf("unknown op %q", op)
}

// runBroker opens the broker, serves until ctx ends and, as a follower,
// copies its leader's partitions until it takes over.
func runBroker(ctx context.Context, out *printer, cfg brokerConfig) error {
	b, err := openBroker(cfg, out)
	if err != nil {
		return err
	}
	defer b.close()
	// No linger: at a stop, replies not yet acknowledged are to clients
	// that will ask again (of this broker restarted, or the other).
	router, err := socket.New(socket.Router, socket.WithLinger(0))
	if err != nil {
		return err
	}
	defer router.Close()
	ep, err := router.Bind(cfg.bind)
	if err != nil {
		return err
	}
	var wg sync.WaitGroup
	defer wg.Wait()
	if cfg.follow == "" {
		out.printf("broker: leader of %d partitions on %s, in %s", cfg.partitions, ep, cfg.dir)
	} else {
		out.printf("broker: follower of %s on %s, in %s", cfg.follow, ep, cfg.dir)
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := b.follow(ctx); err != nil && ctx.Err() == nil {
				out.printf("broker: replication failed: %v", err)
			}
		}()
	}
	err = b.serve(ctx, router)
	out.printf("broker: stopped")
	return err
}
