package transport

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"syscall"

	"github.com/libp2p/go-reuseport"
)

// Config says how to listen and dial. The zero value is plain net.Listen and
// a plain net.Dialer.
type Config struct {
	// ReusePort sets SO_REUSEPORT and SO_REUSEADDR on the sockets that Listen
	// and Dial open, so several listeners can share a port and a dialer can dial
	// from a bound port. tcp only: with ipc it is an error wrapping
	// ErrInvalidConfig, as it is together with a custom Dial (for Dial) or a
	// custom Listen (for Listen), which this package cannot reach into.
	// quic:// (package transport/quic) sets it on its UDP sockets.
	ReusePort bool
	// LocalAddr is an optional local "host:port" for Dial to bind before it
	// connects (tcp only). The host is an IP address, or empty or "*" for any;
	// port 0 picks one. With ReusePort it may be a port that is also being
	// listened on, which is how peer-to-peer meshes dial from their own port.
	// Listen ignores it. quic:// dials from a UDP socket bound to it.
	LocalAddr string
	// Dial replaces the dialer (TLS, SOCKS via golang.org/x/net/proxy, ...).
	// network is "tcp" or "unix"; address is "host:port" or the socket path.
	Dial func(ctx context.Context, network, address string) (net.Conn, error)
	// Listen replaces net.Listen (for example to wrap with tls.NewListener).
	// network and address are as for Dial.
	Listen func(ctx context.Context, network, address string) (net.Listener, error)
	// TLS is the config of tls:// endpoints (TLS over tcp), which need
	// one: Listen's connections are servers with it and Dial's clients
	// (with the endpoint's host as ServerName unless the config names
	// one). The handshake is left to the caller, which runs it within its
	// own deadline, so that a failure shows as the handshake's on both
	// sides. It combines with ReusePort, LocalAddr and a custom Dial or
	// Listen, which then carry the bytes TLS encrypts. tcp:// and ipc://
	// endpoints stay plain.
	TLS *tls.Config
}

// Listen opens a listener for a tcp or ipc endpoint and returns the endpoint
// actually bound: for tcp the real port replaces port 0, and the host stays as
// given ("*" stays "*").
//
// For ipc, a socket file left behind by a dead process (connecting to it is
// refused) is removed and replaced. A socket with a live listener, or a path
// that exists and is not a socket, is an error wrapping ErrAddressInUse, and
// the file is left alone. Checking for a live listener connects to it once, so
// that listener sees one connection that closes at once. The returned
// listener removes its socket file on Close.
//
// A tcp address already bound gives an error wrapping ErrAddressInUse.
// inproc gives ErrUnsupported: the engine handles inproc itself.
func Listen(ctx context.Context, ep Endpoint, cfg Config) (net.Listener, Endpoint, error) {
	ep, err := normalize(ep)
	if err != nil {
		return nil, Endpoint{}, err
	}
	if err := ctx.Err(); err != nil {
		return nil, Endpoint{}, err
	}
	switch ep.Scheme {
	case SchemeTCP, SchemeTLS:
		return listenTCP(ctx, ep, cfg)
	case SchemeIPC:
		l, err := listenIPC(ctx, ep, cfg)
		if err != nil {
			return nil, Endpoint{}, err
		}
		return l, ep, nil
	default:
		if t := lookup(ep.Scheme); t != nil {
			return t.Listen(ctx, ep, cfg)
		}
		return nil, Endpoint{}, fmt.Errorf("%w: cannot listen on %s", ErrUnsupported, ep)
	}
}

// Dial connects to a tcp or ipc endpoint. tcp connections have TCP_NODELAY on,
// as Go sets by default. Dialing port 0 or the all-interfaces host "*" is an
// error wrapping ErrInvalidEndpoint; inproc gives ErrUnsupported. Errors from
// the dialer come back unchanged (they name the address), except that a
// LocalAddr already in use wraps ErrAddressInUse.
func Dial(ctx context.Context, ep Endpoint, cfg Config) (net.Conn, error) {
	ep, err := normalize(ep)
	if err != nil {
		return nil, err
	}
	switch ep.Scheme {
	case SchemeTCP, SchemeTLS:
		return dialTCP(ctx, ep, cfg)
	case SchemeIPC:
		if cfg.ReusePort || cfg.LocalAddr != "" {
			return nil, fmt.Errorf("%w: ReusePort and LocalAddr are tcp only, got %s", ErrInvalidConfig, ep)
		}
		return dialWith(ctx, cfg, "unix", ep.Address)
	default:
		if t := lookup(ep.Scheme); t != nil {
			return t.Dial(ctx, ep, cfg)
		}
		return nil, fmt.Errorf("%w: cannot dial %s", ErrUnsupported, ep)
	}
}

