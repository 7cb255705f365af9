package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"strconv"
	"time"

	"github.com/go-zeromq/zmq4"
)

// peerArg is the hidden first argument that turns the runner binary into one
// side of a zmq4 run: "zmq4-peer recv|send ENDPOINT SIZE COUNT" for
// throughput, "zmq4-peer rep|req ENDPOINT SIZE COUNT WARMUP" for latency,
// "zmq4-peer pub ENDPOINT SIZE COUNT SUBS MATCH" and
// "zmq4-peer sub ENDPOINT SIZE ID" for pubsub.
const peerArg = "zmq4-peer"

// zmq4DialRetries bounds how long a zmq4 sender waits for its receiver to bind
// (with zmq4DialRetry between tries): the two start at the same time.
const (
	zmq4DialRetry   = 50 * time.Millisecond
	zmq4DialRetries = 400
)

// peerMain runs the zmq4 peer and returns the process exit code.
func peerMain(args []string, stdout, stderr io.Writer) int {
	if len(args) > 0 && (args[0] == "rep" || args[0] == "req") {
		return latPeerMain(args, stdout, stderr)
	}
	if len(args) > 0 && (args[0] == "pub" || args[0] == "sub") {
		return psPeerMain(args, stdout, stderr)
	}
	if len(args) != 4 || (args[0] != "recv" && args[0] != "send") {
		fmt.Fprintf(stderr, "usage: %s recv|send ENDPOINT SIZE COUNT\n", peerArg)
		return 2
	}
	size, err1 := strconv.Atoi(args[2])
	count, err2 := strconv.ParseInt(args[3], 10, 64)
	if err1 != nil || err2 != nil || size < 0 || count < 1 {
		fmt.Fprintf(stderr, "%s: got size %q count %q, want size >= 0 and count >= 1\n", peerArg, args[2], args[3])
		return 2
	}
	var err error
	if args[0] == "recv" {
		err = zmq4Recv(args[1], size, count, stdout)
	} else {
		err = zmq4Send(args[1], size, count)
	}
	if err != nil {
		fmt.Fprintf(stderr, "%s %s: %v\n", peerArg, args[0], err)
		return 1
	}
	return 0
}

// zmq4Recv binds a PULL, receives count messages and prints the receiver's
// JSON line, timed from the first message to the last like libzmq's local_thr.
func zmq4Recv(endpoint string, size int, count int64, stdout io.Writer) error {
	pull := zmq4.NewPull(context.Background())
	defer pull.Close()
	if err := pull.Listen(endpoint); err != nil {
		return err
	}
	var start time.Time
	for i := range count {
		msg, err := pull.Recv()
		if err != nil {
			return fmt.Errorf("message %d: %w", i, err)
		}
		if i == 0 {
			start = time.Now()
		}
		if len(msg.Frames) != 1 || len(msg.Frames[0]) != size {
			return fmt.Errorf("message %d: got %d frames of %d bytes, want 1 of %d", i, len(msg.Frames), len(msg.Bytes()), size)
		}
	}
	elapsed := time.Since(start)
	_, err := fmt.Fprintf(stdout, "{\"seconds\":%.9f,\"count\":%d,\"size\":%d}\n", elapsed.Seconds(), count, size)
	return err
}

// zmq4Send connects a PUSH and sends count messages of size bytes. zmq4's
// Send has written a message to the connection when it returns, so Close
// afterwards loses nothing.
func zmq4Send(endpoint string, size int, count int64) error {
	push := zmq4.NewPush(context.Background(),
		zmq4.WithDialerRetry(zmq4DialRetry), zmq4.WithDialerMaxRetries(zmq4DialRetries))
	if err := push.Dial(endpoint); err != nil {
		push.Close()
		return err
	}
	payload := bytes.Repeat([]byte{'w'}, size)
	for i := range count {
		if err := push.Send(zmq4.NewMsg(payload)); err != nil {
			push.Close()
			return fmt.Errorf("message %d: %w", i, err)
		}
	}
	return push.Close()
}
