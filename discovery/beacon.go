package discovery

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	mrand "math/rand/v2"
	"net"
	"net/netip"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// ErrRunning: Run was called on a Beacon that already ran.
var ErrRunning = errors.New("discovery: beacon already run")

// Bounds of what a beacon holds for a slow reader of its events.
const (
	eventBuffer = 64  // the Events channel's capacity
	maxPending  = 256 // events waiting for room in it; past that the beacon stops reading datagrams
)

// A Beacon announces this peer to its group on the local network and
// tells who else is there: it sends a datagram every interval, listens
// for the others', and reports each peer's join and leave on Events.
//
// Make one with New, say what to announce with Announce, and call Run; a
// Beacon runs once.
type Beacon struct {
	set    settings
	id     ID
	events chan Event
	kick   chan struct{} // Announce wakes the run loop; capacity 1
	ran    atomic.Bool

	mu       sync.Mutex
	endpoint string // what to announce; "" listens only
	table    *table // owned by Run's loop; mu guards it for Peers

	sent, sendErrors, received, garbage, foreign atomic.Uint64
}

// New makes a beacon of cfg's group. It checks cfg (errors wrap
// ErrInvalidConfig) but opens nothing: Run does.
func New(cfg Config) (*Beacon, error) {
	set, err := cfg.resolve()
	if err != nil {
		return nil, err
	}
	b := &Beacon{
		set:    set,
		id:     cfg.ID,
		events: make(chan Event, eventBuffer),
		kick:   make(chan struct{}, 1),
		table:  newTable(set.MaxPeers, set.Timeout),
	}
	if b.id == (ID{}) {
		rand.Read(b.id[:])
	}
	return b, nil
}

// ID returns the id this beacon announces.
func (b *Beacon) ID() ID { return b.id }

// Announce sets the endpoint the beacon announces, such as the
// "tcp://0.0.0.0:7001" a socket bound: peers get it with an unspecified
// host replaced by the address they heard the beacon from. It may be
// called before or while Run runs; a change is announced at once. "" stops
// announcing (the peers are told the beacon withdrew) and only listens.
func (b *Beacon) Announce(endpoint string) error {
	if endpoint != "" {
		if err := checkEndpoint(endpoint); err != nil {
			return fmt.Errorf("discovery: Announce: %w", err)
		}
	}
	b.mu.Lock()
	b.endpoint = endpoint
	b.mu.Unlock()
	select {
	case b.kick <- struct{}{}:
	default:
	}
	return nil
}

// Events returns the channel of joins and leaves. Run sends on it in
// order, waiting for room: a reader that falls behind delays only the
// reading of beacons, never the announcing (though a reader hundreds of
// events behind for longer than Config.Timeout will be told of peers
// gone silent whose beacons were left unread). It is closed when Run
// returns.
func (b *Beacon) Events() <-chan Event { return b.events }

// Peer is a peer the beacon currently knows.
type Peer struct {
	ID       ID
	Endpoint string
	From     netip.AddrPort
	Heard    time.Time // when its last beacon came
}

// Peers returns the peers known now, in no particular order.
func (b *Beacon) Peers() []Peer {
	b.mu.Lock()
	defer b.mu.Unlock()
	ps := make([]Peer, 0, len(b.table.peers))
	for id, p := range b.table.peers {
		ps = append(ps, Peer{ID: id, Endpoint: p.endpoint, From: p.from, Heard: p.last})
	}
	return ps
}

// Stats counts a beacon's datagrams.
type Stats struct {
	Sent       uint64 // datagrams sent (announcements and withdrawals)
	SendErrors uint64 // datagrams the system refused to send
	Received   uint64 // datagrams read, of any kind, own ones included
	// Garbage counts datagrams that were no valid beacon (Parse failed):
	// ignored.
	Garbage uint64
	// Foreign counts valid beacons of another group, or from outside
	// Config.Interface's networks: ignored.
	Foreign uint64
	// Overflow counts announcements of new peers ignored because
	// Config.MaxPeers peers were known.
	Overflow uint64
	Peers    int // peers known now
	// EventsDropped counts, on a Mesh, events not delivered because its
	// Events channel was full.
	EventsDropped uint64
}

// Stats returns the beacon's counters.
func (b *Beacon) Stats() Stats {
	b.mu.Lock()
	overflow, peers := b.table.overflow, len(b.table.peers)
	b.mu.Unlock()
	return Stats{
		Sent: b.sent.Load(), SendErrors: b.sendErrors.Load(), Received: b.received.Load(),
		Garbage: b.garbage.Load(), Foreign: b.foreign.Load(), Overflow: overflow, Peers: peers,
	}
}

// heard is a datagram of the group from another beacon.
type heard struct {
	d    Datagram
	from netip.AddrPort
}

