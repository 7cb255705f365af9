package socket

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"runtime"
	"time"

	zmtpcodec "github.com/wispmq/wisp/internal/codec/zmtp"
	"github.com/wispmq/wisp/internal/engine"
)

// Defaults for the options. Every queue is bounded and every wait is timed
// unless the application asks otherwise.
const (
	DefaultSendHWM              = 10000
	DefaultSendHWMBytes         = 16 << 20
	DefaultRecvHWM              = 1000
	DefaultRecvQueueBytes       = 32 << 20
	DefaultLinger               = 2 * time.Second
	DefaultReconnectInterval    = 100 * time.Millisecond
	DefaultReconnectIntervalMax = 5 * time.Second
	DefaultMaxMessageSize       = 16 << 20
	DefaultHandshakeTimeout     = 10 * time.Second
	DefaultHeartbeatInterval    = 10 * time.Second
	DefaultHeartbeatTimeout     = 30 * time.Second
	DefaultResumeTimeout        = 5 * time.Second
	DefaultEventBuffer          = 256
	// DefaultLocalSendBuffer is the kernel send buffer (SO_SNDBUF), on
	// Linux, of a tcp:// or tls:// connection the socket opens to a peer
	// on the same host, unless the socket is a PUB, XPUB or BUS or
	// WithSendBuffer says otherwise (see there).
	DefaultLocalSendBuffer = 128 << 10
	// DefaultMaxSubscriptions is how many prefixes a publisher holds for
	// one peer unless WithMaxSubscriptions says otherwise.
	DefaultMaxSubscriptions = 100000
)

// An Option configures a socket in New. Options are validated when New runs;
// an invalid one makes New fail with an error wrapping ErrInvalidOption that
// names it.
type Option func(*options) error

// options are the engine's settings and the socket's protocol; the With
// functions below validate and set them.
type options struct {
	engine.Options
	protocol Protocol
	security *zmtpcodec.Security
	spool    spoolOptions
}

func defaultOptions() options {
	return options{Options: engine.Options{
		SendHWM:           DefaultSendHWM,
		SendHWMBytes:      DefaultSendHWMBytes,
		RecvHWM:           DefaultRecvHWM,
		RecvQueueBytes:    DefaultRecvQueueBytes,
		Linger:            DefaultLinger,
		Reconnect:         DefaultReconnectInterval,
		ReconnectMax:      DefaultReconnectIntervalMax,
		MaxMessageSize:    DefaultMaxMessageSize,
		HandshakeTimeout:  DefaultHandshakeTimeout,
		HeartbeatInterval: DefaultHeartbeatInterval,
		HeartbeatTimeout:  DefaultHeartbeatTimeout,
		ResumeTimeout:     DefaultResumeTimeout,
		Acks:              true,
		EventBuffer:       DefaultEventBuffer,
		MaxSubscriptions:  DefaultMaxSubscriptions,
		LocalSendBuffer:   localSendBuffer(),
	}}
}

// localSendBuffer is the default send buffer of connections to this host:
// measured, and needed, on Linux only (see WithSendBuffer).
func localSendBuffer() int {
	if runtime.GOOS == "linux" {
		return DefaultLocalSendBuffer
	}
	return 0
}

func invalid(name string, v any, why string) error {
	return fmt.Errorf("%w: %s(%v): %s", ErrInvalidOption, name, v, why)
}

// WithSendHWM sets the send high-water mark: how many messages the socket
// holds per peer, queued or sent but not yet acknowledged. At the mark Send
// blocks until there is room or its context ends. It is also the
// acknowledgement window, which is why the default, DefaultSendHWM, is
// larger than a queue alone would need: the receiver acknowledges in
// batches, and the window must cover a round trip at full speed.
func WithSendHWM(n int) Option {
	return func(o *options) error {
		if n < 1 {
			return invalid("WithSendHWM", n, "must be at least 1")
		}
		o.SendHWM = n
		return nil
	}
}

