package tq

import (
	"container/heap"
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"strconv"
	"sync"
	"time"

	"github.com/wispmq/wisp/socket"
)

// A Broker is the task queue: it accepts tasks from Clients, keeps them in
// its file, gives them to Workers when they are due and a worker has room,
// and stores their results for Clients to read. Every change is committed
// to the file before it is answered or acted on, so a Broker made again on
// the same file after a crash (SIGKILL included) has every task it
// accepted and every result it stored.
type Broker struct {
	cfg      config
	st       *store
	rtr      *socket.Socket
	endpoint string
	msgs     *socket.Poller // the ROUTER's messages, for the loop's select
	events   <-chan socket.Event
	quit     chan struct{}
	done     chan struct{}
	once     sync.Once
	err      error // why the loop stopped, if not Close; read after done

	// Owned by the loop goroutine.
	tasks     map[string]*task
	seq       uint64 // tasks accepted so far, ever
	queue     schedule
	expiring  expiries
	connected map[string]int               // connections of each peer session (hex), from the events
	workers   map[string]*worker           // by peer session (hex), the key of its routing id
	order     []string                     // worker keys in the order they joined, for taking turns
	next      int                          // the worker to try first for the next task
	watchers  map[string]map[string][]byte // task id -> peer key -> routing id: clients waiting for its end

	// The batch the loop is building: changes to commit, then messages to
	// send once they are committed.
	changed map[string]*task
	deleted []string
	out     [][][]byte
}

// worker is what the Broker knows of one connected worker.
type worker struct {
	rid      []byte // its routing id on the ROUTER
	name     string
	capacity int
	running  map[string]int // task id -> the retry count it was given
}

// maxBatch bounds how many messages go into one commit, so that answers
// keep flowing under a flood.
const maxBatch = 1000

// sendTimeout bounds each send of the loop: a peer too slow to take its
// answers loses them and asks again, rather than stalling every other.
const sendTimeout = time.Second

// NewBroker opens (or makes) the broker's file at path, loads the tasks in
// it and binds endpoint ("tcp://127.0.0.1:5555"; port 0 picks a free port,
// see Endpoint), where Clients and Workers connect. Tasks that were
// running when the previous broker stopped are queued to run again: their
// workers' results, if they still come, are taken too (the first wins).
func NewBroker(endpoint, path string, opts ...Option) (*Broker, error) {
	cfg := configure(opts)
	st, err := openStore(path)
	if err != nil {
		return nil, err
	}
	tasks, seq, err := st.load()
	if err != nil {
		st.close()
		return nil, err
	}
	rtr, err := socket.New(socket.Router,
		// Every answer is repeated on request, so nothing needs lingering.
		socket.WithLinger(0),
		// Worker departures come as events; lose none of them.
		socket.WithEventBuffer(4096))
	if err != nil {
		st.close()
		return nil, err
	}
	ep, err := rtr.Bind(endpoint)
	if err != nil {
		rtr.Close()
		st.close()
		return nil, err
	}
	msgs, err := socket.NewPoller(rtr)
	if err != nil {
		rtr.Close()
		st.close()
		return nil, err
	}
	b := &Broker{
		cfg: cfg, st: st, rtr: rtr, endpoint: ep, msgs: msgs, events: rtr.Events(),
		quit: make(chan struct{}), done: make(chan struct{}),
		tasks: tasks, seq: seq,
		connected: make(map[string]int), workers: make(map[string]*worker),
		watchers: make(map[string]map[string][]byte), changed: make(map[string]*task),
	}
	var waiting, rerun, finished int
	for _, t := range tasks {
		switch t.State {
		case Pending, Retry:
			waiting++
			b.queue.add(t)
		case Started:
			// Its worker may still finish it, but nothing says so: run
			// it again (at least once), the first result to come wins.
			rerun++
			b.queue.add(t)
		default:
			finished++
			heap.Push(&b.expiring, expiry{at: t.Expires, id: t.ID})
		}
	}
	cfg.logf("loaded %d task(s): %d waiting, %d started before a restart (to run again), %d finished", len(tasks), waiting, rerun, finished)
	go b.loop()
	return b, nil
}

// Endpoint returns the endpoint Clients and Workers connect to, with the
// real port.
func (b *Broker) Endpoint() string { return b.endpoint }

// Done is closed when the broker stops: after Close, or when its file
// failed (Close then returns why).
func (b *Broker) Done() <-chan struct{} { return b.done }

// Close stops the broker and closes its socket and its file. It returns
// the error that stopped the broker before, if one did.
func (b *Broker) Close() error {
	b.once.Do(func() { close(b.quit) })
	<-b.done
	b.msgs.Close()
	err := b.rtr.Close()
	if errors.Is(err, socket.ErrUndelivered) {
		err = nil // see WithLinger(0) in NewBroker
	}
	return errors.Join(b.err, err, b.st.close())
}

