package main

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/binary"
	"fmt"
	"io"
	"strings"
	"sync"
	"time"
)

// produceConfig is what the produce command's flags say.
type produceConfig struct {
	brokers []string
	count   int // generate this many records (0: read lines "KEY VALUE" from the input)
	keys    int // over this many keys, key-000 ...; each value is the key's next number from 1
	rate    int // records per second at most (0: no limit)
	batch   int // records per produce request at most
}

// pending is a record on its way to its partition's sender.
type pending struct{ key, value []byte }

// produce sends records to their partitions by key, and returns once every
// one is committed (acknowledged by the leader once its follower has it).
// One sender per partition sends a batch at a time and sends it again
// until it is acknowledged, to whichever broker leads: records of a key
// stay in order, and the producer's numbers (pseq) keep a batch sent
// twice from being appended twice.
func produce(ctx context.Context, out *printer, in io.Reader, cfg produceConfig) error {
	meta, err := newClient(cfg.brokers, time.Second)
	if err != nil {
		return err
	}
	res, err := meta.call(ctx, "meta")
	meta.close()
	if err != nil {
		return err
	}
	n64, err := num(res[0])
	if err != nil || n64 < 1 {
		return fmt.Errorf("meta: bad partition count %q", res[0])
	}
	n := int(n64)
	var idb [8]byte
	rand.Read(idb[:])
	producer := binary.BigEndian.Uint64(idb[:])>>1 | 1 // never 0, and positive as an int64
	out.printf("producer %d: %d partitions at %s", producer, n, strings.Join(cfg.brokers, ","))

	var (
		mu    sync.Mutex
		acked int
	)
	queues := make([]chan pending, n)
	errs := make(chan error, n)
	var wg sync.WaitGroup
	for p := range queues {
		queues[p] = make(chan pending, 4*cfg.batch)
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs <- sendPartition(ctx, cfg, producer, p, queues[p], func(k int, end int64) {
				mu.Lock()
				before := acked
				acked += k
				now := acked
				mu.Unlock()
				if cfg.count == 0 {
					out.printf("committed %d to partition %d, which ends at offset %d", k, p, end)
				} else if now/10000 != before/10000 {
					out.printf("acknowledged %d", now/10000*10000)
				}
			})
		}()
	}

	total, err := feed(ctx, out, in, cfg, n, queues)
	for _, q := range queues {
		close(q)
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		if e != nil && err == nil {
			err = e
		}
	}
	if err != nil {
		return err
	}
	out.printf("produced %d records, %d acknowledged (committed)", total, acked)
	return nil
}

// feed hands the records to their partitions' queues, generated or read
// from in, and returns how many.
func feed(ctx context.Context, out *printer, in io.Reader, cfg produceConfig, n int, queues []chan pending) (int, error) {
	put := func(key, value []byte) error {
		select {
		case queues[partitionOf(key, n)] <- pending{key, value}:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	if cfg.count > 0 {
		start := time.Now()
		seq := make([]int, cfg.keys)
		for i := 0; i < cfg.count; i++ {
			if cfg.rate > 0 && i%100 == 0 {
				// Pace by the clock, so a slow stretch is made up.
				due := start.Add(time.Duration(i) * time.Second / time.Duration(cfg.rate))
				if d := time.Until(due); d > 0 {
					time.Sleep(d)
				}
			}
			k := i % cfg.keys
			seq[k]++
			if err := put([]byte(fmt.Sprintf("key-%03d", k)), []byte(fmt.Sprint(seq[k]))); err != nil {
				return i, err
			}
		}
		return cfg.count, nil
	}
	total := 0
	sc := bufio.NewScanner(in)
	for sc.Scan() {
		key, value, _ := strings.Cut(strings.TrimSpace(sc.Text()), " ")
		if key == "" {
			continue
		}
		if err := put([]byte(key), []byte(value)); err != nil {
			return total, err
		}
		total++
	}
	return total, sc.Err()
}

// sendPartition sends partition p's records in batches until queue is
// closed and all are acknowledged, telling acked of each batch.
func sendPartition(ctx context.Context, cfg produceConfig, producer uint64, p int, queue <-chan pending, acked func(int, int64)) error {
	c, err := newClient(cfg.brokers, 3*time.Second)
	if err != nil {
		return err
	}
	defer c.close()
	var pseq uint64
	for {
		first, ok := <-queue
		if !ok {
			return nil
		}
		batch := []pending{first}
	more:
		for len(batch) < cfg.batch {
			select {
			case r, ok := <-queue:
				if !ok {
					break more
				}
				batch = append(batch, r)
			default:
				break more
			}
		}
		bodies := make([][]byte, len(batch))
		for i, r := range batch {
			pseq++
			bodies[i] = record{producer: producer, pseq: pseq, key: r.key, value: r.value}.encode()
		}
		req := [][]byte{[]byte("produce"), []byte(itoa(int64(p))), pack(bodies)}
		// Until acknowledged, to whichever broker leads: the same
		// numbers each time, so the log has each record once.
		for {
			res, err := c.callFrames(ctx, req)
			if err == nil {
				end, _ := num(res[0])
				acked(len(batch), end)
				break
			}
			if ctx.Err() != nil {
				return ctx.Err()
			}
			// Not replicated in time, or the leader changing: again.
		}
	}
}
