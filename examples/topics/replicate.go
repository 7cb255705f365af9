package main

import (
	"context"
	"errors"
	"sync"
	"time"
)

// Replication is Kafka's: the follower fetches from the leader, partition
// by partition, the records after the end of its own log, and appends them
// as they are. Its fetch from offset o tells the leader that it has stored
// everything before o, so the leader moves the partition's high watermark
// up to o: a record is committed, visible to consumers and acknowledged to
// its producer, only once the follower has stored it.
//
// Failover: a follower that has had no answer from its leader for
// promoteAfter takes over. It serves as leader alone, with its log as it
// is: everything committed is in it, since nothing was committed before
// the follower had it. Records it has that the leader had not yet
// committed become committed too; their producers were not acknowledged
// and send them again, which the producer numbers make harmless. Clients
// find it because they are given both addresses (client.go).
//
// There is no consensus: the follower cannot tell a dead leader from one
// it cannot reach. If the leader is alive behind a partition, both serve
// (split brain), and what producers send to the old leader from then on
// is committed there alone, never copied, and lost to the new one. A
// leader that was replaced must not be started again on its directory.

// replicaBatch bounds the records in one replica fetch's answer.
const replicaBatch = 2000

// serveReplica answers the follower's fetch: replica P OFFSET.
// Called with b.mu held.
func (b *broker) serveReplica(ctx context.Context, args [][]byte) ([][]byte, error) {
	if len(args) != 2 {
		return nil, errArgs
	}
	n, err := ints(args)
	if err != nil {
		return nil, err
	}
	p, err := b.partArg(n[0], true)
	if err != nil {
		return nil, err
	}
	part, from := b.parts[p], n[1]
	end := part.log.end()
	if from > end {
		return nil, errors.New("follower is ahead of the leader: it has records the leader never wrote")
	}
	if from > part.hw {
		part.hw = from // the follower stored everything before from
		b.notify(part)
	}
	b.waitFor(ctx, part, 200*time.Millisecond, func() bool { return part.log.end() > from })
	bodies, err := part.log.read(from, part.log.end(), replicaBatch)
	if err != nil {
		return nil, err
	}
	return [][]byte{pack(bodies)}, nil
}

// follow copies every partition from the leader until this broker takes
// over or ctx ends.
func (b *broker) follow(ctx context.Context) error {
	var (
		mu          sync.Mutex
		lastContact = time.Now()
	)
	fctx, cancel := context.WithCancel(ctx)
	defer cancel()
	errs := make(chan error, len(b.parts))
	var wg sync.WaitGroup
	for p := range b.parts {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs <- b.followPartition(fctx, p, func(ok bool) bool {
				mu.Lock()
				defer mu.Unlock()
				now := time.Now()
				if ok {
					lastContact = now
					return false
				}
				return now.Sub(lastContact) >= b.cfg.promoteAfter
			})
		}()
	}
	var first error
	for range b.parts {
		if err := <-errs; err != nil && first == nil {
			first = err
			cancel() // a follower that cannot copy one partition is of no use
		}
	}
	wg.Wait()
	return first
}

// followPartition copies partition p. contact is told of every answer
// and every failure, and says when the leader has been away too long.
func (b *broker) followPartition(ctx context.Context, p int, contact func(ok bool) bool) error {
	c, err := newClient([]string{b.cfg.follow}, time.Second)
	if err != nil {
		return err
	}
	defer c.close()
	for ctx.Err() == nil {
		b.mu.Lock()
		lead := b.lead
		b.mu.Unlock()
		if lead {
			return nil
		}
		end := b.parts[p].log.end()
		res, err := c.attempt(ctx, c.socks[0], [][]byte{[]byte("replica"), []byte(itoa(int64(p))), []byte(itoa(end))})
		var bodies [][]byte
		if err == nil {
			if len(res) != 1 {
				return errors.New("replica: bad reply")
			}
			if bodies, err = unpack(res[0]); err != nil {
				return err
			}
		}
		if err != nil {
			var be *brokerError
			if errors.As(err, &be) {
				return err // the leader refuses: copying cannot go on
			}
			if contact(false) {
				b.promote()
				return nil
			}
			select {
			case <-ctx.Done():
			case <-time.After(100 * time.Millisecond):
			}
			continue
		}
		contact(true)
		if len(bodies) == 0 {
			continue
		}
		b.mu.Lock()
		if !b.lead {
			err = b.appendBodies(p, bodies)
		}
		b.mu.Unlock()
		if err != nil {
			return err
		}
	}
	return nil
}

// promote makes the follower the leader, alone: everything in its logs is
// committed from now on.
func (b *broker) promote() {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.lead {
		return
	}
	b.lead, b.alone = true, true
	for _, part := range b.parts {
		part.hw = part.log.end()
		b.notify(part)
	}
	ends := make([]int64, b.cfg.partitions)
	for p := range ends {
		ends[p] = b.parts[p].hw
	}
	b.out.printf("broker: leader %s unreachable for %v: taking over as leader, alone; partition ends %v",
		b.cfg.follow, b.cfg.promoteAfter, ends)
}
