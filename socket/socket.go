package socket

import (
	"context"
	"fmt"
	"net"
	"sync"
	"sync/atomic"

	"github.com/wispmq/wisp/internal/codec/wisp"
	zmtpcodec "github.com/wispmq/wisp/internal/codec/zmtp"
	"github.com/wispmq/wisp/internal/engine"
	"github.com/wispmq/wisp/internal/socktype"
)

// A Socket is one end of a messaging pattern. It binds and connects to any
// number of endpoints, keeps its connections alive, and moves whole messages
// between the application and its peers. A Socket is safe for concurrent use
// by multiple goroutines.
type Socket struct {
	e     *engine.Engine
	typ   Type
	spool *spooler // with WithSpool

	events        chan Event
	eventsMu      sync.RWMutex // lets emit race with closing the channel safely
	eventsClosed  bool         // guarded by eventsMu
	eventsDropped atomic.Uint64

	closeOnce sync.Once
	closeErr  error
}

// New creates a socket of type t. It starts no goroutine and opens no
// connection until Bind or Connect (but see WithSpool).
func New(t Type, opts ...Option) (*Socket, error) {
	o := defaultOptions()
	for _, opt := range opts {
		if err := opt(&o); err != nil {
			return nil, err
		}
	}
	s := &Socket{typ: t, events: make(chan Event, o.EventBuffer)}
	behavior, ok := socktype.Lookup(engine.Type(t))
	if !ok {
		return nil, fmt.Errorf("%w: %v", ErrUnsupportedType, t)
	}
	if err := checkSpool(t, &o); err != nil {
		return nil, err
	}
	if t == Bus && o.protocol == ZMTP {
		// ZMTP has no BUS type to state in its greeting.
		return nil, invalid("WithProtocol", ZMTP, "ZMTP defines no BUS socket type; a BUS speaks WISP/1")
	}
	proto, err := protocolOf(&o)
	if err != nil {
		return nil, err
	}
	if o.spool.dir != "" {
		if s.spool, err = openSpool(&o); err != nil {
			return nil, err
		}
	}
	e, err := engine.New(engine.Config{Type: engine.Type(t), Behavior: behavior, Options: o.Options, Protocol: proto, Emit: s.emit})
	if err != nil {
		if s.spool != nil {
			s.spool.sp.Close()
		}
		return nil, err
	}
	s.e = e
	if s.spool != nil {
		s.spool.start(e)
	}
	return s, nil
}

// protocolOf makes the protocol o asks for, and adjusts what o's protocol
// changes: ZMTP has no acknowledgements, and its REQ envelope carries no
// request id unless retries need one.
func protocolOf(o *options) (engine.Protocol, error) {
	if o.protocol != ZMTP {
		if o.security != nil {
			return nil, fmt.Errorf("%w: WithSecurity needs WithProtocol(ZMTP); WISP/1 sockets use TLS (WithDialer, BindListener)", ErrInvalidOption)
		}
		return wisp.Protocol{}, nil
	}
	if o.Checksum {
		return nil, fmt.Errorf("%w: WithChecksum needs WISP/1: ZMTP has no frame checksums", ErrInvalidOption)
	}
	o.Acks = false
	o.PlainRequests = !o.RequestRetry
	p := &zmtpcodec.Protocol{AuthTimeout: o.HandshakeTimeout}
	if o.security != nil {
		p.Security = *o.security
	}
	return p, nil
}

// Type returns the socket's type.
func (s *Socket) Type() Type { return s.typ }

// Session returns the socket's session id, which its peers see in their
// events. It is random and new for every socket.
func (s *Socket) Session() string { return s.e.Session().String() }

// Events returns the channel on which the socket reports connection events.
// The channel is buffered (WithEventBuffer); events that do not fit are
// dropped and counted in Stats.EventsDropped. It is closed after the
// EventClosed event, when Close returns.
func (s *Socket) Events() <-chan Event { return s.events }

// emit delivers an engine event on the Events channel without ever waiting.
func (s *Socket) emit(ev engine.Event) {
	s.eventsMu.RLock()
	defer s.eventsMu.RUnlock()
	if s.eventsClosed {
		return
	}
	select {
	case s.events <- eventOf(ev):
	default:
		s.eventsDropped.Add(1)
	}
}

// Bind makes the socket accept connections on endpoint: "tcp://host:port"
// (port 0 picks a free port; host "*" means every interface),
// "tls://host:port" (the same, with TLS: see WithTLS),
// "ipc:///path/to/socket" (a stale socket file left by a dead process is
// replaced; a live one is an error), "inproc://name", or an endpoint of a
// scheme a package registered ("ws://", "quic://": see package
// transport). It returns the
// endpoint actually bound, with the real port, for use in Connect and
// Unbind. It fails with ErrEndpointInUse for an endpoint this socket
// already binds, ErrAddressInUse for one another socket or process holds,
// and ErrInvalidEndpoint for a malformed one.
func (s *Socket) Bind(endpoint string) (string, error) { return s.e.Bind(endpoint) }

