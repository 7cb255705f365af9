package spool

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
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
	dirty     bool
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

// Open opens (creating it if needed) the spool in dir. It takes the
// directory's lock (ErrLocked if another spool holds it), reads the
// acknowledgement file and every segment, checking each record's CRC-32C,
// cuts a torn tail off the newest files, and refuses damage anywhere else
// with ErrCorrupt.
func Open(dir string, o Options) (_ *Spool, err error) {
	if o.Sync == SyncInterval && o.Interval <= 0 {
		return nil, fmt.Errorf("spool: SyncInterval needs a positive interval")
	}
	if o.Memory <= 0 {
		o.Memory = defaultMemory
	}
	s := &Spool{dir: dir, opts: o, segSize: o.SegmentSize}
	if s.segSize <= 0 {
		s.segSize = maxSegmentSize
		if o.Limit > 0 {
			s.segSize = min(max(o.Limit/8, minSegmentSize), maxSegmentSize)
		}
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	s.lock, err = os.OpenFile(filepath.Join(dir, "lock"), os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			s.closeFiles()
		}
	}()
	if err := lockFile(s.lock); err != nil {
		return nil, err
	}
	var st ackState
	s.ackLog, st, err = openAckLog(dir)
	if err != nil {
		return nil, err
	}
	s.acks = st
	if err := s.load(); err != nil {
		return nil, err
	}
	s.feed = s.acks.watermark + 1
	s.synced.Store(s.nextID - 1)
	s.appended = make(chan struct{})
	s.changed = make(chan struct{})
	s.kick = make(chan struct{}, 1)
	s.stop = make(chan struct{})
	s.done = make(chan struct{})
	go s.housekeep()
	return s, nil
}

// segmentName is a segment's file name: its first record's number, padded
// so that names sort in order.
func segmentName(first uint64) string { return fmt.Sprintf("%020d.seg", first) }

// load reads every segment, counts what is not acknowledged, and opens the
// newest segment for appending.
func (s *Spool) load() error {
	entries, err := os.ReadDir(s.dir)
	if err != nil {
		return err
	}
	for _, e := range entries {
		name := e.Name()
		num, ok := strings.CutSuffix(name, ".seg")
		if !ok || e.IsDir() {
			continue
		}
		first, err := strconv.ParseUint(num, 10, 64)
		if err != nil || first == 0 {
			continue
		}
		s.segs = append(s.segs, &segment{path: filepath.Join(s.dir, name), first: first})
	}
	slices.SortFunc(s.segs, func(a, b *segment) int { return cmpUint(a.first, b.first) })
	if len(s.segs) > 0 {
		// Segments below the oldest were trimmed, so everything in them
		// was acknowledged, whatever the acknowledgement file kept.
		s.acks.raise(s.segs[0].first - 1)
	}
	for i, seg := range s.segs {
		if i > 0 {
			if err := s.checkGap(s.segs[i-1], seg); err != nil {
				return err
			}
		}
		if err := s.loadSegment(seg, i == len(s.segs)-1); err != nil {
			return err
		}
		s.diskBytes += seg.size
	}
	s.nextID = s.acks.watermark + 1
	if n := len(s.segs); n > 0 {
		s.nextID = s.segs[n-1].next
	}
	// Acknowledgements beyond the newest record are of records a power
	// failure took after they were delivered: their numbers must not be
	// used again, or the new records would count as acknowledged.
	if hi := s.acks.highest(); hi >= s.nextID {
		var gap []uint64
		for id := max(s.nextID, s.acks.watermark+1); id <= hi; id++ {
			if s.acks.add(id) {
				gap = append(gap, id)
			}
		}
		if len(gap) > 0 {
			if err := s.ackLog.write(gap); err != nil {
				return err
			}
		}
		s.nextID = hi + 1
	}
	if n := len(s.segs); n > 0 && s.segs[n-1].next == s.nextID {
		s.w, err = os.OpenFile(s.segs[n-1].path, os.O_WRONLY|os.O_APPEND, 0)
		return err
	}
	return s.newSegmentLocked()
}

// checkGap accepts a jump in numbering between two segments only over
// records known to be acknowledged (see load).
func (s *Spool) checkGap(prev, seg *segment) error {
	if seg.first < prev.next {
		return corruptAt(seg.path, 0, fmt.Errorf("%w: segment starts at %d, before the previous one ends (%d)", errSequence, seg.first, prev.next))
	}
	for id := prev.next; id < seg.first; id++ {
		if !s.acks.has(id) {
			return corruptAt(seg.path, 0, fmt.Errorf("%w: records %d to %d are missing", errSequence, id, seg.first-1))
		}
	}
	return nil
}

// loadSegment scans one segment, cutting a torn tail if it is the newest.
func (s *Spool) loadSegment(seg *segment, newest bool) error {
	data, err := os.ReadFile(seg.path)
	if err != nil {
		return err
	}
	seg.next = seg.first
	end, torn, err := scan(seg.path, data, seg.first, newest, func(id uint64, p []byte, off int64) error {
		seg.next = id + 1
		if (id-seg.first)%indexEvery == 0 {
			seg.index = append(seg.index, indexEntry{id, off})
		}
		if !s.acks.has(id) {
			if _, err := splitFrames(p); err != nil {
				return corruptAt(seg.path, off, err)
			}
			s.pending++
			s.pendBytes += int64(len(p))
		}
		return nil
	})
	if err != nil {
		return err
	}
	if torn {
		if err := os.Truncate(seg.path, end); err != nil {
			return err
		}
	}
	seg.size = end
	return nil
}

// newSegmentLocked starts a segment for records from nextID on. Callers
// hold s.mu (or own s alone, in Open).
func (s *Spool) newSegmentLocked() error {
	seg := &segment{path: filepath.Join(s.dir, segmentName(s.nextID)), first: s.nextID, next: s.nextID}
	f, err := os.OpenFile(seg.path, os.O_CREATE|os.O_TRUNC|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	if s.opts.Sync != SyncNone {
		// The file must survive a power failure as well as its records.
		if err := syncDir(s.dir); err != nil {
			f.Close()
			return err
		}
	}
	if s.w != nil {
		s.retired = append(s.retired, s.w)
	}
	s.w = f
	s.segs = append(s.segs, seg)
	return nil
}

func cmpUint(a, b uint64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
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

// raiseSynced records that every record up to id is durable.
func (s *Spool) raiseSynced(id uint64) {
	for {
		old := s.synced.Load()
		if old >= id || s.synced.CompareAndSwap(old, id) {
			return
		}
	}
}

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
	if err := s.ackLog.write(fresh); err != nil && s.ackErr == nil {
		s.ackErr = err // costs duplicates after a restart, not messages
	}
	if len(s.segs) > 1 && s.segs[1].first <= s.acks.watermark+1 || s.ackLog.size > compactAcksAt {
		s.kickHousekeeper()
	}
	s.broadcastLocked()
}

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

// housekeep deletes acknowledged segments, closes the files of old ones,
// compacts the acknowledgement file and, under SyncInterval, syncs.
func (s *Spool) housekeep() {
	defer close(s.done)
	var tick <-chan time.Time
	if s.opts.Sync == SyncInterval {
		t := time.NewTicker(s.opts.Interval)
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
			s.mu.Lock()
			datasync(s.ackLog.f)
			s.mu.Unlock()
		}
	}
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
