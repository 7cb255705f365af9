package tq_test

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/wispmq/wisp/examples/taskqueue/tq"
)

// A Client queues a task, a Worker connected to it runs it, and the
// task's Handle gets the result.
func Example() {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	c, err := tq.NewClient("tcp://127.0.0.1:0")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer c.Close()

	w := tq.NewWorker("w1", tq.WithConcurrency(2))
	w.Register("add", func(ctx context.Context, args json.RawMessage) (any, error) {
		var x [2]int
		if err := json.Unmarshal(args, &x); err != nil {
			return nil, err
		}
		return x[0] + x[1], nil
	})
	wctx, stop := context.WithCancel(ctx)
	stopped := make(chan error, 1)
	go func() { stopped <- w.Run(wctx, c.Endpoint()) }()
	defer func() { stop(); <-stopped }()

	h, err := c.Submit(ctx, "add", 2, 3)
	if err != nil {
		fmt.Println(err)
		return
	}
	res, err := h.Get(ctx) // waits for the result of this task
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Printf("add(2, 3) = %s, by %s\n", res, h.Worker())
	// Output: add(2, 3) = 5, by w1
}
