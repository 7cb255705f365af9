// Command pipeline is the parallel pipeline: a ventilator PUSHes tasks,
// workers PULL them and PUSH their results, and a sink PULLs the results.
//
//	pipeline sink [-bind tcp://127.0.0.1:5558] [-control tcp://127.0.0.1:5559]
//	pipeline worker [-name w1] [-tasks tcp://127.0.0.1:5557] [-results tcp://127.0.0.1:5558]
//	pipeline ventilator [-bind tcp://127.0.0.1:5557] [-sink tcp://127.0.0.1:5559]
//	                    [-n 20] [-workers 3] [-work 500ms] [-resume 1s]
//
// Kill a worker in the middle of a run and the sink still counts every
// task's result exactly once. What makes that true is in README.md: a
// worker acknowledges a task (WithDeferredAck, then Ack) only once the
// sink has taken its result, so the ventilator's PUSH socket hands every
// task a dead worker had not finished to the others, and the sink drops a
// result it already has.
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
	"syscall"
	"time"

	"github.com/wispmq/wisp/socket"
)

const usage = `usage:
  pipeline sink [-bind endpoint] [-control endpoint]
  pipeline worker [-name name] [-tasks endpoint] [-results endpoint]
  pipeline ventilator [-bind endpoint] [-sink endpoint] [-n tasks] [-workers n]
                      [-work duration] [-resume duration]
`

// Messages, each frame a string:
//
//	ventilator -> sink (PAIR)    "batch" <batch> <number of tasks>
//	ventilator -> worker (PUSH)  <batch> <task id> <work, as a duration>
//	worker -> sink (PUSH)        <batch> <task id> <worker name>
//	sink -> ventilator (PAIR)    "done" <batch>   (every result is in)
//
// The batch id keeps results left over from an earlier run (copies of
// tasks a worker finished after that run's sink had left) out of this one.

type ventilatorConfig struct {
	bind, sink string
	tasks      int           // how many tasks, numbered from 1
	workers    int           // how many workers to wait for before sending
	work       time.Duration // how long each task takes a worker
	resume     time.Duration // how long a lost worker's tasks wait for it
}

type workerConfig struct {
	name, tasks, results string
}

type sinkConfig struct {
	bind, control string
}

func main() {
	// Ctrl-C (or SIGTERM) stops any role cleanly.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if len(os.Args) < 2 {
		fmt.Fprint(os.Stderr, usage)
		os.Exit(2)
	}
	role, args := os.Args[1], os.Args[2:]
	fs := flag.NewFlagSet("pipeline "+role, flag.ExitOnError)
	var err error
	switch role {
	case "ventilator":
		var c ventilatorConfig
		fs.StringVar(&c.bind, "bind", "tcp://127.0.0.1:5557", "endpoint to bind for the workers")
		fs.StringVar(&c.sink, "sink", "tcp://127.0.0.1:5559", "the sink's control endpoint")
		fs.IntVar(&c.tasks, "n", 20, "how many tasks to send")
		fs.IntVar(&c.workers, "workers", 3, "how many workers to wait for before sending")
		fs.DurationVar(&c.work, "work", 500*time.Millisecond, "how long each task takes a worker")
		fs.DurationVar(&c.resume, "resume", time.Second, "how long a disconnected worker's tasks wait for it before going to others")
		fs.Parse(args)
		err = ventilator(ctx, os.Stdout, c)
	case "worker":
		var c workerConfig
		fs.StringVar(&c.name, "name", fmt.Sprintf("worker-%d", os.Getpid()), "name the sink prints for this worker's results")
		fs.StringVar(&c.tasks, "tasks", "tcp://127.0.0.1:5557", "the ventilator's endpoint")
		fs.StringVar(&c.results, "results", "tcp://127.0.0.1:5558", "the sink's results endpoint")
		fs.Parse(args)
		err = worker(ctx, os.Stdout, c)
	case "sink":
		var c sinkConfig
		fs.StringVar(&c.bind, "bind", "tcp://127.0.0.1:5558", "endpoint to bind for the workers' results")
		fs.StringVar(&c.control, "control", "tcp://127.0.0.1:5559", "endpoint to bind for the ventilator")
		fs.Parse(args)
		err = sink(ctx, os.Stdout, c)
	default:
		fmt.Fprint(os.Stderr, usage)
		os.Exit(2)
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "pipeline %s: %v\n", role, err)
		os.Exit(1)
	}
}

