// Command topics borrows Kafka's ideas (named topics, consumer groups) and
// builds them from wisp sockets, without a broker and without a log.
//
//	topics produce [-bind tcp://127.0.0.1:5560] [-groups 1]
//	topics group   -name NAME -topic TOPIC [-connect tcp://127.0.0.1:5560] [-bind tcp://127.0.0.1:5561] [-member-timeout 5s]
//	topics consume -name NAME [-connect tcp://127.0.0.1:5561] [-crash-after 0]
//
// The producer reads lines "TOPIC MESSAGE" from its standard input and
// publishes each on an XPUB socket, numbered per topic. A topic is the first
// frame of a message, so a group that subscribes to a topic gets that topic
// only, filtered at the producer.
//
// A group is one process: a SUB socket subscribed to one topic at the
// producer, forwarding every message to a PUSH socket that its members
// connect to with PULL sockets. Every group gets every message of its topic
// (publish-subscribe); within a group each message goes to one member
// (the pipeline).
//
// Delivery guarantees, leg by leg:
//   - producer to group (PUB/SUB): at most once. A group that is not
//     connected when a message is published, or whose queue at the producer
//     is full, never gets it; nothing is kept to replay.
//   - group to members (PUSH/PULL): at least once, up to the end of the
//     member's handler. A message stays with the group until a member
//     acknowledges it, which a member does (WithDeferredAck, then Ack) once
//     it has handled the message; if a member leaves and does not come back
//     within -member-timeout, what it had not acknowledged goes to another
//     member, which may see a message twice.
//
// There is no log: nothing is written to disk, nothing can be replayed.
package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/wispmq/wisp/socket"
)

func main() {
	if len(os.Args) < 2 {
		usage()
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	out := &printer{w: os.Stdout}
	var err error
	switch os.Args[1] {
	case "produce":
		fs := flag.NewFlagSet("produce", flag.ExitOnError)
		bind := fs.String("bind", "tcp://127.0.0.1:5560", "endpoint the groups connect to")
		groups := fs.Int("groups", 1, "how many groups to wait for before publishing (0: do not wait)")
		fs.Parse(os.Args[2:])
		err = produce(ctx, out, os.Stdin, *bind, *groups)
	case "group":
		fs := flag.NewFlagSet("group", flag.ExitOnError)
		name := fs.String("name", "", "the group's name (required)")
		topic := fs.String("topic", "", "the topic the group consumes (required)")
		connect := fs.String("connect", "tcp://127.0.0.1:5560", "the producer's endpoint")
		bind := fs.String("bind", "tcp://127.0.0.1:5561", "endpoint the members connect to")
		timeout := fs.Duration("member-timeout", socket.DefaultResumeTimeout,
			"how long a member that left may take to come back before its messages go to another member")
		fs.Parse(os.Args[2:])
		if *name == "" || *topic == "" {
			fmt.Fprintln(os.Stderr, "topics group: -name and -topic are required")
			os.Exit(2)
		}
		err = group(ctx, out, *name, *topic, *connect, *bind, *timeout)
	case "consume":
		fs := flag.NewFlagSet("consume", flag.ExitOnError)
		name := fs.String("name", "", "the member's name (required)")
		connect := fs.String("connect", "tcp://127.0.0.1:5561", "the group's endpoint")
		crashAfter := fs.Int("crash-after", 0, "exit abruptly, without closing the socket, in the middle of handling this many-th message (0: never)")
		fs.Parse(os.Args[2:])
		if *name == "" {
			fmt.Fprintln(os.Stderr, "topics consume: -name is required")
			os.Exit(2)
		}
		err = consume(ctx, out, *name, *connect, *crashAfter)
	default:
		usage()
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "topics:", err)
		os.Exit(1)
	}
}

func usage() {
	fmt.Fprintln(os.Stderr, "usage: topics produce|group|consume [flags] (-h for flags)")
	os.Exit(2)
}

// printer writes whole lines from several goroutines.
type printer struct {
	mu sync.Mutex
	w  io.Writer
}

func (p *printer) printf(format string, args ...any) {
	p.mu.Lock()
	defer p.mu.Unlock()
	fmt.Fprintf(p.w, format+"\n", args...)
}

// topicFrame is the first frame of a message on topic name. Subscriptions
// are byte prefixes, so the name ends with a NUL byte: a subscription to
// "orders\x00" matches the topic "orders" and not "orders-archive".
func topicFrame(name string) []byte { return append([]byte(name), 0) }

func topicName(frame []byte) string { return strings.TrimSuffix(string(frame), "\x00") }

func plural(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return strconv.Itoa(n) + " " + noun + "s"
}

// produce publishes every line "TOPIC MESSAGE" of in as the message
// [topic, seq, MESSAGE], seq counting from 1 per topic, until in ends or
// ctx does.
func produce(ctx context.Context, out *printer, in io.Reader, bind string, groups int) error {
	// XPUB rather than PUB: the same publisher, whose Recv also says when a
	// topic gains its first subscriber or loses its last.
	pub, err := socket.New(socket.XPub)
	if err != nil {
		return err
	}
	defer pub.Close()
	ep, err := pub.Bind(bind)
	if err != nil {
		return err
	}
	out.printf("producing on %s", ep)

	var wg sync.WaitGroup
	defer wg.Wait() // after Close, which ends the Recv below
	defer pub.Close()
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			m, err := pub.Recv(context.Background()) // ends with ErrClosed
			if err != nil {
				return
			}
			topic := topicName(m[0][1:])
			if m[0][0] == socket.SubscriptionAdd {
				out.printf("topic %s: subscribed", topic)
			} else {
				out.printf("topic %s: no subscribers left", topic)
			}
		}
	}()

	if groups > 0 {
		// Without this wait, the first messages would be published before
		// the groups' subscriptions arrive, and be lost.
		out.printf("waiting for %s", plural(groups, "group"))
		if err := pub.WaitSubscribers(ctx, groups); err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return err
		}
		out.printf("%s subscribed", plural(groups, "group"))
	}

	// Lines come through a goroutine so that Ctrl-C is not stuck behind a
	// blocked read of the terminal; at exit that read is simply abandoned.
	lines := make(chan string)
	go func() {
		defer close(lines)
		sc := bufio.NewScanner(in)
		for sc.Scan() {
			select {
			case lines <- sc.Text():
			case <-ctx.Done():
				return
			}
		}
	}()
	seq := make(map[string]int)
	sent := 0
