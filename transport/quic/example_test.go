package quic_test

import (
	"context"
	"fmt"
	"time"

	"github.com/wispmq/wisp/socket"
	"github.com/wispmq/wisp/transport/devcert"
	_ "github.com/wispmq/wisp/transport/quic" // registers quic://
)

// A PULL bound on quic:// and a PUSH connected to it. Both sides need a
// TLS config: here one throwaway certificate authority and certificate
// serve both; in production the binding side loads its certificate chain
// (tls.LoadX509KeyPair) and the connecting side trusts its CA (RootCAs).
func Example() {
	tc, err := devcert.Config("example")
	if err != nil {
		panic(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	pull, _ := socket.New(socket.Pull, socket.WithTLS(tc))
	defer pull.Close()
	ep, err := pull.Bind("quic://127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	push, _ := socket.New(socket.Push, socket.WithTLS(tc))
	defer push.Close()
	if err := push.Connect(ep); err != nil {
		panic(err)
	}
	push.Send(ctx, []byte("hello over QUIC"))
	m, err := pull.Recv(ctx)
	if err != nil {
		panic(err)
	}
	fmt.Println(string(m.Bytes()))
	// Output: hello over QUIC
}
