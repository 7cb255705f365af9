package quic

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"syscall"
	"time"

	"github.com/libp2p/go-reuseport"
	quicgo "github.com/quic-go/quic-go"

	"github.com/wispmq/wisp/transport"
)

// Scheme is the endpoint scheme this package registers.
const Scheme = "quic"

// ALPN is the application protocol both sides state in the TLS handshake
// (tls.Config.NextProtos); a QUIC peer that states another one is refused
// during the handshake.
const ALPN = "wisp/1"

// StreamTimeout bounds how long a peer that completed the QUIC handshake
// may take to open its stream, as the handshake timeout bounds wisp's
// greeting: a peer that never does would otherwise hold its connection
// state for the idle timeout.
const StreamTimeout = 10 * time.Second

// idleTimeout is QUIC's own idle timeout. wisp's heartbeat
// (socket.WithHeartbeat, 30 s by default) is what notices a peer that went
// silent, and reports it as on every other transport; QUIC's timeout is
// set well above any heartbeat timeout so that it never ends a connection
// first, and stays only as a backstop for sockets with heartbeats turned
// off. QUIC sends no keep-alives of its own for the same reason: wisp's
// PINGs already keep the path (and any NAT binding) warm.
const idleTimeout = time.Hour

// Application error codes sent in CONNECTION_CLOSE.
const (
	codeClosed   quicgo.ApplicationErrorCode = 0 // the wisp connection ended
	codeNoStream quicgo.ApplicationErrorCode = 1 // no stream within StreamTimeout
)

func init() {
	if err := transport.Register(Scheme, quicTransport{}); err != nil {
		panic(err) // only a second copy of this package can collide
	}
}

// quicTransport is quic://.
type quicTransport struct{}

// ParseAddress takes host:port as tcp:// does: a name, an IPv4 address, a
// bracketed IPv6 address, or * for all interfaces (to bind).
func (quicTransport) ParseAddress(address string) (string, error) {
	host, port, err := transport.SplitHostPort(address)
	if err != nil {
		return "", err
	}
	return net.JoinHostPort(host, port), nil
}

// config is the QUIC config of the listening side (server) or the
// dialing one.
func config(server bool) *quicgo.Config {
	// One wisp connection is one stream, which the dialer opens: a
	// client may open that one, a server none, and neither any
	// unidirectional stream.
	streams := int64(-1)
	if server {
		streams = 1
	}
	return &quicgo.Config{
		MaxIdleTimeout:        idleTimeout,
		MaxIncomingStreams:    streams,
		MaxIncomingUniStreams: -1,
	}
}

// tlsConfig is cfg.TLS made fit for QUIC: a clone stating ALPN, with TLS
// 1.3 at least.
func tlsConfig(ep transport.Endpoint, cfg transport.Config) (*tls.Config, error) {
	if cfg.TLS == nil {
		return nil, fmt.Errorf("%w: %s needs a TLS config (WithTLS): QUIC always runs TLS 1.3; a bound endpoint needs a certificate, a connecting one the CAs it trusts", transport.ErrInvalidConfig, ep)
	}
	if cfg.TLS.MaxVersion != 0 && cfg.TLS.MaxVersion < tls.VersionTLS13 {
		return nil, fmt.Errorf("%w: %s needs TLS 1.3, and the TLS config's MaxVersion is lower", transport.ErrInvalidConfig, ep)
	}
	tc := cfg.TLS.Clone()
	tc.NextProtos = []string{ALPN}
	tc.MinVersion = tls.VersionTLS13
	return tc, nil
}

