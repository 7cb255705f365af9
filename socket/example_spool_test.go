package socket_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/wispmq/wisp/socket"
)

// A spooling PUSH keeps what it could not deliver in a directory: the
// first socket finds no receiver and closes with its messages spooled; the
// second, made on the same directory, delivers them before its own.
func ExampleWithSpool() {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	dir, err := os.MkdirTemp("", "spool")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer os.RemoveAll(dir)

	push, err := socket.New(socket.Push, socket.WithSpool(dir),
		socket.WithSpoolSync(socket.SpoolSyncEvery(10*time.Millisecond)),
		socket.WithLinger(0))
	if err != nil {
		fmt.Println(err)
		return
	}
	push.Connect("inproc://example-spool") // nobody there yet
	for _, m := range []string{"one", "two"} {
		if err := push.Send(ctx, []byte(m)); err != nil { // on disk when it returns
			fmt.Println(err)
			return
		}
	}
	err = push.Close()
	fmt.Println("closed, undelivered:", errors.Is(err, socket.ErrUndelivered))

	pull, err := socket.New(socket.Pull)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer pull.Close()
	if _, err := pull.Bind("inproc://example-spool"); err != nil {
		fmt.Println(err)
		return
	}
	push, err = socket.New(socket.Push, socket.WithSpool(dir))
	if err != nil {
		fmt.Println(err)
		return
	}
	push.Connect("inproc://example-spool")
	push.Send(ctx, []byte("three"))
	for range 3 {
		m, err := pull.Recv(ctx)
		if err != nil {
			fmt.Println(err)
			return
		}
		fmt.Println(string(m.Bytes()))
	}
	fmt.Println("closed:", push.Close())
	// Output:
	// closed, undelivered: true
	// one
	// two
	// three
	// closed: <nil>
}
