// Command weather publishes weather updates by zip code on a PUB socket, and
// subscribes to them on a SUB socket that asks only for the zip codes
// starting with a prefix: the publisher filters, so a subscriber receives
// nothing else.
//
// Usage:
//
//	weather publish   [-bind tcp://127.0.0.1:5556] [-subscribers 1] [-interval 10ms] [-updates 0]
//	weather subscribe [-connect tcp://127.0.0.1:5556] [-zip 100] [-count 10]
//
// The publisher waits for its subscribers' subscriptions before its first
// update (WaitSubscribers), so no subscriber misses the start of the feed.
// Every update carries a sequence number per zip code, so a subscriber can
// see that it got each zip code's first update and count any it missed.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/wispmq/wisp/socket"
)

// A station is a zip code the publisher reports on.
type station struct {
	zip, city string
	mean      int // typical temperature, °C
}

var stations = []station{
	{"10001", "New York", 14},
	{"10002", "New York", 14},
	{"10003", "New York", 14},
	{"60601", "Chicago", 11},
	{"60602", "Chicago", 11},
	{"94103", "San Francisco", 16},
	{"94110", "San Francisco", 16},
	{"73301", "Austin", 22},
}

func cityOf(zip string) string {
	for _, s := range stations {
		if s.zip == zip {
			return s.city
		}
	}
	return "?"
}

func main() {
	if len(os.Args) < 2 {
		usage()
	}
	// Ctrl-C (or SIGTERM) ends either role cleanly.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	var err error
	switch os.Args[1] {
	case "publish":
		fs := flag.NewFlagSet("publish", flag.ExitOnError)
		bind := fs.String("bind", "tcp://127.0.0.1:5556", "endpoint to publish on")
		subs := fs.Int("subscribers", 1, "how many subscribers to wait for before the first update (0: do not wait)")
		interval := fs.Duration("interval", 10*time.Millisecond, "time between updates")
		updates := fs.Int("updates", 0, "stop after this many updates (0: run until interrupted)")
		fs.Parse(os.Args[2:])
		err = publish(ctx, os.Stdout, *bind, *subs, *interval, *updates)
	case "subscribe":
		fs := flag.NewFlagSet("subscribe", flag.ExitOnError)
		connect := fs.String("connect", "tcp://127.0.0.1:5556", "publisher endpoint")
		zip := fs.String("zip", "100", "zip code prefix to subscribe to")
		count := fs.Int("count", 10, "how many updates to receive before printing the summary")
		fs.Parse(os.Args[2:])
		err = subscribe(ctx, os.Stdout, *connect, *zip, *count)
	default:
		usage()
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "weather:", err)
		os.Exit(1)
	}
}

func usage() {
	fmt.Fprintln(os.Stderr, "usage: weather publish [flags] | weather subscribe [flags] (-h for flags)")
	os.Exit(2)
}

// publish sends one update per interval, for a zip code picked at random,
// until ctx ends or updates have been sent. An update is four frames:
// zip code, sequence number for that zip code, temperature, humidity.
func publish(ctx context.Context, out io.Writer, bind string, subscribers int, interval time.Duration, updates int) error {
	pub, err := socket.New(socket.Pub)
	if err != nil {
		return err
	}
	defer pub.Close()
	ep, err := pub.Bind(bind)
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "publishing on %s\n", ep)

	if subscribers > 0 {
		// A SUB's subscription reaches the publisher a round trip after it
		// connects; anything published before that matches nobody and is
		// gone. Waiting here is the cure for ZeroMQ's "slow joiner".
		fmt.Fprintf(out, "waiting for %d subscribers\n", subscribers)
		if err := pub.WaitSubscribers(ctx, subscribers); err != nil {
			if ctx.Err() != nil {
				return nil // interrupted while waiting
			}
			return err
		}
		fmt.Fprintf(out, "%d subscribers are in: publishing\n", subscribers)
	}

	rng := rand.New(rand.NewPCG(1, 2)) // the same feed every run
	seq := make(map[string]int)
	var tick <-chan time.Time
	if interval > 0 {
		t := time.NewTicker(interval)
		defer t.Stop()
		tick = t.C
	}
	sent := 0
	for updates == 0 || sent < updates {
		if tick != nil {
			select {
			case <-tick:
			case <-ctx.Done():
			}
		}
		if ctx.Err() != nil {
			break
		}
		s := stations[rng.IntN(len(stations))]
		seq[s.zip]++
		temp := s.mean + rng.IntN(11) - 5
		humidity := 30 + rng.IntN(60)
		// PUB's Send never blocks: a subscriber that cannot keep up loses
		// updates (Stats().Drops) instead of slowing everyone down.
		if err := pub.Send(ctx, []byte(s.zip), []byte(strconv.Itoa(seq[s.zip])),
			[]byte(strconv.Itoa(temp)), []byte(strconv.Itoa(humidity))); err != nil {
			return err
		}
		sent++
	}
	// Let what is queued reach the wire before closing (bounded: updates
	// for a subscriber that vanished are dropped, not waited for).
	fctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	pub.Flush(fctx)
	fmt.Fprintf(out, "sent %d updates, %d dropped for slow subscribers\n", sent, pub.Stats().Drops)
	return pub.Close()
}

// subscribe receives count updates for the zip codes starting with prefix,
// prints each, and then a summary with the number of updates it can tell
// it missed (gaps in the per-zip sequence numbers, counting from 1).
func subscribe(ctx context.Context, out io.Writer, connect, prefix string, count int) error {
	sub, err := socket.New(socket.Sub)
	if err != nil {
		return err
	}
	defer sub.Close()
	// Subscribing before connecting: the subscription goes out with the
	// handshake, and again after every reconnect.
	if err := sub.Subscribe([]byte(prefix)); err != nil {
		return err
	}
	if err := sub.Connect(connect); err != nil {
		return err
	}
	fmt.Fprintf(out, "subscribed to zip codes %s* at %s\n", prefix, connect)

	last := make(map[string]int)
	missed, total := 0, 0
	for i := 0; i < count; i++ {
		m, err := sub.Recv(ctx)
		if err != nil {
			if ctx.Err() != nil {
				fmt.Fprintln(out, "interrupted")
				return nil
			}
			return err
		}
		if len(m) != 4 {
			return fmt.Errorf("update of %d frames, want 4", len(m))
		}
		zip := string(m[0])
		seq, err1 := strconv.Atoi(string(m[1]))
		temp, err2 := strconv.Atoi(string(m[2]))
		humidity, err3 := strconv.Atoi(string(m[3]))
		if err := errors.Join(err1, err2, err3); err != nil {
			return fmt.Errorf("bad update for %s: %w", zip, err)
		}
		if !strings.HasPrefix(zip, prefix) {
			// Cannot happen: the publisher sends only what matches and
			// the SUB checks again. Said loudly if it ever does.
			return fmt.Errorf("got zip %s, want only %s*", zip, prefix)
		}
		missed += seq - last[zip] - 1
		last[zip] = seq
		total += temp
		fmt.Fprintf(out, "%s %-13s #%-3d %3d°C %3d%% humidity\n", zip, cityOf(zip), seq, temp, humidity)
	}
	fmt.Fprintf(out, "%d updates for %s*: average %.1f°C, %d missed\n",
		count, prefix, float64(total)/float64(count), missed)
	return nil
}
