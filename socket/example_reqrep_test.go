package socket_test

import (
	"context"
	"fmt"
	"time"

	"github.com/wispmq/wisp/socket"
)

// A REQ client asks and a REP server answers, strictly in turn: the client
// must receive each reply before it sends its next request.
func Example_requestReply() {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	rep, _ := socket.New(socket.Rep)
	defer rep.Close()
	ep, err := rep.Bind("inproc://example-request-reply")
	if err != nil {
		fmt.Println(err)
		return
	}
	served := make(chan struct{})
	go func() {
		defer close(served)
		for range 3 {
			req, err := rep.Recv(ctx)
			if err != nil {
				return
			}
			// The reply goes to whoever asked; REP remembers.
			rep.Send(ctx, append([]byte("squared "), req.Bytes()...))
		}
	}()

	req, _ := socket.New(socket.Req)
	defer req.Close()
	req.Connect(ep)
	for _, n := range []string{"2", "3", "4"} {
		if err := req.Send(ctx, []byte(n)); err != nil {
			fmt.Println(err)
			return
		}
		reply, err := req.Recv(ctx)
		if err != nil {
			fmt.Println(err)
			return
		}
		fmt.Printf("%s\n", reply.Bytes())
	}
	<-served
	// Output:
	// squared 2
	// squared 3
	// squared 4
}

// A ROUTER learns each DEALER's routing id from the first frame of what it
// receives, and addresses its answers with it.
func Example_routerDealer() {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	router, _ := socket.New(socket.Router)
	defer router.Close()
	ep, err := router.Bind("tcp://127.0.0.1:0")
	if err != nil {
		fmt.Println(err)
		return
	}
	var dealers []*socket.Socket
	for _, name := range []string{"alice", "bob"} {
		d, _ := socket.New(socket.Dealer, socket.WithRoutingID([]byte(name)))
		defer d.Close()
		d.Connect(ep)
		d.Send(ctx, []byte("hello"), []byte("from "+name))
		dealers = append(dealers, d)
	}

	// Whichever hello arrives first, each is answered by its sender's id.
	for range dealers {
		m, err := router.Recv(ctx)
		if err != nil {
			fmt.Println(err)
			return
		}
		router.Send(ctx, m[0], []byte("welcome, "+string(m[0])))
	}
	for _, d := range dealers {
		m, err := d.Recv(ctx)
		if err != nil {
			fmt.Println(err)
			return
		}
		fmt.Printf("%s\n", m.Bytes())
	}
	// Output:
	// welcome, alice
	// welcome, bob
}

// A PAIR talks to exactly one other PAIR, in both directions.
func Example_pair() {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	a, _ := socket.New(socket.Pair)
	defer a.Close()
	ep, err := a.Bind("inproc://example-pair")
	if err != nil {
		fmt.Println(err)
		return
	}
	b, _ := socket.New(socket.Pair)
	defer b.Close()
	b.Connect(ep)

	b.Send(ctx, []byte("ping"))
	m, err := a.Recv(ctx)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Printf("a got %s\n", m.Bytes())
	a.Send(ctx, []byte("pong"))
	if m, err = b.Recv(ctx); err != nil {
		fmt.Println(err)
		return
	}
	fmt.Printf("b got %s\n", m.Bytes())
	// Output:
	// a got ping
	// b got pong
}

// Proxy is the broker between many REQ clients and many REP workers: a
// ROUTER takes the requests, a DEALER shares them out among the workers,
// and each reply finds its way back to the client that asked.
func ExampleProxy() {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	frontend, _ := socket.New(socket.Router)
	defer frontend.Close()
	backend, _ := socket.New(socket.Dealer)
	defer backend.Close()
	if _, err := frontend.Bind("inproc://example-proxy-clients"); err != nil {
		fmt.Println(err)
		return
	}
	if _, err := backend.Bind("inproc://example-proxy-workers"); err != nil {
		fmt.Println(err)
		return
	}
	proxyCtx, stopProxy := context.WithCancel(ctx)
	defer stopProxy()
	proxied := make(chan error, 1)
	go func() { proxied <- socket.Proxy(proxyCtx, frontend, backend, nil) }()

	worker, _ := socket.New(socket.Rep)
	defer worker.Close()
	worker.Connect("inproc://example-proxy-workers")
	workerCtx, stopWorker := context.WithCancel(ctx)
	defer stopWorker()
	worked := make(chan struct{})
	go func() {
		defer close(worked)
		for {
			req, err := worker.Recv(workerCtx)
			if err != nil {
				return
			}
			worker.Send(workerCtx, append([]byte("done: "), req.Bytes()...))
		}
	}()

	client, _ := socket.New(socket.Req)
	defer client.Close()
	client.Connect("inproc://example-proxy-clients")
	for _, job := range []string{"wash", "dry"} {
		client.Send(ctx, []byte(job))
		reply, err := client.Recv(ctx)
		if err != nil {
			fmt.Println(err)
			return
		}
		fmt.Printf("%s\n", reply.Bytes())
	}

	stopWorker()
	<-worked
	stopProxy()
	fmt.Println(<-proxied)
	// Output:
	// done: wash
	// done: dry
	// context canceled
}

// A client and a server that exchange messages back to back over tcp
// poll for each other's next message for up to 100 µs before they sleep:
// each round trip then costs no thread wakeup, at the price of the
// processor time the polling takes.
func ExampleWithBusyPoll() {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	rep, _ := socket.New(socket.Rep, socket.WithBusyPoll(100*time.Microsecond))
	defer rep.Close()
	ep, err := rep.Bind("tcp://127.0.0.1:0")
	if err != nil {
		fmt.Println(err)
		return
	}
	go func() {
		for {
			m, err := rep.Recv(ctx)
			if err != nil {
				return
			}
			rep.Send(ctx, m...)
		}
	}()

	req, _ := socket.New(socket.Req, socket.WithBusyPoll(100*time.Microsecond))
	defer req.Close()
	req.Connect(ep)
	for _, s := range []string{"one", "two"} {
		req.Send(ctx, []byte(s))
		reply, err := req.Recv(ctx)
		if err != nil {
			fmt.Println(err)
			return
		}
		fmt.Printf("%s\n", reply.Bytes())
	}
	// Output:
	// one
	// two
}
