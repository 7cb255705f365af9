// Command taskqueue is a task queue without a broker: "submit" binds the
// queue, submits square(1) ... square(n) and prints every result; each
// "worker" connects to it and runs tasks. Start more workers to go faster;
// stop or kill one in the middle of a task and the task runs on another.
//
//	taskqueue submit [-bind tcp://127.0.0.1:5555] [-n 10]
//	taskqueue worker [-connect tcp://127.0.0.1:5555] [-name w1] [-concurrency 2] [-delay 1s]
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"log"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/wispmq/wisp/examples/taskqueue/tq"
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: taskqueue submit|worker [flags]")
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	out := log.New(os.Stdout, "", 0) // safe to use from several goroutines
	var err error
	switch role, args := os.Args[1], os.Args[2:]; role {
	case "submit":
		err = submit(ctx, out, args)
	case "worker":
		err = work(ctx, out, args)
	default:
		err = fmt.Errorf("unknown role %q, want submit or worker", role)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "taskqueue:", err)
		os.Exit(1)
	}
}

func submit(ctx context.Context, out *log.Logger, args []string) error {
	fs := flag.NewFlagSet("submit", flag.ContinueOnError)
	bind := fs.String("bind", "tcp://127.0.0.1:5555", "endpoint workers connect to")
	n := fs.Int("n", 10, "how many tasks to submit")
	if err := fs.Parse(args); err != nil {
		return err
	}
	c, err := tq.NewClient(*bind, tq.WithLog(out.Printf))
	if err != nil {
		return err
	}
	defer c.Close()
	out.Printf("queue on %s", c.Endpoint())

	handles := make([]*tq.Handle, *n)
	for i := range handles {
		if handles[i], err = c.Submit(ctx, "square", i+1); err != nil {
			return err
		}
	}
	for i, h := range handles {
		res, err := h.Get(ctx) // waits for this task's result, whoever runs it
		if err != nil {
			return err
		}
		out.Printf("result square(%d) = %s by %s, attempt %d", i+1, res, h.Worker(), h.Attempts())
	}
	out.Printf("all %d results", *n)
	return c.Close()
}

func work(ctx context.Context, out *log.Logger, args []string) error {
	fs := flag.NewFlagSet("worker", flag.ContinueOnError)
	connect := fs.String("connect", "tcp://127.0.0.1:5555", "the queue's endpoint")
	name := fs.String("name", "w1", "this worker's name in results and logs")
	concurrency := fs.Int("concurrency", 2, "tasks run at once")
	delay := fs.Duration("delay", time.Second, "how long each task takes")
	if err := fs.Parse(args); err != nil {
		return err
	}
	w := tq.NewWorker(*name, tq.WithConcurrency(*concurrency), tq.WithLog(out.Printf))
	w.Register("square", func(ctx context.Context, args json.RawMessage) (any, error) {
		var x []int
		if err := json.Unmarshal(args, &x); err != nil || len(x) != 1 {
			return nil, fmt.Errorf("square takes one integer, got %s", args)
		}
		t := time.NewTimer(*delay) // the work: taking a while
		defer t.Stop()
		select {
		case <-t.C:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
		return x[0] * x[0], nil
	})
	out.Printf("%s: connecting to %s", *name, *connect)
	return w.Run(ctx, *connect)
}
