// Command p2pchat is a peer-to-peer chat with no server. Every peer binds
// one TCP port and dials the peers it knows from that same port, so the
// address a peer sees for a connection is the one to dial that peer back
// at. The peers form a mesh: a line typed on one peer's standard input is
// printed by every other peer as "name: line".
//
//	p2pchat -name alice -listen 127.0.0.1:7001
//	p2pchat -name bob -listen 127.0.0.1:7002 127.0.0.1:7001
//	p2pchat -name carol -listen 127.0.0.1:7003 127.0.0.1:7001 127.0.0.1:7002
//
// A pair of peers has one TCP connection between their two ports, and the
// kernel allows no second one between the same two addresses, so that
// connection has to carry the chat both ways. PUB/SUB cannot do that (a
// PUB and a SUB would each need their own connection); a ROUTER can: each
// peer has one ROUTER socket that binds, dials, sends to each connected
// peer by its routing id and receives from all of them. See README.md.
package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"os/signal"
	"time"

	"github.com/wispmq/wisp/socket"
)

// The frames of a chat message: kind, sender's name, and for kindSay the
// text.
const (
	kindJoin  = "join"  // sent to each peer once it is connected
	kindSay   = "say"   // a line of chat
	kindLeave = "leave" // sent to every peer before leaving
)

func main() {
	name := flag.String("name", "", "your name in the chat (required)")
	listen := flag.String("listen", "127.0.0.1:0", "host:port to bind and to dial from; port 0 picks a free one")
	flag.Usage = func() {
		fmt.Fprintf(flag.CommandLine.Output(), "usage: p2pchat -name NAME [-listen host:port] [peer host:port...]\n")
		flag.PrintDefaults()
	}
	flag.Parse()
	if *name == "" {
		flag.Usage()
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := run(ctx, *name, *listen, flag.Args(), os.Stdin, os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "p2pchat:", err)
		os.Exit(1)
	}
}

// run is one peer: it binds listen, dials every address in peers from that
// same port, sends each line read from in to every connected peer, and
// prints what the others say to out, until in ends or ctx is done.
// Connection trouble goes to logw.
func run(ctx context.Context, name, listen string, peers []string, in io.Reader, out, logw io.Writer) error {
	addr, release, err := choosePort(listen)
	if err != nil {
		return err
	}
	// SO_REUSEPORT lets the socket bind addr and also dial from it.
	s, err := socket.New(socket.Router, socket.WithReusePort(true), socket.WithLocalAddr(addr))
	if err != nil {
		release()
		return err
	}
	_, err = s.Bind("tcp://" + addr)
	release()
	if err != nil {
		s.Close()
		return err
	}
	fmt.Fprintf(out, "%s listening on %s\n", name, addr)
	for _, p := range peers {
		// Connect returns at once and redials in the background, so a peer
		// that is not up yet, or leaves and comes back, is (re)joined.
		if err := s.Connect("tcp://" + p); err != nil {
			s.Close()
			return err
		}
	}

	lines := make(chan string)
	quit := make(chan struct{})
	defer close(quit)
	// The reader ends at the end of in, or at its next line after run
	// returns; a read from a terminal cannot be interrupted.
	go readLines(in, lines, quit)
	// The Poller lets one select wait on the socket's messages, its events
	// and the input lines, with no goroutine pumping messages into a
	// channel.
	msgs, err := socket.NewPoller(s)
	if err != nil {
		s.Close()
		return err
	}
	defer msgs.Close()

	c := chat{s: s, name: name, out: out, logw: logw, peers: make(map[string]*peer)}
	c.loop(ctx, lines, msgs)
	bye, cancel := context.WithTimeout(context.Background(), time.Second)
	c.broadcast(bye, kindLeave)
	cancel()
	// Close waits (up to the linger time) for the peers to take the goodbye.
	if err := s.Close(); err != nil {
		fmt.Fprintln(logw, "leaving:", err)
	}
	return nil
}

// choosePort returns listen with a concrete port. For port 0 it binds a
// free port with a placeholder socket that the caller releases once its own
// socket has bound the same port: WithLocalAddr must name the port before
// New, that is before Bind could pick one.
func choosePort(listen string) (addr string, release func(), err error) {
	host, port, err := net.SplitHostPort(listen)
	if err != nil {
		return "", nil, fmt.Errorf("-listen %q: %w", listen, err)
	}
	if port != "0" {
		return listen, func() {}, nil
	}
	hold, err := socket.New(socket.Pull, socket.WithReusePort(true))
	if err != nil {
		return "", nil, err
	}
	ep, err := hold.Bind("tcp://" + net.JoinHostPort(host, "0"))
	if err != nil {
		hold.Close()
		return "", nil, err
	}
	return ep[len("tcp://"):], func() { hold.Close() }, nil
}

