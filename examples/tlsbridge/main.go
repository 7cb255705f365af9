// Command tlsbridge runs wisp sockets over TLS with mutual authentication:
// the server accepts only clients with a certificate from its CA, and
// refuses any other with an event that names the TLS failure. TLS is
// brought in through the socket's listener and dialer hooks
// (socket.WithListener, socket.WithDialer), so it works the same for every
// socket type.
//
//	tlsbridge certs DIR
//	tlsbridge server -certs DIR [-bind tcp://127.0.0.1:7443] [-type rep|router|pair|pull]
//	tlsbridge client -certs DIR [-connect tcp://127.0.0.1:7443] [-type req|dealer|pair|push]
//	                 [-as client|stranger|none] [message...]
//
// certs writes a throwaway CA, a server and a client certificate it signed,
// and a stranger's certificate signed by another CA. The server echoes each
// message back (or, as PULL, prints it); the client sends its messages and
// prints the echoes.
package main

import (
	"context"
	"crypto/tls"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"os/signal"
	"sort"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/wispmq/wisp/socket"
)

const usage = `usage:
  tlsbridge certs DIR
  tlsbridge server -certs DIR [-bind tcp://127.0.0.1:7443] [-type rep|router|pair|pull]
  tlsbridge client -certs DIR [-connect tcp://127.0.0.1:7443] [-type req|dealer|pair|push]
                   [-as client|stranger|none] [-timeout 10s] [message...]
`

// The socket types each role can take; a server's type must be able to talk
// to the client's (req: rep or router; dealer: rep or router; pair: pair;
// push: pull).
var (
	serverTypes = map[string]socket.Type{"rep": socket.Rep, "router": socket.Router, "pair": socket.Pair, "pull": socket.Pull}
	clientTypes = map[string]socket.Type{"req": socket.Req, "dealer": socket.Dealer, "pair": socket.Pair, "push": socket.Push}
)

// errRefused is what the client returns when the server refused it.
var errRefused = errors.New("refused by the server")

func main() {
	if len(os.Args) < 2 {
		fmt.Fprint(os.Stderr, usage)
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	var err error
	switch cmd, args := os.Args[1], os.Args[2:]; cmd {
	case "certs":
		if len(args) != 1 {
			fmt.Fprint(os.Stderr, usage)
			os.Exit(2)
		}
		var files []string
		if files, err = writeCerts(args[0]); err == nil {
			fmt.Println("wrote", strings.Join(files, " "))
		}
	case "server":
		fs := flag.NewFlagSet("server", flag.ExitOnError)
		dir := fs.String("certs", "", "directory written by the certs subcommand (required)")
		bind := fs.String("bind", "tcp://127.0.0.1:7443", "endpoint to bind")
		typ := fs.String("type", "rep", "socket type: "+names(serverTypes))
		fs.Parse(args)
		t, ok := serverTypes[*typ]
		if *dir == "" || !ok {
			fmt.Fprint(os.Stderr, usage)
			os.Exit(2)
		}
		err = serve(ctx, *dir, *bind, t, os.Stdout)
	case "client":
		fs := flag.NewFlagSet("client", flag.ExitOnError)
		dir := fs.String("certs", "", "directory written by the certs subcommand (required)")
		connect := fs.String("connect", "tcp://127.0.0.1:7443", "endpoint to connect to")
		typ := fs.String("type", "req", "socket type: "+names(clientTypes))
		as := fs.String("as", client, "certificate to present: client, stranger (signed by another CA) or none")
		timeout := fs.Duration("timeout", 10*time.Second, "give up after this long")
		fs.Parse(args)
		t, ok := clientTypes[*typ]
		if *dir == "" || !ok || (*as != client && *as != stranger && *as != "none") {
			fmt.Fprint(os.Stderr, usage)
			os.Exit(2)
		}
		msgs := fs.Args()
		if len(msgs) == 0 {
			msgs = []string{"hello", "world"}
		}
		ctx, cancel := context.WithTimeout(ctx, *timeout)
		err = dial(ctx, *dir, *connect, t, *as, msgs, os.Stdout)
		cancel()
	default:
		fmt.Fprint(os.Stderr, usage)
		os.Exit(2)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "tlsbridge:", err)
		os.Exit(1)
	}
}

func names(m map[string]socket.Type) string {
	var s []string
	for k := range m {
		s = append(s, k)
	}
	sort.Strings(s)
	return strings.Join(s, ", ")
}