// normalize checks an Endpoint that may have been built by hand rather than
// by ParseEndpoint, and returns it in the form ParseEndpoint gives.
func normalize(ep Endpoint) (Endpoint, error) {
	if (ep.Scheme == SchemeTCP || ep.Scheme == SchemeTLS) && len(ep.Address) > 1 && ep.Address[0] == '*' && ep.Address[1] == ':' {
		ep.Address = ep.Address[1:]
	}
	return ParseEndpoint(ep.String())
}

func listenTCP(ctx context.Context, ep Endpoint, cfg Config) (net.Listener, Endpoint, error) {
	if err := needTLS(ep, cfg); err != nil {
		return nil, Endpoint{}, err
	}
	if cfg.ReusePort && cfg.Listen != nil {
		return nil, Endpoint{}, fmt.Errorf("%w: ReusePort cannot apply to a custom Listen (%s)", ErrInvalidConfig, ep)
	}
	var l net.Listener
	var err error
	if cfg.Listen != nil {
		l, err = cfg.Listen(ctx, "tcp", ep.Address)
	} else {
		lc := net.ListenConfig{}
		if cfg.ReusePort {
			lc.Control = reuseport.Control
		}
		l, err = lc.Listen(ctx, "tcp", ep.Address)
	}
	if err = checkListen(ep, l, err); err != nil {
		return nil, Endpoint{}, err
	}
	if ep.Scheme == SchemeTLS {
		l = tls.NewListener(l, cfg.TLS)
	}
	host, port, _ := net.SplitHostPort(ep.Address) // valid after normalize
	if ta, ok := l.Addr().(*net.TCPAddr); ok && ta != nil {
		port = strconv.Itoa(ta.Port)
	} else if _, p, err := net.SplitHostPort(l.Addr().String()); err == nil {
		port = p
	}
	return l, Endpoint{Scheme: ep.Scheme, Address: net.JoinHostPort(host, port)}, nil
}

// checkListen turns a listen result into this package's errors.
func checkListen(ep Endpoint, l net.Listener, err error) error {
	switch {
	case err != nil && errors.Is(err, syscall.EADDRINUSE):
		return fmt.Errorf("%w: %s: %w", ErrAddressInUse, ep, err)
	case err != nil:
		return err
	case l == nil:
		return fmt.Errorf("transport: listen %s: Config.Listen returned no listener and no error", ep)
	}
	return nil
}

func dialTCP(ctx context.Context, ep Endpoint, cfg Config) (net.Conn, error) {
	if err := needTLS(ep, cfg); err != nil {
		return nil, err
	}
	host, port, _ := net.SplitHostPort(ep.Address) // valid after normalize
	if host == "" {
		return nil, invalid(ep.String(), "cannot dial the all-interfaces host *")
	}
	if port == "0" {
		return nil, invalid(ep.String(), "cannot dial port 0")
	}
	if cfg.Dial != nil {
		if cfg.ReusePort || cfg.LocalAddr != "" {
			return nil, fmt.Errorf("%w: ReusePort and LocalAddr cannot apply to a custom Dial (%s)", ErrInvalidConfig, ep)
		}
		c, err := dialWith(ctx, cfg, "tcp", ep.Address)
		return withTLS(c, err, ep, cfg, host)
	}
	d := net.Dialer{}
	if cfg.LocalAddr != "" {
		la, err := parseLocalAddr(cfg.LocalAddr)
		if err != nil {
			return nil, err
		}
		d.LocalAddr = la
	}
	if cfg.ReusePort {
		d.Control = reuseport.Control
	}
	c, err := d.DialContext(ctx, "tcp", ep.Address)
	if err != nil && errors.Is(err, syscall.EADDRINUSE) {
		return nil, fmt.Errorf("%w: dial %s from %s: %w", ErrAddressInUse, ep, cfg.LocalAddr, err)
	}
	return withTLS(c, err, ep, cfg, host)
}

