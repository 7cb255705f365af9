package tq

import (
	"cmp"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"slices"
	"strconv"
	"sync"

	"github.com/wispmq/wisp/socket"
)

// A Client submits tasks to the workers connected to it and collects their
// results. It is safe for concurrent use.
type Client struct {
	cfg      config
	rtr      *socket.Socket
	endpoint string

	submits chan submission
	msgs    *socket.Poller // the ROUTER's messages, for the loop's select
	quit    chan struct{}
	wg      sync.WaitGroup
	once    sync.Once

	// Owned by the loop goroutine.
	connected map[string]int      // connections of each peer session (hex), from the events
	workers   map[string]*worker  // by peer session (hex), the key of its routing id
	order     []string            // worker keys in the order they joined, for taking turns
	next      int                 // the worker to try first for the next task
	seq       uint64              // tasks submitted so far
	tasks     map[string]*Handle  // by id: submitted, no result yet
	pending   []*Handle           // waiting for a worker with room, oldest first
	events    <-chan socket.Event // the ROUTER's; nil once it is closed
}

// worker is what the Client knows of one connected worker.
type worker struct {
	rid      []byte // its routing id on the ROUTER
	name     string
	capacity int
	running  map[string]*Handle // tasks given to it, without a result yet
}

type submission struct {
	h   *Handle
	err chan error
}

// A Handle is a submitted task.
type Handle struct {
	id   string
	seq  uint64 // submission order
	name string
	args []byte
	done chan struct{}

	// Written by the Client's loop; read by others only after done is
	// closed.
	result   json.RawMessage
	err      error
	worker   string
	attempts int
	queued   bool // in the Client's pending list
}

// NewClient binds a Client to endpoint ("tcp://127.0.0.1:5555"; port 0
// picks a free port, see Endpoint). Workers connect to it.
func NewClient(endpoint string, opts ...Option) (*Client, error) {
	cfg := defaults()
	for _, o := range opts {
		o(&cfg)
	}
	rtr, err := socket.New(socket.Router,
		// The Client keeps every task until its result arrives, so a task
		// message still unacknowledged at Close needs no lingering.
		socket.WithLinger(0),
		// Worker departures come as events; lose none of them.
		socket.WithEventBuffer(4096))
	if err != nil {
		return nil, err
	}
	ep, err := rtr.Bind(endpoint)
	if err != nil {
		rtr.Close()
		return nil, err
	}
	msgs, err := socket.NewPoller(rtr)
	if err != nil {
		rtr.Close()
		return nil, err
	}
	c := &Client{
		cfg:       cfg,
		rtr:       rtr,
		endpoint:  ep,
		submits:   make(chan submission),
		msgs:      msgs,
		quit:      make(chan struct{}),
		connected: make(map[string]int),
		workers:   make(map[string]*worker),
		tasks:     make(map[string]*Handle),
		events:    rtr.Events(),
	}
	c.wg.Add(1)
	go c.loop()
	return c, nil
}

// Endpoint returns the endpoint workers connect to, with the real port.
func (c *Client) Endpoint() string { return c.endpoint }