// WithSendHWMBytes bounds, like WithSendHWM, the payload bytes the socket
// holds per peer, so large messages cannot pin memory the message count
// would allow. A single message larger than the mark is still accepted when
// the peer holds nothing else. Default DefaultSendHWMBytes.
func WithSendHWMBytes(n int64) Option {
	return func(o *options) error {
		if n < 1 {
			return invalid("WithSendHWMBytes", n, "must be at least 1")
		}
		o.SendHWMBytes = n
		return nil
	}
}

// WithRecvHWM sets the receive high-water mark: how many received messages
// the socket queues per peer before it stops reading from that peer.
// Default DefaultRecvHWM. A socket that also sends (REQ, REP, DEALER,
// ROUTER, PAIR) keeps reading a peer that asks for acknowledgements, since
// the peer's ACKs arrive on the same connection; that peer's own window
// (its send high-water mark) bounds the queue instead.
func WithRecvHWM(n int) Option {
	return func(o *options) error {
		if n < 1 {
			return invalid("WithRecvHWM", n, "must be at least 1")
		}
		o.RecvHWM = n
		return nil
	}
}

// WithRecvQueueBytes bounds the payload bytes the socket queues for Recv
// across all its peers, however many there are: WithRecvHWM bounds each
// peer's queue, so without this a burst from ten thousand peers could
// queue ten thousand queues. Past the bound the socket stops reading from
// the peers whose messages arrive next, and TCP pushes back on them, until
// Recv has taken the queue down to half; it then reads from them again in
// the order it stopped. The bound is looked at before each read, so the
// queue can pass it by what the connections reading at that moment bring,
// up to a read buffer each (64 KiB at most; a frame's size while many
// connections read at once). A message is never refused for its size:
// one larger than the bound is queued, and reading stops after it.
//
// A socket that also sends (REP, DEALER, ROUTER, PAIR) reads the ACKs of
// a wisp peer on the same connection as its messages, so it stops reading
// such a peer only while it has sent or queued nothing for it; a Send to
// the peer has its connection read again at once. Default
// DefaultRecvQueueBytes; 0 means no bound.
func WithRecvQueueBytes(n int64) Option {
	return func(o *options) error {
		if n < 0 {
			return invalid("WithRecvQueueBytes", n, "must be at least 0")
		}
		o.RecvQueueBytes = n
		return nil
	}
}

// WithLinger sets how long Close waits for sent messages to be acknowledged.
// Zero means Close does not wait. Default DefaultLinger.
func WithLinger(d time.Duration) Option {
	return func(o *options) error {
		if d < 0 {
			return invalid("WithLinger", d, "must not be negative")
		}
		o.Linger = d
		return nil
	}
}

// WithReconnectInterval sets the first delay before a connecting socket
// dials again after a failure or a lost connection, and the most the delay
// grows to (doubling, with jitter). Defaults DefaultReconnectInterval and
// DefaultReconnectIntervalMax.
func WithReconnectInterval(initial, max time.Duration) Option {
	return func(o *options) error {
		if initial <= 0 {
			return invalid("WithReconnectInterval", initial, "initial interval must be positive")
		}
		if max < initial {
			return invalid("WithReconnectInterval", max, "maximum must be at least the initial interval")
		}
		o.Reconnect, o.ReconnectMax = initial, max
		return nil
	}
}

// WithChecksum asks for frame checksums on every WISP connection: each
// message and each command then travels with a CRC-32C of its bytes
// (wire/SPEC.md section 3.1), and a connection whose bytes were changed on
// the way ends with ErrChecksum instead of delivering them; what the
// receiver had not acknowledged is sent again on the next connection.
// TCP's own checksum lets through about one corrupted segment in several
// million, and hardware or middleboxes that rewrite packets let through
// more. A peer that asked for checksums gets them whatever this side
// chose; a socket that asks refuses a WISP/1.0 peer (ErrIncompatiblePeer)
// rather than carry its messages unchecked. It costs a copy of every
// payload (large messages are no longer written and read in place) and
// the CRC; bench/README.md has the figures. Off by default. ZMTP sockets
// cannot use it: ZMTP has no checksums (CURVE authenticates each message).
func WithChecksum(on bool) Option {
	return func(o *options) error {
		o.Checksum = on
		return nil
	}
}

