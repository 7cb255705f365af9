package engine

import (
	"context"
	"fmt"
	"github.com/wispmq/wisp/internal/lockorder"
	"sync"
	"sync/atomic"
	"time"

	"github.com/wispmq/wisp/internal/queue"
	"github.com/wispmq/wisp/patterns"
)

// Message is one message: one or more frames.
type Message [][]byte

// Size returns the total payload size of all frames.
func (m Message) Size() int {
	n := 0
	for _, f := range m {
		n += len(f)
	}
	return n
}

// Config is what an Engine is made of.
type Config struct {
	Type Type
	// Behavior makes the type's behaviour (package socktype) for the
	// engine being built.
	Behavior func(*Engine) Behavior
	Options  Options
	// Protocol speaks to stream peers.
	Protocol Protocol
	// Emit receives every event. It must not block: it is called with the
	// engine's locks held.
	Emit func(Event)
}

// Engine is the machinery of one socket: its endpoints, connections, peers
// and queues. It is safe for concurrent use.
type Engine struct {
	typ     Type
	opts    Options
	proto   Protocol
	onEvent func(Event)
	session SessionID
	self    PeerInfo // what this socket tells its peers
	b       Behavior // the type's rules
	caps    Caps

	polledReads atomic.Uint64 // reads busy polling found data for (PolledReads)
	inlineAcks  atomic.Uint64 // ACKs Recv wrote itself (InlineAcks)

	// ctx ends when Close has finished lingering; every goroutine the socket
	// starts watches it and is counted in wg.
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	stats         counters
	handshakeFail atomic.Uint64
	protocolErr   atomic.Uint64

	closeOnce sync.Once
	closeErr  error

	// mu guards the socket's topology and send side. Writers take it once
	// per batch; Send once per message.
	mu      lockorder.Mutex
	state   lifecycle
	binds   map[string]*binding
	dialers map[string]*dialer
	// dialFrom is where dials start under DialFromBind: the address of
	// the first tcp or tls binding (dialFromEndpoint), or "" for an
	// ephemeral port.
	dialFrom, dialFromEndpoint string
	conns                      map[*conn]struct{}      // every open connection, handshaking or attached
	peers                      []*Peer                 // every peer the socket knows, in round-robin order
	bySession                  map[SessionID]*Peer     // the peers that have a session
	connected                  int                     // how many peers have a connection
	departed                   map[SessionID]departed  // where forgotten peers' streams stood
	departedOrder              queue.FIFO[departedKey] // the records, oldest first (some stale)
	departedN                  uint64                  // records ever made, to order them
	rr                         patterns.RoundRobin     // over peers
	orphans                    queue.FIFO[Msg]         // messages of departed peers waiting for room elsewhere
	room                       chan struct{}           // closed and replaced to wake Send and Flush waiters
	roomWaiters                int                     // how many wait on room

	in inbox // receive side

	watch watchers // pollers waiting on this socket among others
}

