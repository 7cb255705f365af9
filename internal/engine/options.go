package engine

import (
	"context"
	"crypto/tls"
	"net"
	"time"
)

// Options are a socket's settings, validated by package socket's options
// before the engine sees them.
type Options struct {
	SendHWM      int
	SendHWMBytes int64
	RecvHWM      int
	// RecvQueueBytes bounds the payload bytes queued for Recv across all
	// peers (budget.go); 0: no bound.
	RecvQueueBytes    int64
	Linger            time.Duration
	Reconnect         time.Duration
	ReconnectMax      time.Duration
	MaxMessageSize    int64
	HandshakeTimeout  time.Duration
	HeartbeatInterval time.Duration
	HeartbeatTimeout  time.Duration
	ResumeTimeout     time.Duration
	Acks              bool
	ReusePort         bool
	// DialFromBind: tcp and tls binds use SO_REUSEPORT, and dials start
	// from the address of the socket's first tcp or tls binding.
	DialFromBind     bool
	LocalAddr        string
	Dial             func(ctx context.Context, network, address string) (net.Conn, error)
	Listen           func(ctx context.Context, network, address string) (net.Listener, error)
	EventBuffer      int
	MaxConns         int
	RoutingID        []byte
	RouterMandatory  bool
	RequestRetry     bool
	RetryInterval    time.Duration
	FailFast         bool
	MaxSubscriptions int
	NoDrop           bool
	DeferAck         bool
	Checksum         bool
	// BusyPoll is how long a Recv reading its connection itself
	// (directread.go) polls it before it sleeps; 0: it sleeps at once.
	BusyPoll time.Duration
	// PlainRequests: REQ sends libzmq's envelope, an empty delimiter and
	// the body, with no request id; it then takes a reply only from the
	// peer it asked.
	PlainRequests bool
	// Acked, if set, is told the Spool numbers of messages as their ACKs
	// release them, with Engine.mu held: it must not block. The slice is
	// its own. Messages a departed peer held and another peer took over
	// are not released, so they are reported only when that peer
	// acknowledges them.
	Acked func(spools []uint64)
	// SendBuffer is the kernel send buffer (SO_SNDBUF) of every tcp and
	// ipc connection; 0: the kernel sizes it. LocalSendBuffer is the same
	// for the tcp connections the socket opens itself to a peer on this
	// host, when SendBuffer is 0 and the socket does not fan out
	// (Caps.FansOut; sendbuf.go); 0: the kernel sizes those too.
	SendBuffer      int
	LocalSendBuffer int
	// TLS puts TLS over the tcp connections the socket binds and dials
	// (transport.Config.TLS).
	TLS *tls.Config
}
