package socket_test

import (
	"context"
	"fmt"
	"time"

	"github.com/wispmq/wisp/socket"
)

// A PULL binds, a PUSH connects, and a message goes from one to the other.
func ExampleNew() {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	pull, err := socket.New(socket.Pull)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer pull.Close()
	ep, err := pull.Bind("inproc://example-new")
	if err != nil {
		fmt.Println(err)
		return
	}

	push, err := socket.New(socket.Push)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer push.Close()
	if err := push.Connect(ep); err != nil {
		fmt.Println(err)
		return
	}

	if err := push.Send(ctx, []byte("hello")); err != nil {
		fmt.Println(err)
		return
	}
	m, err := pull.Recv(ctx)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Printf("%s\n", m.Bytes())
	// Output: hello
}

// Connect may come before the peer exists: the PUSH keeps the message and
// delivers it once the PULL binds.
func ExampleSocket_Connect() {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	push, _ := socket.New(socket.Push)
	defer push.Close()
	push.Connect("inproc://example-late")
	push.Send(ctx, []byte("sent before the PULL existed"))

	pull, _ := socket.New(socket.Pull)
	defer pull.Close()
	pull.Bind("inproc://example-late")
	m, err := pull.Recv(ctx)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Printf("%s\n", m.Bytes())
	// Output: sent before the PULL existed
}

// A message of several frames arrives whole, frames and all, including
// empty ones.
func ExampleSocket_Send_multiFrame() {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	pull, _ := socket.New(socket.Pull)
	defer pull.Close()
	ep, _ := pull.Bind("inproc://example-frames")
	push, _ := socket.New(socket.Push)
	defer push.Close()
	push.Connect(ep)

	push.Send(ctx, []byte("header"), []byte{}, []byte("body"))
	m, err := pull.Recv(ctx)
	if err != nil {
		fmt.Println(err)
		return
	}
	for i, f := range m {
		fmt.Printf("frame %d: %q\n", i, f)
	}
	fmt.Println("size:", m.Size())
	// Output:
	// frame 0: "header"
	// frame 1: ""
	// frame 2: "body"
	// size: 10
}

// Flush waits until the receiving application has taken every message sent
// so far.
func ExampleSocket_Flush() {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	pull, _ := socket.New(socket.Pull)
	defer pull.Close()
	ep, _ := pull.Bind("inproc://example-flush")
	push, _ := socket.New(socket.Push)
	defer push.Close()
	push.Connect(ep)

	for i := range 3 {
		push.Send(ctx, []byte(fmt.Sprint(i)))
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for range 3 {
			pull.Recv(ctx)
		}
	}()
	fmt.Println("flush:", push.Flush(ctx))
	<-done
	// Output: flush: <nil>
}

// Events reports what happens to a socket's endpoints and connections; the
// channel closes after EventClosed.
func ExampleSocket_Events() {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	pull, _ := socket.New(socket.Pull)
	defer pull.Close()
	ep, _ := pull.Bind("inproc://example-events")
	push, _ := socket.New(socket.Push)
	push.Connect(ep)
	push.Send(ctx, []byte("x"))
	pull.Recv(ctx)
	push.Flush(ctx)
	push.Close()

	for e := range push.Events() {
		fmt.Println("push:", e.Kind)
	}
	for range 3 {
		e := <-pull.Events()
		fmt.Println("pull:", e.Kind, e.Session == push.Session())
	}
	// Output:
	// push: connected
	// push: disconnected
	// push: closed
	// pull: listening false
	// pull: connected true
	// pull: disconnected true
}

// Close waits up to the linger time for acknowledgements and says how many
// messages were not acknowledged.
func ExampleSocket_Close() {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	// Nobody binds this endpoint, so nothing is ever acknowledged.
	push, _ := socket.New(socket.Push, socket.WithLinger(10*time.Millisecond))
	push.Connect("inproc://example-nobody")
	push.Send(ctx, []byte("a"))
	push.Send(ctx, []byte("b"))
	fmt.Println(push.Close())
	// Output: wisp: messages not acknowledged: 2
}
