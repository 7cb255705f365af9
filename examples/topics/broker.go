package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"time"
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
