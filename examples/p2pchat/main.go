// Command p2pchat is a peer-to-peer chat with no server and no list of
// addresses: peers find each other on the local network with
// discovery.Mesh and form a mesh of BUS sockets. A line typed on one
// peer's standard input is printed by every other peer as "name: line".
//
//	p2pchat -name alice
//	p2pchat -name bob
//	p2pchat -name carol
//
// Every peer binds one TCP port and dials the peers it finds from that
// same port (socket.WithDialFromBind), so each pair shares one connection
// and the address a peer sees for a connection is the one to reach that
// peer at. Peer addresses can still be given by hand, and with -tls-cert,
// -tls-key and -tls-ca the mesh runs over mutual TLS on the same one port
// per peer. See README.md.
package main

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"os/signal"
	"strings"
	"time"

	"github.com/wispmq/wisp/discovery"
	"github.com/wispmq/wisp/socket"
)

// The frames of a chat message: kind, the sender's session id, its name,
// and for kindSay the text. BUS hands a message over without saying who
// sent it, so the sender says it.
const (
	kindJoin  = "join"  // sent to everyone on each new connection
	kindSay   = "say"   // a line of chat
	kindLeave = "leave" // sent to everyone before leaving
)

// config is what the flags say.
type config struct {
	name      string
	listen    string   // host:port to bind and dial from
	peers     []string // host:port of peers given by hand
	discover  bool
	group     string
	port      int    // discovery's UDP port
	broadcast string // where beacons go; "" chooses from listen
	tlsCert   string
	tlsKey    string
	tlsCA     string
	tlsName   string // the name peers' certificates carry; "" checks their address
}

func main() {
	var cfg config
	flag.StringVar(&cfg.name, "name", "", "your name in the chat (required)")
	flag.StringVar(&cfg.listen, "listen", "127.0.0.1:0", "`host:port` to bind and to dial from; port 0 picks a free one,\nhost 0.0.0.0 every interface (and discovery on the local network)")
	flag.BoolVar(&cfg.discover, "discover", true, "find peers with discovery (UDP broadcast)")
	flag.StringVar(&cfg.group, "group", "p2pchat", "discovery group: only peers of the same group meet")
	flag.IntVar(&cfg.port, "discovery-port", discovery.DefaultPort, "discovery's UDP `port`, the same for every peer")
	flag.StringVar(&cfg.broadcast, "broadcast", "", "IPv4 `address` discovery broadcasts to (default "+discovery.LoopbackBroadcast+"\nfor a loopback -listen host, else "+discovery.DefaultBroadcast+")")
	flag.StringVar(&cfg.tlsCert, "tls-cert", "", "run the mesh over TLS, presenting the certificate in PEM `FILE` (with -tls-key and -tls-ca)")
	flag.StringVar(&cfg.tlsKey, "tls-key", "", "the private key of -tls-cert, in PEM `FILE`")
	flag.StringVar(&cfg.tlsCA, "tls-ca", "", "trust peers whose certificates the CA certificates in PEM `FILE` signed\n(mutual TLS: both ends of each connection check the other)")
	flag.StringVar(&cfg.tlsName, "tls-name", "", "the `name` every peer's certificate carries; default: the peer's address")
	flag.Usage = func() {
		fmt.Fprintf(flag.CommandLine.Output(), "usage: p2pchat -name NAME [flags] [peer host:port...]\n")
		flag.PrintDefaults()
	}
	flag.Parse()
	cfg.peers = flag.Args()
	if cfg.name == "" {
		flag.Usage()
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := run(ctx, cfg, os.Stdin, os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "p2pchat:", err)
		os.Exit(1)
	}
}

