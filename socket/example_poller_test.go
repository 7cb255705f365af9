package socket_test

import (
	"context"
	"fmt"
	"log"

	"github.com/wispmq/wisp/socket"
)

// One goroutine receives from two sockets, whichever has a message, with
// no goroutine per socket.
func ExamplePoller() {
	ctx := context.Background()
	jobs, err := socket.New(socket.Pull)
	if err != nil {
		log.Fatal(err)
	}
	defer jobs.Close()
	control, err := socket.New(socket.Pull)
	if err != nil {
		log.Fatal(err)
	}
	defer control.Close()
	jobsEP, _ := jobs.Bind("inproc://example-poller-jobs")
	controlEP, _ := control.Bind("inproc://example-poller-control")

	producer, _ := socket.New(socket.Push)
	defer producer.Close()
	producer.Connect(jobsEP)
	admin, _ := socket.New(socket.Push)
	defer admin.Close()
	admin.Connect(controlEP)
	producer.Send(ctx, []byte("job 1"))
	producer.Send(ctx, []byte("job 2"))
	admin.Send(ctx, []byte("stop"))

	p, err := socket.NewPoller(jobs, control)
	if err != nil {
		log.Fatal(err)
	}
	defer p.Close()
	for done := 0; done < 3; done++ {
		s, m, err := p.Recv(ctx)
		if err != nil {
			log.Fatal(err)
		}
		if s == control {
			fmt.Printf("control: %s\n", m[0])
		} else {
			fmt.Printf("jobs: %s\n", m[0])
		}
	}
	// Unordered output:
	// jobs: job 1
	// jobs: job 2
	// control: stop
}

// A range loop over one socket's messages.
func ExampleSocket_Messages() {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	pull, _ := socket.New(socket.Pull)
	defer pull.Close()
	ep, _ := pull.Bind("inproc://example-messages")
	push, _ := socket.New(socket.Push)
	defer push.Close()
	push.Connect(ep)
	for _, w := range []string{"one", "two", "three"} {
		push.Send(ctx, []byte(w))
	}
	n := 0
	for m, err := range pull.Messages(ctx) {
		if err != nil {
			log.Fatal(err)
		}
		fmt.Println(string(m[0]))
		if n++; n == 3 {
			break
		}
	}
	// Output:
	// one
	// two
	// three
}
