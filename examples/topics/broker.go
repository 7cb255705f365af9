package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/wispmq/wisp/socket"
)

// brokerConfig is what the broker command's flags say.
type brokerConfig struct {
	dir          string
	bind         string
	partitions   int
	follow       string        // the leader's endpoint: this broker starts as its follower
	promoteAfter time.Duration // a follower that cannot reach its leader this long takes over
	session      time.Duration // consumer group session timeout
	fsync        bool
}

// partition is one partition's log and what the broker knows of it.
type partition struct {
	log *partLog
	// hw, the high watermark: records below it are committed, stored by
	// the follower too (or by this broker alone once it took over), and
	// only they are visible to consumers.
	hw int64
	// producers: the last pseq appended per producer, the idempotent
	// producer's memory. Rebuilt from the log on open, and kept by the
	// follower as it appends, so it outlives a failover.
	producers map[uint64]uint64
	changed   chan struct{} // closed and replaced when the log or hw grows
}

// broker holds a topic's partitions, as the leader (serving producers and
// consumers, its follower copying every partition) or as the follower
// (copying, serving nobody until it takes over). The last partition,
// number cfg.partitions, is internal: the committed offsets of consumer
// groups (Kafka's __consumer_offsets), replicated like the others.
type broker struct {
	cfg  brokerConfig
	out  *printer
	mu   sync.Mutex
	lead bool // serving clients
	// alone: a leader that commits without a follower, which is what a
	// follower that took over is.
	alone   bool
	parts   []*partition
	commits map[string]int64 // group NUL partition -> offset
	coord   *coordinator
}

// offsetsPartition is the number of the internal partition.
func (b *broker) offsetsPartition() int { return b.cfg.partitions }

func openBroker(cfg brokerConfig, out *printer) (*broker, error) {
	if err := os.MkdirAll(cfg.dir, 0o700); err != nil {
		return nil, err
	}
	b := &broker{cfg: cfg, out: out, lead: cfg.follow == "", commits: make(map[string]int64),
		coord: newCoordinator(cfg.partitions, cfg.session)}
	for p := 0; p <= cfg.partitions; p++ {
		name := fmt.Sprintf("partition-%d.log", p)
		if p == cfg.partitions {
			name = "offsets.log"
		}
		l, cut, err := openLog(filepath.Join(cfg.dir, name), cfg.fsync)
		if err != nil {
			b.close()
			return nil, err
		}
		if cut > 0 {
			out.printf("%s: cut a torn tail of %d bytes", name, cut)
		}
		part := &partition{log: l, producers: make(map[uint64]uint64), changed: make(chan struct{})}
		b.parts = append(b.parts, part)
		bodies, err := l.read(0, l.end(), int(l.end()))
		if err != nil {
			b.close()
			return nil, err
		}
		for _, body := range bodies {
			if err := b.apply(p, body); err != nil {
				b.close()
				return nil, err
			}
		}
		// What is on disk at the start counts as committed: a leader
		// wrote nothing its follower lacks unless it crashed before
		// replicating it, and a restarted leader cannot tell. (See the
		// README: a leader that fails over does not come back.)
		part.hw = l.end()
	}
	return b, nil
}

func (b *broker) close() {
	for _, p := range b.parts {
		p.log.close()
	}
}

// apply updates what the broker derives from a partition's record: the
// producer's last number, and for the offsets partition the committed
// offset. Called with b.mu held, or before anyone else sees b.
func (b *broker) apply(p int, body []byte) error {
	r, err := decodeBody(body)
	if err != nil {
		return err
	}
	part := b.parts[p]
	if r.pseq > part.producers[r.producer] {
		part.producers[r.producer] = r.pseq
	}
	if p == b.offsetsPartition() {
		off, err := strconv.ParseInt(string(r.value), 10, 64)
		if err != nil {
			return fmt.Errorf("offsets log: %w", err)
		}
		b.commits[string(r.key)] = off
	}
	return nil
}

// appendRecords appends the records to partition p, leaving out those its
// producer already appended, applies them and wakes the waiters. It
// returns the offset the partition's log ends at. Called with b.mu held.
func (b *broker) appendRecords(p int, recs []record) (int64, error) {
	part := b.parts[p]
	var bodies [][]byte
	for _, r := range recs {
		if r.producer != 0 && r.pseq <= part.producers[r.producer] {
			continue // sent again after a lost reply: already in the log
		}
		body := r.encode()
		bodies = append(bodies, body)
		if err := b.apply(p, body); err != nil {
			return 0, err
		}
	}
	if len(bodies) > 0 {
		if _, err := part.log.append(bodies); err != nil {
			return 0, err
		}
		if b.alone {
			part.hw = part.log.end()
		}
		b.notify(part)
	}
	return part.log.end(), nil
}

// appendBodies appends records copied from the leader, as they are.
// Called with b.mu held.
func (b *broker) appendBodies(p int, bodies [][]byte) error {
	for _, body := range bodies {
		if err := b.apply(p, body); err != nil {
			return err
		}
	}
	if _, err := b.parts[p].log.append(bodies); err != nil {
		return err
	}
	b.notify(b.parts[p])
	return nil
}

func (b *broker) notify(part *partition) {
	close(part.changed)
	part.changed = make(chan struct{})
}

// waitFor waits, with b.mu held on entry and on return, until cond holds,
// ctx ends or the wait ends. It reports whether cond holds.
func (b *broker) waitFor(ctx context.Context, part *partition, wait time.Duration, cond func() bool) bool {
	timer := time.NewTimer(wait)
	defer timer.Stop()
	for !cond() {
		ch := part.changed
		b.mu.Unlock()
		expired := false
		select {
		case <-ch:
		case <-ctx.Done():
			expired = true
		case <-timer.C:
			expired = true
		}
		b.mu.Lock()
		if expired {
			return cond()
		}
	}
	return true
}

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
