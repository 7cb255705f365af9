package spool

import (
	"errors"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/wispmq/wisp/internal/queue"
)

// Sync is when appended records are made durable (fsync).
type Sync uint8

const (
	// SyncAlways: Append returns once its record is synced. Concurrent
	// Appends share a sync (group commit).
	SyncAlways Sync = iota
	// SyncInterval: a background sync every Options.Interval; a power
	// failure loses at most that much.
	SyncInterval
	// SyncNone: the operating system writes when it likes.
	SyncNone
)

// Options configure a spool.
type Options struct {
	// Sync is when records are synced; Interval is SyncInterval's period.
	Sync     Sync
	Interval time.Duration // SyncInterval's period
	// Limit bounds the bytes of the segment files; zero means none.
	Limit int64
	// SegmentSize is the size past which a new segment starts; zero
	// derives it from Limit (an eighth, between 8 KiB and 16 MiB), so
	// that acknowledged records waiting for their segment to go take
	// little of the limit.
	SegmentSize int64
	// Memory bounds the bytes of recent messages kept for Next, which
	// reads older ones back from the files. Zero means 4 MiB.
	Memory int64
}

const (
	defaultMemory  = 4 << 20
	maxSegmentSize = 16 << 20
	minSegmentSize = 8 << 10
	// indexEvery is how many records apart a segment remembers offsets,
	// so that Next finds a record by reading at most that many headers.
	indexEvery = 256
)

// segment is one file of records numbered from first.
type segment struct {
	path  string
	first uint64 // the number of its first record, which is its name
	next  uint64 // the number its next record would have
	size  int64
	index []indexEntry
}

type indexEntry struct {
	id  uint64
	off int64
}

// memEntry is a recent message Next can return without reading it back.
type memEntry struct {
	id     uint64
	frames [][]byte
	size   int64
}

// Spool is an append-only log of messages on disk, numbered from 1 across
// its life, with a record of which ones were acknowledged. Append adds a
// message; Next returns the messages in order, once each, starting with
// those a previous spool on the directory left unacknowledged; Acked
// records acknowledgements and lets whole segments go once everything in
// them is acknowledged.
//
// Append, Acked and the accessors are safe for concurrent use; Next has one
// caller at a time, which must have returned before Close.
type Spool struct {
	dir     string
	opts    Options
	segSize int64
	lock    *os.File

	mu        sync.Mutex
	closed    bool
	failed    error // a write failed: the file may hold part of a record
	segs      []*segment
	w         *os.File // the newest segment, for appending
	retired   []*os.File
	nextID    uint64
	diskBytes int64
	acks      ackState
	ackLog    *ackLog
	ackErr    error
	pending   int   // records not acknowledged
	pendBytes int64 // their payload bytes
	feed      uint64
	mem       queue.FIFO[memEntry]
	memBytes  int64
	dirty     bool // appended since the last sync
	acksDirty bool // acknowledged since the last sync of the acknowledgement file
	wbuf      []byte
	appended  chan struct{} // closed and replaced when a record is appended while Next waits
	nextWaits bool          // Next waits on appended
	changed   chan struct{} // closed and replaced when records are acknowledged or trimmed

	syncMu sync.Mutex    // one sync at a time; held while a retired file closes
	synced atomic.Uint64 // every record up to it is durable

	cur cursor // Next's reader of the files

	kick chan struct{}
	stop chan struct{}
	done chan struct{}
}

// Append adds a message of frames (at least one) to the log and returns its
// number, once it is written to the file (and synced, under SyncAlways).
// It fails with ErrFull, at once, when the record would take the files
// past the limit, and with ErrTooLarge when it is larger than the limit.
// The spool keeps frames, unchanged, for Next: the caller must not modify
// them afterwards.
func (s *Spool) Append(frames [][]byte) (uint64, error) {
	size := int64(headerSize + framesSize(frames))
	s.mu.Lock()
	if err := s.usableLocked(); err != nil {
		s.mu.Unlock()
		return 0, err
	}
	if s.opts.Limit > 0 {
		if size > s.opts.Limit {
			s.mu.Unlock()
			return 0, fmt.Errorf("%w: a %d-byte record, and the limit is %d", ErrTooLarge, size, s.opts.Limit)
		}
		if s.diskBytes+size > s.opts.Limit {
			s.makeRoomLocked()
			if s.diskBytes+size > s.opts.Limit {
				used := s.diskBytes
				s.mu.Unlock()
				return 0, fmt.Errorf("%w: %d of %d bytes used, %d messages not acknowledged", ErrFull, used, s.opts.Limit, s.pending)
			}
		}
	}
	active := s.segs[len(s.segs)-1]
	if active.size > 0 && active.size+size > s.segSize {
		if err := s.rollLocked(); err != nil {
			s.mu.Unlock()
			return 0, err
		}
		active = s.segs[len(s.segs)-1]
	}
	id := s.nextID
	s.wbuf = appendFramesRecord(s.wbuf[:0], id, frames)
	// One write per record: once it returns the record is in the
	// kernel's hands, which a crash of this process cannot take back.
	n, err := s.w.Write(s.wbuf)
	if err != nil {
		s.failed = fmt.Errorf("spool: writing %s: %w", active.path, err)
		active.size += int64(n)
		s.mu.Unlock()
		return 0, s.failed
	}
	if (id-active.first)%indexEvery == 0 {
		active.index = append(active.index, indexEntry{id, active.size})
	}
	active.size += size
	active.next = id + 1
	s.diskBytes += size
	s.nextID++
	s.pending++
	s.pendBytes += size - headerSize
	s.dirty = true
	s.mem.Push(memEntry{id: id, frames: frames, size: size})
	s.memBytes += size
	for s.memBytes > s.opts.Memory {
		s.memBytes -= s.mem.Pop().size // Next reads it back from the file
	}
	if s.nextWaits {
		// Only then: a channel per Append would be an allocation per
		// message.
		close(s.appended)
		s.appended = make(chan struct{})
		s.nextWaits = false
	}
	s.mu.Unlock()
	if s.opts.Sync == SyncAlways {
		if err := s.syncTo(id); err != nil {
			return 0, err
		}
	}
	return id, nil
}

