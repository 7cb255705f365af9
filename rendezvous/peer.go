package rendezvous

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/wispmq/wisp/socket"
)

// A Peer is one side of a future link: a PAIR socket bound to a local
// port, and a DEALER connected to the introducer from that same port
// (SO_REUSEPORT), registered under a name. The NAT in front of the peer
// maps that port to a public one when the DEALER connects; the introducer
// sees the public one, and the punch dials from the same local port, so a
// NAT that keeps the mapping per source port (most do; Linux's
// MASQUERADE keeps the port itself) sends both through the same public
// port.
//
// A Peer makes one Link, with Connect or Accept; Close ends both.
type Peer struct {
	name   string
	local  string // the bound "host:port"
	public string // as the introducer saw it
	o      options

	data  *socket.Socket // PAIR: binds local, punches from it (WithDialFromBind)
	intro *socket.Socket // DEALER to the introducer, from local too

	linked    atomic.Bool
	closeOnce sync.Once
	closeErr  error
}

// Register binds a local port (WithLocalAddr), connects to the introducer
// endpoint ("tcp://host:port") from it, and registers as name (1 to
// MaxNameLen bytes of text). It returns once the introducer has answered,
// with ErrNameTaken if another peer has the name.
func Register(ctx context.Context, introducer, name string, opts ...Option) (*Peer, error) {
	if _, err := parseName([]byte(name)); err != nil {
		return nil, fmt.Errorf("rendezvous: invalid name %q: %w", name, err)
	}
	o := defaultOptions()
	for _, opt := range opts {
		if err := opt(&o); err != nil {
			return nil, err
		}
	}
	p := &Peer{name: name, o: o}
	var err error
	p.data, err = socket.New(socket.Pair, socket.WithDialFromBind(true), socket.WithReconnectInterval(min(50*time.Millisecond, o.retry), o.retry))
	if err != nil {
		return nil, err
	}
	bound, err := p.data.Bind("tcp://" + o.local)
	if err != nil {
		p.data.Close()
		return nil, err
	}
	p.local = strings.TrimPrefix(bound, "tcp://")
	p.intro, err = socket.New(socket.Dealer, socket.WithReusePort(true), socket.WithLocalAddr(p.local))
	if err == nil {
		err = p.intro.Connect(introducer)
	}
	if err == nil {
		err = p.intro.Send(ctx, message{kind: kindRegister, name: name}.frames()...)
	}
	var m message
	if err == nil {
		m, err = p.recv(ctx)
	}
	if err == nil {
		switch m.kind {
		case kindRegistered:
			p.public = m.endpoint
		case kindError:
			err = errorOf(m)
		default:
			err = fmt.Errorf("%w: %v in answer to REGISTER", ErrProtocol, m.kind)
		}
	}
	if err != nil {
		p.Close()
		return nil, err
	}
	return p, nil
}

// Name is the name the peer registered.
func (p *Peer) Name() string { return p.name }

// Local is the local "host:port" the peer bound and dials from.
func (p *Peer) Local() string { return p.local }

// Public is the peer's endpoint as the introducer saw it: its NAT's public
// address and port, or Local's when there is no NAT between them.
func (p *Peer) Public() string { return p.public }

// Stats returns the counters of the peer's own socket, the one a Direct
// link uses: its connections with their remote addresses, and the messages
// and bytes each carried. A Relayed link's messages do not appear here;
// the introducer counts them (IntroducerStats).
func (p *Peer) Stats() socket.Stats { return p.data.Stats() }

// Connect asks the introducer for the peer registered as name, punches a
// direct connection to it, and falls back to the relay when that does not
// succeed within the punch timeout (WithPunchTimeout). The other peer must
// be in Accept. This side decides the path and tells the other through the
// introducer. It fails with ErrUnknownPeer or ErrBusy if the introducer
// refuses (the Peer can try again), with ErrLinked if the Peer has its
// link already. After any other error the Peer is spent: close it.
func (p *Peer) Connect(ctx context.Context, name string) (*Link, error) {
	if !p.linked.CompareAndSwap(false, true) {
		return nil, ErrLinked
	}
	if err := p.intro.Send(ctx, message{kind: kindConnect, name: name}.frames()...); err != nil {
		p.linked.Store(false)
		return nil, err
	}
	m, err := p.recv(ctx)
	if err == nil && m.kind == kindError {
		err = errorOf(m)
	} else if err == nil && (m.kind != kindPeer || m.name != name) {
		err = fmt.Errorf("%w: %v in answer to CONNECT %s", ErrProtocol, m.kind, name)
	}
	if err != nil {
		p.linked.Store(false)
		return nil, err
	}
	return p.punch(ctx, m, true)
}

// Accept waits until another peer asks the introducer for this one, then
// punches a direct connection to it at the same moment as the other peer
// does, and takes the path the other peer decides (Connect). It fails
// with ErrPathMismatch if told "direct" without a connection of its own,
// and with context.DeadlineExceeded if no verdict comes in time; after an
// error the Peer is spent: close it.
func (p *Peer) Accept(ctx context.Context) (*Link, error) {
	if !p.linked.CompareAndSwap(false, true) {
		return nil, ErrLinked
	}
	m, err := p.recv(ctx)
	if err == nil && m.kind == kindError {
		err = errorOf(m)
	} else if err == nil && m.kind != kindPeer {
		err = fmt.Errorf("%w: %v while waiting for a peer", ErrProtocol, m.kind)
	}
	if err != nil {
		p.linked.Store(false)
		return nil, err
	}
	return p.punch(ctx, m, false)
}