// Submit queues the task name with args (encoded as a JSON array) and
// returns its Handle at once; the task goes to the first worker with room.
func (c *Client) Submit(ctx context.Context, name string, args ...any) (*Handle, error) {
	if args == nil {
		args = []any{}
	}
	b, err := json.Marshal(args)
	if err != nil {
		return nil, err
	}
	h := &Handle{id: newID(), name: name, args: b, done: make(chan struct{})}
	s := submission{h: h, err: make(chan error, 1)}
	select {
	case c.submits <- s:
	case <-c.quit:
		return nil, ErrClosed
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	if err := <-s.err; err != nil {
		return nil, err
	}
	return h, nil
}

// Close stops the Client. Get on a task whose result has not arrived
// returns ErrClosed; tasks still running on workers are abandoned.
func (c *Client) Close() error {
	c.once.Do(func() { close(c.quit) })
	err := c.rtr.Close()
	c.wg.Wait()
	c.msgs.Close()
	if errors.Is(err, socket.ErrUndelivered) {
		err = nil // see WithLinger(0) in NewClient
	}
	return err
}

// ID returns the task's id, unique to this submission.
func (h *Handle) ID() string { return h.id }

// Name returns the task's name.
func (h *Handle) Name() string { return h.name }

// Get waits for the task's result and returns it as JSON, or the task's
// error (a *TaskError), ErrClosed if the Client closed first, or ctx's
// error. Get may be called any number of times.
func (h *Handle) Get(ctx context.Context) (json.RawMessage, error) {
	select {
	case <-h.done:
		return h.result, h.err
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// Worker returns the name of the worker whose result Get returned, once
// Get has returned it.
func (h *Handle) Worker() string {
	select {
	case <-h.done:
		return h.worker
	default:
		return ""
	}
}

// Attempts returns how many times the task was given to a worker, once
// Get has returned: more than 1 when a worker running it went away.
func (h *Handle) Attempts() int {
	select {
	case <-h.done:
		return h.attempts
	default:
		return 0
	}
}

func newID() string {
	var b [8]byte
	rand.Read(b[:]) // never fails, per crypto/rand's documentation
	return hex.EncodeToString(b[:])
}

// loop owns the Client's state: it takes submissions, messages and the
// ROUTER's connection events one at a time, and gives tasks to workers.
func (c *Client) loop() {
	defer c.wg.Done()
	for {
		select {
		case <-c.quit:
			for _, h := range c.tasks {
				c.finish(h, nil, ErrClosed, "")
			}
			return
		case s := <-c.submits:
			if len(c.pending) >= c.cfg.maxPending {
				s.err <- ErrQueueFull
				continue
			}
			c.seq++
			s.h.seq = c.seq
			c.tasks[s.h.id] = s.h
			c.enqueue(s.h)
			s.err <- nil
		case e, ok := <-c.events:
			if !ok {
				c.events = nil
				continue
			}
			c.event(e)
		case <-c.msgs.Ready():
			for {
				_, m, err := c.msgs.TryRecv()
				if err != nil {
					break // ErrNoMessage: all taken (or ErrClosed at Close)
				}
				// A connection's events are sent before any of its
				// messages can be received, and its disconnection after
				// the last: taking the events first tells whether the
				// sender is still connected.
				c.drainEvents()
				c.message(m)
			}
		}
		c.dispatch()
	}
}

func (c *Client) drainEvents() {
	for c.events != nil {
		select {
		case e, ok := <-c.events:
			if !ok {
				c.events = nil
				return
			}
			c.event(e)
		default:
			return
		}
	}
}

// event tracks which peers are connected. A worker left without a
// connection is gone: the tasks it was running go back to the front of the
// queue. If only its connection broke and it comes back, it says hello
// again and may finish those tasks too; the first result wins.
//
// Connections are counted, not flagged: a peer's new connection can replace
// its old one before the old one's end is reported.
func (c *Client) event(e socket.Event) {
	switch e.Kind {
	case socket.EventConnected:
		c.connected[e.Session]++
	case socket.EventDisconnected:
		if c.connected[e.Session]--; c.connected[e.Session] > 0 {
			return
		}
		delete(c.connected, e.Session)
		w := c.workers[e.Session]
		if w == nil {
			return
		}
		delete(c.workers, e.Session)
		for i, k := range c.order {
			if k == e.Session {
				c.order = append(c.order[:i], c.order[i+1:]...)
				break
			}
		}
		var again []*Handle
		for _, h := range w.running {
			if _, live := c.tasks[h.id]; live && !h.queued {
				h.queued = true
				again = append(again, h)
			}
		}
		slices.SortFunc(again, func(a, b *Handle) int { return cmp.Compare(a.seq, b.seq) })
		if len(again) > 0 {
			c.cfg.logf("worker %s gone; redelivering %d task(s)", w.name, len(again))
		} else {
			c.cfg.logf("worker %s gone", w.name)
		}
		c.pending = append(again, c.pending...)
	}
}

// message handles one message from a worker: [routing id, kind, ...].
func (c *Client) message(m socket.Message) {
	if len(m) < 2 {
		return
	}
	// A peer's routing id is its session id unless it set another one;
	// workers do not, so the id names the peer in the events too.
	key := hex.EncodeToString(m[0])
	switch string(m[1]) {
	case kindHello:
		if len(m) != 4 || c.connected[key] == 0 {
			return // malformed, or from a connection that has ended since
		}
		n, err := strconv.Atoi(string(m[3]))
		if err != nil || n < 1 {
			return
		}
		w := c.workers[key]
		if w == nil {
			w = &worker{rid: m[0], running: make(map[string]*Handle)}
			c.workers[key] = w
			c.order = append(c.order, key)
		}
		w.name, w.capacity = string(m[2]), n
		c.cfg.logf("worker %s joined, runs %d at a time", w.name, n)
	case kindResult:
		if len(m) != 6 {
			return
		}
		id, name := string(m[2]), string(m[3])
		if w := c.workers[key]; w != nil {
			delete(w.running, id) // room for another task
		}
		h := c.tasks[id]
		if h == nil {
			return // a second result of a task that ran twice
		}
		if string(m[4]) == statusOK {
			c.finish(h, json.RawMessage(m[5]), nil, name)
		} else {
			c.finish(h, nil, &TaskError{Task: h.name, Worker: name, Msg: string(m[5])}, name)
		}
	}
}

func (c *Client) enqueue(h *Handle) {
	h.queued = true
	c.pending = append(c.pending, h)
}

func (c *Client) finish(h *Handle, result json.RawMessage, err error, worker string) {
	delete(c.tasks, h.id)
	h.result, h.err, h.worker = result, err, worker
	close(h.done)
}

// dispatch gives waiting tasks to workers with room, taking turns.
func (c *Client) dispatch() {
	for len(c.pending) > 0 {
		h := c.pending[0]
		if _, live := c.tasks[h.id]; !live {
			c.pending = c.pending[1:] // its result came from an earlier run
			continue
		}
		w := c.pick()
		if w == nil {
			return
		}
		c.pending = c.pending[1:]
		h.queued = false
		h.attempts++
		w.running[h.id] = h
		// A known peer's queue is far below its high-water mark (it gets
		// at most capacity tasks), so this does not wait.
		if err := c.rtr.Send(context.Background(), w.rid, []byte(kindTask), []byte(h.id), []byte(h.name), h.args); err != nil {
			return // closed
		}
	}
	if len(c.pending) == 0 {
		c.pending = nil // let the backing array go
	}
}

// pick returns the next worker, in turn, that runs fewer tasks than it
// can, or nil.
func (c *Client) pick() *worker {
	for i := range c.order {
		k := c.order[(c.next+i)%len(c.order)]
		if w := c.workers[k]; len(w.running) < w.capacity {
			c.next = (c.next + i + 1) % len(c.order)
			return w
		}
	}
	return nil
}
