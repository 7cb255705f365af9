package main

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// consumeConfig is what the consume command's flags say.
type consumeConfig struct {
	brokers   []string
	group     string
	member    string
	from      int64 // -1: the group's committed offset (or 0 if none); else this offset in every partition
	heartbeat time.Duration
	max       int // records per fetch at most
}

// consume is a member of a consumer group: it heartbeats to the leader,
// which assigns it partitions, and consumes each of them from its group's
// committed offset, committing after each batch it has handled. Handling
// a record is printing it; a batch is printed in one write before it is
// committed, so a member killed at any moment has printed everything its
// group committed: at least once. A member that loses a partition (a
// rebalance, a failover) stops consuming it; the records it handled after
// its last commit are handled again by the next owner.
func consume(ctx context.Context, out *printer, cfg consumeConfig) error {
	hb, err := newClient(cfg.brokers, time.Second)
	if err != nil {
		return err
	}
	defer hb.close()
	out.printf("%s: joining group %s at %s", cfg.member, cfg.group, strings.Join(cfg.brokers, ","))

	var (
		gen     int64 = -1
		mine    []int
		workers workerSet
	)
	defer workers.stop()
	tick := time.NewTicker(cfg.heartbeat)
	defer tick.Stop()
	for {
		res, err := hb.call(ctx, "heartbeat", cfg.group, cfg.member)
		if ctx.Err() != nil {
			break
		}
		if err == nil {
			g, _ := num(res[0])
			parts := parseParts(string(res[1]))
			if g != gen || !slices.Equal(parts, mine) {
				// A new generation: the partitions are dealt again.
				// Every worker stops first, so no partition is
				// consumed twice at once by this member.
				workers.stop()
				gen, mine = g, parts
				out.printf("%s: generation %d, assigned partitions %v", cfg.member, gen, mine)
				for _, p := range mine {
					workers.start(ctx, func(wctx context.Context) {
						consumePartition(wctx, out, cfg, gen, p)
					})
				}
			}
		}
		select {
		case <-ctx.Done():
		case <-tick.C:
		}
	}
	workers.stop()
	// Leaving at once rather than by the session timeout: the others get
	// this member's partitions without waiting.
	lctx, lcancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer lcancel()
	hb.call(lctx, "leave", cfg.group, cfg.member)
	out.printf("%s: left group %s", cfg.member, cfg.group)
	return nil
}

func parseParts(s string) []int {
	var ps []int
	for _, f := range strings.Split(s, ",") {
		if p, err := strconv.Atoi(f); err == nil {
			ps = append(ps, p)
		}
	}
	return ps
}

// consumePartition consumes partition p for generation gen until ctx ends
// or the broker says the member no longer owns it.
func consumePartition(ctx context.Context, out *printer, cfg consumeConfig, gen int64, p int) {
	c, err := newClient(cfg.brokers, 2*time.Second)
	if err != nil {
		out.printf("%s: partition %d: %v", cfg.member, p, err)
		return
	}
	defer c.close()
	pa := itoa(int64(p))
	off := cfg.from
	if off < 0 {
		res, err := c.call(ctx, "committed", cfg.group, pa)
		if err != nil {
			return
		}
		if off, _ = num(res[0]); off < 0 {
			off = 0
		}
	}
	out.printf("%s: partition %d from offset %d", cfg.member, p, off)
	ga := itoa(gen)
	for ctx.Err() == nil {
		res, err := c.call(ctx, "fetch", cfg.group, cfg.member, ga, pa, itoa(off), strconv.Itoa(cfg.max))
		if errors.Is(err, errFenced) {
			out.printf("%s: partition %d: fenced in generation %d", cfg.member, p, gen)
			return
		}
		if err != nil {
			continue // ctx ended, or the client tries the next broker
		}
		recs, err := fetched(res)
		if err != nil {
			out.printf("%s: partition %d: %v", cfg.member, p, err)
			return
		}
		if len(recs) == 0 {
			continue
		}
		var b strings.Builder
		for _, r := range recs {
			fmt.Fprintf(&b, "%s got p=%d o=%d %s=%s\n", cfg.member, p, off, r.key, r.value)
			off++
		}
		out.write(b.String()) // handled
		// The commit is not cut short by a stop: what was handled is
		// committed, so a member stopped gracefully hands nothing twice.
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
		_, err = c.call(cctx, "commit", cfg.group, cfg.member, ga, pa, itoa(off))
		cancel()
		if errors.Is(err, errFenced) {
			out.printf("%s: partition %d: fenced in generation %d", cfg.member, p, gen)
			return
		}
		// A commit that failed otherwise is made good by the next one.
	}
}

// replay prints partition p's committed records from offset from to the
// end of what is committed now, outside any group, and returns.
func replay(ctx context.Context, out *printer, brokers []string, p int, from int64) error {
	c, err := newClient(brokers, 2*time.Second)
	if err != nil {
		return err
	}
	defer c.close()
	pa := itoa(int64(p))
	off := from
	for {
		res, err := c.call(ctx, "fetch", "", "", "0", pa, itoa(off), "5000")
		if err != nil {
			return err
		}
		recs, err := fetched(res)
		if err != nil {
			return err
		}
		hw, _ := num(res[0])
		var b strings.Builder
		for _, r := range recs {
			fmt.Fprintf(&b, "p=%d o=%d %s=%s\n", p, off, r.key, r.value)
			off++
		}
		out.write(b.String())
		if off >= hw {
			out.printf("replayed partition %d from %d to %d", p, from, off)
			return nil
		}
	}
}

// workerSet is the goroutines consuming the partitions of one generation.
type workerSet struct {
	cancels []context.CancelFunc
	wg      sync.WaitGroup
}

// start runs fn in a goroutine until stop.
func (w *workerSet) start(ctx context.Context, fn func(context.Context)) {
	wctx, cancel := context.WithCancel(ctx)
	w.cancels = append(w.cancels, cancel)
	w.wg.Add(1)
	go func() {
		defer w.wg.Done()
		fn(wctx)
	}()
}

// stop ends every goroutine started and waits for them.
func (w *workerSet) stop() {
	for _, c := range w.cancels {
		c()
	}
	w.cancels = nil
	w.wg.Wait()
}

// fetched decodes the records of a fetch's reply [hw, batch].
func fetched(res [][]byte) ([]record, error) {
	if len(res) != 2 {
		return nil, errors.New("fetch: bad reply")
	}
	bodies, err := unpack(res[1])
	if err != nil {
		return nil, err
	}
	recs := make([]record, len(bodies))
	for i, body := range bodies {
		if recs[i], err = decodeBody(body); err != nil {
			return nil, err
		}
	}
	return recs, nil
}