// WithBusyPoll makes Recv poll its connection for up to d before it
// sleeps, where Recv reads the connection itself: a REQ or REP socket
// with one peer over tcp or ipc, speaking WISP with acknowledgements (the
// defaults). A reply that comes within d is read without waking a
// sleeping thread, which on a virtual machine can take longer than the
// round trip itself: a 16-byte REQ/REP round trip over tcp loopback went
// from about 38 to 11 µs on average (bench/README.md, "Busy polling").
//
// The price is processor time. A Recv that waits keeps a processor busy
// for up to d, even when nothing comes; in back-to-back round trips each
// side kept a processor busy all the time, though it spent about half
// the CPU per round trip. At most GOMAXPROCS-1 Recvs of a process poll at
// once, so that a processor is left for the goroutines the network wakes;
// with GOMAXPROCS=1 nothing polls. Even so, while a Recv polls, other
// goroutines of the process that wait for the network (a peer in the same
// process, say) may be woken later, and on a machine with fewer free
// processors than polling threads the slowest round trips can get slower.
// It pays for a client and a server in separate processes that exchange
// messages back to back, with processors to spare. The rest of a frame of
// 16 KiB or more is read without polling. Elsewhere (other types, several
// peers, inproc, ZMTP, or a platform other than unix) it has no effect.
// Default 0: Recv sleeps at once. d must be at most a second.
func WithBusyPoll(d time.Duration) Option {
	return func(o *options) error {
		if d < 0 || d > time.Second {
			return invalid("WithBusyPoll", d, "must be between 0 and 1s")
		}
		o.BusyPoll = d
		return nil
	}
}

// WithMaxMessageSize bounds the size of a message, the sum of its frames,
// in both directions: a larger Send fails with ErrMessageTooLarge, and a
// peer that sends a larger one is disconnected. Default DefaultMaxMessageSize.
func WithMaxMessageSize(n int64) Option {
	return func(o *options) error {
		if n < 1 || n > 1<<32-1 {
			return invalid("WithMaxMessageSize", n, "must be between 1 and 4294967295")
		}
		o.MaxMessageSize = n
		return nil
	}
}

// WithHandshakeTimeout bounds how long a new connection may take to
// exchange greetings before it is dropped. Default DefaultHandshakeTimeout.
func WithHandshakeTimeout(d time.Duration) Option {
	return func(o *options) error {
		if d <= 0 {
			return invalid("WithHandshakeTimeout", d, "must be positive")
		}
		o.HandshakeTimeout = d
		return nil
	}
}

// WithHeartbeat sets how long a connection may stay silent before the
// socket sends a PING (interval), and how long without hearing anything from
// the peer before the connection is dropped (timeout). Zero interval turns
// pings off; zero timeout turns the liveness check off. Defaults
// DefaultHeartbeatInterval and DefaultHeartbeatTimeout.
//
// A peer that vanishes without closing its connection (a machine switched
// off, a network partition, a frozen process) is noticed between timeout
// and timeout plus a tenth of the shorter of the two; a peer whose process
// ends is noticed at once, its kernel closing the connection. An idle
// connection costs one PING and one PONG an interval, a read and a write
// on each side: with the defaults, 10,000 idle peers cost a server about
// 0.7 CPU-seconds a minute (bench/README.md, "One socket, many peers");
// halving the interval doubles that. One goroutine in the process keeps
// the time for every connection.
func WithHeartbeat(interval, timeout time.Duration) Option {
	return func(o *options) error {
		if interval < 0 || timeout < 0 {
			return invalid("WithHeartbeat", [2]time.Duration{interval, timeout}, "must not be negative")
		}
		if timeout > 0 && interval > 0 && timeout <= interval {
			return invalid("WithHeartbeat", timeout, "timeout must be longer than the interval")
		}
		o.HeartbeatInterval, o.HeartbeatTimeout = interval, timeout
		return nil
	}
}