// Run binds the group's UDP port, announces (if Announce named an
// endpoint) and listens until ctx ends; then it sends a withdraw, so the
// peers report it gone at once, closes the socket and the Events channel,
// and returns nil. It returns an error if the port cannot be bound or
// reading from it fails. A Beacon runs once (ErrRunning).
func (b *Beacon) Run(ctx context.Context) error {
	if !b.ran.CompareAndSwap(false, true) {
		return ErrRunning
	}
	defer close(b.events)
	conn, err := listenUDP(ctx, b.set.bind)
	if err != nil {
		return fmt.Errorf("discovery: listen on udp %v: %w", b.set.bind, err)
	}
	in := make(chan heard)
	readErr := make(chan error, 1)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() { readErr <- b.read(conn, in, stop) })
	defer func() {
		close(stop)
		conn.Close()
		wg.Wait()
	}()
	return b.loop(ctx, conn, in, readErr)
}

// read reads datagrams until conn is closed, hands those of the group
// from other beacons to the loop, and counts the rest.
func (b *Beacon) read(conn *net.UDPConn, in chan<- heard, stop <-chan struct{}) error {
	// One byte more than the largest valid datagram: a longer one reads
	// as too long instead of being silently cut to a valid length.
	buf := make([]byte, MaxDatagramSize+1)
	for {
		n, from, err := conn.ReadFromUDPAddrPort(buf)
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return nil
			}
			return fmt.Errorf("discovery: read: %w", err)
		}
		b.received.Add(1)
		d, err := Parse(buf[:n])
		switch {
		case err != nil:
			b.garbage.Add(1)
			continue
		case d.ID == b.id:
			continue // our own, looped back
		case d.Group != b.set.Group || !b.inNets(from.Addr()):
			b.foreign.Add(1)
			continue
		}
		select {
		case in <- heard{d, netip.AddrPortFrom(from.Addr().Unmap(), from.Port())}:
		case <-stop:
			return nil
		}
	}
}

func (b *Beacon) inNets(a netip.Addr) bool {
	if b.set.nets == nil {
		return true
	}
	return slices.ContainsFunc(b.set.nets, func(p netip.Prefix) bool { return p.Contains(a.Unmap()) })
}

// loop is the beacon's one owner of its timing and its table: it
// announces every interval, takes in what read hands it, expires silent
// peers, and feeds Events from a bounded queue.
func (b *Beacon) loop(ctx context.Context, conn *net.UDPConn, in <-chan heard, readErr <-chan error) error {
	var (
		pending   []Event
		announced string    // the endpoint last announced; "" none
		lastSent  time.Time // when the last announcement went out
	)
	send := func(kind Kind, ep string) {
		d := Datagram{Kind: kind, ID: b.id, Group: b.set.Group, Endpoint: ep}
		var buf [MaxDatagramSize]byte
		if _, err := conn.WriteToUDPAddrPort(d.Append(buf[:0]), b.set.dest); err != nil {
			b.sendErrors.Add(1)
			return
		}
		b.sent.Add(1)
	}
	// announce sends the current endpoint, or a withdraw if it was
	// cleared since the last announcement.
	announce := func(now time.Time) {
		b.mu.Lock()
		ep := b.endpoint
		b.mu.Unlock()
		switch {
		case ep != "":
			send(KindAnnounce, ep)
			lastSent = now
		case announced != "":
			send(KindWithdraw, "")
		}
		announced = ep
	}
	tick := time.NewTimer(0) // the first announcement goes at once
	defer tick.Stop()
	// reply, when armed, sends an announcement to newcomers: at once, or
	// a quarter interval after the last one, so that a burst of joins
	// costs one datagram.
	reply := time.NewTimer(time.Hour)
	reply.Stop()
	defer reply.Stop()
	replying := false
	for {
		var out chan<- Event
		var next Event
		if len(pending) > 0 {
			out, next = b.events, pending[0]
		}
		var read <-chan heard
		if len(pending) < maxPending {
			read = in
		}
		select {
		case <-ctx.Done():
			if announced != "" {
				send(KindWithdraw, "")
			}
			return nil
		case err := <-readErr:
			return err
		case out <- next:
			pending = pending[1:]
		case <-b.kick:
			announce(time.Now())
		case <-reply.C:
			replying = false
			announce(time.Now())
		case <-tick.C:
			now := time.Now()
			announce(now)
			b.mu.Lock()
			pending = b.table.expire(pending, now)
			b.mu.Unlock()
			// Up to a tenth shorter, never longer, so that Timeout +
			// Interval bounds how late a silent peer is reported.
			tick.Reset(b.set.Interval - time.Duration(mrand.Int64N(int64(b.set.Interval)/10+1)))
		case h := <-read:
			now := time.Now()
			b.mu.Lock()
			n := len(pending)
			pending = b.table.heard(pending, h.d, h.from, now)
			b.mu.Unlock()
			// A newcomer hears from us within a quarter interval rather
			// than up to a whole one, so that a mesh forms quickly; the
			// replies are bounded by four times the interval's rate.
			if joined(pending[n:]) && announced != "" && !replying {
				replying = true
				reply.Reset(max(0, lastSent.Add(b.set.Interval/4).Sub(now)))
			}
		}
	}
}

func joined(evs []Event) bool {
	return slices.ContainsFunc(evs, func(e Event) bool { return e.Kind == EventJoin })
}
