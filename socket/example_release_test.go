package socket_test

import (
	"context"
	"fmt"
	"time"

	"github.com/wispmq/wisp/socket"
)

// A receiver of large messages gives each one back once it is done with
// it, so the next one is read into the same memory instead of new.
func ExampleMessage_Release() {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	pull, err := socket.New(socket.Pull)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer pull.Close()
	ep, err := pull.Bind("tcp://127.0.0.1:0")
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
	push.Connect(ep)

	image := make([]byte, 1<<20)
	var total int
	for range 3 {
		if err := push.Send(ctx, image); err != nil {
			fmt.Println(err)
			return
		}
		m, err := pull.Recv(ctx)
		if err != nil {
			fmt.Println(err)
			return
		}
		total += m.Size() // use the message...
		m.Release()       // ...then keep no reference to its frames
	}
	fmt.Println("received", total, "bytes")
	// Output: received 3145728 bytes
}