// WithResumeTimeout sets how long a sending socket keeps the unacknowledged
// messages of a disconnected peer for that same peer to come back. After it,
// they are handed to other peers (and may then be delivered twice if the
// first peer did receive them). Default DefaultResumeTimeout.
func WithResumeTimeout(d time.Duration) Option {
	return func(o *options) error {
		if d <= 0 {
			return invalid("WithResumeTimeout", d, "must be positive")
		}
		o.ResumeTimeout = d
		return nil
	}
}

// WithAcks turns acknowledgements on or off for a sending socket (every
// type but PULL). On (the default), every message is kept until its receiver's
// application has taken it, and resent after a reconnect, so nothing is
// lost. Off, a message counts as delivered once written to the connection:
// faster, but messages in flight are lost when a connection breaks.
// Sockets that both send and receive (REQ, REP, DEALER, ROUTER, PAIR)
// should agree: a peer with acks off is read only up to WithRecvHWM, and
// once its reader stops, the ACKs this socket's own sends wait for stop
// too, so heavy pipelining in both directions can stall.
func WithAcks(on bool) Option {
	return func(o *options) error {
		o.Acks = on
		return nil
	}
}

// WithReusePort binds and dials TCP endpoints with SO_REUSEPORT, so several
// sockets (or processes) can bind one port and a socket can dial from its
// own bound port.
func WithReusePort(on bool) Option {
	return func(o *options) error {
		o.ReusePort = on
		return nil
	}
}

// WithDialFromBind makes the socket's TCP (and tls://) dials start from
// the address of its first TCP binding, port included, so that a peer
// sees one address for it whichever side dialed: what a mesh of peers on
// one port each needs, and what NATs need for hole punching. Bind to port
// 0 and the dials use the port the system picked; dials made before any
// TCP Bind, or after Unbind of that binding, start from an ephemeral port.
// Its binds and dials use SO_REUSEPORT. Two peers that dial each other
// from their bound ports share one TCP connection: the second dial cannot
// be made (the connection exists; it fails with "cannot assign requested
// address" and is retried as any failed dial), and what was queued for
// its endpoint goes over the connection the peer made. It cannot go with
// WithLocalAddr, WithDialer or WithListener.
func WithDialFromBind(on bool) Option {
	return func(o *options) error {
		o.DialFromBind = on
		return nil
	}
}

// WithLocalAddr makes TCP dials start from this local "host:port". With
// WithReusePort it may be a port the socket also binds.
func WithLocalAddr(addr string) Option {
	return func(o *options) error {
		if _, _, err := net.SplitHostPort(addr); err != nil {
			return invalid("WithLocalAddr", addr, err.Error())
		}
		o.LocalAddr = addr
		return nil
	}
}

// WithDialer replaces how tcp:// and ipc:// endpoints are dialed, for TLS,
// SOCKS (golang.org/x/net/proxy) or anything that yields a net.Conn. network
// is "tcp" or "unix".
func WithDialer(dial func(ctx context.Context, network, address string) (net.Conn, error)) Option {
	return func(o *options) error {
		if dial == nil {
			return invalid("WithDialer", "nil", "must not be nil")
		}
		o.Dial = dial
		return nil
	}
}

// WithListener replaces how tcp:// and ipc:// endpoints are bound, for
// example to wrap the listener with tls.NewListener.
func WithListener(listen func(ctx context.Context, network, address string) (net.Listener, error)) Option {
	return func(o *options) error {
		if listen == nil {
			return invalid("WithListener", "nil", "must not be nil")
		}
		o.Listen = listen
		return nil
	}
}

