package spool

import (
	"fmt"
	"time"
)

// raiseSynced records that every record up to id is durable.
func (s *Spool) raiseSynced(id uint64) {
	for {
		old := s.synced.Load()
		if old >= id || s.synced.CompareAndSwap(old, id) {
			return
		}
	}
}

// ackSyncEvery is how often SyncAlways syncs the acknowledgement file: an
// acknowledgement lost to a machine crash costs a duplicate, not a
// message, so it need not hold up anything.
const ackSyncEvery = time.Second

// syncTo makes every record up to id durable. Callers that arrive while a
// sync runs wait for it and usually find their record covered by the
// next one, so concurrent Appends share syncs.
func (s *Spool) syncTo(id uint64) error {
	if s.synced.Load() >= id {
		return nil
	}
	s.syncMu.Lock()
	defer s.syncMu.Unlock()
	if s.synced.Load() >= id {
		return nil
	}
	s.mu.Lock()
	f, target := s.w, s.nextID-1
	s.dirty = false
	s.mu.Unlock()
	if err := datasync(f); err != nil {
		s.mu.Lock()
		if s.failed == nil {
			s.failed = fmt.Errorf("spool: sync: %w", err)
		}
		err = s.failed
		s.mu.Unlock()
		return err
	}
	s.raiseSynced(target)
	return nil
}

// housekeep deletes acknowledged segments, closes the files of old ones,
// compacts the acknowledgement file and, under SyncInterval, syncs.
func (s *Spool) housekeep() {
	defer close(s.done)
	var tick <-chan time.Time
	switch s.opts.Sync {
	case SyncInterval:
		t := time.NewTicker(s.opts.Interval)
		defer t.Stop()
		tick = t.C
	case SyncAlways:
		t := time.NewTicker(ackSyncEvery)
		defer t.Stop()
		tick = t.C
	}
	for {
		select {
		case <-s.stop:
			return
		case <-s.kick:
		case <-tick:
		}
		s.mu.Lock()
		s.trimLocked()
		if s.ackLog.size > compactAcksAt {
			if err := s.ackLog.compact(&s.acks, s.opts.Sync != SyncNone); err != nil && s.ackErr == nil {
				s.ackErr = err
			}
		}
		retired := s.retired
		s.retired = nil
		dirty := s.dirty
		last := s.nextID - 1
		// Only this goroutine replaces the acknowledgement file (compact),
		// and Close waits for it: the file stays open while it syncs
		// without the lock, which the engine's ACKs need meanwhile.
		acks := s.ackLog.f
		acksDirty := s.acksDirty && s.opts.Sync != SyncNone
		s.acksDirty = s.acksDirty && !acksDirty
		s.mu.Unlock()
		if len(retired) > 0 {
			s.syncMu.Lock() // a sync may be using one
			for _, f := range retired {
				f.Close()
			}
			s.syncMu.Unlock()
		}
		if dirty && s.opts.Sync == SyncInterval {
			s.syncTo(last) // a failure is sticky: the next Append reports it
		}
		if acksDirty {
			datasync(acks) // a failure costs duplicates after a machine crash, not messages
		}
	}
}