// ventilator sends one batch of tasks and stays until the sink has every
// result: until then its PUSH socket may have to give a lost worker's
// tasks to the others.
func ventilator(ctx context.Context, out io.Writer, cfg ventilatorConfig) error {
	if cfg.tasks < 1 || cfg.workers < 1 {
		return fmt.Errorf("-n and -workers must be at least 1")
	}
	// A disconnected worker keeps its unacknowledged tasks for cfg.resume,
	// in case it comes back; then PUSH gives them to the other workers.
	// Linger 0: once every result is in, tasks still on their way are
	// spare copies, not worth waiting for.
	tasks, err := socket.New(socket.Push, socket.WithResumeTimeout(cfg.resume), socket.WithLinger(0))
	if err != nil {
		return err
	}
	defer tasks.Close()
	ep, err := tasks.Bind(cfg.bind)
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "ventilator: tasks on %s\n", ep)
	sink, err := socket.New(socket.Pair)
	if err != nil {
		return err
	}
	defer sink.Close()
	if err := sink.Connect(cfg.sink); err != nil {
		return err
	}

	// PUSH deals each task out when it is sent, round-robin over the
	// workers connected at that moment: start when they all are.
	fmt.Fprintf(out, "ventilator: waiting for the sink and %d workers\n", cfg.workers)
	if err := sink.WaitPeers(ctx, 1); err != nil {
		return interrupted(ctx, err)
	}
	if err := tasks.WaitPeers(ctx, cfg.workers); err != nil {
		return interrupted(ctx, err)
	}

	batch := []byte(fmt.Sprintf("%08x", rand.Uint32()))
	if err := sink.Send(ctx, []byte("batch"), batch, []byte(strconv.Itoa(cfg.tasks))); err != nil {
		return interrupted(ctx, err)
	}
	work := []byte(cfg.work.String())
	for id := 1; id <= cfg.tasks; id++ {
		if err := tasks.Send(ctx, batch, []byte(strconv.Itoa(id)), work); err != nil {
			return interrupted(ctx, err)
		}
	}
	fmt.Fprintf(out, "ventilator: batch %s: sent %d tasks of %v each\n", batch, cfg.tasks, cfg.work)

	// Nothing more to do but be here: a worker that dies hands its
	// unfinished tasks back to this PUSH socket, which gives them to the
	// others after cfg.resume. The sink says when every result is in.
	for {
		m, err := sink.Recv(ctx)
		if err != nil {
			return interrupted(ctx, err)
		}
		if len(m) == 2 && string(m[0]) == "done" && string(m[1]) == string(batch) {
			break
		}
	}
	fmt.Fprintf(out, "ventilator: all %d results in; tasks resent by the PUSH socket: %d\n",
		cfg.tasks, tasks.Stats().Resends)
	return nil
}

// interrupted says that a role was stopped (Ctrl-C) rather than passing on
// the context's error.
func interrupted(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return errors.New("interrupted")
	}
	return err
}