// New creates the engine of a socket. It starts no goroutine and opens no
// connection until Bind or Connect.
func New(cfg Config) (*Engine, error) {
	t := cfg.Type
	if cfg.Behavior == nil {
		return nil, fmt.Errorf("%w: %v", ErrUnsupportedType, t)
	}
	s := &Engine{typ: t, opts: cfg.Options, proto: cfg.Protocol, onEvent: cfg.Emit}
	s.mu.Init(rankEngine, "Engine.mu")
	s.watch.mu.Init(rankWatchers, "watchers.mu")
	s.b = cfg.Behavior(s)
	s.caps = s.b.Caps()
	if f, ok := s.b.(RecvFiltering); ok {
		s.in.keep = f.RecvFilter()
	}
	if s.caps.NoAcks {
		s.opts.Acks = false // publication is at most once (SPEC.md section 6)
	}
	if s.opts.Dial != nil && (s.opts.ReusePort || s.opts.LocalAddr != "") {
		return nil, fmt.Errorf("%w: WithReusePort and WithLocalAddr cannot apply to a WithDialer dialer", ErrInvalidOption)
	}
	if s.opts.Listen != nil && s.opts.ReusePort {
		return nil, fmt.Errorf("%w: WithReusePort cannot apply to a WithListener listener", ErrInvalidOption)
	}
	if s.opts.DialFromBind && (s.opts.LocalAddr != "" || s.opts.Dial != nil || s.opts.Listen != nil) {
		return nil, fmt.Errorf("%w: WithDialFromBind chooses the local address itself, and sets SO_REUSEPORT on sockets it opens: it cannot go with WithLocalAddr, WithDialer or WithListener", ErrInvalidOption)
	}
	s.session = NewSessionID()
	s.self = PeerInfo{
		Type:              t,
		Acks:              s.caps.SendsData && s.opts.Acks,
		Session:           s.session,
		MaxMessageSize:    uint64(s.opts.MaxMessageSize),
		HeartbeatInterval: s.opts.HeartbeatInterval,
		HeartbeatTimeout:  s.opts.HeartbeatTimeout,
		Window:            uint32(s.opts.SendHWM),
		WindowBytes:       uint64(s.opts.SendHWMBytes),
		RoutingID:         s.opts.RoutingID,
		Checksum:          s.opts.Checksum,
	}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	s.binds = make(map[string]*binding)
	s.dialers = make(map[string]*dialer)
	s.conns = make(map[*conn]struct{})
	s.bySession = make(map[SessionID]*Peer)
	s.departed = make(map[SessionID]departed)
	s.room = make(chan struct{})
	s.in.init(s)
	return s, nil
}

// lifecycle is where a socket stands between New and the end of Close.
type lifecycle uint8

const (
	stateOpen      lifecycle = iota // serving
	stateLingering                  // Close began: no new Send or endpoint; what was sent may still be acknowledged
	stateClosed                     // lingering is over: connections end and goroutines finish
)

// stateNow reads the socket's state.
func (s *Engine) stateNow() lifecycle {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.state
}

// finalAckTimeout bounds how long a closing receiver waits to write the
// ACKs for what its application took; a healthy connection needs a round
// trip.
const finalAckTimeout = time.Second

// Type returns the socket's type.
func (s *Engine) Type() Type { return s.typ }

// Session returns the socket's session id.
func (s *Engine) Session() SessionID { return s.session }

// Behavior returns the socket type's behaviour, for the calls only some
// types have (Subscribe, WaitSubscribers).
func (s *Engine) Behavior() Behavior { return s.b }

// Caps returns what the socket's type does.
func (s *Engine) Caps() Caps { return s.caps }

// CanSend and CanRecv report whether Send and Recv apply to the type.
func (s *Engine) CanSend() bool { return s.caps.CanSend }
func (s *Engine) CanRecv() bool { return s.caps.CanRecv }

func (s *Engine) emit(e Event) { s.onEvent(e) }

// broadcastRoomLocked wakes every Send and Flush waiting for the send side
// to change. Callers hold Engine.mu.
func (s *Engine) broadcastRoomLocked() {
	s.mu.AssertHeld()
	if s.roomWaiters > 0 {
		close(s.room)
		s.room = make(chan struct{})
	}
}

// heldLocked counts messages the socket still owes its peers: queued,
// unacknowledged, or orphaned. Callers hold Engine.mu.
func (s *Engine) heldLocked() int {
	s.mu.AssertHeld()
	n := s.orphans.Len()
	for _, p := range s.peers {
		n += p.ledger.Len()
	}
	return n
}

// WaitPeers waits until at least n peers are connected, ctx ends or the
// socket closes.
func (s *Engine) WaitPeers(ctx context.Context, n int) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	for {
		if s.state != stateOpen {
			return ErrClosed
		}
		if s.connected >= n {
			return nil
		}
		if !s.waitRoomLocked(ctx.Done()) {
			return ctx.Err()
		}
	}
}

