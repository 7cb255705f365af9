package engine

import "net"

// Hooks for tests that must see inside the engine: they read state, never
// change it.

// Self returns what the socket states about itself in every handshake.
func (s *Engine) Self() PeerInfo { return s.self }

// ReadingDirectly reports whether a Recv is reading a connection itself
// (see directread.go).
func (s *Engine) ReadingDirectly() bool { return s.in.directConn.Load() != nil }

// PolledReads reports how many reads busy polling found data for (see
// Options.BusyPoll).
func (s *Engine) PolledReads() uint64 { return s.polledReads.Load() }

// InlineAcks reports how many ACKs Recv wrote itself (see ackflow.go).
func (s *Engine) InlineAcks() uint64 { return s.inlineAcks.Load() }

// RecvWaiting reports whether a Recv waits: for a message, or for the read
// side of a connection another Recv reads directly.
func (s *Engine) RecvWaiting() bool {
	s.in.mu.Lock()
	waiting := s.in.waiters > 0
	s.in.mu.Unlock()
	if waiting {
		return true
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, p := range s.peers {
		c := p.conn.Load()
		if c == nil {
			continue
		}
		c.dlMu.Lock()
		asked := c.wantRead > 0
		c.dlMu.Unlock()
		if asked {
			return true
		}
	}
	return false
}

// PeerConns returns the network connections of the socket's connected
// peers, for tests that read their kernel settings.
func (s *Engine) PeerConns() []net.Conn {
	s.mu.Lock()
	defer s.mu.Unlock()
	var ncs []net.Conn
	for _, p := range s.peers {
		if c := p.conn.Load(); c != nil && c.nc != nil {
			ncs = append(ncs, c.nc)
		}
	}
	return ncs
}