// worker runs tasks until it is stopped. A task is acknowledged to the
// ventilator only once the sink has taken its result: until then, if this
// worker dies or is stopped, the ventilator's PUSH socket gives the task to
// another worker.
func worker(ctx context.Context, out io.Writer, cfg workerConfig) error {
	// WithDeferredAck: Recv does not acknowledge the task it returns; Ack
	// below does, when the task is done.
	tasks, err := socket.New(socket.Pull, socket.WithDeferredAck(true))
	if err != nil {
		return err
	}
	defer tasks.Close()
	if err := tasks.Connect(cfg.tasks); err != nil {
		return err
	}
	results, err := socket.New(socket.Push)
	if err != nil {
		return err
	}
	defer results.Close()
	if err := results.Connect(cfg.results); err != nil {
		return err
	}
	for {
		m, err := tasks.Recv(ctx)
		if ctx.Err() != nil {
			break
		}
		if err != nil {
			return err
		}
		if len(m) != 3 {
			fmt.Fprintf(out, "%s: malformed task dropped\n", cfg.name)
			tasks.Ack() // nothing to do for it, nor for anyone else
			continue
		}
		work, err := time.ParseDuration(string(m[2]))
		if err != nil {
			fmt.Fprintf(out, "%s: task %s: %v\n", cfg.name, m[1], err)
			tasks.Ack()
			continue
		}
		fmt.Fprintf(out, "%s: working on task %s\n", cfg.name, m[1])
		if !sleep(ctx, work) { // the work itself
			break
		}
		if err := results.Send(ctx, m[0], m[1], []byte(cfg.name)); err != nil {
			if ctx.Err() != nil {
				break
			}
			return err
		}
		// Flush returns once the sink has taken the result; only then is
		// the task done. Acknowledging it any earlier (Recv without
		// WithDeferredAck, or Ack before Flush) leaves a moment when this
		// worker's death loses the task: acknowledged to the ventilator,
		// its result not yet out. Ack rather than leaving it to the next
		// Recv, which acknowledges only once another task arrives: an
		// idle worker would hold its last task.
		if err := results.Flush(ctx); err != nil {
			if ctx.Err() != nil {
				break
			}
			return err
		}
		if err := tasks.Ack(); err != nil {
			return err
		}
	}
	// Stopped. A task in hand was not acknowledged, so closing the PULL
	// socket leaves it to the ventilator, which gives it to another worker
	// after its resume timeout. Close waits a while for the sink to take a
	// result this worker was stopped waiting for; if it has gone, the
	// result is not needed any more.
	tasks.Close()
	if err := results.Close(); errors.Is(err, socket.ErrUndelivered) {
		fmt.Fprintf(out, "%s: %v\n", cfg.name, err)
	}
	return nil
}

// sink collects the results of one batch, each task's once, and then tells
// the ventilator it has them all.
func sink(ctx context.Context, out io.Writer, cfg sinkConfig) error {
	results, err := socket.New(socket.Pull)
	if err != nil {
		return err
	}
	defer results.Close()
	rep, err := results.Bind(cfg.bind)
	if err != nil {
		return err
	}
	control, err := socket.New(socket.Pair)
	if err != nil {
		return err
	}
	defer control.Close()
	cep, err := control.Bind(cfg.control)
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "sink: results on %s, ventilator on %s\n", rep, cep)

	var batch string
	n := 0
	for n == 0 {
		m, err := control.Recv(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return errors.New("interrupted waiting for the ventilator")
			}
			return err
		}
		if len(m) == 3 && string(m[0]) == "batch" {
			batch = string(m[1])
			n, _ = strconv.Atoi(string(m[2]))
		}
	}
	fmt.Fprintf(out, "sink: batch %s of %d tasks\n", batch, n)

	from := make(map[int]string, n) // task id -> worker whose result counted
	dups := 0
	for len(from) < n {
		m, err := results.Recv(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return fmt.Errorf("interrupted with %d of %d results", len(from), n)
			}
			return err
		}
		if len(m) != 3 || string(m[0]) != batch {
			fmt.Fprintf(out, "sink: a result not of batch %s, dropped\n", batch)
			continue
		}
		id, err := strconv.Atoi(string(m[1]))
		if err != nil || id < 1 || id > n {
			fmt.Fprintf(out, "sink: a result for no task of the batch (%q), dropped\n", m[1])
			continue
		}
		if first, ok := from[id]; ok {
			// The same task run twice: its first worker died after its
			// result had left but before its acknowledgement of the task
			// reached the ventilator, which gave the task to another
			// worker too. The first result counts.
			dups++
			fmt.Fprintf(out, "sink: task %d from %s again (counted from %s), dropped\n", id, m[2], first)
			continue
		}
		from[id] = string(m[2])
		fmt.Fprintf(out, "sink: task %d from %s\n", id, m[2])
	}
	fmt.Fprintf(out, "sink: all %d results, each counted once; duplicates dropped: %d\n", n, dups)
	// The ventilator may go now. Close waits for it to take the message.
	if err := control.Send(ctx, []byte("done"), []byte(batch)); err != nil {
		return err
	}
	return control.Close()
}

// sleep stands for a task's work: it waits d, or until ctx ends and then
// reports false.
func sleep(ctx context.Context, d time.Duration) bool {
	if ctx.Err() != nil {
		return false // stopped already: do not start
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}
