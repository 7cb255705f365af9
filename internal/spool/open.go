package spool

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
)

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
	// Messages may be anyone's secrets: only the owner reads the spool.
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	s.lock, err = os.OpenFile(filepath.Join(dir, "lock"), os.O_CREATE|os.O_RDWR, 0o600)
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
	f, err := os.OpenFile(seg.path, os.O_CREATE|os.O_TRUNC|os.O_WRONLY|os.O_APPEND, 0o600)
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
