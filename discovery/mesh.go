package discovery

import (
	"bytes"
	"context"
	"fmt"
	"sync/atomic"

	"github.com/wispmq/wisp/socket"
)

// A Mesh joins a socket to the peers a Beacon finds: it announces the
// socket's endpoint, connects the socket to each peer that joins and
// disconnects it from each peer that leaves. It is made for BUS sockets
// (socket.Bus), whose members each bind one endpoint and together form a
// full mesh; give every member WithDialFromBind too and each pair shares
// one connection from one port to the other.
//
// Of each pair of members, only the one with the smaller id dials the
// other: one connection per pair, no crossed dials to sort out. That
// needs each to hear the other's beacons; a member that hears a peer
// whose beacons cannot reach it back still gets connected only if it has
// the smaller id.
//
// A Mesh's id is its socket's session id (socket.Socket.Session), so the
// Session of the socket's events names the same peer as the mesh's.
type Mesh struct {
	s       *socket.Socket
	b       *Beacon
	events  chan Event
	dropped atomic.Uint64
	ran     atomic.Bool
}

// NewMesh makes a mesh of cfg's group for s, which announces endpoint:
// the endpoint s bound, as its Bind returned it ("tcp://0.0.0.0:7001" is
// announced as is, and each peer dials the address it heard the beacon
// from). Unless cfg.ID is set, the mesh's id is s's session id.
func NewMesh(s *socket.Socket, endpoint string, cfg Config) (*Mesh, error) {
	if cfg.ID == (ID{}) {
		if id, err := ParseID(s.Session()); err == nil {
			cfg.ID = id
		}
	}
	b, err := New(cfg)
	if err != nil {
		return nil, err
	}
	if err := b.Announce(endpoint); err != nil {
		return nil, err
	}
	return &Mesh{s: s, b: b, events: make(chan Event, eventBuffer)}, nil
}

// ID returns the id the mesh announces.
func (m *Mesh) ID() ID { return m.b.ID() }

// Peers returns the peers known now.
func (m *Mesh) Peers() []Peer { return m.b.Peers() }

// Stats returns the beacon's counters and the events dropped.
func (m *Mesh) Stats() Stats {
	st := m.b.Stats()
	st.EventsDropped = m.dropped.Load()
	return st
}

// Events returns the joins and leaves the mesh acted on. Unlike a
// Beacon's, the mesh does not wait for its reader: events that find the
// channel full are dropped and counted (Stats.EventsDropped), and the
// socket is connected all the same. The channel is closed when Run
// returns.
func (m *Mesh) Events() <-chan Event { return m.events }

// Run runs the beacon (see Beacon.Run) and connects and disconnects the
// socket as peers join and leave, until ctx ends. A peer that withdraws
// is also forgotten (Socket.Forget): what the socket still held for it is
// dropped, since it will not come back for it. Then it withdraws,
// disconnects the socket from the peers it dialed, and returns nil, or the
// beacon's error. A Mesh runs once (ErrRunning). Closing the socket is
// left to the caller; Flush it before ctx ends if what it sent must be
// acknowledged over the connections Run ends.
func (m *Mesh) Run(ctx context.Context) error {
	if !m.ran.CompareAndSwap(false, true) {
		return ErrRunning
	}
	defer close(m.events)
	errc := make(chan error, 1)
	go func() { errc <- m.b.Run(ctx) }()
	dialed := make(map[ID]string)
	for e := range m.b.Events() {
		switch e.Kind {
		case EventJoin:
			if m.dials(e.ID) {
				if err := m.s.Connect(e.Endpoint); err != nil {
					e.Err = fmt.Errorf("discovery: connect to %s: %w", e.Endpoint, err)
				} else {
					dialed[e.ID] = e.Endpoint
				}
			}
		case EventLeave:
			if ep, ok := dialed[e.ID]; ok {
				m.s.Disconnect(ep)
				delete(dialed, e.ID)
			}
			if e.Reason == LeaveWithdrawn {
				// It left for good: a BUS stops holding copies for it,
				// so Send, Flush and Close stop waiting for it. Its id is
				// its session id unless its Config said otherwise; then,
				// or on a type without Forget, this does nothing.
				m.s.Forget(e.ID[:])
			}
		}
		select {
		case m.events <- e:
		default:
			m.dropped.Add(1)
		}
	}
	for _, ep := range dialed {
		m.s.Disconnect(ep)
	}
	return <-errc
}

// dials says whether this member dials the peer: the smaller id does.
func (m *Mesh) dials(peer ID) bool {
	own := m.b.ID()
	return bytes.Compare(own[:], peer[:]) < 0
}
