// Package tq is a small task queue without a broker, built on wisp sockets:
// a Client submits named tasks with JSON arguments and gets back a Handle
// whose Get waits for the result; Workers register task functions, run the
// tasks they are given and send the results back.
//
// The Client is the queue. It binds a ROUTER socket; each Worker connects a
// DEALER socket to it and says how many tasks it runs at once. The Client
// keeps the tasks no worker has room for, gives each worker at most that
// many, remembers which worker runs which task, and collects results by task
// id. When a worker's connection ends (the process died, or was stopped),
// the Client gives the tasks that worker was running to another worker.
//
// Delivery is at least once: a task whose worker died, or whose worker's
// connection broke for a moment, runs again elsewhere, so a task can run
// more than once (the Client keeps the first result). Task functions should
// be idempotent; TaskID gives them a key for that. Nothing is stored on disk:
// if the Client's process ends, its queue ends with it.
package tq

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
)

// Message kinds, the first frame of every message between Client and
// Worker.
//
//	worker -> client: "hello",  worker name, capacity (decimal)
//	client -> worker: "task",   task id, task name, JSON arguments
//	worker -> client: "result", task id, worker name, "ok" or "error", JSON result or error text
const (
	kindHello  = "hello"
	kindTask   = "task"
	kindResult = "result"
	statusOK   = "ok"
	statusErr  = "error"
)

// Errors returned by Submit and Get.
var (
	// ErrClosed is returned by Submit after Close, and by Get for a task
	// whose result had not arrived when the Client closed.
	ErrClosed = errors.New("tq: client closed")
	// ErrQueueFull is returned by Submit when the Client already holds as
	// many tasks waiting for a worker as WithMaxPending allows.
	ErrQueueFull = errors.New("tq: too many tasks waiting for a worker")
)

// A TaskError is the error a task function returned (or the panic it
// raised, or the worker's report that it has no function of that name),
// as Get returns it.
type TaskError struct {
	Task   string // the task's name
	Worker string // the worker that ran it
	Msg    string // the error's text
}

// Error formats the error with the task and worker it came from.
func (e *TaskError) Error() string {
	return fmt.Sprintf("tq: task %s on worker %s: %s", e.Task, e.Worker, e.Msg)
}

// Func is a task function. args is the JSON array of the arguments given
// to Submit; the result is encoded with encoding/json. ctx ends when the
// worker stops; TaskID(ctx) is the task's id.
type Func func(ctx context.Context, args json.RawMessage) (any, error)

// Call formats a task for a log line: Call("add", []byte("[2,3]")) is
// "add(2,3)".
func Call(name string, args json.RawMessage) string {
	a := strings.TrimSpace(string(args))
	if len(a) >= 2 && a[0] == '[' && a[len(a)-1] == ']' {
		a = a[1 : len(a)-1]
	}
	return name + "(" + a + ")"
}

type taskIDKey struct{}

// TaskID returns the id of the task a Func is running, the same for every
// run of that task: a key that makes repeated runs safe to detect.
func TaskID(ctx context.Context) string {
	id, _ := ctx.Value(taskIDKey{}).(string)
	return id
}

// An Option configures a Client or a Worker.
type Option func(*config)

type config struct {
	logf        func(format string, args ...any)
	maxPending  int
	concurrency int
}

func defaults() config {
	return config{logf: func(string, ...any) {}, maxPending: DefaultMaxPending, concurrency: 1}
}

// DefaultMaxPending is how many tasks a Client holds for lack of a worker
// before Submit fails with ErrQueueFull.
const DefaultMaxPending = 10000

// WithLog makes a Client or Worker report what it does (workers joining
// and leaving, tasks redelivered; tasks started and finished) through logf.
func WithLog(logf func(format string, args ...any)) Option {
	return func(c *config) { c.logf = logf }
}

// WithMaxPending bounds the tasks a Client holds while no worker has room
// (DefaultMaxPending).
func WithMaxPending(n int) Option {
	return func(c *config) { c.maxPending = max(1, n) }
}

// WithConcurrency sets how many tasks a Worker runs at once (default 1).
// The Client gives it no more than that.
func WithConcurrency(n int) Option {
	return func(c *config) { c.concurrency = max(1, n) }
}
