package engine

// The spool's hook (Options.Acked): a spooling socket numbers each message
// it sends (Msg.Spool) and must learn when a receiver acknowledged it, and
// only then, to trim it from its log. A peer's ACK is the one place that
// knows: messages handed to another peer move with their number and are
// reported when that peer acknowledges them.

// spooledUpTo returns the Spool numbers of the messages an ACK of seq
// releases, when the socket has a hook and they carry one. Callers hold
// Engine.mu and have checked that seq is beyond what was acknowledged and
// not beyond what was sent.
func (p *Peer) spooledUpTo(seq uint64) []uint64 {
	if p.e.opts.Acked == nil {
		return nil
	}
	l := &p.ledger
	k := min(seq-l.AckedSeq(), uint64(l.Len()))
	var ids []uint64
	for i := range int(k) {
		if id := l.Peek(i).Spool; id != 0 {
			if ids == nil {
				ids = make([]uint64, 0, k)
			}
			ids = append(ids, id)
		}
	}
	return ids
}

// reportSpooled tells the hook what an ACK released. Callers hold
// Engine.mu.
func (s *Engine) reportSpooled(ids []uint64) {
	if len(ids) > 0 {
		s.opts.Acked(ids)
	}
}
