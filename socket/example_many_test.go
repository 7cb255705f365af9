package socket_test

import (
	"context"
	"fmt"
	"time"

	"github.com/wispmq/wisp/socket"
)

// A sender of many small messages hands them over in batches, and the
// receiver takes what has arrived in batches too: each call takes the
// socket's lock once, not once per message.
func ExampleSocket_SendMany() {
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

	batch := make([]socket.Message, 100)
	for i := range batch {
		batch[i] = socket.Message{fmt.Appendf(nil, "reading %d", i)}
	}
	if _, err := push.SendMany(ctx, batch); err != nil {
		fmt.Println(err)
		return
	}

	dst := make([]socket.Message, 32)
	var last socket.Message
	for got := 0; got < len(batch); {
		n, err := pull.RecvMany(ctx, dst) // 1 to 32 messages
		if err != nil {
			fmt.Println(err)
			return
		}
		got += n
		last = dst[n-1]
	}
	fmt.Printf("%s\n", last.Bytes())
	// Output: reading 99
}
