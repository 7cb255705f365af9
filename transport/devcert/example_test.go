package devcert_test

import (
	"context"
	"fmt"
	"time"

	"github.com/wispmq/wisp/socket"
	"github.com/wispmq/wisp/transport/devcert"
)

// One throwaway config serves both ends of a tls:// connection in a test:
// the binding side presents its certificate, the connecting side trusts
// the CA that issued it.
func ExampleConfig() {
	tc, err := devcert.Config("example")
	if err != nil {
		fmt.Println(err)
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	pull, _ := socket.New(socket.Pull, socket.WithTLS(tc))
	defer pull.Close()
	ep, err := pull.Bind("tls://127.0.0.1:0")
	if err != nil {
		fmt.Println(err)
		return
	}
	push, _ := socket.New(socket.Push, socket.WithTLS(tc))
	defer push.Close()
	push.Connect(ep)
	push.Send(ctx, []byte("hello over TLS"))
	m, err := pull.Recv(ctx)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Printf("%s\n", m.Bytes())
	// Output: hello over TLS
}