// serve binds a socket of type typ at bind behind a TLS listener that
// requires a client certificate signed by the CA in dir, and echoes what it
// receives until ctx is done. It prints connection events, so a refused
// client shows up with its TLS reason.
func serve(ctx context.Context, dir, bind string, typ socket.Type, out io.Writer) error {
	pool, err := loadPool(dir)
	if err != nil {
		return err
	}
	cert, err := loadIdentity(dir, server)
	if err != nil {
		return err
	}
	w := &lockedWriter{w: out} // the TLS callback prints from the socket's goroutines
	base := &tls.Config{
		Certificates: []tls.Certificate{cert},
		ClientCAs:    pool,
		ClientAuth:   tls.RequireAndVerifyClientCert,
		MinVersion:   tls.VersionTLS13,
	}
	cfg := base.Clone()
	// The socket names a peer by address and session id only, so say here
	// which certificate each address proved it holds.
	cfg.GetConfigForClient = func(hello *tls.ClientHelloInfo) (*tls.Config, error) {
		c := base.Clone()
		c.VerifyConnection = func(cs tls.ConnectionState) error {
			if len(cs.PeerCertificates) > 0 {
				fmt.Fprintf(w, "tls: %s verified as %q\n", hello.Conn.RemoteAddr(), cs.PeerCertificates[0].Subject.CommonName)
			}
			return nil
		}
		return c, nil
	}
	s, err := socket.New(typ, socket.WithListener(func(ctx context.Context, network, address string) (net.Listener, error) {
		var lc net.ListenConfig
		l, err := lc.Listen(ctx, network, address)
		if err != nil {
			return nil, err
		}
		return tls.NewListener(l, cfg), nil
	}))
	if err != nil {
		return err
	}
	ep, err := s.Bind(bind)
	if err != nil {
		s.Close()
		return err
	}
	fmt.Fprintf(w, "listening on %s (TLS, client certificate required)\n", ep)

	// A Poller lets one loop wait on messages and events together, and
	// print them in the order they happened.
	msgs, err := socket.NewPoller(s)
	if err != nil {
		s.Close()
		return err
	}
	defer msgs.Close()
	err = serveLoop(ctx, s, msgs, w)
	s.Close()
	if err == nil || ctx.Err() != nil {
		return nil // asked to stop
	}
	return err
}

// serveLoop prints the socket's connection events and the messages it
// receives and, for the types that can answer, sends each message back
// with "echo: " before its last frame. The frames before the last are the
// envelope of the types that have one (a ROUTER's routing id, a REQ's
// request id, a DEALER's empty delimiter), returned unchanged.
func serveLoop(ctx context.Context, s *socket.Socket, msgs *socket.Poller, w io.Writer) error {
	answers := s.Type() != socket.Pull
	event := func(e socket.Event) {
		switch e.Kind {
		case socket.EventConnected, socket.EventDisconnected, socket.EventHandshakeFailed, socket.EventAcceptFailed:
			fmt.Fprintln(w, "event:", e)
		}
	}
	more := false // the last TryRecv took a message: there may be others
	for {
		if ctx.Err() != nil {
			return nil
		}
		// A connection's events are sent before its first message arrives:
		// report them first.
		select {
		case e := <-s.Events():
			event(e)
			continue
		default:
		}
		if !more {
			select {
			case e := <-s.Events():
				event(e)
				continue
			case <-ctx.Done():
				return nil
			case <-msgs.Ready():
			}
		}
		// One message at a time, so that events still come first.
		_, m, err := msgs.TryRecv()
		more = err == nil
		if err == socket.ErrNoMessage {
			continue
		}
		if err != nil {
			return err
		}
		last := len(m) - 1
		fmt.Fprintf(w, "got %q\n", m[last])
		if !answers {
			continue
		}
		reply := append(socket.Message(nil), m...)
		reply[last] = append([]byte("echo: "), m[last]...)
		if err := s.Send(ctx, reply...); err != nil {
			return err
		}
	}
}

// dial connects a socket of type typ to endpoint over TLS, trusting only
// the CA in dir and presenting the certificate as names (or none), sends
// msgs and prints the replies. It returns errRefused if the server refused
// the connection.
func dial(ctx context.Context, dir, endpoint string, typ socket.Type, as string, msgs []string, out io.Writer) error {
	pool, err := loadPool(dir)
	if err != nil {
		return err
	}
	cfg := &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS13}
	if as != "none" {
		cert, err := loadIdentity(dir, as)
		if err != nil {
			return err
		}
		// Certificates would withhold a certificate that the server's CA
		// did not sign; present it anyway, as a client with the wrong
		// certificate would.
		cfg.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return &cert, nil }
	}
	d := &tls.Dialer{Config: cfg}
	s, err := socket.New(typ, socket.WithDialer(d.DialContext))
	if err != nil {
		return err
	}
	defer s.Close()
	if err := s.Connect(endpoint); err != nil {
		return err
	}
	if err := waitConnected(ctx, s, out); err != nil {
		return err
	}

	for _, text := range msgs {
		frames := [][]byte{[]byte(text)}
		if typ == socket.Dealer {
			// The empty delimiter a REP expects before the body; a ROUTER
			// echo returns it too.
			frames = [][]byte{{}, []byte(text)}
		}
		if err := s.Send(ctx, frames...); err != nil {
			return err
		}
		if typ == socket.Push {
			continue
		}
		m, err := s.Recv(ctx)
		if err != nil {
			return err
		}
		fmt.Fprintf(out, "reply %q\n", m[len(m)-1])
	}
	if typ == socket.Push {
		// Flush returns once the server's application has taken them all.
		if err := s.Flush(ctx); err != nil {
			return err
		}
		fmt.Fprintf(out, "delivered %d messages\n", len(msgs))
	}
	return s.Close()
}

// waitConnected waits for the socket's first connection, or for the server
// to refuse it.
func waitConnected(ctx context.Context, s *socket.Socket, out io.Writer) error {
	for {
		select {
		case e := <-s.Events():
			switch e.Kind {
			case socket.EventConnected:
				fmt.Fprintf(out, "connected to %s\n", e.Endpoint)
				return nil
			case socket.EventHandshakeFailed:
				fmt.Fprintln(out, "refused:", e)
				return errRefused
			case socket.EventRetrying:
				if e.Err != nil {
					fmt.Fprintln(os.Stderr, e)
				}
			}
		case <-ctx.Done():
			return fmt.Errorf("not connected: %w", ctx.Err())
		}
	}
}

// lockedWriter serializes writes from several goroutines.
type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(b []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(b)
}
