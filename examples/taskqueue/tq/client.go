package tq

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"sync"
	"time"

	"github.com/wispmq/wisp/socket"
)

// A Client submits tasks to a Broker and reads their states and results.
// It is safe for concurrent use. Every call is a request it sends again
// until the Broker answers (at once after a reconnection, and every
// resend interval), so calls ride out a Broker restart; their contexts
// bound how long they try.
type Client struct {
	cfg    config
	d      *socket.Socket
	cancel context.CancelFunc // ends the receiving goroutine
	quit   chan struct{}
	once   sync.Once
	wg     sync.WaitGroup

	mu      sync.Mutex
	waiters map[string][]*waiter // by task id
	epoch   chan struct{}        // closed, and replaced, at every connection to the Broker
}

// A waiter is a call waiting for the Broker's answer about one task.
type waiter struct {
	want func(kind string, ti *TaskInfo) bool // whether an answer is the one
	// "unknown" answers every call about a task's state, and none about
	// a submission (which makes the task known).
	unknownAnswers bool
	ch             chan answer // capacity 1
}

type answer struct {
	info *TaskInfo
	err  error
}

// NewClient returns a Client of the Broker at endpoint. It connects in the
// background, and keeps reconnecting, so the Broker may start later.
func NewClient(endpoint string, opts ...Option) (*Client, error) {
	d, err := socket.New(socket.Dealer,
		socket.WithReconnectInterval(socket.DefaultReconnectInterval, reconnectMax),
		// Requests are sent again until answered: none needs lingering.
		socket.WithLinger(0))
	if err != nil {
		return nil, err
	}
	if err := d.Connect(endpoint); err != nil {
		d.Close()
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	c := &Client{
		cfg: configure(opts), d: d, cancel: cancel, quit: make(chan struct{}),
		waiters: make(map[string][]*waiter), epoch: make(chan struct{}),
	}
	c.wg.Add(2)
	go c.receive(ctx)
	go c.watchConnections()
	return c, nil
}

// Close stops the Client: calls in progress return ErrClosed. Tasks
// submitted stay with the Broker.
func (c *Client) Close() error {
	c.once.Do(func() { close(c.quit) })
	c.cancel()
	err := c.d.Close()
	c.wg.Wait()
	if errors.Is(err, socket.ErrUndelivered) {
		err = nil // see WithLinger(0) in NewClient
	}
	return err
}

// A TaskOption sets how a task submitted with Apply is run.
type TaskOption func(*TaskInfo)

// Countdown makes the task run no sooner than d from now (Celery's
// countdown). The time is the Client's clock, as Celery's is the
// producer's: the Broker's clock should agree.
func Countdown(d time.Duration) TaskOption {
	return func(ti *TaskInfo) { ti.ETA = time.Now().Add(d) }
}

// ETA makes the task run no sooner than t.
func ETA(t time.Time) TaskOption {
	return func(ti *TaskInfo) { ti.ETA = t }
}

// MaxRetries lets the task be retried up to n times after a failed
// attempt (default 0: its first failure is final).
func MaxRetries(n int) TaskOption {
	return func(ti *TaskInfo) { ti.MaxRetries = n }
}

// RetryBackoff sets the wait before the first retry (default
// DefaultBackoff), doubled for each next retry up to most (default
// DefaultBackoffMax).
func RetryBackoff(first, most time.Duration) TaskOption {
	return func(ti *TaskInfo) { ti.Backoff, ti.BackoffMax = first, most }
}

// ID gives the task an id of the caller's choosing instead of a random
// one. Submitting a task with an id the Broker has already makes no new
// task: it is the way to submit exactly once across a crash of the
// submitting program.
func ID(id string) TaskOption {
	return func(ti *TaskInfo) { ti.ID = id }
}

// The retry backoff unless RetryBackoff says otherwise: Celery's
// retry_backoff of 1 s and retry_backoff_max of 600 s.
const (
	DefaultBackoff    = time.Second
	DefaultBackoffMax = 10 * time.Minute
)

// Submit submits the task name with args (encoded as a JSON array), to
// run at once, without retries (Celery's delay). It returns once the
// Broker has the task on disk.
func (c *Client) Submit(ctx context.Context, name string, args ...any) (*Handle, error) {
	return c.Apply(ctx, name, args)
}

// Apply submits the task name with args (encoded as a JSON array), run
// as opts say (Celery's apply_async). It returns once the Broker has the
// task on disk.
func (c *Client) Apply(ctx context.Context, name string, args []any, opts ...TaskOption) (*Handle, error) {
	if args == nil {
		args = []any{}
	}
	b, err := json.Marshal(args)
	if err != nil {
		return nil, err
	}
	sub := TaskInfo{ID: newID(), Name: name, Args: b, Backoff: DefaultBackoff, BackoffMax: DefaultBackoffMax}
	for _, o := range opts {
		o(&sub)
	}
	body, err := json.Marshal(&sub)
	if err != nil {
		return nil, err
	}
	accepted := func(kind string, _ *TaskInfo) bool { return kind == kindAccepted }
	if _, err := c.request(ctx, sub.ID, accepted, []byte(kindSubmit), body); err != nil {
		return nil, err
	}
	return &Handle{c: c, id: sub.ID, name: name}, nil
}

// Result returns the Handle of the task id (Celery's AsyncResult), for a
// task submitted by any Client.
func (c *Client) Result(id string) *Handle { return &Handle{c: c, id: id} }

// A Handle is a submitted task, read from the Broker by its id.
type Handle struct {
	c    *Client
	id   string
	name string
}

// ID returns the task's id.
func (h *Handle) ID() string { return h.id }

// Name returns the task's name, if the Handle came from Submit or Apply.
func (h *Handle) Name() string { return h.name }

// Info returns what the Broker knows of the task now, its history
// included, or ErrNoSuchTask.
func (h *Handle) Info(ctx context.Context) (*TaskInfo, error) {
	state := func(kind string, _ *TaskInfo) bool { return kind == kindState }
	return h.c.request(ctx, h.id, state, []byte(kindStatus), []byte(h.id))
}

// Status returns the task's state now (Celery's result.status).
func (h *Handle) Status(ctx context.Context) (State, error) {
	ti, err := h.Info(ctx)
	if err != nil {
		return "", err
	}
	return ti.State, nil
}

// Ready reports whether the task has finished, in success or failure
// (Celery's result.ready()).
func (h *Handle) Ready(ctx context.Context) (bool, error) {
	s, err := h.Status(ctx)
	return s.Ready(), err
}

// Get waits until the task has finished and returns its result as JSON,
// or its final failure (a *TaskError), ErrNoSuchTask, ErrClosed, or ctx's
// error (Celery's result.get(timeout=...) with a context).
func (h *Handle) Get(ctx context.Context) (json.RawMessage, error) {
	ti, err := h.Wait(ctx)
	if err != nil {
		return nil, err
	}
	return ti.Outcome()
}

// Wait waits until the task has finished and returns what the Broker
// knows of it then.
func (h *Handle) Wait(ctx context.Context) (*TaskInfo, error) {
	final := func(kind string, ti *TaskInfo) bool { return kind == kindState && ti.State.Ready() }
	return h.c.request(ctx, h.id, final, []byte(kindWatch), []byte(h.id))
}

func newID() string {
	var b [16]byte
	rand.Read(b[:]) // never fails, per crypto/rand's documentation
	return hex.EncodeToString(b[:])
}

// request sends frames about task id until an answer about it that want
// accepts arrives (or ErrNoSuchTask), ctx ends or the Client closes. It
// sends them again at once after every reconnection, the Broker perhaps
// being a new one that never saw them, and every resend interval, in case
// the Broker took them and died before answering.
func (c *Client) request(ctx context.Context, id string, want func(string, *TaskInfo) bool, frames ...[]byte) (*TaskInfo, error) {
	w := &waiter{want: want, unknownAnswers: string(frames[0]) != kindSubmit, ch: make(chan answer, 1)}
	c.mu.Lock()
	c.waiters[id] = append(c.waiters[id], w)
	c.mu.Unlock()
	defer c.forget(id, w)
	tick := time.NewTicker(c.cfg.resend)
	defer tick.Stop()
	for {
		c.mu.Lock()
		epoch := c.epoch
		c.mu.Unlock()
		if err := c.d.Send(ctx, frames...); err != nil {
			if errors.Is(err, socket.ErrClosed) {
				return nil, ErrClosed
			}
			return nil, err
		}
		select {
		case a := <-w.ch:
			return a.info, a.err
		case <-epoch:
		case <-tick.C:
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-c.quit:
			return nil, ErrClosed
		}
	}
}

func (c *Client) forget(id string, w *waiter) {
	c.mu.Lock()
	defer c.mu.Unlock()
	ws := c.waiters[id]
	for i, x := range ws {
		if x == w {
			ws = append(ws[:i], ws[i+1:]...)
			break
		}
	}
	if len(ws) == 0 {
		delete(c.waiters, id)
	} else {
		c.waiters[id] = ws
	}
}

// receive takes the Broker's answers and hands each to the calls waiting
// for it.
func (c *Client) receive(ctx context.Context) {
	defer c.wg.Done()
	for {
		m, err := c.d.Recv(ctx)
		if err != nil {
			return
		}
		if len(m) < 2 {
			continue
		}
		kind, id := string(m[0]), string(m[1])
		var a answer
		switch {
		case kind == kindAccepted && len(m) == 2:
		case kind == kindState && len(m) == 3:
			a.info = &TaskInfo{}
			if err := json.Unmarshal(m[2], a.info); err != nil {
				continue
			}
		case kind == kindUnknown && len(m) == 2:
			a.err = ErrNoSuchTask
		default:
			continue
		}
		c.mu.Lock()
		for _, w := range c.waiters[id] {
			if kind == kindUnknown && w.unknownAnswers || kind != kindUnknown && w.want(kind, a.info) {
				select {
				case w.ch <- a:
				default: // answered already
				}
			}
		}
		c.mu.Unlock()
	}
}

// watchConnections starts a new epoch at every connection to the Broker,
// so that calls waiting for an answer ask again.
func (c *Client) watchConnections() {
	defer c.wg.Done()
	for e := range c.d.Events() {
		if e.Kind == socket.EventConnected {
			c.mu.Lock()
			close(c.epoch)
			c.epoch = make(chan struct{})
			c.mu.Unlock()
		}
	}
}
