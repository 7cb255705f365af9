// Package tq is a small Celery-style task queue on wisp sockets, in three
// roles:
//
//   - a Broker binds a ROUTER socket and keeps, in a bbolt file, every task
//     it accepted: queued, scheduled (countdown or ETA), waiting to be
//     retried, running, and finished with its result until the result
//     expires. It gives due tasks to workers with a free slot, retries a
//     failed task with exponential backoff up to its maximum, and gives
//     the tasks of a worker that went away to another worker;
//   - a Client connects a DEALER to the broker, submits tasks (Submit,
//     Apply) and reads a task's state and result by its id (Handle:
//     Status, Ready, Get);
//   - a Worker connects a DEALER to the broker, runs the tasks it is given
//     with the functions registered for their names, several at once, and
//     sends back the results.
//
// Every exchange is a request answered once the broker has committed it to
// disk, repeated until the answer comes, and idempotent by task id: a
// submission sent twice makes one task, a result sent twice counts once.
// So clients and workers ride out a broker killed and restarted, and a
// broker restarted on its file loses no task it accepted and no result it
// stored.
//
// Execution is at least once: a task whose worker died, or whose broker
// died while it ran, runs again, so task functions should be idempotent;
// TaskID gives them a key for that.
package tq

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
)

// A State is where a task is in its life, named as Celery names it.
type State string

// The states. A task is Pending from its submission until a worker is
// given it (also while its countdown runs), Started while a worker runs
// it, Retry after a failure while it waits for its next attempt, and ends
// in Success or Failure (its last attempt failed, with no retry left).
// Every change is recorded in TaskInfo.History, in order:
//
//	Pending → Started → (Retry → Started)* → Success | Failure
//
// where Started may appear twice in a row: the task was given to another
// worker because the first went away (or the broker restarted) while it
// ran.
const (
	Pending State = "PENDING"
	Started State = "STARTED"
	Retry   State = "RETRY"
	Success State = "SUCCESS"
	Failure State = "FAILURE"
)

// Ready reports whether s is final: Success or Failure.
func (s State) Ready() bool { return s == Success || s == Failure }

// Errors of the Client and the Broker.
var (
	// ErrClosed is returned by a Client's calls after Close.
	ErrClosed = errors.New("tq: closed")
	// ErrNoSuchTask is returned for an id the broker does not know: never
	// submitted, or its result expired.
	ErrNoSuchTask = errors.New("tq: no such task (never submitted, or its result expired)")
)

// A TaskError is a task's final failure as Get returns it: the error its
// function returned on its last attempt (or the panic it raised, or the
// worker's report that it has no function of that name).
type TaskError struct {
	ID      string // the task's id
	Task    string // the task's name
	Worker  string // the worker of the last attempt
	Retries int    // how many times it was retried before failing for good
	Msg     string // the last error's text
}

// Error formats the error with the task and worker it came from.
func (e *TaskError) Error() string {
	return fmt.Sprintf("tq: task %s %s on worker %s failed after %d retries: %s", e.Task, e.ID, e.Worker, e.Retries, e.Msg)
}

// TaskInfo is what the broker knows of a task: what Handle.Info returns.
type TaskInfo struct {
	ID         string          `json:"id"`
	Name       string          `json:"name"`
	Args       json.RawMessage `json:"args"`
	State      State           `json:"state"`
	Seq        uint64          `json:"seq"`         // the broker's acceptance order
	ETA        time.Time       `json:"eta"`         // not run before this (countdown, ETA or retry backoff)
	Retries    int             `json:"retries"`     // failures retried so far
	MaxRetries int             `json:"max_retries"` // failures retried at most
	Backoff    time.Duration   `json:"backoff"`     // the wait before the first retry, doubled for each next
	BackoffMax time.Duration   `json:"backoff_max"` // the longest wait between retries
	Result     json.RawMessage `json:"result,omitempty"`
	Error      string          `json:"error,omitempty"`  // the last failure, kept through retries
	Worker     string          `json:"worker,omitempty"` // the worker of the latest attempt
	Submitted  time.Time       `json:"submitted"`
	Done       time.Time       `json:"done,omitzero"`
	Expires    time.Time       `json:"expires,omitzero"` // when a finished task's record is deleted
	History    []Transition    `json:"history"`
}

// A Transition is one change of a task's state, as the broker recorded it.
type Transition struct {
	State  State     `json:"state"`
	At     time.Time `json:"at"`
	Worker string    `json:"worker,omitempty"` // Started, Retry, Success, Failure: which worker
	ETA    time.Time `json:"eta,omitzero"`     // Pending, Retry: not run before this
	Error  string    `json:"error,omitempty"`  // Retry, Failure: what failed
}

// Outcome returns the result of a finished task, or its TaskError.
func (ti *TaskInfo) Outcome() (json.RawMessage, error) {
	if ti.State == Failure {
		return nil, &TaskError{ID: ti.ID, Task: ti.Name, Worker: ti.Worker, Retries: ti.Retries, Msg: ti.Error}
	}
	return ti.Result, nil
}

// Func is a task function. args is the JSON array of the arguments given
// to Submit; the result is encoded with encoding/json, and an error fails
// the attempt (to be retried if the task's policy allows). ctx ends when
// the worker stops; TaskID(ctx) and Retries(ctx) say which task and
// attempt it is.
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

type runKey struct{}

type run struct {
	id      string
	retries int
}

// TaskID returns the id of the task a Func is running, the same for every
// attempt and every repeated run of that task: a key that makes repeated
// runs safe to detect.
func TaskID(ctx context.Context) string {
	r, _ := ctx.Value(runKey{}).(run)
	return r.id
}

// Retries returns how many failed attempts of the task a Func is running
// came before this one (Celery's request.retries): 0 on the first.
func Retries(ctx context.Context) int {
	r, _ := ctx.Value(runKey{}).(run)
	return r.retries
}
