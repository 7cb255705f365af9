package transport_test

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/wispmq/wisp/transport"
)

func ExampleListen() {
	ep, err := transport.ParseEndpoint("tcp://127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	l, bound, err := transport.Listen(context.Background(), ep, transport.Config{})
	if err != nil {
		panic(err)
	}
	defer l.Close()
	// bound holds the port the system picked, as in tcp://127.0.0.1:40123.
	fmt.Println(bound.Scheme)
	// Output: tcp
}

func ExampleParseEndpoint() {
	for _, s := range []string{"tcp://*:5555", "tcp://[::1]:5555", "ipc:///tmp/wisp.sock", "inproc://jobs"} {
		ep, err := transport.ParseEndpoint(s)
		if err != nil {
			panic(err)
		}
		fmt.Printf("%-6s %-6s %q\n", ep.Scheme, ep.Network(), ep.Address)
	}
	_, err := transport.ParseEndpoint("tcp://localhost")
	fmt.Println(err)
	fmt.Println(errors.Is(err, transport.ErrInvalidEndpoint))
	// Output:
	// tcp    tcp    ":5555"
	// tcp    tcp    "[::1]:5555"
	// ipc    unix   "/tmp/wisp.sock"
	// inproc inproc "jobs"
	// transport: invalid endpoint "tcp://localhost": missing port
	// true
}

func ExampleDial() {
	ctx := context.Background()
	ep, _ := transport.ParseEndpoint("tcp://127.0.0.1:0")
	l, bound, err := transport.Listen(ctx, ep, transport.Config{})
	if err != nil {
		panic(err)
	}
	defer l.Close()

	done := make(chan struct{})
	go func() {
		defer close(done)
		c, err := l.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		c.Write([]byte("hello"))
	}()

	c, err := transport.Dial(ctx, bound, transport.Config{})
	if err != nil {
		panic(err)
	}
	defer c.Close()
	msg, _ := io.ReadAll(c)
	<-done
	fmt.Println(string(msg))
	// Output: hello
}
