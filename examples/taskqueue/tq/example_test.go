package tq_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/wispmq/wisp/examples/taskqueue/tq"
)

// A Broker keeps the tasks, a Worker connected to it runs them, and a
// Client submits one and reads its state and result by its id.
func Example() {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	dir, err := os.MkdirTemp("", "tq")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer os.RemoveAll(dir)

	b, err := tq.NewBroker("tcp://127.0.0.1:0", filepath.Join(dir, "tq.db"))
	if err != nil {
		fmt.Println(err)
		return
	}
	defer b.Close()

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
	go func() { stopped <- w.Run(wctx, b.Endpoint()) }()
	defer func() { stop(); <-stopped }()

	c, err := tq.NewClient(b.Endpoint())
	if err != nil {
		fmt.Println(err)
		return
	}
	defer c.Close()
	h, err := c.Submit(ctx, "add", 4, 4) // add.delay(4, 4)
	if err != nil {
		fmt.Println(err)
		return
	}
	res, err := h.Get(ctx) // result.get(), bounded by ctx
	if err != nil {
		fmt.Println(err)
		return
	}
	status, err := h.Status(ctx) // result.status
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Printf("add(4, 4) = %s, %s\n", res, status)
	// Output: add(4, 4) = 8, SUCCESS
}
