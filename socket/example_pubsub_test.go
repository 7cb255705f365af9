package socket_test

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/wispmq/wisp/socket"
)

// A PUB sends to the SUBs whose prefixes match a message's first frame.
// WaitSubscribers makes the publisher wait until its subscriber's
// subscription has arrived: without it, messages sent in the meantime
// would match nobody and be lost (ZeroMQ's "slow joiner").
func Example_publishSubscribe() {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	pub, err := socket.New(socket.Pub)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer pub.Close()
	ep, err := pub.Bind("inproc://example-pubsub")
	if err != nil {
		fmt.Println(err)
		return
	}

	sub, err := socket.New(socket.Sub)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer sub.Close()
	if err := sub.Subscribe([]byte("weather.")); err != nil {
		fmt.Println(err)
		return
	}
	if err := sub.Connect(ep); err != nil {
		fmt.Println(err)
		return
	}

	if err := pub.WaitSubscribers(ctx, 1); err != nil {
		fmt.Println(err)
		return
	}
	for _, m := range []string{"weather.paris sunny", "sport.tennis 6-4", "weather.oslo snow"} {
		if err := pub.Send(ctx, []byte(m)); err != nil {
			fmt.Println(err)
			return
		}
	}
	for range 2 {
		m, err := sub.Recv(ctx)
		if err != nil {
			fmt.Println(err)
			return
		}
		fmt.Printf("%s\n", m.Bytes())
	}
	// Output:
	// weather.paris sunny
	// weather.oslo snow
}

// Subscribe takes byte prefixes of the first frame: a topic frame followed
// by a body frame is the usual shape. Unsubscribe of a prefix the socket
// does not hold is an error.
func ExampleSocket_Subscribe() {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	pub, _ := socket.New(socket.Pub)
	defer pub.Close()
	pub.Bind("inproc://example-subscribe")

	sub, _ := socket.New(socket.Sub)
	defer sub.Close()
	sub.Subscribe([]byte("prices."))
	sub.Connect("inproc://example-subscribe")
	if err := pub.WaitSubscribers(ctx, 1); err != nil {
		fmt.Println(err)
		return
	}

	pub.Send(ctx, []byte("prices.EUR"), []byte("1.08"))
	pub.Send(ctx, []byte("news"), []byte("not for this subscriber"))
	pub.Send(ctx, []byte("prices.GBP"), []byte("0.86"))
	for range 2 {
		m, err := sub.Recv(ctx)
		if err != nil {
			fmt.Println(err)
			return
		}
		fmt.Printf("%s = %s\n", m[0], m[1])
	}

	err := sub.Unsubscribe([]byte("news"))
	fmt.Println(errors.Is(err, socket.ErrNotSubscribed))
	// Output:
	// prices.EUR = 1.08
	// prices.GBP = 0.86
	// true
}

// An XSUB and an XPUB joined by Proxy forward a feed: messages flow from
// the publisher down to the subscribers, subscriptions flow up, so the
// publisher still sends only what someone below wants.
func Example_xpubXsubProxy() {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	pub, _ := socket.New(socket.Pub)
	defer pub.Close()
	pub.Bind("inproc://example-feed")

	// The proxy: its XSUB faces the publisher, its XPUB the subscribers.
	xsub, _ := socket.New(socket.XSub)
	defer xsub.Close()
	xsub.Connect("inproc://example-feed")
	xpub, _ := socket.New(socket.XPub)
	defer xpub.Close()
	xpub.Bind("inproc://example-fanout")
	pctx, stop := context.WithCancel(ctx)
	defer stop()
	done := make(chan error, 1)
	go func() { done <- socket.Proxy(pctx, xsub, xpub, nil) }()

	sub, _ := socket.New(socket.Sub)
	defer sub.Close()
	sub.Subscribe([]byte("alerts."))
	sub.Connect("inproc://example-fanout")

	// The subscription reaches the publisher through the proxy: the XSUB
	// is the publisher's subscriber.
	if err := pub.WaitSubscribers(ctx, 1); err != nil {
		fmt.Println(err)
		return
	}
	pub.Send(ctx, []byte("alerts.disk full"))
	pub.Send(ctx, []byte("metrics.cpu 12%"))
	pub.Send(ctx, []byte("alerts.disk ok"))
	for range 2 {
		m, err := sub.Recv(ctx)
		if err != nil {
			fmt.Println(err)
			return
		}
		fmt.Printf("%s\n", m.Bytes())
	}

	stop()
	fmt.Println(<-done)
	// Output:
	// alerts.disk full
	// alerts.disk ok
	// context canceled
}
