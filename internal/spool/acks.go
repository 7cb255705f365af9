package spool

import (
	"encoding/binary"
	"errors"
	"os"
	"path/filepath"
	"slices"
)

// The acknowledgement file ("acks") is what makes trimming exact: segments
// go only as a whole, once every record in them is acknowledged, so
// without it a restart would resend the acknowledged records still in the
// oldest segment, and every record acknowledged out of order (by a fast
// receiver while a slow one holds earlier records). Its records use the
// segment record layout, numbered from 1 in the file, with payloads of
// two kinds:
//
//	snapshot: 0, watermark, count, ids above the watermark (deltas)
//	acks:     1, count, ids (signed deltas: a receiver that took over a
//	          departed one's messages acknowledges them after its own)
//
// The file starts with a snapshot; compaction writes a new one to a
// temporary file and renames it over the old, so a crash leaves one or the
// other. Acknowledgement records are written as acknowledgements arrive,
// which is what a process crash needs; they are synced in the background
// (every Interval under SyncInterval, every second under SyncAlways) and
// at Close: a record lost to a power failure means a duplicate, never a
// loss.
const (
	kindSnapshot = 0
	kindAcks     = 1
)

// compactAcksAt is the size past which the file is rewritten as one
// snapshot.
const compactAcksAt = 1 << 20

var errAckRecord = errors.New("malformed acknowledgement record")

// ackState is which records are acknowledged: all up to the watermark,
// and those in above.
type ackState struct {
	watermark uint64
	above     map[uint64]struct{}
}

// has reports whether id is acknowledged.
func (a *ackState) has(id uint64) bool {
	if id <= a.watermark {
		return true
	}
	_, ok := a.above[id]
	return ok
}

// add records id and reports whether it is new.
func (a *ackState) add(id uint64) bool {
	if a.has(id) {
		return false
	}
	if id != a.watermark+1 {
		a.above[id] = struct{}{}
		return true
	}
	a.watermark = id
	for {
		if _, ok := a.above[a.watermark+1]; !ok {
			return true
		}
		delete(a.above, a.watermark+1)
		a.watermark++
	}
}

// raise moves the watermark up to w, for records that are gone.
func (a *ackState) raise(w uint64) {
	if w <= a.watermark {
		return
	}
	a.watermark = w
	for id := range a.above {
		if id <= w {
			delete(a.above, id)
		}
	}
	for {
		if _, ok := a.above[a.watermark+1]; !ok {
			return
		}
		delete(a.above, a.watermark+1)
		a.watermark++
	}
}

// highest is the highest acknowledged id.
func (a *ackState) highest() uint64 {
	h := a.watermark
	for id := range a.above {
		h = max(h, id)
	}
	return h
}

// ackLog is the open acknowledgement file.
type ackLog struct {
	path string
	f    *os.File
	size int64
	next uint64 // the next record's number in the file
	buf  []byte
	rec  []byte
}

// openAckLog reads the acknowledgement file in dir (cutting a torn tail)
// into a state, and opens it for appending.
func openAckLog(dir string) (*ackLog, ackState, error) {
	l := &ackLog{path: filepath.Join(dir, "acks"), next: 1}
	st := ackState{above: make(map[uint64]struct{})}
	data, err := os.ReadFile(l.path)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, st, err
	}
	end, torn, err := scan(l.path, data, 1, true, func(seq uint64, p []byte, off int64) error {
		if err := applyAckRecord(&st, p); err != nil {
			return corruptAt(l.path, off, err)
		}
		l.next = seq + 1
		return nil
	})
	if err != nil {
		return nil, st, err
	}
	if torn {
		if err := os.Truncate(l.path, end); err != nil {
			return nil, st, err
		}
	}
	l.f, err = os.OpenFile(l.path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return nil, st, err
	}
	l.size = end
	return l, st, nil
}

// applyAckRecord adds one record's acknowledgements to st.
func applyAckRecord(st *ackState, p []byte) error {
	if len(p) == 0 {
		return errAckRecord
	}
	kind, p := p[0], p[1:]
	var prev uint64
	if kind == kindSnapshot {
		w, k := binary.Uvarint(p)
		if k <= 0 {
			return errAckRecord
		}
		p = p[k:]
		st.watermark, prev = w, w
		clear(st.above)
	} else if kind != kindAcks {
		return errAckRecord
	}
	count, k := binary.Uvarint(p)
	if k <= 0 || count > uint64(len(p)) {
		return errAckRecord
	}
	p = p[k:]
	for range count {
		d, k := binary.Varint(p)
		if k <= 0 {
			return errAckRecord
		}
		p = p[k:]
		prev += uint64(d)
		st.add(prev)
	}
	if len(p) != 0 {
		return errAckRecord
	}
	return nil
}

// appendIDs encodes ids as signed deltas from base.
func appendIDs(dst []byte, base uint64, ids []uint64) []byte {
	dst = binary.AppendUvarint(dst, uint64(len(ids)))
	prev := base
	for _, id := range ids {
		dst = binary.AppendVarint(dst, int64(id-prev))
		prev = id
	}
	return dst
}

// write appends an acknowledgement record for ids. One write, so a crash
// tears at most this record.
func (l *ackLog) write(ids []uint64) error {
	l.rec = append(l.rec[:0], kindAcks)
	l.rec = appendIDs(l.rec, 0, ids)
	l.buf = appendRecord(l.buf[:0], l.next, l.rec)
	n, err := l.f.Write(l.buf)
	l.size += int64(n)
	if err != nil {
		return err
	}
	l.next++
	return nil
}

// compact replaces the file with one snapshot of st, through a temporary
// file renamed over it, and reopens it.
func (l *ackLog) compact(st *ackState, dirSync bool) error {
	above := make([]uint64, 0, len(st.above))
	for id := range st.above {
		above = append(above, id)
	}
	slices.Sort(above)
	rec := binary.AppendUvarint([]byte{kindSnapshot}, st.watermark)
	rec = appendIDs(rec, st.watermark, above)
	buf := appendRecord(nil, 1, rec)
	tmp := l.path + ".tmp"
	f, err := os.OpenFile(tmp, os.O_CREATE|os.O_TRUNC|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	if _, err := f.Write(buf); err != nil {
		f.Close()
		return err
	}
	// The rename must not reach the disk before the data, or a power
	// failure could leave an empty file in place of the old one.
	if err := datasync(f); err != nil {
		f.Close()
		return err
	}
	if err := os.Rename(tmp, l.path); err != nil {
		f.Close()
		return err
	}
	if dirSync {
		if err := syncDir(filepath.Dir(l.path)); err != nil {
			f.Close()
			return err
		}
	}
	l.f.Close()
	l.f, l.size, l.next = f, int64(len(buf)), 2
	return nil
}
