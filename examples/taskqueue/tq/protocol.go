package tq

// The messages between the roles, each a list of frames whose first names
// its kind. Every request is answered only after the broker committed what
// it changed, and is sent again until answered (on every reconnection and
// every resend interval), so each is idempotent by task id.
//
//	client -> broker: "submit", TaskInfo JSON (id, name, args, eta, retry policy)
//	broker -> client: "accepted", task id
//	client -> broker: "status", task id         (answered at once)
//	client -> broker: "watch",  task id         (answered once the task is finished)
//	broker -> client: "state",  task id, TaskInfo JSON
//	broker -> client: "unknown", task id
//	worker -> broker: "hello",  worker name, capacity (decimal)
//	broker -> worker: "task",   task id, task name, JSON arguments, retries (decimal)
//	worker -> broker: "result", task id, retries (decimal), worker name, "ok" or "error", JSON result or error text
//	broker -> worker: "stored", task id
//
// A result names the attempt it comes from by the task's retry count, so a
// late result of an attempt the broker has moved past (the task was given
// to another worker and failed or succeeded there already) is dropped
// rather than counted twice.
const (
	kindSubmit   = "submit"
	kindAccepted = "accepted"
	kindStatus   = "status"
	kindWatch    = "watch"
	kindState    = "state"
	kindUnknown  = "unknown"
	kindHello    = "hello"
	kindTask     = "task"
	kindResult   = "result"
	kindStored   = "stored"
	statusOK     = "ok"
	statusErr    = "error"
)