// loop owns the broker's state: it takes messages, the ROUTER's connection
// events and the timer of the next due task one batch at a time, commits
// what the batch changed, then answers.
func (b *Broker) loop() {
	defer close(b.done)
	// A pass at once: tasks loaded from the file may be due, and results
	// may have expired while the broker was down.
	timer := time.NewTimer(0)
	defer timer.Stop()
	more := false // the last batch was full: messages may be waiting
	for {
		if more {
			select {
			case <-b.quit:
				return
			default:
			}
		} else {
			select {
			case <-b.quit:
				return
			case e, ok := <-b.events:
				if !ok {
					b.events = nil
					continue
				}
				b.event(e)
			case <-b.msgs.Ready():
				more = true
			case <-timer.C:
			}
		}
		if more {
			more = b.receive()
		}
		now := time.Now()
		b.expire(now)
		b.dispatch(now)
		if err := b.flush(); err != nil {
			b.err = err
			b.cfg.logf("stopping: %v", err)
			return
		}
		// From the time dispatch looked: a task that fell due while the
		// batch was committed was not dispatched, and from a later time
		// it would look like one waiting for a worker, which needs no
		// timer: the loop would sleep an hour with a free worker.
		timer.Reset(b.nextWake(now))
	}
}

// receive handles up to maxBatch messages; it reports whether it stopped
// at the bound rather than for want of messages.
func (b *Broker) receive() (full bool) {
	for range maxBatch {
		_, m, err := b.msgs.TryRecv()
		if err != nil {
			return false // ErrNoMessage: all taken (or ErrClosed at Close)
		}
		// A connection's events are sent before any of its messages can
		// be received, and its disconnection after the last: taking the
		// events first tells whether the sender is still connected.
		b.drainEvents()
		b.message(m)
	}
	return true
}

func (b *Broker) drainEvents() {
	for b.events != nil {
		select {
		case e, ok := <-b.events:
			if !ok {
				b.events = nil
				return
			}
			b.event(e)
		default:
			return
		}
	}
}

// event tracks which peers are connected. A worker left without a
// connection is gone: the tasks it was running go back to the queue, in
// front of those submitted after them. If only its connection broke and
// it comes back, it says hello again and may finish those tasks too; the
// first result wins.
//
// Connections are counted, not flagged: a peer's new connection can replace
// its old one before the old one's end is reported.
func (b *Broker) event(e socket.Event) {
	switch e.Kind {
	case socket.EventConnected:
		b.connected[e.Session]++
	case socket.EventDisconnected:
		if b.connected[e.Session]--; b.connected[e.Session] > 0 {
			return
		}
		delete(b.connected, e.Session)
		w := b.workers[e.Session]
		if w == nil {
			return
		}
		delete(b.workers, e.Session)
		for i, k := range b.order {
			if k == e.Session {
				b.order = append(b.order[:i], b.order[i+1:]...)
				break
			}
		}
		again := 0
		for id, retries := range w.running {
			// Not if its result came from elsewhere, or a retry of it is
			// under way: this run was superseded.
			if t := b.tasks[id]; t != nil && t.State == Started && t.Retries == retries && !t.queued {
				b.queue.add(t)
				again++
			}
		}
		b.cfg.logf("worker %s gone; %d task(s) to run again", w.name, again)
	}
}

// message handles one message from a peer: [routing id, kind, ...].
func (b *Broker) message(m socket.Message) {
	if len(m) < 3 {
		return
	}
	// A peer's routing id is its session id unless it set another one;
	// clients and workers do not, so the id names the peer in the events.
	rid, key := m[0], hex.EncodeToString(m[0])
	switch string(m[1]) {
	case kindSubmit:
		b.submit(rid, m[2])
	case kindStatus:
		if t := b.tasks[string(m[2])]; t != nil {
			b.sendState(rid, t)
		} else {
			b.send(rid, kindUnknown, m[2])
		}
	case kindWatch:
		id := string(m[2])
		switch t := b.tasks[id]; {
		case t == nil:
			b.send(rid, kindUnknown, m[2])
		case t.State.Ready():
			b.sendState(rid, t)
		case b.connected[key] > 0:
			if b.watchers[id] == nil {
				b.watchers[id] = make(map[string][]byte)
			}
			b.watchers[id][key] = rid
		}
	case kindHello:
		if len(m) != 4 || b.connected[key] == 0 {
			return // malformed, or from a connection that has ended since
		}
		n, err := strconv.Atoi(string(m[3]))
		if err != nil || n < 1 {
			return
		}
		w := b.workers[key]
		if w == nil {
			w = &worker{rid: rid, running: make(map[string]int)}
			b.workers[key] = w
			b.order = append(b.order, key)
		}
		w.name, w.capacity = string(m[2]), n
		b.cfg.logf("worker %s joined, runs %d at a time", w.name, n)
	case kindResult:
		if len(m) != 7 {
			return
		}
		retries, err := strconv.Atoi(string(m[3]))
		if err != nil {
			return
		}
		b.result(key, string(m[2]), retries, string(m[4]), string(m[5]) == statusOK, m[6])
		b.send(rid, kindStored, m[2])
	}
}

