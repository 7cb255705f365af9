// Command pushpull sends a few tasks from a PUSH socket to a PULL socket over
// loopback TCP and shows that Close reports every message acknowledged.
package main

import (
	"context"
	"fmt"
	"io"
	"log"
	"os"

	"github.com/wispmq/wisp/socket"
)

func main() {
	if err := run(context.Background(), os.Stdout, 3); err != nil {
		log.Fatal(err)
	}
}

func run(ctx context.Context, out io.Writer, n int) error {
	pull, err := socket.New(socket.Pull)
	if err != nil {
		return err
	}
	defer pull.Close()
	ep, err := pull.Bind("tcp://127.0.0.1:0") // port 0: the real endpoint is returned
	if err != nil {
		return err
	}

	push, err := socket.New(socket.Push)
	if err != nil {
		return err
	}
	if err := push.Connect(ep); err != nil { // returns at once; dials in the background
		push.Close()
		return err
	}
	for i := 0; i < n; i++ {
		if err := push.Send(ctx, []byte(fmt.Sprintf("task %d", i))); err != nil {
			push.Close()
			return err
		}
	}
	for i := 0; i < n; i++ {
		msg, err := pull.Recv(ctx) // taking a message acknowledges it
		if err != nil {
			push.Close()
			return err
		}
		fmt.Fprintln(out, string(msg.Bytes()))
	}
	// Close waits (up to the linger time) for every acknowledgement.
	if err := push.Close(); err != nil {
		return err
	}
	fmt.Fprintln(out, "all delivered")
	return nil
}
