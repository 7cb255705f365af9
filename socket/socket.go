package socket

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/wispmq/wisp/internal/queue"
	"github.com/wispmq/wisp/patterns"
	"github.com/wispmq/wisp/wire"
)

// A Socket is one end of a messaging pattern. It binds and connects to any
// number of endpoints, keeps its connections alive, and moves whole messages
// between the application and its peers. A Socket is safe for concurrent use
// by multiple goroutines.
type Socket struct {
	typ      Type
	opts     options
	session  wire.SessionID
	self     wire.Greeting // what this socket tells its peers
	greeting []byte        // self encoded, sent first on every stream connection
	sends    bool          // the type sends messages (has pipes and ledgers)
	receives bool          // the type receives messages (has flows and an inbox)

	// ctx ends when Close has finished lingering; every goroutine the socket
	// starts watches it and is counted in wg.
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	events        chan Event
	eventsMu      sync.RWMutex // lets emit race with closing the channel safely
	eventsClosed  bool         // guarded by eventsMu
	eventsDropped atomic.Uint64
	stats         counters
	handshakeFail atomic.Uint64
	protocolErr   atomic.Uint64

	closeOnce sync.Once
	closeErr  error

	// mu guards the socket's topology and send side. Writers take it once
	// per batch; Send once per message.
	mu          sync.Mutex
	closing     bool
	binds       map[string]*binding
	dialers     map[string]*dialer
	conns       map[*conn]struct{}        // every open connection, handshaking or attached
	attached    map[wire.SessionID]*conn  // at most one attached connection per peer session
	pipes       []*pipe                   // send side, one per peer session (and per unconnected dialer)
	bySession   map[wire.SessionID]*pipe  // pipes that have a peer session
	streamPos   map[wire.SessionID]uint64 // next sequence of sessions whose pipe is gone
	rr          patterns.RoundRobin       // over pipes
	orphans     queue.FIFO[msg]           // messages of departed peers waiting for room elsewhere
	room        chan struct{}             // closed and replaced to wake Send and Flush waiters
	roomWaiters int                       // how many wait on room

	in inbox // receive side

	byRoutingID map[string]*pipe // ROUTER: the pipe of each peer's routing id; guarded by mu
	req         requester        // REQ state; guarded by mu
	rep         replier          // REP state; guarded by mu
	pub         publisher        // PUB and XPUB state; guarded by mu
	sub         subscriber       // SUB and XSUB state; guarded by mu
}

// New creates a socket of type t. It starts no goroutine and opens no
// connection until Bind or Connect.
func New(t Type, opts ...Option) (*Socket, error) {
	s := &Socket{typ: t, opts: defaultOptions()}
	switch t {
	case Push:
		s.sends = true
	case Pull:
		s.receives = true
	case Req, Rep, Dealer, Router, Pair:
		s.sends, s.receives = true, true
	case Pub, XPub:
		s.sends = true // XPUB's Recv reads subscriptions, not an inbox
	case Sub, XSub:
		s.receives = true // XSUB's Send subscribes, it queues nothing
	default:
		if !t.Valid() {
			return nil, fmt.Errorf("%w: %v", ErrUnsupportedType, t)
		}
		return nil, fmt.Errorf("%w: %v is not implemented yet", ErrUnsupportedType, t)
	}
	for _, o := range opts {
		if err := o(&s.opts); err != nil {
			return nil, err
		}
	}
	if s.isPublisher() {
		s.opts.acks = false // publication is at most once (SPEC.md section 6)
	}
	if s.opts.dial != nil && (s.opts.reusePort || s.opts.localAddr != "") {
		return nil, fmt.Errorf("%w: WithReusePort and WithLocalAddr cannot apply to a WithDialer dialer", ErrInvalidOption)
	}
	if s.opts.listen != nil && s.opts.reusePort {
		return nil, fmt.Errorf("%w: WithReusePort cannot apply to a WithListener listener", ErrInvalidOption)
	}
	s.session = wire.NewSessionID()
	g := wire.Greeting{
		Major:             wire.VersionMajor,
		Minor:             wire.VersionMinor,
		Type:              t,
		Acks:              s.sends && s.opts.acks,
		Session:           s.session,
		MaxMessageSize:    uint64(s.opts.maxMessageSize),
		HeartbeatInterval: s.opts.heartbeatInterval,
		HeartbeatTimeout:  s.opts.heartbeatTimeout,
		Window:            uint32(s.opts.sendHWM),
		WindowBytes:       uint64(s.opts.sendHWMBytes),
		RoutingID:         s.opts.routingID,
	}
	s.self = g
	s.greeting = g.Append(nil)
	s.ctx, s.cancel = context.WithCancel(context.Background())
	s.events = make(chan Event, s.opts.eventBuffer)
	s.binds = make(map[string]*binding)
	s.dialers = make(map[string]*dialer)
	s.conns = make(map[*conn]struct{})
	s.attached = make(map[wire.SessionID]*conn)
	s.bySession = make(map[wire.SessionID]*pipe)
	s.streamPos = make(map[wire.SessionID]uint64)
	s.byRoutingID = make(map[string]*pipe)
	s.req.init()
	s.sub.count = make(map[string]int)
	s.room = make(chan struct{})
	s.in.init(s)
	return s, nil
}