// submit accepts a task, once: a submission sent again (its answer was
// lost, or the broker died before giving it) changes nothing.
func (b *Broker) submit(rid, body []byte) {
	var sub TaskInfo
	if err := json.Unmarshal(body, &sub); err != nil || sub.ID == "" || sub.Name == "" {
		return // malformed: nothing to answer to
	}
	if b.tasks[sub.ID] == nil {
		b.seq++
		t := newTask(sub, b.seq, time.Now())
		b.tasks[t.ID] = t
		b.changed[t.ID] = t
		b.queue.add(t)
	}
	b.send(rid, kindAccepted, []byte(sub.ID))
}

// result records what a worker's run of a task came to, if that run is
// the task's current attempt and the task has no result yet.
func (b *Broker) result(key, id string, retries int, worker string, ok bool, body []byte) {
	if w := b.workers[key]; w != nil && w.running[id] == retries {
		delete(w.running, id) // room for another task
	}
	t := b.tasks[id]
	if t == nil || t.State != Started || t.Retries != retries {
		return // a repeated result, or one of a superseded run
	}
	t.queued = false // if it was queued again, that run is not needed
	now := time.Now()
	b.changed[id] = t
	if ok {
		t.succeed(now, worker, json.RawMessage(body), b.cfg.resultTTL)
	} else if t.fail(now, worker, string(body), b.cfg.resultTTL) {
		b.cfg.logf("task %s %s failed on %s, retry %d of %d at %s: %s", Call(t.Name, t.Args), id, worker, t.Retries, t.MaxRetries, t.ETA.Format(time.StampMilli), body)
		b.queue.add(t)
		return
	}
	heap.Push(&b.expiring, expiry{at: t.Expires, id: id})
	for _, rid := range b.watchers[id] {
		b.sendState(rid, t)
	}
	delete(b.watchers, id)
}

// expire deletes the records of finished tasks whose time is up.
func (b *Broker) expire(now time.Time) {
	for len(b.expiring) > 0 && !b.expiring[0].at.After(now) {
		e := heap.Pop(&b.expiring).(expiry)
		if t := b.tasks[e.id]; t != nil && t.State.Ready() && !t.Expires.After(now) {
			delete(b.tasks, e.id)
			delete(b.changed, e.id)
			b.deleted = append(b.deleted, e.id)
		}
	}
}

// dispatch gives due tasks to workers with room, oldest due first, taking
// turns among the workers.
func (b *Broker) dispatch(now time.Time) {
	for {
		t, at, ok := b.queue.peek()
		if !ok || at.After(now) {
			return
		}
		w := b.pick()
		if w == nil {
			return
		}
		b.queue.pop()
		t.start(now, w.name)
		b.changed[t.ID] = t
		w.running[t.ID] = t.Retries
		b.send(w.rid, kindTask, []byte(t.ID), []byte(t.Name), t.Args, []byte(strconv.Itoa(t.Retries)))
	}
}

// pick returns the next worker, in turn, that runs fewer tasks than it
// can, or nil.
func (b *Broker) pick() *worker {
	for i := range b.order {
		k := b.order[(b.next+i)%len(b.order)]
		if w := b.workers[k]; len(w.running) < w.capacity {
			b.next = (b.next + i + 1) % len(b.order)
			return w
		}
	}
	return nil
}

// nextWake is how long the loop may sleep: until the next scheduled task
// falls due or the next record expires. A due task waiting for a worker
// needs no timer: a worker's hello or result wakes the loop.
func (b *Broker) nextWake(now time.Time) time.Duration {
	wake := time.Hour
	if _, at, ok := b.queue.peek(); ok && at.After(now) {
		wake = min(wake, at.Sub(now))
	}
	if len(b.expiring) > 0 {
		wake = min(wake, max(0, b.expiring[0].at.Sub(now)))
	}
	return wake
}

func (b *Broker) sendState(rid []byte, t *task) {
	body, err := json.Marshal(&t.TaskInfo)
	if err != nil {
		return // a TaskInfo always encodes
	}
	b.send(rid, kindState, []byte(t.ID), body)
}

// send queues a message for after the batch's commit.
func (b *Broker) send(rid []byte, kind string, frames ...[]byte) {
	b.out = append(b.out, append([][]byte{rid, []byte(kind)}, frames...))
}

// flush commits the batch's changes, then sends its messages: nothing
// leaves the broker that its file does not hold.
func (b *Broker) flush() error {
	if len(b.changed) > 0 || len(b.deleted) > 0 {
		if err := b.st.commit(b.changed, b.deleted, b.seq); err != nil {
			return err
		}
		clear(b.changed)
		b.deleted = b.deleted[:0]
	}
	if len(b.out) == 0 {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), sendTimeout)
	defer cancel()
	for _, m := range b.out {
		// Unroutable (a peer gone) or too slow: dropped, and asked for
		// again by its peer.
		b.rtr.Send(ctx, m...)
	}
	clear(b.out)
	b.out = b.out[:0]
	return nil
}
