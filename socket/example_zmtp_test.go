package socket_test

import (
	"context"
	"fmt"
	"log"

	"github.com/wispmq/wisp/socket"
)

// A CURVE server that serves only the clients it knows, by public key,
// and the ROUTER application learning who sent each request. The client
// could as well be libzmq or pyzmq, given the same keys in Z85.
func ExampleCurveServer() {
	ctx := context.Background()
	serverPublic, serverSecret, err := socket.NewCurveKeypair()
	if err != nil {
		log.Fatal(err)
	}
	clientPublic, clientSecret, err := socket.NewCurveKeypair()
	if err != nil {
		log.Fatal(err)
	}
	known := map[string]string{clientPublic: "alice"}
	auth := func(_ context.Context, r socket.AuthRequest) (string, error) {
		if name, ok := known[r.PublicKey]; ok {
			return name, nil
		}
		return "", fmt.Errorf("unknown client key %s", r.PublicKey)
	}

	server, err := socket.New(socket.Router, socket.WithProtocol(socket.ZMTP),
		socket.WithSecurity(socket.CurveServer(serverSecret, auth)))
	if err != nil {
		log.Fatal(err)
	}
	defer server.Close()
	ep, err := server.Bind("tcp://127.0.0.1:0")
	if err != nil {
		log.Fatal(err)
	}

	client, err := socket.New(socket.Req, socket.WithProtocol(socket.ZMTP),
		socket.WithSecurity(socket.CurveClient(serverPublic, clientPublic, clientSecret)))
	if err != nil {
		log.Fatal(err)
	}
	defer client.Close()
	if err := client.Connect(ep); err != nil {
		log.Fatal(err)
	}
	if err := client.Send(ctx, []byte("hello")); err != nil {
		log.Fatal(err)
	}

	req, err := server.Recv(ctx) // [identity, "", "hello"]: a REQ's envelope
	if err != nil {
		log.Fatal(err)
	}
	peer, err := server.Peer(req[0])
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("%s from %s\n", req[2], peer.UserID)
	if err := server.Send(ctx, req[0], nil, []byte("hello, "+peer.UserID)); err != nil {
		log.Fatal(err)
	}
	reply, err := client.Recv(ctx)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("%s\n", reply[0])
	// Output:
	// hello from alice
	// hello, alice
}