// finalAckTimeout bounds how long a closing receiver waits to write the
// ACKs for what its application took; a healthy connection needs a round
// trip.
const finalAckTimeout = time.Second

// Type returns the socket's type.
func (s *Socket) Type() Type { return s.typ }

// Session returns the socket's session id, which its peers see in their
// events. It is random and new for every socket.
func (s *Socket) Session() string { return s.session.String() }

// Events returns the channel on which the socket reports connection events.
// The channel is buffered (WithEventBuffer); events that do not fit are
// dropped and counted in Stats.EventsDropped. It is closed after the
// EventClosed event, when Close returns.
func (s *Socket) Events() <-chan Event { return s.events }

func (s *Socket) emit(e Event) {
	s.eventsMu.RLock()
	defer s.eventsMu.RUnlock()
	if s.eventsClosed {
		return
	}
	select {
	case s.events <- e:
	default:
		s.eventsDropped.Add(1)
	}
}

// broadcastRoomLocked wakes every Send and Flush waiting for the send side
// to change. Callers hold s.mu.
func (s *Socket) broadcastRoomLocked() {
	if s.roomWaiters > 0 {
		close(s.room)
		s.room = make(chan struct{})
	}
}

// heldLocked counts messages the socket still owes its peers: queued,
// unacknowledged, or orphaned. Callers hold s.mu.
func (s *Socket) heldLocked() int {
	n := s.orphans.Len()
	for _, p := range s.pipes {
		n += p.ledger.Len()
	}
	return n
}

// WaitPeers waits until at least n peers are connected (handshake done), or
// until ctx ends (returning its error) or the socket closes (ErrClosed). A
// PUSH can use it to wait for its workers before it deals out tasks, which
// would otherwise all go to the first worker to connect.
func (s *Socket) WaitPeers(ctx context.Context, n int) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	for {
		if s.closing || s.ctx.Err() != nil {
			return ErrClosed
		}
		if len(s.attached) >= n {
			return nil
		}
		if !s.waitRoomLocked(ctx.Done()) {
			return ctx.Err()
		}
	}
}

