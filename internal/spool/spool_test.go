package spool

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"
)

func open(t *testing.T, dir string, o Options) *Spool {
	t.Helper()
	s, err := Open(dir, o)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	return s
}

func appendN(t *testing.T, s *Spool, from, to int) {
	t.Helper()
	for i := from; i <= to; i++ {
		if _, err := s.Append([][]byte{fmt.Appendf(nil, "m%d", i)}); err != nil {
			t.Fatalf("Append %d: %v", i, err)
		}
	}
}

// drain returns what Next gives until it would wait.
func drain(t *testing.T, s *Spool) []string {
	t.Helper()
	var got []string
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
		_, frames, err := s.Next(ctx)
		cancel()
		if errors.Is(err, context.DeadlineExceeded) {
			return got
		}
		if err != nil {
			t.Fatalf("Next: %v", err)
		}
		got = append(got, string(slices.Concat(frames...)))
	}
}

func names(from, to int) []string {
	var n []string
	for i := from; i <= to; i++ {
		n = append(n, fmt.Sprintf("m%d", i))
	}
	return n
}

func ids(from, to uint64) []uint64 {
	var v []uint64
	for i := from; i <= to; i++ {
		v = append(v, i)
	}
	return v
}

func closeSpool(t *testing.T, s *Spool) {
	t.Helper()
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
}

func newestSegment(t *testing.T, dir string) string {
	t.Helper()
	m, _ := filepath.Glob(filepath.Join(dir, "*.seg"))
	if len(m) == 0 {
		t.Fatal("no segment")
	}
	slices.Sort(m)
	return m[len(m)-1]
}

func TestReopenResendsUnacknowledgedInOrder(t *testing.T) {
	dir := t.TempDir()
	s := open(t, dir, Options{Sync: SyncNone})
	appendN(t, s, 1, 10)
	if got := drain(t, s); !slices.Equal(got, names(1, 10)) {
		t.Fatalf("first run: %v", got)
	}
	s.Acked(ids(1, 4))
	closeSpool(t, s)

	s = open(t, dir, Options{Sync: SyncNone})
	defer closeSpool(t, s)
	if n, _ := s.Pending(); n != 6 {
		t.Fatalf("pending after reopen: %d, want 6", n)
	}
	appendN(t, s, 11, 12)
	if got := drain(t, s); !slices.Equal(got, names(5, 12)) {
		t.Fatalf("after reopen: %v, want m5..m12", got)
	}
}

func TestOutOfOrderAcksSurviveReopen(t *testing.T) {
	dir := t.TempDir()
	s := open(t, dir, Options{Sync: SyncNone})
	appendN(t, s, 1, 10)
	drain(t, s)
	s.Acked([]uint64{2, 4, 6, 8, 10}) // one receiver fast, the other holding 1,3,5,7,9
	s.Acked([]uint64{1})
	closeSpool(t, s)

	s = open(t, dir, Options{Sync: SyncNone})
	defer closeSpool(t, s)
	if got, want := drain(t, s), []string{"m3", "m5", "m7", "m9"}; !slices.Equal(got, want) {
		t.Fatalf("got %v, want %v", got, want)
	}
}

