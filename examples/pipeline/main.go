// Command pipeline is the parallel pipeline: a ventilator PUSHes tasks,
// workers PULL them and PUSH their results, and a sink PULLs the results.
//
//	pipeline sink [-bind tcp://127.0.0.1:5558] [-control tcp://127.0.0.1:5559]
//	pipeline worker [-name w1] [-tasks tcp://127.0.0.1:5557] [-results tcp://127.0.0.1:5558]
//	pipeline ventilator [-bind tcp://127.0.0.1:5557] [-sink tcp://127.0.0.1:5559]
//	                    [-n 20] [-workers 3] [-work 500ms] [-resume 1s] [-retry 3s]
//
// Kill a worker in the middle of a run and the sink still counts every
// task's result exactly once. What makes that true is in README.md: the
// PUSH socket hands the tasks a dead worker had not taken to the others,
// the ventilator sends again the tasks whose results it never hears of
// (the sink reports each result to it over a PAIR socket), and the sink
// drops a result it already has.
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
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/wispmq/wisp/socket"
)

const usage = `usage:
  pipeline sink [-bind endpoint] [-control endpoint]
  pipeline worker [-name name] [-tasks endpoint] [-results endpoint]
  pipeline ventilator [-bind endpoint] [-sink endpoint] [-n tasks] [-workers n]
                      [-work duration] [-resume duration] [-retry duration]
`

// Messages, each frame a string:
//
//	ventilator -> sink (PAIR)    "batch" <batch> <number of tasks>
//	ventilator -> worker (PUSH)  <batch> <task id> <work, as a duration>
//	worker -> sink (PUSH)        <batch> <task id> <worker name>
//	sink -> ventilator (PAIR)    <batch> <task id>   (a result accepted)
//
// The batch id keeps results left over from an earlier run (copies of
// tasks a worker finished after that run's sink had left) out of this one.

type ventilatorConfig struct {
	bind, sink string
	tasks      int           // how many tasks, numbered from 1
	workers    int           // how many workers to wait for before sending
	work       time.Duration // how long each task takes a worker
	resume     time.Duration // how long a lost worker's tasks wait for it
	retry      time.Duration // how long without any result before sending missing tasks again
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
		fs.DurationVar(&c.retry, "retry", 3*time.Second, "how long without any result before sending the missing tasks again")
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

// ventilator sends one batch of tasks and sends again, until the sink has
// reported every result, the tasks whose results went missing.
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
	if err := waitPeers(ctx, sink, 1); err != nil {
		return err
	}
	if err := waitPeers(ctx, tasks, cfg.workers); err != nil {
		return err
	}

	batch := []byte(fmt.Sprintf("%08x", rand.Uint32()))
	if err := sink.Send(ctx, []byte("batch"), batch, []byte(strconv.Itoa(cfg.tasks))); err != nil {
		return err
	}
	work := []byte(cfg.work.String())
	missing := make(map[int]bool, cfg.tasks)
	for id := 1; id <= cfg.tasks; id++ {
		missing[id] = true
		if err := tasks.Send(ctx, batch, []byte(strconv.Itoa(id)), work); err != nil {
			return err
		}
	}
	fmt.Fprintf(out, "ventilator: batch %s: sent %d tasks of %v each\n", batch, cfg.tasks, cfg.work)

	again := 0
	for len(missing) > 0 {
		rctx, cancel := context.WithTimeout(ctx, cfg.retry)
		m, err := sink.Recv(rctx)
		cancel()
		if err != nil && ctx.Err() == nil && rctx.Err() != nil {
			// No result for cfg.retry: the workers have nothing left to
			// work on (cfg.retry is longer than a task), so what is still
			// missing was lost, most likely taken by a worker that died
			// before its result got out. PUSH cannot know about those: a
			// worker acknowledges a task when it takes it.
			ids := make([]int, 0, len(missing))
			for id := range missing {
				ids = append(ids, id)
			}
			slices.Sort(ids)
			fmt.Fprintf(out, "ventilator: no result for %v, sending again: tasks %s\n", cfg.retry, joinInts(ids))
			for _, id := range ids {
				if err := tasks.Send(ctx, batch, []byte(strconv.Itoa(id)), work); err != nil {
					return err
				}
			}
			again += len(ids)
			continue
		}
		if err != nil {
			if ctx.Err() != nil {
				return fmt.Errorf("interrupted with %d results missing", len(missing))
			}
			return err
		}
		if len(m) != 2 || string(m[0]) != string(batch) {
			continue // a report about another batch
		}
		id, _ := strconv.Atoi(string(m[1]))
		delete(missing, id)
	}
	fmt.Fprintf(out, "ventilator: all %d results in; tasks resent by the PUSH socket: %d, sent again by the ventilator: %d\n",
		cfg.tasks, tasks.Stats().Resends, again)
	return nil
}

// worker runs tasks until it is stopped.
func worker(ctx context.Context, out io.Writer, cfg workerConfig) error {
	tasks, err := socket.New(socket.Pull)
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
		// Taking a task acknowledges it to the ventilator: from here on
		// only this process has it, and if it dies before the result is
		// out, the task is lost until the ventilator sends it again.
		m, err := tasks.Recv(ctx)
		if ctx.Err() != nil {
			break
		}
		if err != nil {
			return err
		}
		if len(m) != 3 {
			fmt.Fprintf(out, "%s: malformed task dropped\n", cfg.name)
			continue
		}
		work, err := time.ParseDuration(string(m[2]))
		if err != nil {
			fmt.Fprintf(out, "%s: task %s: %v\n", cfg.name, m[1], err)
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
	}
	// Stopped. Close waits a while for the sink to acknowledge the last
	// results; if it has gone, they are not needed any more.
	tasks.Close()
	if err := results.Close(); errors.Is(err, socket.ErrUndelivered) {
		fmt.Fprintf(out, "%s: %v\n", cfg.name, err)
	}
	return nil
}

// sink collects the results of one batch, each task's once, and reports
// each to the ventilator.
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
			// The same task run twice: its worker died before the
			// ventilator heard its acknowledgement, or the ventilator sent
			// it again. The first result counts.
			dups++
			fmt.Fprintf(out, "sink: task %d from %s again (counted from %s), dropped\n", id, m[2], first)
			continue
		}
		from[id] = string(m[2])
		fmt.Fprintf(out, "sink: task %d from %s\n", id, m[2])
		if err := control.Send(ctx, []byte(batch), m[1]); err != nil {
			return err
		}
	}
	fmt.Fprintf(out, "sink: all %d results, each counted once; duplicates dropped: %d\n", n, dups)
	// Close waits for the ventilator to take the last reports.
	return control.Close()
}

// waitPeers waits until n peers are connected to s, counting its
// connection events.
func waitPeers(ctx context.Context, s *socket.Socket, n int) error {
	connected := 0
	for connected < n {
		select {
		case ev, ok := <-s.Events():
			if !ok {
				return socket.ErrClosed
			}
			switch ev.Kind {
			case socket.EventConnected:
				connected++
			case socket.EventDisconnected:
				connected--
			}
		case <-ctx.Done():
			return fmt.Errorf("interrupted with %d of %d peers connected", connected, n)
		}
	}
	return nil
}

// sleep stands for a task's work: it waits d, or until ctx ends and then
// reports false.
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

func joinInts(ids []int) string {
	s := make([]string, len(ids))
	for i, id := range ids {
		s[i] = strconv.Itoa(id)
	}
	return strings.Join(s, ", ")
}