// Flush waits until every message sent so far has been acknowledged by its
// receiver (with acks off: written to a connection), or until ctx ends. It
// returns nil when nothing is outstanding, or an error wrapping ErrUndelivered
// with the number still outstanding, joined with the context's error.
func (s *Socket) Flush(ctx context.Context) error {
	if !s.sends {
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for {
		n := s.heldLocked()
		if n == 0 {
			return nil
		}
		if s.ctx.Err() != nil {
			return fmt.Errorf("%w; %w", undelivered(n), ErrClosed)
		}
		if !s.waitRoomLocked(ctx.Done()) {
			if n := s.heldLocked(); n > 0 {
				return fmt.Errorf("%w; %w", undelivered(n), ctx.Err())
			}
			return nil
		}
	}
}

// waitRoomLocked releases s.mu until the send side changes (an ACK, a new
// peer, Close) or done fires, and reports whether it woke for a change.
// Callers hold s.mu; it is held again on return.
func (s *Socket) waitRoomLocked(done <-chan struct{}) bool {
	ch := s.room
	s.roomWaiters++
	s.mu.Unlock()
	woke := true
	select {
	case <-ch:
	case <-done:
		woke = false
	}
	s.mu.Lock()
	s.roomWaiters--
	return woke
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
func (s *Socket) Close() error {
	s.closeOnce.Do(func() { s.closeErr = s.close() })
	return s.closeErr
}

func (s *Socket) close() error {
	s.mu.Lock()
	s.closing = true
	s.broadcastRoomLocked() // blocked Sends return ErrClosed
	s.mu.Unlock()
	s.in.close()

	held := s.linger()
	s.finishAcks()

	s.mu.Lock()
	binds := make([]*binding, 0, len(s.binds))
	for _, b := range s.binds {
		binds = append(binds, b)
	}
	dialers := make([]*dialer, 0, len(s.dialers))
	for _, d := range s.dialers {
		dialers = append(dialers, d)
	}
	conns := make([]*conn, 0, len(s.conns))
	for c := range s.conns {
		conns = append(conns, c)
	}
	for _, p := range s.pipes {
		p.stopExpiry()
	}
	s.req.stopTimer()
	s.mu.Unlock()

	s.mu.Lock()
	s.cancel()
	s.broadcastRoomLocked() // Flush waiters see the socket closed
	s.mu.Unlock()
	for _, b := range binds {
		b.close()
	}
	for _, d := range dialers {
		d.cancel()
	}
	for _, c := range conns {
		c.close(ErrClosed)
	}
	s.wg.Wait()

	s.mu.Lock()
	for _, p := range s.pipes {
		p.stopExpiry() // a detach during shutdown may have armed one
	}
	s.mu.Unlock()

	s.emit(Event{Kind: EventClosed})
	s.eventsMu.Lock()
	s.eventsClosed = true
	close(s.events)
	s.eventsMu.Unlock()
	if held > 0 {
		return undelivered(held)
	}
	return nil
}

// finishAcks lets every connection write the ACK for what the application
// took, so its senders need not resend it elsewhere. It waits at most
// finalAckTimeout whatever the linger time: linger is about this socket's own
// unsent messages, and skipping these ACKs would cause duplicates.
func (s *Socket) finishAcks() {
	if !s.receives {
		return
	}
	s.mu.Lock()
	conns := make([]*conn, 0, len(s.attached))
	for _, c := range s.attached {
		if c.flow != nil && c.peer.Acks {
			conns = append(conns, c)
		}
	}
	s.mu.Unlock()
	if len(conns) == 0 {
		return
	}
	t := time.NewTimer(finalAckTimeout)
	defer t.Stop()
	for _, c := range conns {
		c.finishing.Store(true)
		c.signal()
	}
	for _, c := range conns {
		select {
		case <-c.finished:
		case <-c.done:
		case <-t.C:
			return
		}
	}
}

// linger waits up to the linger time for the send side to drain and returns
// how many messages remain.
func (s *Socket) linger() int {
	if !s.sends {
		return 0
	}
	ctx, cancel := context.WithTimeout(context.Background(), s.opts.linger)
	defer cancel()
	s.mu.Lock()
	defer s.mu.Unlock()
	for {
		n := s.heldLocked()
		if n == 0 || !s.waitRoomLocked(ctx.Done()) {
			return n
		}
	}
}

// Stats returns a snapshot of the socket's counters and queues.
func (s *Socket) Stats() Stats {
	st := Stats{
		MsgsIn:            s.stats.msgsIn.Load(),
		MsgsOut:           s.stats.msgsOut.Load(),
		BytesIn:           s.stats.bytesIn.Load(),
		BytesOut:          s.stats.bytesOut.Load(),
		Resends:           s.stats.resends.Load(),
		Duplicates:        s.stats.duplicates.Load(),
		Drops:             s.stats.drops.Load(),
		Unroutable:        s.stats.unroutable.Load(),
		StaleReplies:      s.stats.stale.Load(),
		BadEnvelopes:      s.stats.badEnvelopes.Load(),
		Retries:           s.stats.retries.Load(),
		HandshakeFailures: s.handshakeFail.Load(),
		ProtocolErrors:    s.protocolErr.Load(),
		EventsDropped:     s.eventsDropped.Load(),
	}
	s.mu.Lock()
	st.Orphans = s.orphans.Len()
	st.SendQueue = st.Orphans
	for _, p := range s.pipes {
		ps := p.statsLocked()
		st.Unacked += ps.Unacked
		st.SendQueue += ps.SendQueue
		st.Peers = append(st.Peers, ps)
	}
	s.mu.Unlock()
	st.RecvQueue, st.Peers = s.in.stats(st.Peers)
	return st
}