// run is one peer: it binds cfg.listen, finds the others with discovery
// and dials those given by hand, sends each line read from in to every
// peer, and prints what the others say to out, until in ends or ctx is
// done. Connection trouble goes to logw.
func run(ctx context.Context, cfg config, in io.Reader, out, logw io.Writer) error {
	host, _, err := net.SplitHostPort(cfg.listen)
	if err != nil {
		return fmt.Errorf("-listen %q: %w", cfg.listen, err)
	}
	scheme := "tcp://"
	// Close need not linger: goodbye waits for the peers that are there.
	opts := []socket.Option{socket.WithDialFromBind(true), socket.WithLinger(0)}
	if cfg.tlsCert != "" || cfg.tlsKey != "" || cfg.tlsCA != "" {
		tc, err := tlsConfig(cfg)
		if err != nil {
			return err
		}
		scheme, opts = "tls://", append(opts, socket.WithTLS(tc))
	}
	s, err := socket.New(socket.Bus, opts...)
	if err != nil {
		return err
	}
	defer s.Close()
	ep, err := s.Bind(scheme + cfg.listen)
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "%s listening on %s\n", cfg.name, strings.TrimPrefix(ep, scheme))
	for _, p := range cfg.peers {
		// Connect returns at once and redials in the background, so a peer
		// that is not up yet, or leaves and comes back, is (re)joined.
		if err := s.Connect(scheme + p); err != nil {
			return err
		}
	}

	meshDone := make(chan error, 1)
	meshCtx, stopMesh := context.WithCancel(context.Background())
	defer stopMesh()
	var found <-chan discovery.Event
	if cfg.discover {
		m, err := discovery.NewMesh(s, ep, discovery.Config{
			Group: cfg.group, Port: cfg.port, Broadcast: broadcastFor(host, cfg.broadcast),
		})
		if err != nil {
			return err
		}
		go func() { meshDone <- m.Run(meshCtx) }()
		found = m.Events()
	} else {
		meshDone <- nil
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
		return err
	}
	defer msgs.Close()

	c := chat{s: s, name: cfg.name, session: s.Session(), out: out, logw: logw, peers: make(map[string]*peer)}
	c.loop(ctx, lines, msgs, found)
	// Say goodbye and wait (a little) for everyone to take it before the
	// mesh withdraws and disconnects.
	bye, cancel := context.WithTimeout(context.Background(), time.Second)
	c.send(bye, kindLeave)
	c.goodbye(bye)
	cancel()
	stopMesh()
	if err := <-meshDone; err != nil {
		fmt.Fprintln(logw, "discovery:", err)
	}
	return nil
}

// broadcastFor returns where discovery broadcasts: what -broadcast says,
// else the loopback broadcast address for a loopback -listen host (the
// chat stays on this machine), else discovery's default, the local
// network.
func broadcastFor(listenHost, flagged string) string {
	if flagged != "" {
		return flagged
	}
	if a, err := netip.ParseAddr(listenHost); err == nil && a.IsLoopback() {
		return discovery.LoopbackBroadcast
	}
	return ""
}

