// Command hello is the request-reply "Hello World": a REP server answers
// each "Hello" with a "World", and a REQ client asks a number of times.
//
//	hello server [-bind tcp://127.0.0.1:5555] [-work 1s]
//	hello client [-connect tcp://127.0.0.1:5555] [-n 10] [-timeout 30s]
//
// The client sends its requests with WithRequestRetry, so a server that
// crashes or is restarted in the middle of a request costs it nothing: the
// request goes again to the new server and the client gets its one reply.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/wispmq/wisp/socket"
)

const usage = `usage:
  hello server [-bind endpoint] [-work duration]
  hello client [-connect endpoint] [-n requests] [-timeout duration]
`

func main() {
	// Ctrl-C (or SIGTERM) ends either role cleanly: sockets closed, exit 0.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if len(os.Args) < 2 {
		fmt.Fprint(os.Stderr, usage)
		os.Exit(2)
	}
	role, args := os.Args[1], os.Args[2:]
	fs := flag.NewFlagSet("hello "+role, flag.ExitOnError)
	var err error
	switch role {
	case "server":
		bind := fs.String("bind", "tcp://127.0.0.1:5555", "endpoint to bind")
		work := fs.Duration("work", time.Second, "how long each request takes to answer")
		fs.Parse(args)
		err = serve(ctx, os.Stdout, *bind, *work)
	case "client":
		connect := fs.String("connect", "tcp://127.0.0.1:5555", "endpoint of the server")
		n := fs.Int("n", 10, "how many requests to send")
		timeout := fs.Duration("timeout", 30*time.Second, "how long to wait for each reply")
		fs.Parse(args)
		err = ask(ctx, os.Stdout, *connect, *n, *timeout)
	default:
		fmt.Fprint(os.Stderr, usage)
		os.Exit(2)
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "hello %s: %v\n", role, err)
		os.Exit(1)
	}
}

// serve answers requests until ctx ends. Each takes work to answer, which
// is the time a restart can catch a request in the middle.
func serve(ctx context.Context, out io.Writer, bind string, work time.Duration) error {
	rep, err := socket.New(socket.Rep)
	if err != nil {
		return err
	}
	defer rep.Close()
	ep, err := rep.Bind(bind) // with port 0, ep names the port the system chose
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "listening on %s\n", ep)
	for {
		req, err := rep.Recv(ctx)
		if ctx.Err() != nil {
			return nil // interrupted
		}
		if err != nil {
			return err
		}
		fmt.Fprintf(out, "received %s\n", req.Bytes())
		if !sleep(ctx, work) {
			// Interrupted in the middle of a request: the client sends it
			// again to whichever server it reaches next.
			return nil
		}
		// Requests may arrive more than once (a client retries after a
		// restart), so answering must be safe to repeat: here it is.
		reply := "World" + strings.TrimPrefix(string(req.Bytes()), "Hello")
		if err := rep.Send(ctx, []byte(reply)); err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return err
		}
	}
}

// ask sends n requests, one at a time, and prints each reply.
func ask(ctx context.Context, out io.Writer, connect string, n int, timeout time.Duration) error {
	// Retry interval 0: send a request again only when the connection
	// that carried it ends, to the restarted server once it is back.
	req, err := socket.New(socket.Req, socket.WithRequestRetry(0))
	if err != nil {
		return err
	}
	defer req.Close()
	if err := req.Connect(connect); err != nil { // the server may start later
		return err
	}
	for i := 1; i <= n; i++ {
		hello := fmt.Sprintf("Hello %d", i)
		if err := req.Send(ctx, []byte(hello)); err != nil {
			return err
		}
		rctx, cancel := context.WithTimeout(ctx, timeout)
		reply, err := req.Recv(rctx)
		cancel()
		if err != nil {
			if ctx.Err() != nil {
				return fmt.Errorf("interrupted waiting for the reply to %q", hello)
			}
			if rctx.Err() != nil {
				return fmt.Errorf("no reply to %q within %v", hello, timeout)
			}
			return err
		}
		fmt.Fprintf(out, "%s -> %s\n", hello, reply.Bytes())
	}
	return nil
}

// sleep stands for the work of answering: it waits d, or until ctx ends
// and then reports false.
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}
