package engine

import (
	"context"
	"fmt"
)

// peerRoutingID is the id a ROUTER knows a peer by: the routing id the peer
// stated in its greeting, or else its session id, which is unique and stays
// the same across its reconnections.
func peerRoutingID(g *PeerInfo) []byte {
	if len(g.RoutingID) > 0 {
		return append([]byte(nil), g.RoutingID...)
	}
	return append([]byte(nil), g.Session[:]...)
}

// sendRouted is Send on a ROUTER socket: frames[0] names the peer, the rest
// is the message. A message for an unknown peer is dropped and counted, or
// fails with ErrUnroutable under WithRouterMandatory. A known peer whose
// queue is full makes Send wait for room, like PUSH.
func (s *Engine) sendRouted(ctx context.Context, frames [][]byte) error {
	if len(frames) < 2 {
		return fmt.Errorf("%w: a ROUTER message needs a routing id frame and at least one more", ErrInvalidMessage)
	}
	m, err := s.makeMsg(frames[1:])
	if err != nil {
		return err
	}
	rid := frames[0]
	s.mu.Lock()
	if s.opts.RouterMandatory && s.byRoutingID[string(rid)] == nil && !s.closing {
		s.mu.Unlock()
		return fmt.Errorf("%w: %x", ErrUnroutable, rid)
	}
	return s.sendToLocked(ctx, m, func() *Peer { return s.byRoutingID[string(rid)] })
}

// routingIDTakenLocked reports, as an error, that another session's
// connected peer already has the routing id connection c's peer states.
// Callers hold s.mu.
func (s *Engine) routingIDTakenLocked(c *conn) error {
	rid := peerRoutingID(&c.info)
	holder := s.byRoutingID[string(rid)]
	if holder != nil && holder.conn.Load() != nil && !(holder.hasSession && holder.session == c.info.Session) {
		return fmt.Errorf("%w: %q", ErrDuplicateRoutingID, rid)
	}
	return nil
}

// mapRoutingIDLocked records p as the pipe of its peer's routing id. A pipe
// of another, departed session that had the id loses it, and the messages
// queued for the id move to p, whose peer now answers to it. Callers hold
// s.mu.
func (s *Engine) mapRoutingIDLocked(p *Peer, c *conn) {
	rid := string(peerRoutingID(&c.info))
	if p.routingID != rid && p.routingID != "" && s.byRoutingID[p.routingID] == p {
		delete(s.byRoutingID, p.routingID)
	}
	if holder := s.byRoutingID[rid]; holder != nil && holder != p {
		for _, m := range holder.takeAll() {
			p.push(m)
		}
		holder.routingID = "" // it is away; its resume timeout forgets it
	}
	p.routingID = rid
	s.byRoutingID[rid] = p
}

// eventRoutingID is the routing id a ROUTER's events carry for c's peer.
func (s *Engine) eventRoutingID(c *conn) []byte {
	if s.typ != Router {
		return nil
	}
	return peerRoutingID(&c.info)
}

// addressed reports whether the socket's messages are addressed to one peer
// (ROUTER by routing id, REP to the peer that asked) rather than to any: an
// addressed message is never handed to another peer, only dropped.
func (s *Engine) addressed() bool { return s.typ == Router || s.typ == Rep || s.isPublisher() }

// keepsAddress reports whether the messages p holds are still addressed
// correctly once p leads to connection c's peer: always for unaddressed
// types; for ROUTER when the peer's routing id is unchanged.
func (s *Engine) keepsAddress(p *Peer, c *conn) bool {
	switch s.typ {
	case Router:
		return p.routingID == string(peerRoutingID(&c.info))
	case Rep, Pub, XPub:
		return false
	}
	return true
}

// dropHeldLocked discards what an addressed pipe holds for a peer that is
// gone, counting it as unroutable. Callers hold s.mu.
func (s *Engine) dropHeldLocked(p *Peer) {
	if n := p.ledger.Len(); n > 0 {
		p.takeAll()
		s.stats.unroutable.Add(uint64(n))
	}
}
