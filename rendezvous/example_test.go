package rendezvous_test

import (
	"context"
	"fmt"
	"time"

	"github.com/wispmq/wisp/rendezvous"
)

// Two peers meet through an introducer and talk over a direct connection.
// Here all three are on loopback, with no NAT in between, so the punch
// succeeds at once; behind NATs the same calls punch through them, or fall
// back to the relay.
func Example() {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	in, err := rendezvous.NewIntroducer()
	if err != nil {
		panic(err)
	}
	endpoint, err := in.Bind("tcp://127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	served := make(chan error, 1)
	go func() { served <- in.Serve(ctx) }()
	defer func() { in.Close(); <-served }()

	alice, err := rendezvous.Register(ctx, endpoint, "alice", rendezvous.WithLocalAddr("127.0.0.1:0"))
	if err != nil {
		panic(err)
	}
	defer alice.Close()
	bob, err := rendezvous.Register(ctx, endpoint, "bob", rendezvous.WithLocalAddr("127.0.0.1:0"))
	if err != nil {
		panic(err)
	}
	defer bob.Close()

	accepted := make(chan *rendezvous.Link, 1)
	go func() {
		l, err := bob.Accept(ctx)
		if err != nil {
			panic(err)
		}
		accepted <- l
	}()
	toBob, err := alice.Connect(ctx, "bob")
	if err != nil {
		panic(err)
	}
	toAlice := <-accepted
	fmt.Println("alice to bob:", toBob.Path())

	if err := toBob.Send(ctx, []byte("hello, bob")); err != nil {
		panic(err)
	}
	m, err := toAlice.Recv(ctx)
	if err != nil {
		panic(err)
	}
	fmt.Printf("bob got %q from %s, at alice's bound port: %v\n", m.Bytes(), toAlice.Name(), toAlice.Remote() == alice.Local())
	fmt.Println("relayed by the introducer:", in.Stats().Relayed)
	// Output:
	// alice to bob: direct
	// bob got "hello, bob" from alice, at alice's bound port: true
	// relayed by the introducer: 0
}
