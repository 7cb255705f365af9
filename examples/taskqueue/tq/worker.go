package tq

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"sync"

	"github.com/wispmq/wisp/socket"
)

// A Worker runs the tasks a Client gives it with the functions registered
// for their names.
type Worker struct {
	name  string
	cfg   config
	mu    sync.Mutex
	funcs map[string]Func
}

// NewWorker returns a Worker that calls itself name in results and logs.
func NewWorker(name string, opts ...Option) *Worker {
	cfg := defaults()
	for _, o := range opts {
		o(&cfg)
	}
	return &Worker{name: name, cfg: cfg, funcs: make(map[string]Func)}
}

// Register makes fn the function of the tasks called name. A task whose
// name no function has fails with a TaskError.
func (w *Worker) Register(name string, fn Func) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.funcs[name] = fn
}

// Run connects to the Client at endpoint and runs tasks until ctx ends.
// Tasks running then see their context end and their results are not
// sent: the Client gives them to another worker. Run returns the error of
// closing its socket: nil, or one wrapping socket.ErrUndelivered if results
// were not acknowledged within the linger time.
func (w *Worker) Run(ctx context.Context, endpoint string) error {
	d, err := socket.New(socket.Dealer)
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
// its connection to the Client is made: the Client forgets a worker whose
// connection ended.
func (w *Worker) greet(ctx context.Context, d *socket.Socket) {
	capacity := []byte(strconv.Itoa(w.cfg.concurrency))
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
		case <-ctx.Done():
			return
		}
	}
}

// serve takes one task at a time and sends its result.
func (w *Worker) serve(ctx context.Context, d *socket.Socket) {
	for {
		m, err := d.Recv(ctx)
		if err != nil {
			return
		}
		if len(m) != 4 || string(m[0]) != kindTask {
			continue
		}
		id, name, args := string(m[1]), string(m[2]), json.RawMessage(m[3])
		status, body := statusOK, []byte(nil)
		res, err := w.run(context.WithValue(ctx, taskIDKey{}, id), name, args)
		if err == nil {
			body, err = json.Marshal(res)
		}
		if ctx.Err() != nil {
			return // stopped: the Client hands the task to another worker
		}
		if err != nil {
			status, body = statusErr, []byte(err.Error())
		}
		if err := d.Send(ctx, []byte(kindResult), m[1], []byte(w.name), []byte(status), body); err != nil {
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
	w.cfg.logf("%s: start %s", w.name, call)
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