// WithSendBuffer sets the kernel send buffer (SO_SNDBUF) of the socket's
// connections over a kernel tcp or unix socket to n bytes: tcp://, tls://
// and ipc://, and the application's own connections when they are, or
// unwrap through a NetConn method to, a *net.TCPConn or *net.UnixConn
// (ws://, wss:// and quic:// are not touched). With 0 the socket sets
// none, leaving each to the kernel's automatic sizing or to whatever the
// application set on its own connections. The kernel caps n
// at its own limit (net.core.wmem_max on Linux, 208 KiB unless raised),
// and stops sizing a buffer that was set, so a large n for a long, fast
// path may do worse than the kernel would: measure before setting one.
// Linux reports twice the value it was given.
//
// By default, on Linux, a tcp connection the socket opens itself to a
// peer on the same host (a loopback address, or the connection's own
// local address) gets DefaultLocalSendBuffer, and every other connection
// is left to the kernel: over loopback the kernel transmits what a sender
// queued beyond the receiver's window on the receiver's CPU, when its read
// opens the window, so a send buffer the kernel grew to megabytes moves
// most of the work of a stream of large messages to the receiver (see
// bench/README.md, "Kernel send buffers on loopback"). PUB, XPUB and BUS,
// which write each message to every peer and so are the busier end,
// leave theirs to the kernel. Connections the application opens
// (WithDialer, WithListener, ConnectConn, BindListener) keep whatever it
// gave them unless WithSendBuffer sets n.
func WithSendBuffer(n int) Option {
	return func(o *options) error {
		if n < 0 {
			return invalid("WithSendBuffer", n, "must not be negative")
		}
		o.SendBuffer, o.LocalSendBuffer = n, n
		return nil
	}
}

// WithMaxConnections bounds how many connections each bound endpoint
// serves at once, handshaking ones included (golang.org/x/net/netutil's
// LimitListener). Further connections wait in the kernel's accept queue
// until one ends, so a flood of connections cannot exhaust memory. Zero, the
// default, means no bound.
func WithMaxConnections(n int) Option {
	return func(o *options) error {
		if n < 0 {
			return invalid("WithMaxConnections", n, "must not be negative")
		}
		o.MaxConns = n
		return nil
	}
}

// WithEventBuffer sets the capacity of the Events channel. When it is full
// new events are dropped and counted in Stats, so a socket never waits for
// its monitor. Default DefaultEventBuffer.
func WithEventBuffer(n int) Option {
	return func(o *options) error {
		if n < 0 {
			return invalid("WithEventBuffer", n, "must not be negative")
		}
		o.EventBuffer = n
		return nil
	}
}

// WithRoutingID sets the routing id this socket states in its greeting. A
// ROUTER peer then uses it, instead of this socket's session id, as the
// first frame of the messages it receives from this socket and to route
// messages back to it, so the application can address a peer by a name it
// chose. It must be 1 to 255 bytes. Two peers of one ROUTER must not use
// the same id at the same time: the ROUTER refuses the second
// (ErrDuplicateRoutingID).
func WithRoutingID(id []byte) Option {
	return func(o *options) error {
		if len(id) == 0 || len(id) > maxRoutingID {
			return invalid("WithRoutingID", len(id), "must be 1 to 255 bytes")
		}
		o.RoutingID = append([]byte(nil), id...)
		return nil
	}
}

// maxRoutingID is the longest routing id WISP/1 carries.
const maxRoutingID = 255

// WithRouterMandatory makes Send on a ROUTER socket fail with ErrUnroutable
// when no peer has the message's routing id. By default such a message is
// dropped and counted in Stats.Unroutable.
func WithRouterMandatory(on bool) Option {
	return func(o *options) error {
		o.RouterMandatory = on
		return nil
	}
}

