package discovery_test

import (
	"context"
	"fmt"
	"os"
	"strconv"

	"github.com/wispmq/wisp/discovery"
	"github.com/wispmq/wisp/socket"
)

// Two BUS sockets started with no addresses find each other and talk.
// Broadcast to LoopbackBroadcast keeps the example on this host; leave it
// out, and bind "tcp://0.0.0.0:0", to find peers on the local network.
func ExampleMesh() {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	cfg := discovery.Config{
		// Peers of other groups on the port are ignored: one per
		// application (here, per run of the example).
		Group:     "example-" + strconv.Itoa(os.Getpid()),
		Broadcast: discovery.LoopbackBroadcast,
	}
	var members []*socket.Socket
	var done []chan error
	for range 2 {
		s, err := socket.New(socket.Bus, socket.WithDialFromBind(true))
		if err != nil {
			fmt.Println(err)
			return
		}
		defer s.Close()
		ep, err := s.Bind("tcp://127.0.0.1:0")
		if err != nil {
			fmt.Println(err)
			return
		}
		m, err := discovery.NewMesh(s, ep, cfg)
		if err != nil {
			fmt.Println(err)
			return
		}
		ch := make(chan error, 1)
		go func() { ch <- m.Run(ctx) }()
		members, done = append(members, s), append(done, ch)
	}
	defer func() {
		cancel() // each mesh withdraws
		for _, ch := range done {
			<-ch
		}
	}()

	if err := members[0].WaitPeers(ctx, 1); err != nil {
		fmt.Println(err)
		return
	}
	members[0].Send(ctx, []byte("hello, whoever you are"))
	m, err := members[1].Recv(ctx)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(string(m.Bytes()))
	// Wait for the acknowledgement before leaving the mesh.
	if err := members[0].Flush(ctx); err != nil {
		fmt.Println(err)
	}
	// Output: hello, whoever you are
}

// A Beacon alone: announce an endpoint, and watch who comes and goes.
func ExampleBeacon() {
	cfg := discovery.Config{Group: "watch-" + strconv.Itoa(os.Getpid()), Broadcast: discovery.LoopbackBroadcast}
	run := func(endpoint string) (*discovery.Beacon, context.CancelFunc, chan error) {
		b, err := discovery.New(cfg)
		if err != nil {
			panic(err)
		}
		b.Announce(endpoint)
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- b.Run(ctx) }()
		return b, cancel, done
	}
	a, stopA, doneA := run("tcp://0.0.0.0:7001")
	b, stopB, doneB := run("tcp://0.0.0.0:7002")

	e := <-a.Events()
	fmt.Println(e.Kind, e.Endpoint, e.ID == b.ID())

	stopB() // b withdraws, and a hears it at once
	<-doneB
	e = <-a.Events()
	fmt.Println(e.Kind, e.Endpoint, e.Reason)

	stopA()
	<-doneA
	// Output:
	// join tcp://127.0.0.1:7002 true
	// leave tcp://127.0.0.1:7002 withdrawn
}
