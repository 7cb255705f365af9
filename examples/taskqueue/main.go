// Command taskqueue is a Celery-style task queue in four roles: "broker"
// keeps the tasks and results in a file and serves clients and workers;
// "worker" runs tasks; "submit" submits square(1) ... square(n), some with
// a countdown and some failing twice before they succeed, and prints how
// each ended; "status" prints what the broker knows of a task by id.
//
//	taskqueue broker [-bind tcp://127.0.0.1:5555] [-db taskqueue.db] [-result-ttl 24h]
//	taskqueue worker [-connect tcp://127.0.0.1:5555] [-name w1] [-concurrency 2] [-delay 1s] [-quiet]
//	taskqueue submit [-connect tcp://127.0.0.1:5555] [-n 10] [-countdown 3s]
//	taskqueue status [-connect tcp://127.0.0.1:5555] id
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"log"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/wispmq/wisp/examples/taskqueue/tq"
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: taskqueue broker|worker|submit|status [flags]")
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	out := log.New(os.Stdout, "", 0) // safe to use from several goroutines
	var err error
	switch role, args := os.Args[1], os.Args[2:]; role {
	case "broker":
		err = broker(ctx, out, args)
	case "worker":
		err = work(ctx, out, args)
	case "submit":
		err = submit(ctx, out, args)
	case "status":
		err = status(ctx, out, args)
	default:
		err = fmt.Errorf("unknown role %q, want broker, worker, submit or status", role)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "taskqueue:", err)
		os.Exit(1)
	}
}

func broker(ctx context.Context, out *log.Logger, args []string) error {
	fs := flag.NewFlagSet("broker", flag.ContinueOnError)
	bind := fs.String("bind", "tcp://127.0.0.1:5555", "endpoint clients and workers connect to")
	db := fs.String("db", "taskqueue.db", "the broker's file")
	ttl := fs.Duration("result-ttl", tq.DefaultResultTTL, "how long finished tasks' results are kept")
	if err := fs.Parse(args); err != nil {
		return err
	}
	b, err := tq.NewBroker(*bind, *db, tq.WithResultTTL(*ttl), tq.WithLog(out.Printf))
	if err != nil {
		return err
	}
	out.Printf("broker on %s", b.Endpoint())
	select {
	case <-ctx.Done():
	case <-b.Done():
	}
	return b.Close()
}

func work(ctx context.Context, out *log.Logger, args []string) error {
	fs := flag.NewFlagSet("worker", flag.ContinueOnError)
	connect := fs.String("connect", "tcp://127.0.0.1:5555", "the broker's endpoint")
	name := fs.String("name", "w1", "this worker's name in results and logs")
	concurrency := fs.Int("concurrency", 2, "tasks run at once")
	delay := fs.Duration("delay", time.Second, "how long each task takes")
	quiet := fs.Bool("quiet", false, "log no task, only the connection")
	if err := fs.Parse(args); err != nil {
		return err
	}
	opts := []tq.Option{tq.WithConcurrency(*concurrency)}
	if !*quiet {
		opts = append(opts, tq.WithLog(out.Printf))
	}
	w := tq.NewWorker(*name, opts...)
	// square(x) takes the delay and returns x*x.
	w.Register("square", func(ctx context.Context, args json.RawMessage) (any, error) {
		var x []int
		if err := json.Unmarshal(args, &x); err != nil || len(x) != 1 {
			return nil, fmt.Errorf("square takes one integer, got %s", args)
		}
		return square(ctx, x[0], *delay)
	})
	// flaky(x, k) fails its first k attempts, then is square(x): a task
	// that needs its retries.
	w.Register("flaky", func(ctx context.Context, args json.RawMessage) (any, error) {
		var x []int
		if err := json.Unmarshal(args, &x); err != nil || len(x) != 2 {
			return nil, fmt.Errorf("flaky takes two integers, got %s", args)
		}
		if r := tq.Retries(ctx); r < x[1] {
			return nil, fmt.Errorf("failing on purpose, attempt %d of the %d that fail", r+1, x[1])
		}
		return square(ctx, x[0], *delay)
	})
	out.Printf("%s: connecting to %s", *name, *connect)
	return w.Run(ctx, *connect)
}

// square is the work: taking a while, then x*x.
func square(ctx context.Context, x int, delay time.Duration) (int, error) {
	t := time.NewTimer(delay)
	defer t.Stop()
	select {
	case <-t.C:
		return x * x, nil
	case <-ctx.Done():
		return 0, ctx.Err()
	}
}

func submit(ctx context.Context, out *log.Logger, args []string) error {
	fs := flag.NewFlagSet("submit", flag.ContinueOnError)
	connect := fs.String("connect", "tcp://127.0.0.1:5555", "the broker's endpoint")
	n := fs.Int("n", 10, "how many tasks to submit")
	countdown := fs.Duration("countdown", 3*time.Second, "the countdown of every third task")
	if err := fs.Parse(args); err != nil {
		return err
	}
	c, err := tq.NewClient(*connect)
	if err != nil {
		return err
	}
	defer c.Close()

	handles := make([]*tq.Handle, *n)
	for i := range handles {
		x := i + 1
		var call string
		switch {
		case x%5 == 0: // fails twice, then succeeds on its second retry
			call = fmt.Sprintf("flaky(%d,2)", x)
			handles[i], err = c.Apply(ctx, "flaky", []any{x, 2}, tq.MaxRetries(3), tq.RetryBackoff(500*time.Millisecond, 5*time.Second))
		case x%3 == 0:
			call = fmt.Sprintf("square(%d) in %v", x, *countdown)
			handles[i], err = c.Apply(ctx, "square", []any{x}, tq.Countdown(*countdown))
		default:
			call = fmt.Sprintf("square(%d)", x)
			handles[i], err = c.Submit(ctx, "square", x)
		}
		if err != nil {
			return err
		}
		out.Printf("submitted %s: %s", call, handles[i].ID())
	}
	for _, h := range handles {
		ti, err := h.Wait(ctx) // waits for this task's end, whoever runs it
		if err != nil {
			return err
		}
		res, err := ti.Outcome()
		if err != nil {
			res = json.RawMessage(err.Error())
		}
		out.Printf("%s = %s %s by %s after %d retries: %s", tq.Call(ti.Name, ti.Args), res, ti.State, ti.Worker, ti.Retries, path(ti.History))
	}
	out.Printf("all %d done", *n)
	return c.Close()
}

// path is a task's history as its states: PENDING → STARTED → SUCCESS.
func path(h []tq.Transition) string {
	s := make([]string, len(h))
	for i, tr := range h {
		s[i] = string(tr.State)
	}
	return strings.Join(s, " → ")
}

func status(ctx context.Context, out *log.Logger, args []string) error {
	fs := flag.NewFlagSet("status", flag.ContinueOnError)
	connect := fs.String("connect", "tcp://127.0.0.1:5555", "the broker's endpoint")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		return fmt.Errorf("status takes one task id")
	}
	c, err := tq.NewClient(*connect)
	if err != nil {
		return err
	}
	defer c.Close()
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	ti, err := c.Result(fs.Arg(0)).Info(ctx)
	if err != nil {
		return err
	}
	b, err := json.MarshalIndent(ti, "", "  ")
	if err != nil {
		return err
	}
	out.Printf("%s", b)
	return c.Close()
}
