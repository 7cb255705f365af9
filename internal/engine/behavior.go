package engine

import (
	"context"
	"fmt"
)

// A Behavior is one socket type's rules: whom it sends to, what it does
// with what it receives, which peers it admits. The engine knows no socket
// type by name; it calls these methods, and package socktype registers one
// Behavior per type. Adding a type is one new Behavior and its
// registration.
//
// Methods whose names end in Locked run with the engine's lock held (see
// the package doc): they must not block, and they use the engine's *Locked
// methods. Send and Recv are the application's calls and run without it.
type Behavior interface {
	// Caps says what the type does; the engine reads it once, in New.
	Caps() Caps
	// AdmitLocked decides whether a peer that completed its handshake, and
	// stated info, may attach. An error refuses it; the peer is told why.
	AdmitLocked(info *PeerInfo) error
	// AttachedLocked: p has a connection now. newSession is true when p's
	// stream with this socket started over (a session the socket did not
	// know, or had forgotten) rather than resumed.
	AttachedLocked(p *Peer, newSession bool)
	// DetachedLocked: p's connection ended. p may come back within the
	// resume timeout.
	DetachedLocked(p *Peer)
	// GoneLocked: p has been away for the resume timeout, or is an
	// endpoint's peer that gave way to another session: what it held went
	// to other peers or, for an Addressed type, was dropped, and whatever
	// routes to p should stop. p may still come back with its session, and
	// AttachedLocked then says so.
	GoneLocked(p *Peer)
	// RehomeLocked reports whether the messages p holds for the session
	// behind an endpoint may go to the new session info that answers there
	// now (the socket behind the endpoint was replaced). If not, they are
	// dropped and counted as unroutable.
	RehomeLocked(p *Peer, info *PeerInfo) bool
	// CommandLocked handles a command the engine does not (SUBSCRIBE,
	// CANCEL) from p. An error ends p's connection: ProtocolErrorf for the
	// peer's fault.
	CommandLocked(p *Peer, cmd Command) error
	// Send and Recv are the socket's Send and Recv; Send's message is the
	// application's frames, unchecked (see CheckMsg).
	Send(ctx context.Context, m Msg) error
	Recv(ctx context.Context) (Message, error)
	// CloseLocked runs when the socket starts closing.
	CloseLocked()
}

// A ManySender is a Behavior that sends a batch of messages under one lock
// (SendMany). A type without it sends a batch one message at a time.
type ManySender interface {
	// SendMany sends msgs in order and returns how many it queued; on an
	// error, msgs[n] is the message that failed. Each message is the
	// application's frames, unchecked, as for Send.
	SendMany(ctx context.Context, msgs []Message) (int, error)
}

// A RecvFiltering is a Behavior whose Next and NextMany drop some
// messages, as if the application had received them (they are
// acknowledged as taken): SUB, whose subscriptions may have changed since
// the publisher matched.
type RecvFiltering interface {
	// RecvFilter returns the test a message must pass, or nil for none;
	// New asks once. The test runs with the receive side's lock held, the
	// lock every Next takes anyway, so the state it reads needs no lock of
	// its own as long as every change to it is made between LockRecv and
	// UnlockRecv.
	RecvFilter() func(Message) bool
}

// A ManyReceiver is a Behavior that takes what is queued in batches
// (RecvMany). A type without it returns one message per RecvMany.
type ManyReceiver interface {
	// RecvMany waits for a message as Recv does, then fills more of dst
	// (all of it, unless the type bounds its batches) with messages
	// already queued, without waiting, and returns how many it stored.
	// dst is not empty; the engine answers an empty one.
	RecvMany(ctx context.Context, dst []Message) (int, error)
}

// Caps are what a socket type does, as the engine needs to know it.
type Caps struct {
	// Peers lists the types it may talk to.
	Peers []Type
	// SendsData: its peers get send ledgers (messages go out to them);
	// ReceivesData: it queues data its peers send.
	SendsData, ReceivesData bool
	// NoAcks: it never asks for acknowledgements, whatever WithAcks says
	// (publication is at most once).
	NoAcks bool
	// Addressed: each message it sends belongs to one peer; when that peer
	// is gone the message is dropped, never handed to another.
	Addressed bool
	// DirectReads: Recv may read a lone connection itself (directread.go),
	// which pays off for request-reply round trips.
	DirectReads bool
	// FansOut: each message it sends goes to every peer that wants it, so
	// it is the busier end of its connections, and on loopback it leaves
	// the kernel's transmit work to its peers' reads (sendbuf.go).
	FansOut bool
	// CanSend and CanRecv: the application's Send and Recv do something.
	// They follow SendsData and ReceivesData but for XSUB, whose Send
	// subscribes, and XPUB, whose Recv reports subscriptions.
	CanSend, CanRecv bool
}

// PeerStatser is a Behavior that adds its own per-peer figures to Stats.
type PeerStatser interface {
	PeerStatsLocked(p *Peer, ps *PeerStats)
}

// ProtocolErrorf makes the reason a peer's connection ends for breaking
// the protocol: it matches ErrProtocol and counts in Stats.ProtocolErrors.
func ProtocolErrorf(format string, args ...any) error {
	return &protocolError{fmt.Errorf(format, args...)}
}

// UnexpectedCommand is CommandLocked's answer for a command the type does
// not take.
func UnexpectedCommand(t Type, cmd Command) error {
	return ProtocolErrorf("unexpected %v command for a %v socket", cmd.Kind, t)
}

// NotSupported is the error of an operation the type does not have.
func NotSupported(t Type, op string) error {
	return fmt.Errorf("%w: %s on %v", ErrNotSupported, op, t)
}