// appendFramesRecord appends the record of frames numbered seq.
func appendFramesRecord(dst []byte, seq uint64, frames [][]byte) []byte {
	start := len(dst)
	dst = append(dst, make([]byte, headerSize)...)
	dst = appendFrames(dst, frames)
	sealRecord(dst[start:], seq)
	return dst
}

// usableLocked says why the spool can take no record, if it cannot.
func (s *Spool) usableLocked() error {
	if s.closed {
		return ErrClosed
	}
	return s.failed
}

// rollLocked starts a new segment, first making the old one durable
// unless the policy leaves that to the system.
func (s *Spool) rollLocked() error {
	if s.opts.Sync != SyncNone {
		if err := datasync(s.w); err != nil {
			s.failed = fmt.Errorf("spool: syncing %s: %w", s.segs[len(s.segs)-1].path, err)
			return s.failed
		}
		s.raiseSynced(s.nextID - 1)
	}
	if err := s.newSegmentLocked(); err != nil {
		s.failed = fmt.Errorf("spool: %w", err)
		return s.failed
	}
	s.kickHousekeeper() // to close the old file
	return nil
}

// makeRoomLocked frees what acknowledgements allow, for an Append that
// does not fit: trimmed segments, and the newest one too when everything
// in it is acknowledged (it can go only once it is no longer the newest).
func (s *Spool) makeRoomLocked() {
	s.trimLocked()
	if s.acks.watermark >= s.nextID-1 && s.segs[len(s.segs)-1].size > 0 {
		if s.rollLocked() == nil {
			s.trimLocked()
		}
	}
}

// trimLocked deletes the oldest segments while every record in them is
// acknowledged; the newest is never deleted, as it is being appended to.
func (s *Spool) trimLocked() {
	trimmed := false
	for len(s.segs) > 1 && s.segs[1].first <= s.acks.watermark+1 {
		seg := s.segs[0]
		if err := os.Remove(seg.path); err != nil && !errors.Is(err, os.ErrNotExist) {
			break // tried again at the next trim
		}
		s.segs = s.segs[1:]
		s.diskBytes -= seg.size
		trimmed = true
	}
	if trimmed {
		s.broadcastLocked()
	}
}

func (s *Spool) broadcastLocked() {
	close(s.changed)
	s.changed = make(chan struct{})
}

func (s *Spool) kickHousekeeper() {
	select {
	case s.kick <- struct{}{}:
	default:
	}
}

// Acked records that the messages numbered ids were acknowledged: they are
// written to the acknowledgement file at once, and never returned by Next
// again, here or after a restart. It does not wait for the disk.
func (s *Spool) Acked(ids []uint64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return
	}
	fresh := ids[:0] // the engine hands over a slice it no longer uses
	for _, id := range ids {
		if id < s.nextID && s.acks.add(id) {
			fresh = append(fresh, id)
		}
	}
	if len(fresh) == 0 {
		return
	}
	s.pending -= len(fresh)
	if s.pending == 0 {
		s.pendBytes = 0
	}
	s.acksDirty = true
	if err := s.ackLog.write(fresh); err != nil && s.ackErr == nil {
		s.ackErr = err // costs duplicates after a restart, not messages
	}
	if len(s.segs) > 1 && s.segs[1].first <= s.acks.watermark+1 || s.ackLog.size > compactAcksAt {
		s.kickHousekeeper()
	}
	s.broadcastLocked()
}

// Pending returns how many messages are not acknowledged, and their
// payload bytes.
func (s *Spool) Pending() (int, int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.pending, s.pendBytes
}

// Size returns the bytes of the segment files.
func (s *Spool) Size() int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.diskBytes
}

// Changed returns a channel closed at the next acknowledgement or trim:
// when a full spool may have room, or a draining one be empty.
func (s *Spool) Changed() <-chan struct{} {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.changed
}

// Close syncs the files (unless the policy is SyncNone), closes them and
// releases the directory. What is not acknowledged stays for the next
// Open.
func (s *Spool) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	s.broadcastLocked()
	s.mu.Unlock()
	close(s.stop)
	<-s.done
	var err error
	if s.opts.Sync != SyncNone && s.failed == nil {
		err = errors.Join(datasync(s.w), datasync(s.ackLog.f))
	}
	s.closeFiles()
	return err
}

// closeFiles closes every file the spool has open, the lock last.
func (s *Spool) closeFiles() {
	s.cur.forget()
	for _, f := range s.retired {
		f.Close()
	}
	if s.w != nil {
		s.w.Close()
	}
	if s.ackLog != nil && s.ackLog.f != nil {
		s.ackLog.f.Close()
	}
	if s.lock != nil {
		s.lock.Close()
	}
}