func readLines(in io.Reader, lines chan<- string, quit <-chan struct{}) {
	defer close(lines)
	sc := bufio.NewScanner(in)
	for sc.Scan() {
		select {
		case lines <- sc.Text():
		case <-quit:
			return
		}
	}
}

// chat is the state of one peer's main loop, which owns all of it.
type chat struct {
	s     *socket.Socket
	name  string
	out   io.Writer
	logw  io.Writer
	peers map[string]*peer // by routing id
}

// peer is what the chat knows of a connected peer.
type peer struct {
	name string // from its join message; "" until then
	addr string // its address: the port it binds, since it dials from it
	left bool   // it said goodbye; send it nothing more
}

// loop runs the chat until the input ends or ctx is done.
func (c *chat) loop(ctx context.Context, lines <-chan string, msgs *socket.Poller) {
	for {
		select {
		case <-ctx.Done():
			return
		case line, ok := <-lines:
			if !ok {
				return
			}
			c.broadcast(ctx, kindSay, line)
		case <-msgs.Ready():
			for {
				_, m, err := msgs.TryRecv()
				if err != nil {
					break // ErrNoMessage: all taken
				}
				c.received(m)
			}
		case e := <-c.s.Events():
			c.event(ctx, e)
		}
	}
}

// event handles the socket's connection events: a new peer is greeted, a
// peer that went away without a goodbye is reported.
func (c *chat) event(ctx context.Context, e socket.Event) {
	switch e.Kind {
	case socket.EventConnected:
		rid := e.RoutingID
		p := c.peer(string(rid))
		p.addr, p.left = e.Peer, false
		c.send(ctx, rid, kindJoin)
	case socket.EventDisconnected:
		rid := e.RoutingID
		if p := c.peers[string(rid)]; p != nil {
			if !p.left && p.name != "" {
				fmt.Fprintf(c.out, "* %s lost (%v)\n", p.name, e.Err)
			}
			delete(c.peers, string(rid))
		}
	case socket.EventHandshakeFailed, socket.EventAcceptFailed:
		fmt.Fprintln(c.logw, e)
	}
}

func (c *chat) peer(rid string) *peer {
	p := c.peers[rid]
	if p == nil {
		p = &peer{}
		c.peers[rid] = p
	}
	return p
}

// received prints a peer's message. A ROUTER hands it over as [routing id,
// kind, name, text...].
func (c *chat) received(m socket.Message) {
	if len(m) < 3 {
		return
	}
	p := c.peer(string(m[0]))
	kind, name := string(m[1]), string(m[2])
	p.name = name
	switch {
	case kind == kindJoin:
		p.left = false
		if p.addr == "" {
			// Its connected event is still on its way; the connection
			// itself is already in the socket's stats.
			p.addr = c.remote(m[0])
		}
		fmt.Fprintf(c.out, "* %s joined from %s\n", name, p.addr)
	case kind == kindSay && len(m) == 4:
		fmt.Fprintf(c.out, "%s: %s\n", name, m[3])
	case kind == kindLeave:
		p.left = true
		fmt.Fprintf(c.out, "* %s left\n", name)
	}
}

// remote returns the address of the connected peer with routing id rid.
func (c *chat) remote(rid []byte) string {
	if ps, err := c.s.Peer(rid); err == nil && ps.Connected {
		return ps.Remote
	}
	return "?"
}

// broadcast sends a message to every connected peer that has not left. A
// ROUTER addresses each message to one peer, by its routing id; without
// WithRoutingID a peer's routing id is its session id.
func (c *chat) broadcast(ctx context.Context, kind string, text ...string) {
	for _, ps := range c.s.Stats().Peers {
		if !ps.Connected || ps.RoutingID == nil {
			continue
		}
		if p := c.peers[string(ps.RoutingID)]; p != nil && p.left {
			continue
		}
		c.send(ctx, ps.RoutingID, kind, text...)
	}
}

func (c *chat) send(ctx context.Context, rid []byte, kind string, text ...string) {
	frames := [][]byte{rid, []byte(kind), []byte(c.name)}
	for _, t := range text {
		frames = append(frames, []byte(t))
	}
	// Send waits only if this peer has DefaultSendHWM messages unacknowledged.
	if err := c.s.Send(ctx, frames...); err != nil && !errors.Is(err, context.Canceled) {
		fmt.Fprintln(c.logw, "send:", err)
	}
}