// Flush waits until every message sent so far is acknowledged (written,
// without acks) or ctx ends, and says how many were not.
func (s *Engine) Flush(ctx context.Context) error {
	if !s.caps.SendsData {
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for {
		n := s.heldLocked()
		if n == 0 {
			return nil
		}
		if s.state == stateClosed {
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

// waitRoomLocked releases Engine.mu until the send side changes (an ACK, a new
// peer, Close) or done fires, and reports whether it woke for a change.
// Callers hold Engine.mu; it is held again on return.
func (s *Engine) waitRoomLocked(done <-chan struct{}) bool {
	s.mu.AssertHeld()
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

// Close lingers for acknowledgements, then ends every listener, connection
// and goroutine of the socket, and returns ErrUndelivered with the number
// of messages left unacknowledged. Later calls return the first result.
func (s *Engine) Close() error {
	s.closeOnce.Do(func() { s.closeErr = s.close() })
	return s.closeErr
}

func (s *Engine) close() error {
	s.mu.Lock()
	s.state = stateLingering
	s.broadcastRoomLocked() // blocked Sends return ErrClosed
	s.mu.Unlock()
	s.in.close()
	s.NotifyReadable() // a poller's Recv returns ErrClosed for it

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
	for _, p := range s.peers {
		p.stopExpiry()
	}
	s.b.CloseLocked()
	s.mu.Unlock()

	s.mu.Lock()
	s.state = stateClosed
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
	for _, p := range s.peers {
		p.stopExpiry() // a detach during shutdown may have armed one
	}
	s.mu.Unlock()

	if held > 0 {
		return undelivered(held)
	}
	return nil
}

// finishAcks lets every connection write the ACK for what the application
// took, so its senders need not resend it elsewhere. It waits at most
// finalAckTimeout whatever the linger time: linger is about this socket's own
// unsent messages, and skipping these ACKs would cause duplicates.
func (s *Engine) finishAcks() {
	if !s.caps.ReceivesData {
		return
	}
	s.mu.Lock()
	var conns []*conn
	for _, p := range s.peers {
		if c := p.conn.Load(); c != nil && c.info.Acks {
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
		// Made only now: most connections never finish this way, and a
		// channel per connection is memory a hundred thousand peers feel.
		// The writer reads it only after it sees finishing.
		c.finished = make(chan struct{})
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
func (s *Engine) linger() int {
	if !s.caps.SendsData {
		return 0
	}
	ctx, cancel := context.WithTimeout(context.Background(), s.opts.Linger)
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
func (s *Engine) Stats() Stats {
	st := Stats{
		MsgsIn:            s.stats.msgsIn.Load(),
		MsgsOut:           s.stats.msgsOut.Load(),
		BytesIn:           s.stats.bytesIn.Load(),
		BytesOut:          s.stats.bytesOut.Load(),
		Resends:           s.stats.resends.Load(),
		Duplicates:        s.stats.duplicates.Load(),
		Drops:             s.stats.drops.Load(),
		Unroutable:        s.stats.Unroutable.Load(),
		StaleReplies:      s.stats.StaleReplies.Load(),
		BadEnvelopes:      s.stats.BadEnvelopes.Load(),
		Retries:           s.stats.Retries.Load(),
		HandshakeFailures: s.handshakeFail.Load(),
		ProtocolErrors:    s.protocolErr.Load(),
	}
	batched, batchedBytes := s.in.batched() // recvMu is taken before mu, never inside it
	s.mu.Lock()
	st.Orphans = s.orphans.Len()
	st.SendQueue = st.Orphans
	for _, p := range s.peers {
		ps := s.PeerStatsLocked(p)
		st.Unacked += ps.Unacked
		st.SendQueue += ps.SendQueue
		st.Peers = append(st.Peers, ps)
	}
	s.mu.Unlock()
	s.in.mu.Lock()
	st.RecvQueue = s.in.queued + batched
	st.RecvQueueBytes = s.in.queuedBytes + batchedBytes
	s.in.mu.Unlock()
	return st
}