// needTLS refuses a tls:// endpoint without a TLS config.
func needTLS(ep Endpoint, cfg Config) error {
	if ep.Scheme == SchemeTLS && cfg.TLS == nil {
		return fmt.Errorf("%w: %s needs a TLS config", ErrInvalidConfig, ep)
	}
	return nil
}

// withTLS makes a connection dialed to a tls:// endpoint a TLS client; the
// handshake is the caller's to run.
func withTLS(c net.Conn, err error, ep Endpoint, cfg Config, host string) (net.Conn, error) {
	if err != nil || ep.Scheme != SchemeTLS {
		return c, err
	}
	tc := cfg.TLS
	if tc.ServerName == "" && !tc.InsecureSkipVerify {
		tc = tc.Clone()
		tc.ServerName = host
	}
	return tls.Client(c, tc), nil
}

// dialWith dials with the custom dialer if there is one, else net.Dialer.
func dialWith(ctx context.Context, cfg Config, network, address string) (net.Conn, error) {
	if cfg.Dial == nil {
		var d net.Dialer
		return d.DialContext(ctx, network, address)
	}
	c, err := cfg.Dial(ctx, network, address)
	if err == nil && c == nil {
		return nil, fmt.Errorf("transport: dial %s %s: Config.Dial returned no connection and no error", network, address)
	}
	return c, err
}

// parseLocalAddr reads Config.LocalAddr. It takes IP literals only, so that
// dialing never does a hidden name lookup without the caller's context.
func parseLocalAddr(s string) (*net.TCPAddr, error) {
	bad := func(why string) error {
		return fmt.Errorf("%w: LocalAddr %q: %s", ErrInvalidConfig, s, why)
	}
	host, port, err := net.SplitHostPort(s)
	if err != nil {
		return nil, bad("want host:port")
	}
	n, ok := parsePort(port)
	if !ok {
		return nil, bad("bad port")
	}
	la := &net.TCPAddr{Port: n}
	if host != "" && host != "*" {
		a, err := netip.ParseAddr(host)
		if err != nil {
			return nil, bad("host is not an IP address")
		}
		la.IP = a.AsSlice()
		la.Zone = a.Zone()
	}
	return la, nil
}

// SetBuffers sets SO_SNDBUF and SO_RCVBUF to n bytes on a *net.TCPConn or
// *net.UnixConn, looking through wrappers that expose NetConn (such as
// *tls.Conn). It does nothing when n <= 0 or for other kinds of connection.
func SetBuffers(c net.Conn, n int) error {
	if n <= 0 {
		return nil
	}
	if b := kernelConn(c); b != nil {
		return errors.Join(b.SetReadBuffer(n), b.SetWriteBuffer(n))
	}
	return nil
}

// SetSendBuffer sets SO_SNDBUF alone to n bytes, as SetBuffers does both.
// The kernel caps n at its limit (net.core.wmem_max on Linux), Linux
// doubles it for its own bookkeeping, and a socket whose send buffer was
// set is no longer sized automatically.
func SetSendBuffer(c net.Conn, n int) error {
	if n <= 0 {
		return nil
	}
	if b := kernelConn(c); b != nil {
		return b.SetWriteBuffer(n)
	}
	return nil
}

// kernelBuffered is what SetBuffers needs of a connection.
type kernelBuffered interface {
	SetReadBuffer(int) error
	SetWriteBuffer(int) error
}

// kernelConn returns the *net.TCPConn or *net.UnixConn under c, or nil.
func kernelConn(c net.Conn) kernelBuffered {
	// A few levels of wrapping is plenty; the bound keeps a wrapper that
	// returns itself from looping forever.
	for range 8 {
		switch cc := c.(type) {
		case *net.TCPConn:
			return cc
		case *net.UnixConn:
			return cc
		case interface{ NetConn() net.Conn }:
			c = cc.NetConn()
		default:
			return nil
		}
	}
	return nil
}