// WithRequestRetry makes a REQ socket send its outstanding request again
// while no reply has come: at once when the connection that carried it ends
// (to another connected peer if there is one, else to the same endpoint once
// it reconnects to a new server), and every interval after the last
// attempt, to the next peer in turn. Zero means only on a lost connection.
//
// A connection into a network partition stays open for the heartbeat
// timeout, and TCP resends what was written to it only on its own backoff
// (seconds apart), so every interval the REQ also sends a PING on the
// connection holding the request; if nothing at all has come back by the
// next interval, it ends that connection (EventDisconnected with
// ErrHeartbeatTimeout) and the request goes to another peer or out on a
// fresh connection. A server that is only slow answers the PING and keeps
// its connection. While the request has no connection, each interval also
// abandons a connection attempt in progress and dials again, so a lost
// SYN costs at most one interval, not the kernel's SYN backoff.
//
// The client then gets exactly one reply per request, but a server may see
// a request more than once, so requests should be safe to repeat. Retries
// stop when the reply arrives, when a new request replaces it, or when a
// Recv waiting for it gives up (a later Recv resumes them).
func WithRequestRetry(interval time.Duration) Option {
	return func(o *options) error {
		if interval < 0 {
			return invalid("WithRequestRetry", interval, "must not be negative")
		}
		o.RequestRetry, o.RetryInterval = true, interval
		return nil
	}
}

// WithFailFast makes Send fail at once with ErrNoPeer when no peer is
// connected, instead of queuing the message for an endpoint that is still
// connecting or waiting for a peer to arrive. It applies to PUSH, DEALER,
// PAIR and REQ.
func WithFailFast(on bool) Option {
	return func(o *options) error {
		o.FailFast = on
		return nil
	}
}

// WithMaxSubscriptions bounds how many prefixes a PUB or XPUB socket holds
// for one subscriber (DefaultMaxSubscriptions), so a peer cannot make it
// use unbounded memory. A subscriber that goes past it is disconnected with
// a protocol error.
func WithMaxSubscriptions(n int) Option {
	return func(o *options) error {
		if n <= 0 {
			return invalid("WithMaxSubscriptions", n, "must be positive")
		}
		o.MaxSubscriptions = n
		return nil
	}
}

// WithNoDrop makes Send on a PUB or XPUB socket wait, until there is room
// or its context ends, when a matching subscriber's queue is full, instead
// of dropping the message for that subscriber (ZeroMQ's XPUB_NODROP). No
// message is then lost at the publisher while subscribers stay connected,
// but the slowest subscriber paces the publisher and everyone else. If the
// context ends, the message is dropped, and counted, for the peers still
// full; the others have it.
func WithNoDrop(on bool) Option {
	return func(o *options) error {
		o.NoDrop = on
		return nil
	}
}

// WithDeferredAck makes Recv acknowledge the message it returned before,
// not the one it returns: a message counts as delivered only once the
// application asks for the next one (or calls Ack). A receiver that dies
// while handling a message then has it resent to another receiver, so
// processing is at least once; the cost is one message's delay in the
// acknowledgements. Without it, Recv acknowledges what it returns, and a
// receiver that dies while handling a message loses that message.
func WithDeferredAck(on bool) Option {
	return func(o *options) error {
		o.DeferAck = on
		return nil
	}
}

// WithTLS is the TLS config of the socket's "tls://host:port" endpoints:
// TLS over tcp, the socket a TLS server on those it binds and a client on
// those it connects (checking the server against the endpoint's host
// unless config names a ServerName). Its tcp://, ipc:// and inproc://
// endpoints stay plain, so one socket may serve both, and events name
// each endpoint as what it is. The TLS handshake runs within the
// handshake timeout, before the protocol's: a failure is
// EventHandshakeFailed with ErrTLSHandshake on both sides, and a connected
// peer's TLS state (the certificates it presented) is on its events, its
// PeerStats and, on a ROUTER, Socket.Peer. It combines with WithReusePort,
// WithLocalAddr, WithDialer and WithListener (which then carry the
// encrypted bytes).
//
// Registered schemes that run TLS use it too: "wss://" (package
// transport/ws), and "quic://" (package transport/quic), which needs it,
// and whose peers' TLS state shows as for tls://.
func WithTLS(config *tls.Config) Option {
	return func(o *options) error {
		if config == nil {
			return invalid("WithTLS", config, "needs a *tls.Config")
		}
		o.TLS = config
		return nil
	}
}
