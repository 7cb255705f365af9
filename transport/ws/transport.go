package ws

import (
	"context"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"time"

	"github.com/coder/websocket"

	"github.com/wispmq/wisp/transport"
)

func init() {
	for _, tls := range []bool{false, true} {
		t := wsTransport{tls: tls}
		if err := transport.Register(t.scheme(), t); err != nil {
			panic(err) // only a second copy of this package can collide
		}
	}
}

// headerTimeout bounds how long a connection may take to send its HTTP
// upgrade request, as the handshake timeout bounds wisp's greeting.
const headerTimeout = 10 * time.Second

// wsTransport is ws:// (or wss:// when tls).
type wsTransport struct{ tls bool }

func (t wsTransport) scheme() string {
	if t.tls {
		return "wss"
	}
	return "ws"
}

func (t wsTransport) ParseAddress(address string) (string, error) { return parseAddress(address) }

// Listen serves WebSocket upgrades at the endpoint's path on its own HTTP
// server, listening as tcp:// would (so ReusePort and a custom Listen
// apply).
func (t wsTransport) Listen(ctx context.Context, ep transport.Endpoint, cfg transport.Config) (net.Listener, transport.Endpoint, error) {
	if t.tls && cfg.TLS == nil {
		return nil, transport.Endpoint{}, fmt.Errorf("%w: %s needs a TLS config (WithTLS)", transport.ErrInvalidConfig, ep)
	}
	hostport, path := splitAddress(ep.Address)
	tcfg := cfg
	tcfg.TLS = nil // TLS is the HTTP server's
	tl, real, err := transport.Listen(ctx, transport.Endpoint{Scheme: transport.SchemeTCP, Address: hostport}, tcfg)
	if err != nil {
		return nil, transport.Endpoint{}, err
	}
	bound := transport.Endpoint{Scheme: t.scheme(), Address: real.Address + path}
	if host, port, _ := net.SplitHostPort(real.Address); host == "" {
		bound.Address = "*:" + port + path
	}
	l := NewListener(addr{scheme: t.scheme(), address: bound.Address})
	mux := http.NewServeMux()
	mux.Handle(path, l)
	// Failed upgrades and TLS handshakes are the peer's business, as a
	// failed tcp:// handshake is: they show as the dialer's errors, not as
	// lines on this process's standard error.
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: headerTimeout, TLSConfig: cfg.TLS, ErrorLog: log.New(io.Discard, "", 0)}
	served := make(chan struct{})
	go func() {
		defer close(served)
		if t.tls {
			srv.ServeTLS(tl, "", "")
		} else {
			srv.Serve(tl)
		}
	}()
	l.onClose = func() error {
		err := srv.Close()
		<-served
		return err
	}
	return l, bound, nil
}

// Dial opens a WebSocket to the endpoint, connecting as tcp:// would (so
// LocalAddr, ReusePort and a custom Dial apply), with TLS for wss://.
func (t wsTransport) Dial(ctx context.Context, ep transport.Endpoint, cfg transport.Config) (net.Conn, error) {
	if t.tls && cfg.TLS == nil {
		return nil, fmt.Errorf("%w: %s needs a TLS config (WithTLS)", transport.ErrInvalidConfig, ep)
	}
	tcfg := cfg
	tcfg.TLS = nil
	var local net.Addr
	ht := &http.Transport{
		DialContext: func(ctx context.Context, _, address string) (net.Conn, error) {
			c, err := transport.Dial(ctx, transport.Endpoint{Scheme: transport.SchemeTCP, Address: address}, tcfg)
			if err == nil {
				local = addr{scheme: t.scheme(), address: c.LocalAddr().String()}
			}
			return c, err
		},
		TLSClientConfig: cfg.TLS,
	}
	defer ht.CloseIdleConnections()
	c, resp, err := websocket.Dial(ctx, t.scheme()+"://"+ep.Address, &websocket.DialOptions{
		HTTPClient:   &http.Client{Transport: ht},
		Subprotocols: []string{Subprotocol},
	})
	if err != nil {
		if resp != nil && resp.StatusCode != http.StatusSwitchingProtocols {
			return nil, fmt.Errorf("ws: %s answered %s, want a WebSocket upgrade: %w", ep, resp.Status, err)
		}
		return nil, err
	}
	if local == nil {
		local = addr{scheme: t.scheme(), address: "unknown"}
	}
	return withTLS(newConn(c, local, addr{scheme: t.scheme(), address: ep.Address}), resp.TLS), nil
}