func TestMultiFrameRoundTripFromDisk(t *testing.T) {
	dir := t.TempDir()
	s := open(t, dir, Options{Sync: SyncNone})
	msg := [][]byte{[]byte("a"), {}, []byte("ccc")}
	if _, err := s.Append(msg); err != nil {
		t.Fatal(err)
	}
	closeSpool(t, s)
	s = open(t, dir, Options{Sync: SyncNone})
	defer closeSpool(t, s)
	_, frames, err := s.Next(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(frames) != 3 || string(frames[0]) != "a" || len(frames[1]) != 0 || string(frames[2]) != "ccc" {
		t.Fatalf("frames %q", frames)
	}
}

func TestTornTailIsCut(t *testing.T) {
	for _, tc := range []struct {
		name string
		tear func(data []byte) []byte
	}{
		{"partial header", func(d []byte) []byte { return append(d, 7, 0, 0) }},
		{"partial payload", func(d []byte) []byte {
			r := appendFramesRecord(nil, 6, [][]byte{[]byte("torn away")})
			return append(d, r[:len(r)-3]...)
		}},
		{"bad checksum in last record", func(d []byte) []byte {
			r := appendFramesRecord(nil, 6, [][]byte{[]byte("flipped")})
			r[len(r)-1] ^= 1
			return append(d, r...)
		}},
		{"zeros", func(d []byte) []byte { return append(d, make([]byte, 4096)...) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			s := open(t, dir, Options{Sync: SyncNone})
			appendN(t, s, 1, 5)
			closeSpool(t, s)
			seg := newestSegment(t, dir)
			data, _ := os.ReadFile(seg)
			good := len(data)
			os.WriteFile(seg, tc.tear(data), 0o644)

			s = open(t, dir, Options{Sync: SyncNone})
			if fi, _ := os.Stat(seg); fi.Size() != int64(good) {
				t.Errorf("segment is %d bytes after open, want the %d good ones", fi.Size(), good)
			}
			appendN(t, s, 6, 6)
			if got := drain(t, s); !slices.Equal(got, names(1, 6)) {
				t.Fatalf("got %v, want m1..m6 and nothing torn", got)
			}
			closeSpool(t, s)
			// The new record went where the torn one was: it reads back.
			s = open(t, dir, Options{Sync: SyncNone})
			defer closeSpool(t, s)
			if got := drain(t, s); !slices.Equal(got, names(1, 6)) {
				t.Fatalf("after a second reopen: %v", got)
			}
		})
	}
}

func TestCorruptionInTheMiddleIsAnError(t *testing.T) {
	dir := t.TempDir()
	s := open(t, dir, Options{Sync: SyncNone})
	appendN(t, s, 1, 5)
	closeSpool(t, s)
	seg := newestSegment(t, dir)
	data, _ := os.ReadFile(seg)
	data[headerSize+2] ^= 0x40 // the first record's payload; four good ones follow
	os.WriteFile(seg, data, 0o644)

	_, err := Open(dir, Options{Sync: SyncNone})
	if !errors.Is(err, ErrCorrupt) {
		t.Fatalf("Open: %v, want ErrCorrupt", err)
	}
	t.Log(err)
	if fi, _ := os.Stat(seg); fi.Size() != int64(len(data)) {
		t.Fatal("a refused spool's files must stay as they were")
	}
	// The lock went with the failed Open.
	s, err = Open(dir, Options{Sync: SyncNone})
	if !errors.Is(err, ErrCorrupt) {
		t.Fatalf("second Open: %v, want ErrCorrupt again", err)
	}
}

func TestCorruptionInAnOlderSegmentIsAnError(t *testing.T) {
	dir := t.TempDir()
	s := open(t, dir, Options{Sync: SyncNone, SegmentSize: 64})
	appendN(t, s, 1, 6)
	closeSpool(t, s)
	m, _ := filepath.Glob(filepath.Join(dir, "*.seg"))
	slices.Sort(m)
	if len(m) < 2 {
		t.Fatalf("want several segments, have %v", m)
	}
	data, _ := os.ReadFile(m[0])
	os.WriteFile(m[0], data[:len(data)-1], 0o644) // its tail, but not the newest file
	if _, err := Open(dir, Options{Sync: SyncNone}); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("Open: %v, want ErrCorrupt", err)
	}
}

func TestMissingSegmentIsAnError(t *testing.T) {
	dir := t.TempDir()
	s := open(t, dir, Options{Sync: SyncNone, SegmentSize: 64})
	appendN(t, s, 1, 9)
	closeSpool(t, s)
	m, _ := filepath.Glob(filepath.Join(dir, "*.seg"))
	slices.Sort(m)
	if len(m) < 3 {
		t.Fatalf("want three segments or more, have %v", m)
	}
	os.Remove(m[1])
	if _, err := Open(dir, Options{Sync: SyncNone}); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("Open: %v, want ErrCorrupt for the records that are missing", err)
	}
}

func TestTrimDeletesAcknowledgedSegments(t *testing.T) {
	dir := t.TempDir()
	s := open(t, dir, Options{Sync: SyncNone, SegmentSize: 100})
	defer closeSpool(t, s)
	appendN(t, s, 1, 20)
	drain(t, s)
	before := s.Size()
	segs, _ := filepath.Glob(filepath.Join(dir, "*.seg"))
	// Out of order, with a hole at 1: nothing may go.
	s.Acked(ids(2, 20))
	waitFor(t, func() bool { return s.Size() == before })
	if m, _ := filepath.Glob(filepath.Join(dir, "*.seg")); len(m) != len(segs) {
		t.Fatalf("segments went while record 1 was unacknowledged: %d of %d left", len(m), len(segs))
	}
	s.Acked([]uint64{1})
	waitFor(t, func() bool {
		m, _ := filepath.Glob(filepath.Join(dir, "*.seg"))
		return len(m) == 1
	})
	if n, _ := s.Pending(); n != 0 {
		t.Fatalf("pending %d", n)
	}
	if s.Size() >= before {
		t.Fatalf("size %d, was %d", s.Size(), before)
	}
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met in 5s")
		}
		time.Sleep(time.Millisecond)
	}
}

