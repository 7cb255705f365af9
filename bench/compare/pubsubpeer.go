package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/go-zeromq/zmq4"
)

// The message format of every pubsub peer, the same as libzmq/pubsub.c:
// data messages start with psTopic (matching) or psOther (not), padded with
// 'w' to SIZE bytes; the end marker is psTopic and one 0 byte.
const (
	psTopic = "tick"
	psOther = "tock"
	// psIDTopic starts each subscriber's own topic "#ID", which no data
	// message matches: the publisher counts subscribers by it.
	psIDTopic = "#"
)

var psMarker = []byte(psTopic + "\x00")

// Bounds of the zmq4 publisher's waits. It waits for its subscribers as
// long as pubsub.c does; the wait for them to leave is longer because zmq4's
// PUB queue has no high-water mark: Send only queues, and the whole delivery
// happens after the last Send. The runner's -timeout is the usual bound.
const (
	psJoinTimeout  = 30 * time.Second
	psLeaveTimeout = 30 * time.Minute
	// psPoll is how often the publisher looks at its subscriptions, and
	// sends another end marker while subscribers are left.
	psPoll = time.Millisecond
)

// psPeerMain runs one side of a zmq4 pubsub run and returns the process
// exit code: "pub ENDPOINT SIZE COUNT SUBS MATCH" or "sub ENDPOINT SIZE ID",
// the same protocol as libzmq/pubsub.c (without its nodrop variant).
func psPeerMain(args []string, stdout, stderr io.Writer) int {
	usage := func() int {
		fmt.Fprintf(stderr, "usage: %s pub ENDPOINT SIZE COUNT SUBS MATCH | %s sub ENDPOINT SIZE ID\n"+
			"  SIZE %d or more, COUNT 1 or more, SUBS 1 to %d, MATCH 1 to 100, ID 0 to %d\n",
			peerArg, peerArg, psTopicLen, pubsubMaxSubs, pubsubMaxSubs-1)
		return 2
	}
	num := func(s string, lo, hi int64) (int64, bool) {
		n, err := strconv.ParseInt(s, 10, 64)
		return n, err == nil && n >= lo && n <= hi
	}
	var err error
	switch {
	case len(args) == 6 && args[0] == "pub":
		size, ok1 := num(args[2], int64(psTopicLen), 256<<20)
		count, ok2 := num(args[3], 1, math.MaxInt64/100) // count*100 must not overflow
		subs, ok3 := num(args[4], 1, pubsubMaxSubs)
		match, ok4 := num(args[5], 1, 100)
		if !ok1 || !ok2 || !ok3 || !ok4 {
			return usage()
		}
		err = zmq4Pub(args[1], int(size), count, int(subs), int(match), stdout)
	case len(args) == 4 && args[0] == "sub":
		size, ok1 := num(args[2], int64(psTopicLen), 256<<20)
		id, ok2 := num(args[3], 0, pubsubMaxSubs-1)
		if !ok1 || !ok2 {
			return usage()
		}
		err = zmq4Sub(args[1], int(size), int(id), stdout)
	default:
		return usage()
	}
	if err != nil {
		fmt.Fprintf(stderr, "%s %s: %v\n", peerArg, args[0], err)
		return 1
	}
	return 0
}

// psPayloads returns the matching and the non-matching message of size bytes.
func psPayloads(size int) (hit, miss []byte) {
	hit = bytes.Repeat([]byte{'w'}, size)
	miss = bytes.Repeat([]byte{'w'}, size)
	copy(hit, psTopic)
	copy(miss, psOther)
	return hit, miss
}

// subscribers counts the "#ID" topics some connected subscriber holds.
// zmq4's PUB does not hand subscriptions to the application (its XPUB
// neither: Recv never returns them), but Topics lists what its connections
// hold now, and forgets a connection's topics when the connection ends.
func subscribers(t zmq4.Topics) int {
	n := 0
	for _, topic := range t.Topics() {
		if strings.HasPrefix(topic, psIDTopic) {
			n++
		}
	}
	return n
}