// tlsConfig makes the mutual-TLS config of the -tls flags: each peer is a
// TLS server to the peers that dial it and a client to those it dials, so
// it presents its certificate and requires theirs, signed by -tls-ca.
func tlsConfig(cfg config) (*tls.Config, error) {
	if cfg.tlsCert == "" || cfg.tlsKey == "" || cfg.tlsCA == "" {
		return nil, errors.New("a TLS mesh needs -tls-cert, -tls-key and -tls-ca")
	}
	cert, err := tls.LoadX509KeyPair(cfg.tlsCert, cfg.tlsKey)
	if err != nil {
		return nil, fmt.Errorf("-tls-cert/-tls-key: %w", err)
	}
	pem, err := os.ReadFile(cfg.tlsCA)
	if err != nil {
		return nil, fmt.Errorf("-tls-ca: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("-tls-ca %s: no PEM certificate in it", cfg.tlsCA)
	}
	return &tls.Config{
		Certificates: []tls.Certificate{cert},
		RootCAs:      pool, ClientCAs: pool,
		ClientAuth: tls.RequireAndVerifyClientCert,
		ServerName: cfg.tlsName,
		MinVersion: tls.VersionTLS13,
	}, nil
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
	s       *socket.Socket
	name    string
	session string // this peer's session id, sent with every message
	out     io.Writer
	logw    io.Writer
	peers   map[string]*peer // by session id
}

// peer is what the chat knows of a peer that spoke.
type peer struct {
	name string
	addr string // the address it binds, which it dials from
}

// loop runs the chat until the input ends or ctx is done.
func (c *chat) loop(ctx context.Context, lines <-chan string, msgs *socket.Poller, found <-chan discovery.Event) {
	for {
		select {
		case <-ctx.Done():
			return
		case line, ok := <-lines:
			if !ok {
				return
			}
			c.send(ctx, kindSay, line)
		case <-msgs.Ready():
			c.receive(msgs)
		case e := <-c.s.Events():
			// A peer's last messages came before its connection ended:
			// take them first, so that its goodbye is not taken for a
			// loss.
			c.receive(msgs)
			c.event(ctx, e)
		case e, ok := <-found:
			if !ok {
				found = nil
			} else if e.Err != nil {
				fmt.Fprintln(c.logw, "discovery:", e)
			}
		}
	}
}

// receive handles every message that has arrived.
func (c *chat) receive(msgs *socket.Poller) {
	for {
		_, m, err := msgs.TryRecv()
		if err != nil {
			return // ErrNoMessage: all taken
		}
		c.received(m)
	}
}

// event handles the socket's connection events: a new connection is
// greeted, a peer that went away without a goodbye is reported.
func (c *chat) event(ctx context.Context, e socket.Event) {
	switch e.Kind {
	case socket.EventConnected:
		// BUS sends to every member: the others, who know this peer
		// already, ignore the repeated join.
		c.send(ctx, kindJoin)
	case socket.EventDisconnected:
		p := c.peers[e.Session]
		if p == nil || c.connected(e.Session) {
			return
		}
		fmt.Fprintf(c.out, "* %s lost (%v)\n", p.name, e.Err)
		delete(c.peers, e.Session)
	case socket.EventHandshakeFailed, socket.EventAcceptFailed:
		fmt.Fprintln(c.logw, e)
	}
}

// received prints a peer's message: [kind, session, name, text...].
func (c *chat) received(m socket.Message) {
	if len(m) < 3 {
		return
	}
	kind, session, name := string(m[0]), string(m[1]), string(m[2])
	p := c.peers[session]
	if p == nil {
		if kind == kindLeave {
			return
		}
		p = &peer{name: name, addr: c.remote(session)}
		c.peers[session] = p
		fmt.Fprintf(c.out, "* %s joined from %s\n", name, p.addr)
	}
	switch {
	case kind == kindSay && len(m) == 4:
		fmt.Fprintf(c.out, "%s: %s\n", p.name, m[3])
	case kind == kindLeave:
		delete(c.peers, session)
		fmt.Fprintf(c.out, "* %s left\n", p.name)
	}
}

// remote returns the address of the peer with session id session: as
// every peer dials from the port it binds, the address it binds.
func (c *chat) remote(session string) string {
	for _, ps := range c.s.Stats().Peers {
		if ps.Session == session && ps.Connected {
			return ps.Remote
		}
	}
	return "?"
}

// connected says whether a connection to the peer is still up: a pair
// that dialed each other keeps one of two connections, and the other's
// end is no departure.
func (c *chat) connected(session string) bool {
	return c.remote(session) != "?"
}

// goodbye waits until every connected peer has acknowledged all it was
// sent, or until ctx ends. Flush would wait for the peers that left too:
// a BUS socket keeps a departed member's messages for the resume timeout,
// in case it comes back.
func (c *chat) goodbye(ctx context.Context) {
	for {
		waiting := false
		for _, ps := range c.s.Stats().Peers {
			waiting = waiting || ps.Connected && (ps.Unacked > 0 || ps.SendQueue > 0)
		}
		if !waiting {
			return
		}
		select {
		case <-ctx.Done():
			fmt.Fprintln(c.logw, "leaving: not every peer took the goodbye")
			return
		case <-time.After(10 * time.Millisecond):
		}
	}
}

// send gives a message to every member of the mesh.
func (c *chat) send(ctx context.Context, kind string, text ...string) {
	frames := [][]byte{[]byte(kind), []byte(c.session), []byte(c.name)}
	for _, t := range text {
		frames = append(frames, []byte(t))
	}
	// Send waits only while some member has DefaultSendHWM messages
	// unacknowledged.
	if err := c.s.Send(ctx, frames...); err != nil && !errors.Is(err, context.Canceled) {
		fmt.Fprintln(c.logw, "send:", err)
	}
}