// punch dials the other peer's public endpoint from the bound port, as the
// other peer dials this one's: the first SYN to leave each NAT opens it for
// the other's, and the two connect (a TCP simultaneous open, or one side's
// dial reaching the other's listener). The socket redials a failed dial
// after at most the retry interval. The initiator gives up after the punch
// timeout and sends its verdict, direct or relayed, through the
// introducer; the other side waits for that verdict.
func (p *Peer) punch(ctx context.Context, intro message, initiator bool) (*Link, error) {
	l := &Link{p: p, name: intro.name, remote: intro.endpoint}
	start := time.Now()
	// tell sends the initiator's verdict and returns the link.
	tell := func(path Path) (*Link, error) {
		l.path = path
		if err := p.intro.Send(ctx, message{kind: kindPath, path: path}.frames()...); err != nil {
			return nil, err
		}
		return l, nil
	}
	if initiator && p.o.punchTimeout == 0 {
		l.punchTime = time.Since(start)
		return tell(Relayed)
	}
	ep := "tcp://" + intro.endpoint
	if err := p.data.Connect(ep); err != nil {
		return nil, err
	}
	l.attempts = 1
	connected := false
	var verdicts chan verdict
	limit := p.o.punchTimeout
	if !initiator {
		limit += p.o.verdictWait
		verdicts = make(chan verdict, 1)
		rctx, cancel := context.WithCancel(ctx)
		var wg sync.WaitGroup
		defer wg.Wait()
		defer cancel()
		wg.Go(func() {
			m, err := p.recv(rctx)
			verdicts <- verdict{m, err}
		})
	}
	deadline := time.NewTimer(limit)
	defer deadline.Stop()
	var told Path // the initiator's verdict, on the other side
	for {
		select {
		case ev, ok := <-p.data.Events():
			switch {
			case !ok: // the Peer was closed
				return nil, socket.ErrClosed
			case ev.Kind == socket.EventConnected && sameEndpoint(ev.Peer, intro.endpoint):
				connected = true
				l.punchTime = time.Since(start)
			case ev.Kind == socket.EventRetrying && ev.Endpoint == ep && !connected:
				l.attempts++
			}
		case v := <-verdicts:
			switch {
			case v.err != nil:
				p.data.Disconnect(ep)
				return nil, v.err
			case v.m.kind == kindError:
				p.data.Disconnect(ep)
				return nil, errorOf(v.m)
			case v.m.kind != kindPath:
				p.data.Disconnect(ep)
				return nil, fmt.Errorf("%w: %v while punching", ErrProtocol, v.m.kind)
			}
			told = v.m.path
		case <-deadline.C:
			if !initiator {
				p.data.Disconnect(ep)
				if told == Direct {
					return nil, fmt.Errorf("%w: %s reports a direct connection this side did not see within %v", ErrPathMismatch, intro.name, limit)
				}
				return nil, fmt.Errorf("rendezvous: no verdict from %s within %v: %w", intro.name, limit, context.DeadlineExceeded)
			}
			l.punchTime = time.Since(start)
			p.data.Disconnect(ep)
			return tell(Relayed)
		case <-ctx.Done():
			p.data.Disconnect(ep)
			return nil, ctx.Err()
		}
		switch {
		case initiator && connected:
			return tell(Direct)
		case told == Direct && connected:
			l.path = Direct
			return l, nil
		case told == Relayed:
			l.path, l.punchTime = Relayed, time.Since(start)
			p.data.Disconnect(ep)
			return l, nil
		}
	}
}

type verdict struct {
	m   message
	err error
}

// sameEndpoint compares two "ip:port" strings as addresses, so that an
// IPv4-mapped IPv6 form matches the IPv4 one.
func sameEndpoint(a, b string) bool {
	x, err1 := netip.ParseAddrPort(a)
	y, err2 := netip.ParseAddrPort(b)
	if err1 != nil || err2 != nil {
		return a == b
	}
	return x.Addr().Unmap() == y.Addr().Unmap() && x.Port() == y.Port()
}

// recv reads and parses the next message from the introducer.
func (p *Peer) recv(ctx context.Context) (message, error) {
	frames, err := p.intro.Recv(ctx)
	if err != nil {
		return message{}, err
	}
	return parse(frames)
}

// Close closes the peer's sockets, its link's with them. It is
// idempotent.
func (p *Peer) Close() error {
	p.closeOnce.Do(func() {
		var errs []error
		for _, s := range []*socket.Socket{p.intro, p.data} {
			if s != nil {
				if err := s.Close(); err != nil && !errors.Is(err, socket.ErrClosed) {
					errs = append(errs, err)
				}
			}
		}
		p.closeErr = errors.Join(errs...)
	})
	return p.closeErr
}