// Listen binds a UDP socket (with SO_REUSEPORT when cfg.ReusePort) and
// accepts QUIC connections on it.
func (quicTransport) Listen(ctx context.Context, ep transport.Endpoint, cfg transport.Config) (net.Listener, transport.Endpoint, error) {
	if cfg.Listen != nil {
		return nil, transport.Endpoint{}, fmt.Errorf("%w: %s listens on UDP itself; a custom stream listener (WithListener) cannot carry it", transport.ErrInvalidConfig, ep)
	}
	tc, err := tlsConfig(ep, cfg)
	if err != nil {
		return nil, transport.Endpoint{}, err
	}
	host, port, _ := net.SplitHostPort(ep.Address) // checked by ParseAddress
	bindHost := host
	if host == "*" {
		bindHost = ""
	}
	lc := net.ListenConfig{}
	if cfg.ReusePort {
		lc.Control = reuseport.Control
	}
	pc, err := lc.ListenPacket(ctx, "udp", net.JoinHostPort(bindHost, port))
	if err != nil {
		if errors.Is(err, syscall.EADDRINUSE) {
			return nil, transport.Endpoint{}, fmt.Errorf("%w: %s: %w", transport.ErrAddressInUse, ep, err)
		}
		return nil, transport.Endpoint{}, err
	}
	if ua, ok := pc.LocalAddr().(*net.UDPAddr); ok {
		port = strconv.Itoa(ua.Port)
	}
	bound := transport.Endpoint{Scheme: Scheme, Address: net.JoinHostPort(host, port)}
	l, err := newListener(pc, tc, addr(bound.Address))
	if err != nil {
		pc.Close()
		return nil, transport.Endpoint{}, err
	}
	return l, bound, nil
}

// Dial opens a QUIC connection to ep from a UDP socket of its own (bound
// to cfg.LocalAddr if given), and its stream, within ctx.
func (quicTransport) Dial(ctx context.Context, ep transport.Endpoint, cfg transport.Config) (net.Conn, error) {
	if cfg.Dial != nil {
		return nil, fmt.Errorf("%w: %s dials UDP itself; a custom stream dialer (WithDialer) cannot carry it", transport.ErrInvalidConfig, ep)
	}
	host, port, _ := net.SplitHostPort(ep.Address)
	if host == "*" || port == "0" {
		return nil, fmt.Errorf("%w %q: cannot dial the all-interfaces host * or port 0", transport.ErrInvalidEndpoint, ep)
	}
	tc, err := tlsConfig(ep, cfg)
	if err != nil {
		return nil, err
	}
	if tc.ServerName == "" && !tc.InsecureSkipVerify {
		tc.ServerName = host
	}
	raddr, err := resolve(ctx, host, port)
	if err != nil {
		return nil, err
	}
	lc := net.ListenConfig{}
	if cfg.ReusePort {
		lc.Control = reuseport.Control
	}
	local := ":0"
	if cfg.LocalAddr != "" {
		local = cfg.LocalAddr
		if h, p, err := net.SplitHostPort(local); err == nil && h == "*" {
			local = net.JoinHostPort("", p)
		}
	}
	pc, err := lc.ListenPacket(ctx, "udp", local)
	if err != nil {
		if errors.Is(err, syscall.EADDRINUSE) {
			return nil, fmt.Errorf("%w: dial %s from %s: %w", transport.ErrAddressInUse, ep, cfg.LocalAddr, err)
		}
		return nil, err
	}
	tr := &quicgo.Transport{Conn: pc}
	release := func() {
		tr.Close()
		pc.Close()
	}
	qc, err := tr.Dial(ctx, raddr, tc, config(false))
	if err != nil {
		release()
		return nil, fmt.Errorf("quic: dial %s: %w", ep, err)
	}
	st, err := qc.OpenStreamSync(ctx)
	if err != nil {
		qc.CloseWithError(codeClosed, "")
		release()
		return nil, fmt.Errorf("quic: open a stream to %s: %w", ep, err)
	}
	return newConn(qc, st, release), nil
}

// resolve turns host and port into a UDP address within ctx.
func resolve(ctx context.Context, host, port string) (*net.UDPAddr, error) {
	p, _ := strconv.Atoi(port)
	if a, err := netip.ParseAddr(host); err == nil {
		return net.UDPAddrFromAddrPort(netip.AddrPortFrom(a, uint16(p))), nil
	}
	ips, err := net.DefaultResolver.LookupNetIP(ctx, "ip", host)
	if err != nil {
		return nil, err
	}
	return net.UDPAddrFromAddrPort(netip.AddrPortFrom(ips[0].Unmap(), uint16(p))), nil
}

// addr is a quic:// listener's address, for events and BindListener.
type addr string

func (a addr) Network() string { return Scheme }
func (a addr) String() string  { return string(a) }
