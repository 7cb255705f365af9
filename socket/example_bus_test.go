package socket_test

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/wispmq/wisp/socket"
)

// Three BUS sockets make a mesh: each binds one endpoint and connects to
// the other two's (two members that dial each other keep one connection).
// WaitPeers makes each wait for the other two before it sends, since a
// message goes only to the members connected when it is sent; then every
// member gets every other member's message, once.
func Example_bus() {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	names := []string{"alice", "bob", "carol"}
	members := make([]*socket.Socket, len(names))
	eps := make([]string, len(names))
	for i, name := range names {
		s, err := socket.New(socket.Bus)
		if err != nil {
			fmt.Println(err)
			return
		}
		defer s.Close()
		if eps[i], err = s.Bind("inproc://example-bus-" + name); err != nil {
			fmt.Println(err)
			return
		}
		members[i] = s
	}
	for i, s := range members {
		for j, ep := range eps {
			if i != j {
				if err := s.Connect(ep); err != nil {
					fmt.Println(err)
					return
				}
			}
		}
	}

	for i, s := range members {
		if err := s.WaitPeers(ctx, len(members)-1); err != nil {
			fmt.Println(err)
			return
		}
		if err := s.Send(ctx, []byte("hello from "+names[i])); err != nil {
			fmt.Println(err)
			return
		}
	}
	for i, s := range members {
		var got []string
		for range len(members) - 1 {
			m, err := s.Recv(ctx)
			if err != nil {
				fmt.Println(err)
				return
			}
			got = append(got, string(m.Bytes()))
		}
		slices.Sort(got) // fair queueing interleaves senders in no set order
		fmt.Printf("%s got %q\n", names[i], got)
	}
	// Output:
	// alice got ["hello from bob" "hello from carol"]
	// bob got ["hello from alice" "hello from carol"]
	// carol got ["hello from alice" "hello from bob"]
}