// zmq4Pub binds a PUB, waits until subs subscribers hold their topics,
// publishes count messages, repeats the end marker until every subscriber
// has left and prints the publisher's JSON line.
func zmq4Pub(endpoint string, size int, count int64, subs, match int, stdout io.Writer) error {
	pub := zmq4.NewPub(context.Background())
	defer pub.Close()
	if err := pub.Listen(endpoint); err != nil {
		return err
	}
	topics, ok := pub.(zmq4.Topics)
	if !ok {
		return errors.New("zmq4's PUB lists no topics")
	}
	deadline := time.Now().Add(psJoinTimeout)
	for n := subscribers(topics); n < subs; n = subscribers(topics) {
		if time.Now().After(deadline) {
			return fmt.Errorf("got %d of %d subscribers after %v, want all", n, subs, psJoinTimeout)
		}
		time.Sleep(psPoll)
	}

	hit, miss := psPayloads(size)
	start := time.Now()
	for i := range count {
		// zmq4 keeps a reference to the payload until it is written; both
		// payloads are never changed, so sharing them is safe.
		payload := miss
		if psMatches(i, match) {
			payload = hit
		}
		if err := pub.Send(zmq4.NewMsg(payload)); err != nil {
			return fmt.Errorf("message %d: %w", i, err)
		}
	}
	seconds := time.Since(start).Seconds()

	var markers int64
	deadline = time.Now().Add(psLeaveTimeout)
	for n := subscribers(topics); n > 0; n = subscribers(topics) {
		if time.Now().After(deadline) {
			return fmt.Errorf("got %d of %d subscribers still there %v after the last message, want none", n, subs, psLeaveTimeout)
		}
		if err := pub.Send(zmq4.NewMsg(psMarker)); err != nil {
			return fmt.Errorf("end marker: %w", err)
		}
		markers++
		time.Sleep(psPoll)
	}
	b, err := json.Marshal(psPubJSON{
		Role: "pub", Size: size, Count: count, Subs: subs, Match: match,
		Expected: psExpected(count, match), Seconds: seconds, MsgsPerSec: float64(count) / seconds, EndMarkers: markers,
	})
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(stdout, "%s\n", b)
	return err
}

// psPubJSON and psSubJSON are the lines the peers print, the same fields as
// libzmq/pubsub.c.
type psPubJSON struct {
	Role       string  `json:"role"`
	Size       int     `json:"size"`
	Count      int64   `json:"count"`
	Subs       int     `json:"subs"`
	Match      int     `json:"match"`
	Nodrop     bool    `json:"nodrop"`
	Expected   int64   `json:"expected"`
	Seconds    float64 `json:"seconds"`
	MsgsPerSec float64 `json:"msgs_per_sec"`
	EndMarkers int64   `json:"end_markers"`
}

type psSubJSON struct {
	Role       string  `json:"role"`
	ID         int     `json:"id"`
	Size       int     `json:"size"`
	Received   int64   `json:"received"`
	Seconds    float64 `json:"seconds"`
	MsgsPerSec float64 `json:"msgs_per_sec"`
}

// zmq4Sub connects a SUB, subscribes to the data topic and then to its own
// "#ID" topic, counts data messages until the end marker and prints its
// JSON line. zmq4's Recv has no time limit: the runner's -timeout bounds it.
func zmq4Sub(endpoint string, size, id int, stdout io.Writer) error {
	sub := zmq4.NewSub(context.Background(),
		zmq4.WithDialerRetry(zmq4DialRetry), zmq4.WithDialerMaxRetries(zmq4DialRetries))
	defer sub.Close()
	if err := sub.Dial(endpoint); err != nil {
		return err
	}
	// The data topic first: once the publisher sees "#ID" it has both.
	for _, topic := range []string{psTopic, psIDTopic + strconv.Itoa(id)} {
		if err := sub.SetOption(zmq4.OptionSubscribe, topic); err != nil {
			return fmt.Errorf("subscribe %q: %w", topic, err)
		}
	}
	var received int64
	var first, last time.Time
	for {
		msg, err := sub.Recv()
		if err != nil {
			return fmt.Errorf("message %d: %w", received, err)
		}
		if len(msg.Frames) == 1 && bytes.Equal(msg.Frames[0], psMarker) {
			break
		}
		if len(msg.Frames) != 1 || len(msg.Frames[0]) != size || !bytes.HasPrefix(msg.Frames[0], []byte(psTopic)) {
			return fmt.Errorf("message %d: got %d frames of %d bytes, want 1 of %d starting %s", received, len(msg.Frames), len(msg.Bytes()), size, psTopic)
		}
		last = time.Now()
		if received == 0 {
			first = last
		}
		received++
	}
	line := psSubJSON{Role: "sub", ID: id, Size: size, Received: received, Seconds: last.Sub(first).Seconds()}
	if line.Seconds > 0 {
		line.MsgsPerSec = float64(received) / line.Seconds
	}
	b, err := json.Marshal(line)
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(stdout, "%s\n", b)
	return err
}
