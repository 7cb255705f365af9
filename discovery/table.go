package discovery

import (
	"net"
	"net/netip"
	"strings"
	"time"
)

// table is what a beacon knows of its peers. It is pure: the caller
// passes the time, and gets back the events each change makes. It is not
// safe for concurrent use; a Beacon's run loop owns it.
type table struct {
	peers    map[ID]*peer
	max      int
	timeout  time.Duration
	overflow uint64 // announcements ignored because max peers were tracked
}

type peer struct {
	endpoint string // as reported, host filled in
	from     netip.AddrPort
	last     time.Time // when it was last heard
}

func newTable(max int, timeout time.Duration) *table {
	return &table{peers: make(map[ID]*peer), max: max, timeout: timeout}
}

// heard records a datagram from another beacon of the group, received at
// now from the address from, and appends the events it makes to evs.
func (t *table) heard(evs []Event, d Datagram, from netip.AddrPort, now time.Time) []Event {
	p := t.peers[d.ID]
	if d.Kind == KindWithdraw {
		if p != nil {
			delete(t.peers, d.ID)
			evs = append(evs, Event{Kind: EventLeave, ID: d.ID, Endpoint: p.endpoint, From: p.from, Reason: LeaveWithdrawn})
		}
		return evs
	}
	ep := fillHost(d.Endpoint, from.Addr())
	if p != nil && p.endpoint != ep {
		delete(t.peers, d.ID)
		evs = append(evs, Event{Kind: EventLeave, ID: d.ID, Endpoint: p.endpoint, From: p.from, Reason: LeaveMoved})
		p = nil
	}
	if p == nil {
		if len(t.peers) >= t.max {
			t.overflow++
			return evs
		}
		p = &peer{endpoint: ep}
		t.peers[d.ID] = p
		evs = append(evs, Event{Kind: EventJoin, ID: d.ID, Endpoint: ep, From: from})
	}
	p.from, p.last = from, now
	return evs
}

// expire forgets the peers not heard from since now-timeout and appends
// a leave for each to evs.
func (t *table) expire(evs []Event, now time.Time) []Event {
	for id, p := range t.peers {
		if now.Sub(p.last) > t.timeout {
			delete(t.peers, id)
			evs = append(evs, Event{Kind: EventLeave, ID: id, Endpoint: p.endpoint, From: p.from, Reason: LeaveSilent})
		}
	}
	return evs
}

// fillHost replaces an unspecified host in endpoint ("tcp://0.0.0.0:7001",
// "tcp://*:7001", "tcp://[::]:7001", "tcp://:7001") with addr, where the
// beacon came from: the address the peer is reached at. Endpoints without
// a host and port (ipc://, inproc://) are returned as they are.
func fillHost(endpoint string, addr netip.Addr) string {
	scheme, rest, ok := strings.Cut(endpoint, "://")
	if !ok {
		return endpoint
	}
	hostport, path := rest, ""
	if i := strings.IndexByte(rest, '/'); i >= 0 {
		hostport, path = rest[:i], rest[i:]
	}
	i := strings.LastIndexByte(hostport, ':')
	if i < 0 {
		return endpoint
	}
	host, port := hostport[:i], hostport[i+1:]
	switch strings.Trim(host, "[]") {
	case "", "*", "0.0.0.0", "::":
	default:
		return endpoint
	}
	return scheme + "://" + net.JoinHostPort(addr.Unmap().String(), port) + path
}