// BindListener makes the socket accept connections on a listener the
// application opened (a TLS listener, say). The socket owns it from then on
// and closes it on Unbind or Close. It returns the endpoint name the socket
// reports for it, derived from the listener's address.
func (s *Socket) BindListener(l net.Listener) (string, error) { return s.e.BindListener(l) }

// Unbind stops accepting on an endpoint given to Bind (as given, or as Bind
// returned it) and closes the connections accepted through it.
func (s *Socket) Unbind(endpoint string) error { return s.e.Unbind(endpoint) }

// Connect makes the socket connect to endpoint and returns at once: the
// socket dials in the background, and dials again after a failure or a lost
// connection, waiting a jittered, doubling interval between attempts
// (WithReconnectInterval). The peer need not exist yet. For a sending socket,
// messages may queue for this endpoint before it connects.
func (s *Socket) Connect(endpoint string) error { return s.e.Connect(endpoint) }

// ConnectConn makes the socket talk over a connection the application
// already has (a TLS or SOCKS connection, one end of net.Pipe...). The socket
// owns it from then on. It is not redialed when it ends; its peer's
// unacknowledged messages wait for the resume timeout as usual.
func (s *Socket) ConnectConn(nc net.Conn) error { return s.e.ConnectConn(nc) }

// Disconnect stops connecting to an endpoint given to Connect and closes its
// connection. Messages it still held go to other peers after the resume
// timeout, unless the same peer returns through another endpoint first.
func (s *Socket) Disconnect(endpoint string) error { return s.e.Disconnect(endpoint) }

// Send sends one message made of the given frames (at least one).
//
// PUSH, DEALER and PAIR pick the next peer in turn that has room below the
// send high-water mark; messages wait for a connecting endpoint that is not
// connected yet only when no connected peer has room. When no peer has
// room, Send blocks until one has, or until ctx ends (returning ctx's error)
// or the socket closes (ErrClosed). A bound socket with no peer at all
// blocks the same way, unless it was made WithFailFast (ErrNoPeer).
//
// REQ sends a request and never blocks: it fails with ErrState while the
// previous request awaits its reply (unless a Recv for it gave up), and
// otherwise queues the request for the next peer in turn. REP sends the
// reply to the request the last Recv returned (ErrState if there is none).
// ROUTER takes the routing id of the receiving peer as the first frame and
// sends the rest to that peer. BUS queues the message for every member of
// its mesh once all of them have room, blocking until they have; if ctx
// ends first no member got it.
//
// A message larger than every connected peer's stated maximum size fails at
// once with ErrMessageTooLarge rather than waiting.
//
// Send keeps the frames until the receiver acknowledges the message, and may
// write them again after a reconnect: the caller must not modify them after
// Send returns. Send copies nothing, so sending a large message costs no
// more than sending a small one.
//
// A spooling PUSH (WithSpool) returns once the message is in its spool
// instead, and waits only while the spool is full (see WithSpoolLimit).
func (s *Socket) Send(ctx context.Context, frames ...[]byte) error {
	if s.spool != nil {
		return s.spool.send(ctx, frames)
	}
	return s.e.Send(ctx, frames)
}

// Recv returns the next message, waiting until one arrives, ctx ends
// (returning ctx's error) or the socket closes (ErrClosed). Messages are
// taken from the socket's peers in turn, one from each (fair queuing).
// Taking a message with Recv is what acknowledges it to its sender.
//
// What Recv returns depends on the type: PULL, DEALER, PAIR and BUS return
// the message as sent; ROUTER puts the sending peer's routing id in front of
// it; REP returns the request without its envelope and remembers whom to
// answer; REQ returns the reply to its outstanding request, dropping any
// other.
//
// The frames of a received message belong to the caller.
func (s *Socket) Recv(ctx context.Context) (Message, error) {
	m, err := s.e.Recv(ctx)
	return Message(m), err
}

// Ack acknowledges every message Recv has returned so far. It is needed
// only with WithDeferredAck, where Recv acknowledges the previous message
// rather than the one it returns: call Ack once a message is handled when
// no Recv follows soon (before a pause, say). Without WithDeferredAck, Recv
// already acknowledges what it returns, and Ack at most sends that
// acknowledgement sooner.
func (s *Socket) Ack() error { return s.e.Ack() }

// WaitPeers waits until at least n peers are connected (handshake done), or
// until ctx ends (returning its error) or the socket closes (ErrClosed). A
// PUSH can use it to wait for its workers before it deals out tasks, which
// would otherwise all go to the first worker to connect.
func (s *Socket) WaitPeers(ctx context.Context, n int) error { return s.e.WaitPeers(ctx, n) }

// Flush waits until every message sent so far has been acknowledged by its
// receiver (with acks off: written to a connection), or until ctx ends. It
// returns nil when nothing is outstanding, or an error wrapping ErrUndelivered
// with the number still outstanding, joined with the context's error.
// A spooling PUSH waits for its spool to empty.
func (s *Socket) Flush(ctx context.Context) error {
	if s.spool != nil {
		return s.spool.flush(ctx)
	}
	return s.e.Flush(ctx)
}

