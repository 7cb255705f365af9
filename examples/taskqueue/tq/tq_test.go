package tq

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/wispmq/wisp/socket"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func testContext(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// newBroker runs a Broker on a file in the test's directory.
func newBroker(t *testing.T, path string, opts ...Option) *Broker {
	t.Helper()
	if path == "" {
		path = filepath.Join(t.TempDir(), "tq.db")
	}
	b, err := NewBroker("tcp://127.0.0.1:0", path, opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	return b
}

func newClient(t *testing.T, b *Broker) *Client {
	t.Helper()
	c, err := NewClient(b.Endpoint(), WithResendInterval(200*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// startWorker runs w against endpoint until the returned stop is called
// (or the test ends).
func startWorker(t *testing.T, endpoint string, w *Worker) (stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		w.Run(ctx, endpoint)
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

// states is a task's history as its states.
func states(ti *TaskInfo) []State {
	var s []State
	for _, tr := range ti.History {
		s = append(s, tr.State)
	}
	return s
}

func TestSubmitGet(t *testing.T) {
	ctx := testContext(t)
	b := newBroker(t, "")
	c := newClient(t, b)
	w := NewWorker("w1", WithConcurrency(3))
	w.Register("add", add)
	w.Register("fail", func(context.Context, json.RawMessage) (any, error) { return nil, errors.New("no luck") })
	w.Register("panic", func(context.Context, json.RawMessage) (any, error) { panic("oops") })
	startWorker(t, b.Endpoint(), w)

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
		ti, err := h.Info(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if want := []State{Pending, Started, Success}; ti.Worker != "w1" || !slices.Equal(states(ti), want) {
			t.Fatalf("task %d: got worker %q, states %v; want w1, %v", i, ti.Worker, states(ti), want)
		}
	}

	for name, want := range map[string]string{"fail": "no luck", "panic": "panic: oops", "nosuch": `no task named "nosuch"`} {
		h, err := c.Submit(ctx, name)
		if err != nil {
			t.Fatal(err)
		}
		_, err = h.Get(ctx)
		var te *TaskError
		if !errors.As(err, &te) || te.Msg != want || te.Task != name || te.Worker != "w1" || te.ID != h.ID() {
			t.Fatalf("%s: got %v, want a TaskError %q from w1", name, err, want)
		}
	}
	if _, err := c.Result("no-such-id").Get(ctx); !errors.Is(err, ErrNoSuchTask) {
		t.Fatalf("Get of an unknown id: got %v, want ErrNoSuchTask", err)
	}
}

// TestStates follows one task through Pending (no worker yet), Started
// (its function is running) and Success, with Ready false then true.
func TestStates(t *testing.T) {
	ctx := testContext(t)
	b := newBroker(t, "")
	c := newClient(t, b)
	h, err := c.Submit(ctx, "job")
	if err != nil {
		t.Fatal(err)
	}
	check := func(want State) {
		t.Helper()
		s, err := h.Status(ctx)
		if err != nil || s != want {
			t.Fatalf("got %v, %v; want %v", s, err, want)
		}
		if r, err := h.Ready(ctx); err != nil || r != want.Ready() {
			t.Fatalf("Ready: got %v, %v; want %v", r, err, want.Ready())
		}
	}
	check(Pending)

	running, release := make(chan struct{}), make(chan struct{})
	w := NewWorker("w1")
	w.Register("job", func(context.Context, json.RawMessage) (any, error) {
		close(running)
		<-release
		return "ok", nil
	})
	startWorker(t, b.Endpoint(), w)
	<-running
	check(Started)
	// Get's context ending gives up the wait, not the task.
	short, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
	defer cancel()
	if _, err := h.Get(short); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Get before the end: got %v, want context.DeadlineExceeded", err)
	}
	close(release)
	if res, err := h.Get(ctx); err != nil || string(res) != `"ok"` {
		t.Fatalf(`got %s, %v; want "ok"`, res, err)
	}
	check(Success)
}

// TestCountdownAndRetry runs a task with a countdown and one that fails
// twice before it succeeds, and one that fails more often than its
// retries allow: none starts before it is due, the backoff doubles, and
// the last failure is kept.
func TestCountdownAndRetry(t *testing.T) {
	ctx := testContext(t)
	b := newBroker(t, "")
	c := newClient(t, b)
	w := NewWorker("w1", WithConcurrency(4))
	w.Register("add", add)
	w.Register("flaky", func(ctx context.Context, args json.RawMessage) (any, error) {
		var fails int
		json.Unmarshal(args, &[]any{&fails})
		if r := Retries(ctx); r < fails {
			return nil, fmt.Errorf("failure %d", r+1)
		}
		return "ok", nil
	})
	startWorker(t, b.Endpoint(), w)

	const countdown, base = 300 * time.Millisecond, 50 * time.Millisecond
	before := time.Now()
	later, err := c.Apply(ctx, "add", []any{1, 2}, Countdown(countdown))
	if err != nil {
		t.Fatal(err)
	}
	flaky, err := c.Apply(ctx, "flaky", []any{2}, MaxRetries(3), RetryBackoff(base, time.Second))
	if err != nil {
		t.Fatal(err)
	}
	doomed, err := c.Apply(ctx, "flaky", []any{5}, MaxRetries(2), RetryBackoff(base, 60*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}

	ti, err := later.Wait(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if start := ti.History[1].At; start.Before(ti.ETA) || ti.ETA.Before(before.Add(countdown)) {
		t.Fatalf("started at %v, submitted at %v, ETA %v: want it started after its countdown of %v", start, before, ti.ETA, countdown)
	}

	ti, err = flaky.Wait(ctx)
	if err != nil {
		t.Fatal(err)
	}
	want := []State{Pending, Started, Retry, Started, Retry, Started, Success}
	if !slices.Equal(states(ti), want) || ti.Retries != 2 || ti.Error != "failure 2" {
		t.Fatalf("got %v after %d retries (last error %q), want %v after 2 (failure 2)", states(ti), ti.Retries, ti.Error, want)
	}
	for i, wait := range map[int]time.Duration{2: base, 4: 2 * base} {
		r, next := ti.History[i], ti.History[i+1]
		if r.ETA.Sub(r.At) != wait || next.At.Before(r.ETA) {
			t.Fatalf("retry at %v due %v, next start %v: want due %v later, and started after", r.At, r.ETA, next.At, wait)
		}
	}

	_, err = doomed.Get(ctx)
	var te *TaskError
	if !errors.As(err, &te) || te.Retries != 2 || te.Msg != "failure 3" {
		t.Fatalf("got %v, want the TaskError of failure 3 after 2 retries", err)
	}
	ti, err = doomed.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	want = []State{Pending, Started, Retry, Started, Retry, Started, Failure}
	if !slices.Equal(states(ti), want) {
		t.Fatalf("got %v, want %v", states(ti), want)
	}
	if r := ti.History[4]; r.ETA.Sub(r.At) != 60*time.Millisecond {
		t.Fatalf("second retry due %v after it, want the 60ms cap", r.ETA.Sub(r.At))
	}
}

// TestRestartKeepsTasksAndResults closes a broker with a finished task, a
// queued one and a scheduled one, and makes another on the same file and
// endpoint: the client, still connected, gets them all.
func TestRestartKeepsTasksAndResults(t *testing.T) {
	ctx := testContext(t)
	path := filepath.Join(t.TempDir(), "tq.db")
	b := newBroker(t, path)
	ep := b.Endpoint()
	c := newClient(t, b)
	w := NewWorker("w1")
	w.Register("add", add)
	stop := startWorker(t, ep, w)
	done, err := c.Submit(ctx, "add", 1, 1)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := done.Get(ctx); err != nil {
		t.Fatal(err)
	}
	stop()
	queued, err := c.Submit(ctx, "add", 2, 2)
	if err != nil {
		t.Fatal(err)
	}
	scheduled, err := c.Apply(ctx, "add", []any{3, 3}, Countdown(200*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}

	b2, err := NewBroker(ep, path)
	if err != nil {
		t.Fatal(err)
	}
	defer b2.Close()
	startWorker(t, ep, w)
	for h, want := range map[*Handle]string{done: "2", queued: "4", scheduled: "6"} {
		if res, err := h.Get(ctx); err != nil || string(res) != want {
			t.Fatalf("got %s, %v; want %s", res, err, want)
		}
	}
	if ti, err := done.Info(ctx); err != nil || len(ti.History) != 3 {
		t.Fatalf("the result from before the restart: got %+v, %v", ti, err)
	}
}

// TestIdempotent submits a task twice under one id and sends its result
// twice, and a result of a superseded attempt: one task, one result.
func TestIdempotent(t *testing.T) {
	ctx := testContext(t)
	b := newBroker(t, "")
	c := newClient(t, b)
	for range 2 {
		if _, err := c.Apply(ctx, "job", nil, ID("job-1"), MaxRetries(1), RetryBackoff(time.Millisecond, time.Millisecond)); err != nil {
			t.Fatal(err)
		}
	}
	// A worker by hand, to send what a real one sends only after a
	// failure.
	d, err := socket.New(socket.Dealer)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	if err := d.Connect(b.Endpoint()); err != nil {
		t.Fatal(err)
	}
	// The broker's replies to results and the tasks it schedules cross:
	// the retry of a failed attempt (1 ms backoff) may come before the
	// "stored" of the result sent after the failure. recv takes the next
	// message of a kind and keeps the others, in order, for later.
	var early []socket.Message
	recv := func(kind string) socket.Message {
		t.Helper()
		for i, m := range early {
			if string(m[0]) == kind {
				early = append(early[:i], early[i+1:]...)
				return m
			}
		}
		for range 10 {
			m, err := d.Recv(ctx)
			if err != nil {
				t.Fatalf("got %v; want a %q message", err, kind)
			}
			if string(m[0]) == kind {
				return m
			}
			early = append(early, m)
		}
		t.Fatalf("got %q; want a %q message among them", early, kind)
		return nil
	}
	result := func(retries, status, body string) {
		t.Helper()
		if err := d.Send(ctx, []byte(kindResult), []byte("job-1"), []byte(retries), []byte("fake"), []byte(status), []byte(body)); err != nil {
			t.Fatal(err)
		}
		recv(kindStored)
	}
	if err := d.Send(ctx, []byte(kindHello), []byte("fake"), []byte("1")); err != nil {
		t.Fatal(err)
	}
	if m := recv(kindTask); string(m[1]) != "job-1" || string(m[4]) != "0" {
		t.Fatalf("got %q, want job-1 at 0 retries", m)
	}
	result("0", statusErr, "first")
	result("0", statusErr, "first, again") // the same failure twice
	if m := recv(kindTask); string(m[4]) != "1" {
		t.Fatalf("got %q, want job-1 at 1 retry", m)
	}
	result("0", statusOK, `"late"`) // the superseded attempt's
	result("1", statusOK, `"right"`)
	result("1", statusOK, `"again"`)

	ti, err := c.Result("job-1").Wait(ctx)
	if err != nil {
		t.Fatal(err)
	}
	want := []State{Pending, Started, Retry, Started, Success}
	if !slices.Equal(states(ti), want) || string(ti.Result) != `"right"` || ti.Error != "first" || ti.Seq != 1 {
		t.Fatalf("got %v, result %s, error %q, seq %d; want %v, \"right\", \"first\", 1", states(ti), ti.Result, ti.Error, ti.Seq, want)
	}
}

// TestRedeliverWhenWorkerStops stops a worker in the middle of a task: the
// task runs again, with the same id, on the other worker, and its history
// says Started twice.
func TestRedeliverWhenWorkerStops(t *testing.T) {
	ctx := testContext(t)
	b := newBroker(t, "")
	c := newClient(t, b)
	started := make(chan string, 1)
	w1 := NewWorker("w1")
	w1.Register("job", func(ctx context.Context, _ json.RawMessage) (any, error) {
		started <- TaskID(ctx)
		<-ctx.Done() // never finishes here
		return nil, ctx.Err()
	})
	stop1 := startWorker(t, b.Endpoint(), w1)
	h, err := c.Submit(ctx, "job")
	if err != nil {
		t.Fatal(err)
	}
	if first := <-started; first != h.ID() {
		t.Fatalf("got task id %q on w1, want %q", first, h.ID())
	}
	stop1() // w1 goes away mid-task

	w2 := NewWorker("w2")
	w2.Register("job", func(ctx context.Context, _ json.RawMessage) (any, error) { return TaskID(ctx), nil })
	startWorker(t, b.Endpoint(), w2)
	ti, err := h.Wait(ctx)
	if err != nil {
		t.Fatal(err)
	}
	want := []State{Pending, Started, Started, Success}
	if string(ti.Result) != `"`+h.ID()+`"` || ti.Worker != "w2" || !slices.Equal(states(ti), want) {
		t.Fatalf("got %s from %q, %v; want the task's id from w2, %v", ti.Result, ti.Worker, states(ti), want)
	}
}

// TestResultExpiry: a finished task's record is gone after its TTL.
func TestResultExpiry(t *testing.T) {
	ctx := testContext(t)
	b := newBroker(t, "", WithResultTTL(100*time.Millisecond))
	c := newClient(t, b)
	w := NewWorker("w1")
	w.Register("add", add)
	startWorker(t, b.Endpoint(), w)
	h, err := c.Submit(ctx, "add", 1)
	if err != nil {
		t.Fatal(err)
	}
	ti, err := h.Wait(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if got := ti.Expires.Sub(ti.Done); got != 100*time.Millisecond {
		t.Fatalf("expires %v after it finished, want 100ms", got)
	}
	time.Sleep(time.Until(ti.Expires) + 50*time.Millisecond)
	if _, err := h.Status(ctx); !errors.Is(err, ErrNoSuchTask) {
		t.Fatalf("after expiry: got %v, want ErrNoSuchTask", err)
	}
}

func TestBackoff(t *testing.T) {
	for _, c := range []struct {
		base, most time.Duration
		retry      int
		want       time.Duration
	}{
		{time.Second, 0, 1, time.Second},
		{time.Second, 0, 4, 8 * time.Second},
		{time.Second, 5 * time.Second, 4, 5 * time.Second},
		{time.Second, 10 * time.Minute, 100, 10 * time.Minute},
		{0, time.Minute, 3, 0},
	} {
		if got := backoff(c.base, c.most, c.retry); got != c.want {
			t.Errorf("backoff(%v, %v, %d) = %v, want %v", c.base, c.most, c.retry, got, c.want)
		}
	}
}

func TestCall(t *testing.T) {
	if got, want := Call("add", json.RawMessage("[2,3]")), "add(2,3)"; got != want {
		t.Fatalf("got %q, want %q", got, want)
	}
	if !strings.HasPrefix(string(Pending), "PEND") || Pending.Ready() || !Failure.Ready() {
		t.Fatal("states")
	}
}

// TestExpiryWhileDown: a result whose TTL ended while no broker ran is
// deleted from the file as soon as the next broker starts, with no
// request to wake it.
func TestExpiryWhileDown(t *testing.T) {
	ctx := testContext(t)
	path := filepath.Join(t.TempDir(), "tq.db")
	b := newBroker(t, path, WithResultTTL(50*time.Millisecond))
	c := newClient(t, b)
	w := NewWorker("w1")
	w.Register("add", add)
	stop := startWorker(t, b.Endpoint(), w)
	h, err := c.Submit(ctx, "add", 1)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := h.Get(ctx); err != nil {
		t.Fatal(err)
	}
	stop()
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(100 * time.Millisecond)

	b2, err := NewBroker("tcp://127.0.0.1:0", path, WithResultTTL(50*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(100 * time.Millisecond)
	if err := b2.Close(); err != nil {
		t.Fatal(err)
	}
	st, err := openStore(path)
	if err != nil {
		t.Fatal(err)
	}
	defer st.close()
	tasks, seq, err := st.load()
	if err != nil || len(tasks) != 0 || seq != 1 {
		t.Fatalf("the file holds %d task(s), seq %d (%v); want none, seq 1", len(tasks), seq, err)
	}
}