loop:
	for {
		var line string
		select {
		case l, ok := <-lines:
			if !ok {
				break loop
			}
			line = l
		case <-ctx.Done():
			break loop
		}
		topic, payload, _ := strings.Cut(strings.TrimSpace(line), " ")
		if topic == "" {
			continue
		}
		if strings.ContainsRune(topic, 0) {
			out.printf("skipped: a topic name cannot hold a NUL byte")
			continue
		}
		seq[topic]++
		n := seq[topic]
		// XPUB's Send never blocks: a group that is not subscribed, or not
		// keeping up, does not get the message.
		if err := pub.Send(ctx, topicFrame(topic), []byte(strconv.Itoa(n)), []byte(payload)); err != nil {
			return err
		}
		sent++
		out.printf("sent %s#%d", topic, n)
	}
	fctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	pub.Flush(fctx) // written to the connections, so closing loses nothing queued
	out.printf("sent %s on %s, %d dropped for groups that could not keep up",
		plural(sent, "message"), plural(len(seq), "topic"), pub.Stats().Drops)
	return pub.Close()
}

// group subscribes to topic at the producer and shares the messages among
// the members connected to bind, one member per message.
func group(ctx context.Context, out *printer, name, topic, connect, bind string, memberTimeout time.Duration) error {
	// The members' side first, so no message arrives with nowhere to go.
	push, err := socket.New(socket.Push, socket.WithResumeTimeout(memberTimeout))
	if err != nil {
		return err
	}
	var wg sync.WaitGroup
	defer wg.Wait() // the events goroutine ends when push is closed
	defer push.Close()
	wg.Add(1)
	go func() {
		defer wg.Done()
		members := 0
		for e := range push.Events() {
			switch e.Kind {
			case socket.EventConnected:
				members++
				out.printf("%s: a member joined (%d connected)", name, members)
			case socket.EventDisconnected:
				members--
				out.printf("%s: a member left (%d connected)", name, members)
			}
		}
	}()
	ep, err := push.Bind(bind)
	if err != nil {
		return err
	}

	sub, err := socket.New(socket.Sub)
	if err != nil {
		return err
	}
	defer sub.Close()
	if err := sub.Subscribe(topicFrame(topic)); err != nil {
		return err
	}
	if err := sub.Connect(connect); err != nil {
		return err
	}
	out.printf("%s: consuming topic %s from %s; members connect to %s", name, topic, connect, ep)

	// SUB -> PUSH. While no member is connected, PUSH's Send waits; the
	// SUB's queue then fills, and the producer drops this group's messages
	// once its queue for the group is full: at most once, as for any
	// subscriber.
	if err := socket.Proxy(ctx, sub, push, nil); err != nil && !errors.Is(err, ctx.Err()) {
		return err
	}
	// Close waits (up to its linger time) for the members to take what
	// was handed to them.
	received := sub.Stats().MsgsIn
	sub.Close()
	closeErr := push.Close()
	wg.Wait() // the last membership change is printed before the summary
	out.printf("%s: received %d messages, %d resent to another member", name, received, push.Stats().Resends)
	return closeErr
}

// consume prints the messages the group hands this member until ctx ends,
// and acknowledges each once it is printed. With crashAfter > 0 it exits
// abruptly in the middle of handling that many-th message, which it has
// printed but not acknowledged.
func consume(ctx context.Context, out *printer, name, connect string, crashAfter int) error {
	// WithDeferredAck: Recv does not acknowledge the message it returns,
	// so the group keeps it until Ack below, and gives it to another
	// member if this one dies before.
	pull, err := socket.New(socket.Pull, socket.WithDeferredAck(true))
	if err != nil {
		return err
	}
	defer pull.Close()
	if err := pull.Connect(connect); err != nil {
		return err
	}
	out.printf("%s: connected to %s", name, connect)
	handled := 0
	for {
		m, err := pull.Recv(ctx)
		if err != nil {
			if ctx.Err() != nil {
				break
			}
			return err
		}
		if len(m) != 3 {
			out.printf("%s: skipped a message of %d frames, want 3", name, len(m))
			pull.Ack() // no member can do more with it
			continue
		}
		// The handler.
		out.printf("%s got %s#%s: %s", name, topicName(m[0]), m[1], m[2])
		handled++
		if handled == crashAfter {
			out.printf("%s: crashing in the middle of %s#%s, message %d", name, topicName(m[0]), m[1], handled)
			os.Exit(3) // no Ack, no Close: as if the process had died
		}
		// Handled: acknowledge it now. The next Recv would acknowledge it
		// too, but only once another message arrives; until then an idle
		// member would hold it, and a member that left would have it
		// given to another.
		if err := pull.Ack(); err != nil {
			return err
		}
	}
	out.printf("%s: handled %d messages", name, handled)
	return pull.Close()
}
