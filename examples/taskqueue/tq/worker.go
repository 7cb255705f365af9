package tq

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/wispmq/wisp/socket"
)

// A Worker runs the tasks a Broker gives it with the functions registered
// for their names, several at once (WithConcurrency).
type Worker struct {
	name  string
	cfg   config
	mu    sync.Mutex
	funcs map[string]Func
	// Results sent and not yet stored by the broker, by task id: sent again
	// on every reconnection and every resend interval until the broker
	// says "stored".
	unstored map[string][][]byte
}

// NewWorker returns a Worker that calls itself name in results and logs.
func NewWorker(name string, opts ...Option) *Worker {
	return &Worker{name: name, cfg: configure(opts), funcs: make(map[string]Func), unstored: make(map[string][][]byte)}
}

// Register makes fn the function of the tasks called name. A task whose
// name no function has fails (and is retried per its policy, in case
// another worker has the function).
func (w *Worker) Register(name string, fn Func) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.funcs[name] = fn
}

// Run connects to the Broker at endpoint and runs tasks until ctx ends.
// Tasks running then see their context end and their results are not
// sent: the Broker gives them to another worker. Run returns the error of
// closing its socket: nil, or one wrapping socket.ErrUndelivered if results
// were not acknowledged within the linger time.
func (w *Worker) Run(ctx context.Context, endpoint string) error {
	d, err := socket.New(socket.Dealer, socket.WithReconnectInterval(socket.DefaultReconnectInterval, reconnectMax))
	if err != nil {
		return err
	}
	if err := d.Connect(endpoint); err != nil {
		d.Close()
		return err
	}
	ctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Add(1 + w.cfg.concurrency)
	go func() {
		defer wg.Done()
		w.greet(ctx, d)
	}()
	for range w.cfg.concurrency {
		go func() {
			defer wg.Done()
			w.serve(ctx, d)
		}()
	}
	wg.Wait() // every goroutine ends when ctx does, or the socket fails
	cancel()
	return d.Close()
}

// greet says hello, with how many tasks this worker runs at once, each time
// its connection to the Broker is made (the Broker forgets a worker whose
// connection ended, and a restarted Broker never knew it), then sends the
// results the Broker has not stored yet; and those again every resend
// interval.
func (w *Worker) greet(ctx context.Context, d *socket.Socket) {
	capacity := []byte(strconv.Itoa(w.cfg.concurrency))
	tick := time.NewTicker(w.cfg.resend)
	defer tick.Stop()
	for {
		select {
		case e, ok := <-d.Events():
			if !ok {
				return
			}
			if e.Kind != socket.EventConnected {
				continue
			}
			if err := d.Send(ctx, []byte(kindHello), []byte(w.name), capacity); err != nil {
				return
			}
			if !w.resend(ctx, d) {
				return
			}
		case <-tick.C:
			if !w.resend(ctx, d) {
				return
			}
		case <-ctx.Done():
			return
		}
	}
}

// resend sends every unstored result again; it reports false if the socket
// failed (closed, or ctx ended).
func (w *Worker) resend(ctx context.Context, d *socket.Socket) bool {
	w.mu.Lock()
	again := make([][][]byte, 0, len(w.unstored))
	for _, m := range w.unstored {
		again = append(again, m)
	}
	w.mu.Unlock()
	for _, m := range again {
		if err := d.Send(ctx, m...); err != nil {
			return false
		}
	}
	return true
}

// serve takes one task at a time, runs it and sends its result; it also
// takes the Broker's "stored" answers, whichever goroutine they come to.
func (w *Worker) serve(ctx context.Context, d *socket.Socket) {
	for {
		m, err := d.Recv(ctx)
		if err != nil {
			return
		}
		switch {
		case len(m) == 2 && string(m[0]) == kindStored:
			w.mu.Lock()
			delete(w.unstored, string(m[1]))
			w.mu.Unlock()
			continue
		case len(m) != 5 || string(m[0]) != kindTask:
			continue
		}
		id, name, args := string(m[1]), string(m[2]), json.RawMessage(m[3])
		retries, err := strconv.Atoi(string(m[4]))
		if err != nil {
			continue
		}
		status, body := statusOK, []byte(nil)
		res, err := w.run(context.WithValue(ctx, runKey{}, run{id: id, retries: retries}), name, args)
		if err == nil {
			body, err = json.Marshal(res)
		}
		if ctx.Err() != nil {
			return // stopped: the Broker hands the task to another worker
		}
		if err != nil {
			status, body = statusErr, []byte(err.Error())
		}
		result := [][]byte{[]byte(kindResult), m[1], m[4], []byte(w.name), []byte(status), body}
		w.mu.Lock()
		w.unstored[id] = result
		w.mu.Unlock()
		if err := d.Send(ctx, result...); err != nil {
			return
		}
	}
}

// run calls the task's function, turning a panic into an error.
func (w *Worker) run(ctx context.Context, name string, args json.RawMessage) (res any, err error) {
	w.mu.Lock()
	fn := w.funcs[name]
	w.mu.Unlock()
	if fn == nil {
		return nil, fmt.Errorf("no task named %q", name)
	}
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("panic: %v", p)
		}
	}()
	call := Call(name, args)
	w.cfg.logf("%s: start %s, retries %d", w.name, call, Retries(ctx))
	res, err = fn(ctx, args)
	switch {
	case ctx.Err() != nil && errors.Is(err, ctx.Err()):
		w.cfg.logf("%s: stopped %s", w.name, call)
	case err != nil:
		w.cfg.logf("%s: failed %s: %v", w.name, call, err)
	default:
		w.cfg.logf("%s: done %s", w.name, call)
	}
	return res, err
}