// Subscribe makes a SUB socket receive the messages whose first frame
// starts with prefix; the empty prefix means every message. Subscriptions
// count: a prefix subscribed twice needs two Unsubscribe calls. The
// subscription goes to every connected publisher at once and to every
// publisher that connects later, and is stated again after each reconnect.
// A publisher learns of it a round trip later: see WaitSubscribers for how
// a publisher can wait for its subscribers.
func (s *Socket) Subscribe(prefix []byte) error {
	sub, ok := s.e.Behavior().(interface{ Subscribe([]byte) error })
	if !ok {
		return fmt.Errorf("%w: Subscribe on %v", ErrNotSupported, s.typ)
	}
	return sub.Subscribe(prefix)
}

// Unsubscribe undoes one Subscribe of prefix. It returns an error wrapping
// ErrNotSubscribed if prefix is not subscribed.
func (s *Socket) Unsubscribe(prefix []byte) error {
	sub, ok := s.e.Behavior().(interface{ Unsubscribe([]byte) error })
	if !ok {
		return fmt.Errorf("%w: Unsubscribe on %v", ErrNotSupported, s.typ)
	}
	return sub.Unsubscribe(prefix)
}

// WaitSubscribers waits until at least n connected peers of a PUB or XPUB
// socket have subscribed to something, or until ctx ends (returning its
// error). A publisher that calls it before publishing loses no message to
// the time subscriptions take to arrive (ZeroMQ's "slow joiner").
func (s *Socket) WaitSubscribers(ctx context.Context, n int) error {
	pub, ok := s.e.Behavior().(interface {
		WaitSubscribers(context.Context, int) error
	})
	if !ok {
		return fmt.Errorf("%w: WaitSubscribers on %v", ErrNotSupported, s.typ)
	}
	return pub.WaitSubscribers(ctx, n)
}

// Close closes the socket. A sending socket first waits up to its linger
// time (WithLinger) for every sent message to be acknowledged, still
// reconnecting where needed; then every listener and connection is closed
// and Close returns once every goroutine of the socket has ended. If
// messages remained unacknowledged it returns an error wrapping
// ErrUndelivered that says how many. A receiving socket's queued messages
// that the application had not taken are not acknowledged, so their senders
// deliver them elsewhere. Close is idempotent: later calls return the first
// call's result.
//
// A spooling PUSH lingers for its spool to empty; what is still not
// acknowledged stays in the spool's directory, and ErrUndelivered says so.
func (s *Socket) Close() error {
	s.closeOnce.Do(func() {
		if s.spool != nil {
			s.closeErr = s.spool.close()
		} else {
			s.closeErr = s.e.Close()
		}
		s.emit(engine.Event{Kind: engine.EventClosed})
		s.eventsMu.Lock()
		s.eventsClosed = true
		close(s.events)
		s.eventsMu.Unlock()
	})
	return s.closeErr
}

// Peer returns, on a ROUTER, the counters of the peer routingID addresses
// and who it proved to be (PeerStats.UserID), so that an application can
// decide by the sender of a message it received. It fails with
// ErrUnroutable for an id no connected or returning peer has, and with
// ErrNotSupported on other types.
func (s *Socket) Peer(routingID []byte) (PeerStats, error) {
	r, ok := s.e.Behavior().(interface {
		Peer([]byte) (engine.PeerStats, bool)
	})
	if !ok {
		return PeerStats{}, fmt.Errorf("%w: Peer on %v", ErrNotSupported, s.typ)
	}
	ps, ok := r.Peer(routingID)
	if !ok {
		return PeerStats{}, fmt.Errorf("%w: %x", ErrUnroutable, routingID)
	}
	return PeerStats(ps), nil
}

// Forget gives up, on a ROUTER, the peer routingID addresses, and on a
// BUS, the member whose session id's bytes are routingID (the RoutingID
// of its events): the messages queued for it and not yet acknowledged are
// dropped (counted in Drops, so Send, Flush and Close no longer wait for
// them or report them undelivered), its connection is closed, and
// EventPeerGone reports it at once rather than after the resume timeout.
// It returns how many messages were dropped. A peer that connects again
// later is served like any other. It fails with ErrUnroutable for an id no
// peer has, and with ErrNotSupported on other types.
func (s *Socket) Forget(routingID []byte) (int, error) {
	r, ok := s.e.Behavior().(interface {
		Forget([]byte) (int, bool)
	})
	if !ok {
		return 0, fmt.Errorf("%w: Forget on %v", ErrNotSupported, s.typ)
	}
	n, ok := r.Forget(routingID)
	if !ok {
		return 0, fmt.Errorf("%w: %x", ErrUnroutable, routingID)
	}
	return n, nil
}

// Stats returns a snapshot of the socket's counters and queues.
func (s *Socket) Stats() Stats {
	st := statsOf(s.e.Stats())
	st.EventsDropped = s.eventsDropped.Load()
	if s.spool != nil {
		s.spool.stats(&st)
	}
	return st
}
