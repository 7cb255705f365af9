// Command httpgateway is an ordinary net/http server whose handler hands
// each HTTP request to backend workers over wisp and writes the worker's
// reply as the response. A request no worker answers in time gets a 504; a
// request when no worker is connected gets a 503.
//
//	httpgateway gateway [-http 127.0.0.1:8080] [-backend tcp://127.0.0.1:5556] [-timeout 2s]
//	httpgateway worker [-connect tcp://127.0.0.1:5556] [-name w1] [-delay 0s]
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/wispmq/wisp/socket"
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: httpgateway gateway|worker [flags]")
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	out := log.New(os.Stdout, "", 0) // safe to use from several goroutines
	var err error
	switch role, args := os.Args[1], os.Args[2:]; role {
	case "gateway":
		err = gateway(ctx, out, args)
	case "worker":
		err = work(ctx, out, args)
	default:
		err = fmt.Errorf("unknown role %q, want gateway or worker", role)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "httpgateway:", err)
		os.Exit(1)
	}
}

func gateway(ctx context.Context, out *log.Logger, args []string) error {
	fs := flag.NewFlagSet("gateway", flag.ContinueOnError)
	addr := fs.String("http", "127.0.0.1:8080", "HTTP listen address")
	backend := fs.String("backend", "tcp://127.0.0.1:5556", "endpoint workers connect to")
	timeout := fs.Duration("timeout", 2*time.Second, "deadline of each request")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *timeout <= 0 {
		return fmt.Errorf("-timeout %v: must be positive", *timeout)
	}
	g, ep, err := NewGateway(*backend, *timeout)
	if err != nil {
		return err
	}
	defer g.Close()
	go func() { // ends when the socket closes its Events channel
		for e := range g.Events() {
			switch e.Kind {
			case socket.EventConnected:
				out.Printf("worker connected from %s", e.Peer)
			case socket.EventDisconnected:
				out.Printf("worker disconnected from %s", e.Peer)
			}
		}
	}()

	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: g, ReadHeaderTimeout: 10 * time.Second}
	out.Printf("workers connect to %s", ep)
	out.Printf("serving http://%s", ln.Addr())
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	select {
	case err := <-served:
		return err
	case <-ctx.Done():
	}
	// Requests in flight finish (each within its deadline) before we close.
	sctx, cancel := context.WithTimeout(context.Background(), *timeout+time.Second)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		return err
	}
	if err := <-served; !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return g.Close()
}

// work answers requests with a REP socket, one at a time; start more
// workers to serve more at once.
func work(ctx context.Context, out *log.Logger, args []string) error {
	fs := flag.NewFlagSet("worker", flag.ContinueOnError)
	connect := fs.String("connect", "tcp://127.0.0.1:5556", "the gateway's backend endpoint")
	name := fs.String("name", "w1", "this worker's name in replies and logs")
	delay := fs.Duration("delay", 0, "how long each request takes")
	if err := fs.Parse(args); err != nil {
		return err
	}
	rep, err := socket.New(socket.Rep)
	if err != nil {
		return err
	}
	defer rep.Close()
	if err := rep.Connect(*connect); err != nil {
		return err
	}
	out.Printf("%s: connecting to %s", *name, *connect)
	for {
		req, err := rep.Recv(ctx) // [method][request URI][body]
		if err != nil {
			if ctx.Err() != nil {
				return rep.Close()
			}
			return err
		}
		if len(req) != 3 {
			continue // not from our gateway; the next Recv drops it
		}
		out.Printf("%s: %s %s", *name, req[0], req[1])
		if *delay > 0 { // the work: taking a while
			t := time.NewTimer(*delay)
			select {
			case <-t.C:
			case <-ctx.Done():
				t.Stop()
				return rep.Close()
			}
		}
		reply := fmt.Sprintf("%s handled %s %s (%d bytes)\n", *name, req[0], req[1], len(req[2]))
		if err := rep.Send(ctx, []byte("200"), []byte(reply)); err != nil {
			return err
		}
	}
}
