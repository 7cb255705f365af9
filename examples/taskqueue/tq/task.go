package tq

import (
	"encoding/json"
	"time"
)

// task is the broker's copy of a task: its stored TaskInfo and where it
// is in the broker's memory.
type task struct {
	TaskInfo
	queued bool   // in the schedule, waiting for its ETA and a worker
	gen    uint64 // of its latest schedule entry; older entries are stale
}

// newTask is a submission accepted at now as the seq-th task.
func newTask(sub TaskInfo, seq uint64, now time.Time) *task {
	t := &task{TaskInfo: TaskInfo{
		ID: sub.ID, Name: sub.Name, Args: sub.Args, State: Pending, Seq: seq,
		ETA: sub.ETA, MaxRetries: max(0, sub.MaxRetries),
		Backoff: max(0, sub.Backoff), BackoffMax: max(0, sub.BackoffMax),
		Submitted: now,
	}}
	if t.ETA.IsZero() || t.ETA.Before(now) {
		t.ETA = now
	}
	t.record(Transition{State: Pending, At: now, ETA: t.ETA})
	return t
}

func (t *task) record(tr Transition) {
	t.State = tr.State
	t.History = append(t.History, tr)
}

// start records that worker was given the task.
func (t *task) start(now time.Time, worker string) {
	t.Worker = worker
	t.record(Transition{State: Started, At: now, Worker: worker})
}

// succeed records the task's result; the record expires ttl later.
func (t *task) succeed(now time.Time, worker string, result json.RawMessage, ttl time.Duration) {
	t.Worker, t.Result, t.Done, t.Expires = worker, result, now, now.Add(ttl)
	t.record(Transition{State: Success, At: now, Worker: worker})
}

// fail records a failed attempt: a retry after the backoff while the
// policy allows one, else the final failure (the record then expires ttl
// later). The error is kept either way. It reports whether the task is
// to run again.
func (t *task) fail(now time.Time, worker, msg string, ttl time.Duration) (retry bool) {
	t.Worker, t.Error = worker, msg
	if t.Retries < t.MaxRetries {
		t.Retries++
		t.ETA = now.Add(backoff(t.Backoff, t.BackoffMax, t.Retries))
		t.record(Transition{State: Retry, At: now, Worker: worker, ETA: t.ETA, Error: msg})
		return true
	}
	t.Done, t.Expires = now, now.Add(ttl)
	t.record(Transition{State: Failure, At: now, Worker: worker, Error: msg})
	return false
}

// backoff is the wait before the retry-th retry: base, doubled for each
// retry after the first, capped at most (when most is set). Without jitter,
// so that the schedule is predictable and can be checked.
func backoff(base, most time.Duration, retry int) time.Duration {
	d := base
	for i := 1; i < retry; i++ {
		if most > 0 && d >= most || d > time.Duration(1<<62) {
			break
		}
		d *= 2
	}
	if most > 0 {
		d = min(d, most)
	}
	return d
}