func TestTrimmedButUndeletedRecordsAreNotResent(t *testing.T) {
	dir := t.TempDir()
	s := open(t, dir, Options{Sync: SyncNone}) // one big segment: nothing is deleted
	appendN(t, s, 1, 100)
	drain(t, s)
	s.Acked(ids(1, 97))
	closeSpool(t, s)
	s = open(t, dir, Options{Sync: SyncNone})
	defer closeSpool(t, s)
	appendN(t, s, 101, 101)
	if got, want := drain(t, s), []string{"m98", "m99", "m100", "m101"}; !slices.Equal(got, want) {
		t.Fatalf("got %v, want %v", got, want)
	}
}

func TestLimit(t *testing.T) {
	dir := t.TempDir()
	const limit = 64 << 10
	s := open(t, dir, Options{Sync: SyncNone, Limit: limit})
	defer closeSpool(t, s)
	big := make([]byte, 1000)
	n := 0
	var err error
	for ; ; n++ {
		if _, err = s.Append([][]byte{big}); err != nil {
			break
		}
	}
	if !errors.Is(err, ErrFull) {
		t.Fatalf("Append past the limit: %v, want ErrFull", err)
	}
	if s.Size() > limit {
		t.Fatalf("files hold %d bytes, limit %d", s.Size(), limit)
	}
	if _, err := s.Append([][]byte{make([]byte, limit)}); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("Append larger than the limit: %v, want ErrTooLarge", err)
	}
	ch := s.Changed()
	for range n {
		if _, _, err := s.Next(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	s.Acked(ids(1, uint64(n)))
	<-ch
	// Everything is acknowledged: the room is there, even the newest
	// segment's (it rolls so that it can go).
	for i := range n {
		if _, err := s.Append([][]byte{big}); err != nil {
			t.Fatalf("Append %d after the acknowledgements: %v", i, err)
		}
	}
}

func TestSecondOpenFailsWhileLocked(t *testing.T) {
	dir := t.TempDir()
	s := open(t, dir, Options{Sync: SyncNone})
	if _, err := Open(dir, Options{Sync: SyncNone}); !errors.Is(err, ErrLocked) {
		t.Fatalf("second Open: %v, want ErrLocked", err)
	}
	closeSpool(t, s)
	s = open(t, dir, Options{Sync: SyncNone}) // released by Close
	closeSpool(t, s)
}

func TestSyncPolicies(t *testing.T) {
	for _, o := range []Options{{Sync: SyncAlways}, {Sync: SyncInterval, Interval: time.Millisecond}, {Sync: SyncNone}} {
		dir := t.TempDir()
		s := open(t, dir, o)
		appendN(t, s, 1, 50)
		if o.Sync == SyncAlways && s.synced.Load() != 50 {
			t.Errorf("SyncAlways: synced up to %d after 50 Appends", s.synced.Load())
		}
		if o.Sync == SyncInterval {
			waitFor(t, func() bool { return s.synced.Load() == 50 })
		}
		closeSpool(t, s)
	}
}

func TestAckFileCompaction(t *testing.T) {
	dir := t.TempDir()
	s := open(t, dir, Options{Sync: SyncNone})
	const n = 200000
	for i := range n {
		if _, err := s.Append([][]byte{{byte(i)}}); err != nil {
			t.Fatal(err)
		}
	}
	// Every other message, one at a time: the worst case for the file.
	for id := uint64(2); id <= n; id += 2 {
		s.Acked([]uint64{id})
	}
	waitFor(t, func() bool {
		s.mu.Lock()
		defer s.mu.Unlock()
		return s.ackLog.size < compactAcksAt
	})
	s.Acked([]uint64{1, 3})
	closeSpool(t, s)
	s = open(t, dir, Options{Sync: SyncNone})
	defer closeSpool(t, s)
	if p, _ := s.Pending(); p != n/2-2 {
		t.Fatalf("pending after reopen %d, want %d", p, n/2-2)
	}
	_, frames, err := s.Next(context.Background())
	if err != nil || frames[0][0] != byte(4) {
		t.Fatalf("first resent %v %v, want message 5", frames, err)
	}
}

func TestTornAckTailIsCut(t *testing.T) {
	dir := t.TempDir()
	s := open(t, dir, Options{Sync: SyncNone})
	appendN(t, s, 1, 3)
	drain(t, s)
	s.Acked([]uint64{1})
	closeSpool(t, s)
	f, _ := os.OpenFile(filepath.Join(dir, "acks"), os.O_WRONLY|os.O_APPEND, 0)
	f.Write(appendRecord(nil, 2, []byte{kindAcks, 1, 4})[:10])
	f.Close()
	s = open(t, dir, Options{Sync: SyncNone})
	defer closeSpool(t, s)
	if got := drain(t, s); !slices.Equal(got, names(2, 3)) {
		t.Fatalf("got %v", got)
	}
}

// A power failure can take records after they were delivered and their
// acknowledgements written: their numbers must not be given to new
// records, which would then count as acknowledged and never be sent.
func TestAcknowledgedNumbersBeyondTheLogAreNotReused(t *testing.T) {
	dir := t.TempDir()
	s := open(t, dir, Options{Sync: SyncNone})
	appendN(t, s, 1, 6)
	drain(t, s)
	s.Acked([]uint64{1, 2, 5, 6})
	closeSpool(t, s)
	// Records 4 to 6 never reached the disk.
	seg := newestSegment(t, dir)
	data, _ := os.ReadFile(seg)
	off := 0
	for range 3 {
		_, _, n, err := decodeRecord(data[off:])
		if err != nil {
			t.Fatal(err)
		}
		off += n
	}
	os.WriteFile(seg, data[:off], 0o644)

	s = open(t, dir, Options{Sync: SyncNone})
	appendN(t, s, 7, 7)
	if got, want := drain(t, s), []string{"m3", "m7"}; !slices.Equal(got, want) {
		t.Fatalf("got %v, want %v: m4 is gone with the disk, m7 must not take an acknowledged number", got, want)
	}
	closeSpool(t, s)
	s = open(t, dir, Options{Sync: SyncNone}) // the jump in numbering is accepted
	defer closeSpool(t, s)
	if got, want := drain(t, s), []string{"m3", "m7"}; !slices.Equal(got, want) {
		t.Fatalf("after reopening: got %v, want %v", got, want)
	}
}

// Next reads back from the files whatever fell out of its memory bound:
// across segments, past the sparse index, and interleaved with Appends
// and with acknowledgements that trim the segments behind it.
func TestNextReadsBackAcrossSegments(t *testing.T) {
	dir := t.TempDir()
	s := open(t, dir, Options{Sync: SyncNone, Memory: 1 << 10, SegmentSize: 4 << 10})
	defer closeSpool(t, s)
	const n = 5000
	next := 1
	for i := 1; i <= n; i++ {
		frames := [][]byte{fmt.Appendf(nil, "m%d", i)}
		if i%7 == 0 {
			frames = append(frames, []byte{}, []byte("tail"))
		}
		if _, err := s.Append(frames); err != nil {
			t.Fatal(err)
		}
		if i%1000 != 0 {
			continue
		}
		// Take all but the last few, which stay in memory.
		for ; next <= i-3; next++ {
			id, frames, err := s.Next(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			if id != uint64(next) || string(frames[0]) != fmt.Sprintf("m%d", next) || (next%7 == 0) != (len(frames) == 3) {
				t.Fatalf("Next: record %d %q, want %d", id, frames, next)
			}
			s.Acked([]uint64{id})
		}
	}
	for ; next <= n; next++ {
		id, frames, err := s.Next(context.Background())
		if err != nil || id != uint64(next) || string(frames[0]) != fmt.Sprintf("m%d", next) {
			t.Fatalf("Next: %d %q %v, want %d", id, frames, err, next)
		}
	}
	// Everything up to n-3 was acknowledged: the segments before it go.
	waitFor(t, func() bool {
		m, _ := filepath.Glob(filepath.Join(dir, "*.seg"))
		return len(m) <= 2
	})
}

// The acknowledgement file is synced in the background under SyncAlways
// and SyncInterval, and left to the system under SyncNone.
func TestAcknowledgementsAreSynced(t *testing.T) {
	for _, o := range []Options{{Sync: SyncAlways}, {Sync: SyncInterval, Interval: time.Millisecond}, {Sync: SyncNone}} {
		s := open(t, t.TempDir(), o)
		appendN(t, s, 1, 3)
		drain(t, s)
		s.Acked([]uint64{1, 2})
		s.kickHousekeeper()
		synced := func() bool {
			s.mu.Lock()
			defer s.mu.Unlock()
			return !s.acksDirty
		}
		if o.Sync == SyncNone {
			time.Sleep(10 * time.Millisecond)
			if synced() {
				t.Errorf("SyncNone synced the acknowledgement file")
			}
		} else {
			waitFor(t, synced)
		}
		closeSpool(t, s)
	}
}
