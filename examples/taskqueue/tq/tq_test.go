package tq

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func testContext(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func newClient(t *testing.T, opts ...Option) *Client {
	t.Helper()
	c, err := NewClient("tcp://127.0.0.1:0", opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// startWorker runs w against c until the returned stop is called (or the
// test ends).
func startWorker(t *testing.T, c *Client, w *Worker) (stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		w.Run(ctx, c.Endpoint())
	}()
	stop = func() { cancel(); <-done }
	t.Cleanup(stop)
	return stop
}

func add(_ context.Context, args json.RawMessage) (any, error) {
	var x []int
	if err := json.Unmarshal(args, &x); err != nil {
		return nil, err
	}
	sum := 0
	for _, v := range x {
		sum += v
	}
	return sum, nil
}

func TestSubmitGet(t *testing.T) {
	ctx := testContext(t)
	c := newClient(t)
	w := NewWorker("w1", WithConcurrency(3))
	w.Register("add", add)
	w.Register("fail", func(context.Context, json.RawMessage) (any, error) { return nil, errors.New("no luck") })
	w.Register("panic", func(context.Context, json.RawMessage) (any, error) { panic("oops") })
	startWorker(t, c, w)

	var hs []*Handle
	for i := range 20 {
		h, err := c.Submit(ctx, "add", i, 100)
		if err != nil {
			t.Fatal(err)
		}
		hs = append(hs, h)
	}
	for i, h := range hs {
		res, err := h.Get(ctx)
		if err != nil {
			t.Fatalf("task %d: %v", i, err)
		}
		if got, want := string(res), fmt.Sprint(i+100); got != want {
			t.Fatalf("task %d: got %s, want %s", i, got, want)
		}
		if h.Worker() != "w1" || h.Attempts() != 1 {
			t.Fatalf("task %d: got worker %q attempt %d, want w1 attempt 1", i, h.Worker(), h.Attempts())
		}
	}

	for name, want := range map[string]string{"fail": "no luck", "panic": "panic: oops", "nosuch": `no task named "nosuch"`} {
		h, err := c.Submit(ctx, name)
		if err != nil {
			t.Fatal(err)
		}
		_, err = h.Get(ctx)
		var te *TaskError
		if !errors.As(err, &te) || te.Msg != want || te.Task != name || te.Worker != "w1" {
			t.Fatalf("%s: got %v, want a TaskError %q from w1", name, err, want)
		}
	}
}

// TestRedeliverWhenWorkerStops stops a worker in the middle of a task: the
// task runs again, with the same id, on the other worker.
func TestRedeliverWhenWorkerStops(t *testing.T) {
	ctx := testContext(t)
	c := newClient(t)
	started := make(chan string, 1)
	w1 := NewWorker("w1")
	w1.Register("job", func(ctx context.Context, _ json.RawMessage) (any, error) {
		started <- TaskID(ctx)
		<-ctx.Done() // never finishes here
		return nil, ctx.Err()
	})
	stop1 := startWorker(t, c, w1)

	h, err := c.Submit(ctx, "job")
	if err != nil {
		t.Fatal(err)
	}
	var first string
	select {
	case first = <-started:
	case <-ctx.Done():
		t.Fatal("the task never started on w1")
	}
	stop1() // w1 goes away mid-task

	var second string
	w2 := NewWorker("w2")
	w2.Register("job", func(ctx context.Context, _ json.RawMessage) (any, error) {
		second = TaskID(ctx)
		return "ok", nil
	})
	startWorker(t, c, w2)
	res, err := h.Get(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if string(res) != `"ok"` || h.Worker() != "w2" || h.Attempts() != 2 {
		t.Fatalf("got %s from %q after %d attempts, want \"ok\" from w2 after 2", res, h.Worker(), h.Attempts())
	}
	if first != h.ID() || second != h.ID() {
		t.Fatalf("got task ids %q and %q, want %q both times", first, second, h.ID())
	}
}

// TestScaleOut gives two tasks to two workers that run one at a time: both
// must be running at once before either may finish.
func TestScaleOut(t *testing.T) {
	ctx := testContext(t)
	c := newClient(t)
	var started sync.WaitGroup
	started.Add(2)
	release := make(chan struct{})
	job := func(context.Context, json.RawMessage) (any, error) {
		started.Done()
		<-release
		return nil, nil
	}
	for _, name := range []string{"w1", "w2"} {
		w := NewWorker(name, WithConcurrency(1))
		w.Register("job", job)
		startWorker(t, c, w)
	}
	h1, err := c.Submit(ctx, "job")
	if err != nil {
		t.Fatal(err)
	}
	h2, err := c.Submit(ctx, "job")
	if err != nil {
		t.Fatal(err)
	}
	started.Wait()
	close(release)
	for _, h := range []*Handle{h1, h2} {
		if _, err := h.Get(ctx); err != nil {
			t.Fatal(err)
		}
	}
	if h1.Worker() == h2.Worker() {
		t.Fatalf("got both tasks on %s, want one on each worker", h1.Worker())
	}
}

func TestQueueFullAndClose(t *testing.T) {
	ctx := testContext(t)
	c := newClient(t, WithMaxPending(1))
	h, err := c.Submit(ctx, "job") // no worker: it waits
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Submit(ctx, "job"); !errors.Is(err, ErrQueueFull) {
		t.Fatalf("got %v, want ErrQueueFull", err)
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := h.Get(ctx); !errors.Is(err, ErrClosed) {
		t.Fatalf("Get: got %v, want ErrClosed", err)
	}
	if _, err := c.Submit(ctx, "job"); !errors.Is(err, ErrClosed) {
		t.Fatalf("Submit after Close: got %v, want ErrClosed", err)
	}
}

func TestCall(t *testing.T) {
	if got, want := Call("add", json.RawMessage("[2,3]")), "add(2,3)"; got != want {
		t.Fatalf("got %q, want %q", got, want)
	}
}
