package spool

import (
	"context"
	"slices"
)

// Next returns the next message not yet returned and not acknowledged, in
// order of number, waiting until one is appended, ctx ends or the spool
// closes. The first messages it returns are those a previous spool left
// unacknowledged. It returns recent messages as Append was given them,
// and older ones read back from the files (checksums checked again).
func (s *Spool) Next(ctx context.Context) (uint64, [][]byte, error) {
	for {
		s.mu.Lock()
		if s.closed {
			s.mu.Unlock()
			return 0, nil, ErrClosed
		}
		for s.feed < s.nextID && s.acks.has(s.feed) {
			s.feed++ // acknowledged out of order before a restart
		}
		if s.feed >= s.nextID {
			ch := s.appended
			s.nextWaits = true
			s.mu.Unlock()
			select {
			case <-ch:
				continue
			case <-ctx.Done():
				return 0, nil, ctx.Err()
			case <-s.stop:
				return 0, nil, ErrClosed
			}
		}
		id := s.feed
		if s.mem.Len() > 0 && s.mem.Peek().id == id {
			e := s.mem.Pop()
			s.memBytes -= e.size
			s.feed++
			s.mu.Unlock()
			return id, e.frames, nil
		}
		seg := s.segmentOfLocked(id)
		end := seg.size
		k, found := slices.BinarySearchFunc(seg.index, id, func(e indexEntry, id uint64) int { return cmpUint(e.id, id) })
		if !found {
			k--
		}
		from := seg.index[k]
		s.mu.Unlock()
		frames, err := s.cur.read(seg, end, from, id)
		if err != nil {
			return 0, nil, err
		}
		s.mu.Lock()
		s.feed = id + 1
		s.mu.Unlock()
		return id, frames, nil
	}
}

// segmentOfLocked returns the segment holding record id, which exists.
func (s *Spool) segmentOfLocked(id uint64) *segment {
	i, found := slices.BinarySearchFunc(s.segs, id, func(seg *segment, id uint64) int { return cmpUint(seg.first, id) })
	if !found {
		i--
	}
	return s.segs[i]
}
