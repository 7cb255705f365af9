package discovery

import (
	"fmt"
	"net/netip"
)

// EventKind says whether a peer joined or left.
type EventKind uint8

// Event kinds.
const (
	// EventJoin: a peer of the group announced itself for the first time
	// (or again after it left).
	EventJoin EventKind = iota + 1
	// EventLeave: a peer is gone; Reason says how it was noticed.
	EventLeave
)

// String returns "join" or "leave".
func (k EventKind) String() string {
	switch k {
	case EventJoin:
		return "join"
	case EventLeave:
		return "leave"
	}
	return fmt.Sprintf("EventKind(%d)", uint8(k))
}

// Reason says why a peer left.
type Reason uint8

// Reasons for EventLeave.
const (
	// LeaveWithdrawn: the peer said it leaves (its beacon stopped).
	LeaveWithdrawn Reason = iota + 1
	// LeaveSilent: nothing was heard from the peer for Config.Timeout:
	// killed, its network gone, or its beacons lost.
	LeaveSilent
	// LeaveMoved: the peer announced another endpoint; an EventJoin with
	// the new one follows.
	LeaveMoved
)

var reasonNames = [...]string{
	LeaveWithdrawn: "withdrawn",
	LeaveSilent:    "silent",
	LeaveMoved:     "moved",
}

// String returns the reason's name, such as "silent".
func (r Reason) String() string {
	if int(r) < len(reasonNames) && reasonNames[r] != "" {
		return reasonNames[r]
	}
	return fmt.Sprintf("Reason(%d)", uint8(r))
}

// Event is a peer joining or leaving the group.
type Event struct {
	Kind EventKind
	ID   ID // the peer's beacon id
	// Endpoint is where the peer can be reached: what it announced, with
	// an unspecified host (tcp://0.0.0.0:7001, tcp://*:7001,
	// tcp://[::]:7001) replaced by the address its beacon came from.
	Endpoint string
	// From is the address its beacons come from.
	From   netip.AddrPort
	Reason Reason // for EventLeave
	// Err is, on a Mesh's EventJoin, why the socket could not connect to
	// the peer's endpoint (an unknown scheme, say); nil otherwise.
	Err error
}

// String formats the event for a log line.
func (e Event) String() string {
	s := fmt.Sprintf("%s %s %s", e.Kind, e.ID, e.Endpoint)
	if e.Kind == EventLeave {
		s += " (" + e.Reason.String() + ")"
	}
	if e.Err != nil {
		s += ": " + e.Err.Error()
	}
	return s
}
