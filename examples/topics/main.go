// Command topics is a small Kafka built from wisp sockets: a topic split
// into partitions by key, each partition an append-only log on disk with
// offsets, copied to a follower; consumer groups whose members share the
// partitions, one member per partition, rebalanced as members come and go,
// committing their offsets; replay from any offset; and failover to the
// follower when the leader dies.
//
//	topics broker  -dir DIR [-bind tcp://127.0.0.1:5570] [-partitions 4] [-follow LEADER] [-promote-after 1s] [-session-timeout 1s] [-fsync]
//	topics produce [-brokers A,B] [-count N -keys K -rate R] [-batch 500]
//	topics consume -group G -name NAME [-brokers A,B] [-from -1]
//	topics replay  -partition P [-from 0] [-brokers A,B]
//
// Every request goes to the leader over a REQ socket, answered by the
// broker's ROUTER. See README.md for the design, the guarantees and their
// limits.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"sync"
	"syscall"
	"time"
)

const defaultBrokers = "tcp://127.0.0.1:5570,tcp://127.0.0.1:5571"

func main() {
	if len(os.Args) < 2 {
		usage()
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	out := &printer{w: os.Stdout}
	var err error
	args := os.Args[2:]
	switch os.Args[1] {
	case "broker":
		fs := flag.NewFlagSet("broker", flag.ExitOnError)
		var cfg brokerConfig
		fs.StringVar(&cfg.dir, "dir", "", "directory of the partition logs (required)")
		fs.StringVar(&cfg.bind, "bind", "tcp://127.0.0.1:5570", "endpoint clients and the follower connect to")
		fs.IntVar(&cfg.partitions, "partitions", 4, "partitions of the topic (the same on leader and follower)")
		fs.StringVar(&cfg.follow, "follow", "", "the leader's endpoint: start as its follower")
		fs.DurationVar(&cfg.promoteAfter, "promote-after", time.Second, "a follower whose leader does not answer this long takes over")
		fs.DurationVar(&cfg.session, "session-timeout", time.Second, "a group member silent this long is dropped from its group")
		fs.BoolVar(&cfg.fsync, "fsync", false, "sync every append to disk (survives a machine crash, not only a process crash)")
		fs.Parse(args)
		if cfg.dir == "" || cfg.partitions < 1 {
			fmt.Fprintln(os.Stderr, "topics broker: -dir is required, -partitions at least 1")
			os.Exit(2)
		}
		err = runBroker(ctx, out, cfg)
	case "produce":
		fs := flag.NewFlagSet("produce", flag.ExitOnError)
		var cfg produceConfig
		brokers := fs.String("brokers", defaultBrokers, "the brokers, leader and follower, comma separated")
		fs.IntVar(&cfg.count, "count", 0, "generate this many records over -keys keys (0: read lines KEY VALUE)")
		fs.IntVar(&cfg.keys, "keys", 100, "keys of the generated records")
		fs.IntVar(&cfg.rate, "rate", 0, "generated records per second at most (0: as fast as they are taken)")
		fs.IntVar(&cfg.batch, "batch", 500, "records per produce request at most")
		fs.Parse(args)
		cfg.brokers = strings.Split(*brokers, ",")
		if cfg.keys < 1 || cfg.batch < 1 {
			fmt.Fprintln(os.Stderr, "topics produce: -keys and -batch must be at least 1")
			os.Exit(2)
		}
		err = produce(ctx, out, os.Stdin, cfg)
	case "consume":
		fs := flag.NewFlagSet("consume", flag.ExitOnError)
		var cfg consumeConfig
		brokers := fs.String("brokers", defaultBrokers, "the brokers, leader and follower, comma separated")
		fs.StringVar(&cfg.group, "group", "", "the consumer group (required)")
		fs.StringVar(&cfg.member, "name", "", "this member's name, unique in its group (required)")
		fs.Int64Var(&cfg.from, "from", -1, "start every partition at this offset (-1: the group's committed offset)")
		fs.DurationVar(&cfg.heartbeat, "heartbeat", 100*time.Millisecond, "interval of the heartbeats (well under the broker's -session-timeout)")
		fs.IntVar(&cfg.max, "max", 1000, "records per fetch at most")
		fs.Parse(args)
		cfg.brokers = strings.Split(*brokers, ",")
		if cfg.group == "" || cfg.member == "" {
			fmt.Fprintln(os.Stderr, "topics consume: -group and -name are required")
			os.Exit(2)
		}
		err = consume(ctx, out, cfg)
	case "replay":
		fs := flag.NewFlagSet("replay", flag.ExitOnError)
		brokers := fs.String("brokers", defaultBrokers, "the brokers, leader and follower, comma separated")
		p := fs.Int("partition", 0, "the partition")
		from := fs.Int64("from", 0, "the first offset")
		fs.Parse(args)
		err = replay(ctx, out, strings.Split(*brokers, ","), *p, *from)
	default:
		usage()
	}
	if err != nil && ctx.Err() == nil {
		fmt.Fprintln(os.Stderr, "topics:", err)
		os.Exit(1)
	}
}

func usage() {
	fmt.Fprintln(os.Stderr, "usage: topics broker|produce|consume|replay [flags] (-h for flags)")
	os.Exit(2)
}

// printer writes whole lines from several goroutines.
type printer struct {
	mu sync.Mutex
	w  io.Writer
}

func (p *printer) printf(format string, args ...any) {
	p.write(fmt.Sprintf(format+"\n", args...))
}

// write writes s, lines already ended, in one write: a consumer's batch
// is on its way out before the batch is committed.
func (p *printer) write(s string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	io.WriteString(p.w, s)
}
