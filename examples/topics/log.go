package main

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"sync"
)

// A partition's log is one append-only file of records, each laid out as
//
//	len    uint32, little endian: body bytes
//	crc    uint32, little endian: CRC-32C of len, offset and body
//	offset uint64, little endian: the record's offset in the partition
//	body
//
// The offset is written although it follows from the record's place, so
// that the checksum covers it: a record copied to the wrong place is caught.
// internal/spool's log is not used: it is a queue trimmed by
// acknowledgements, where a partition is kept whole and read from any
// offset. The ideas are the same: a checksum per record, a torn tail cut
// when the log opens, damage elsewhere refused.
const recordHeader = 16

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// maxBody bounds a record's body, so that a damaged length field is not
// taken for a huge record.
const maxBody = 64 << 20

// errCorrupt is damage before the last record: not a torn write, which
// only ever affects the end, so it is refused rather than cut.
var errCorrupt = errors.New("partition log corrupt")

// partLog is a partition's log: records numbered from 0 (their offsets),
// appended and read back from any offset. It is safe for concurrent use.
type partLog struct {
	mu   sync.Mutex
	f    *os.File
	pos  []int64 // pos[o] is where the record at offset o starts in f
	size int64   // where the next record goes
	sync bool    // fsync after every append
}

// openLog opens the log in path, creating it if needed. A torn last record
// (a write cut short by a crash) is cut off, and how many bytes were cut is
// returned; a bad record anywhere before the last fails with errCorrupt.
func openLog(path string, fsync bool) (*partLog, int64, error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, 0, err
	}
	l := &partLog{f: f, sync: fsync}
	cut, err := l.scan()
	if err != nil {
		f.Close()
		return nil, 0, fmt.Errorf("%s: %w", path, err)
	}
	return l, cut, nil
}

// scan indexes every record of the file and cuts a torn tail.
func (l *partLog) scan() (int64, error) {
	st, err := l.f.Stat()
	if err != nil {
		return 0, err
	}
	total := st.Size()
	data := make([]byte, total)
	if _, err := io.ReadFull(io.NewSectionReader(l.f, 0, total), data); err != nil {
		return 0, err
	}
	var at int64
	for at < total {
		_, n, err := decodeRecord(data[at:], int64(len(l.pos)))
		if err != nil {
			// A record that runs past the end, or the very last record
			// with a bad checksum, is the write a crash interrupted.
			if errors.Is(err, errShort) || at+n == total {
				if err := l.f.Truncate(at); err != nil {
					return 0, err
				}
				l.size = at
				return total - at, nil
			}
			return 0, fmt.Errorf("%w: record at offset %d (byte %d): %v", errCorrupt, len(l.pos), at, err)
		}
		l.pos = append(l.pos, at)
		at += n
	}
	l.size = at
	return 0, nil
}

var (
	errShort    = errors.New("record runs past the end of the file")
	errChecksum = errors.New("checksum mismatch")
	errOffset   = errors.New("record holds the wrong offset")
)

// decodeRecord decodes the record at the start of b, which should be the
// one at offset want. It returns the body and the record's whole size; on
// a checksum or offset error the size is still that the header claims.
func decodeRecord(b []byte, want int64) ([]byte, int64, error) {
	if len(b) < recordHeader {
		return nil, int64(len(b)), errShort
	}
	n := binary.LittleEndian.Uint32(b[0:4])
	if n > maxBody {
		return nil, int64(len(b)), errChecksum // a damaged length: nothing after it can be trusted
	}
	size := int64(recordHeader) + int64(n)
	if int64(len(b)) < size {
		return nil, int64(len(b)), errShort
	}
	crc := crc32.Update(0, castagnoli, b[0:4])
	crc = crc32.Update(crc, castagnoli, b[8:size])
	if crc != binary.LittleEndian.Uint32(b[4:8]) {
		return nil, size, errChecksum
	}
	if int64(binary.LittleEndian.Uint64(b[8:16])) != want {
		return nil, size, errOffset
	}
	return b[recordHeader:size], size, nil
}

// end is the offset the next record will have: the number of records.
func (l *partLog) end() int64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	return int64(len(l.pos))
}

// append writes bodies as the next records in one write, and returns the
// offset of the first.
func (l *partLog) append(bodies [][]byte) (int64, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	first := int64(len(l.pos))
	var buf []byte
	starts := make([]int64, len(bodies))
	for i, body := range bodies {
		starts[i] = l.size + int64(len(buf))
		var h [recordHeader]byte
		binary.LittleEndian.PutUint32(h[0:4], uint32(len(body)))
		binary.LittleEndian.PutUint64(h[8:16], uint64(first+int64(i)))
		crc := crc32.Update(0, castagnoli, h[0:4])
		crc = crc32.Update(crc, castagnoli, h[8:16])
		crc = crc32.Update(crc, castagnoli, body)
		binary.LittleEndian.PutUint32(h[4:8], crc)
		buf = append(append(buf, h[:]...), body...)
	}
	if _, err := l.f.WriteAt(buf, l.size); err != nil {
		// The file may hold part of buf past l.size: the next append
		// writes over it, and an open before that cuts it as torn.
		return 0, err
	}
	if l.sync {
		if err := l.f.Sync(); err != nil {
			return 0, err
		}
	}
	l.size += int64(len(buf))
	l.pos = append(l.pos, starts...)
	return first, nil
}

// read returns the bodies of the records from offset from up to, not
// including, offset to, at most max of them.
func (l *partLog) read(from, to int64, max int) ([][]byte, error) {
	l.mu.Lock()
	if to > int64(len(l.pos)) {
		to = int64(len(l.pos))
	}
	if to-from > int64(max) {
		to = from + int64(max)
	}
	if from < 0 || from >= to {
		l.mu.Unlock()
		return nil, nil
	}
	start := l.pos[from]
	stop := l.size
	if to < int64(len(l.pos)) {
		stop = l.pos[to]
	}
	l.mu.Unlock()
	// Written records never change, so they are read without the lock.
	data := make([]byte, stop-start)
	if _, err := l.f.ReadAt(data, start); err != nil {
		return nil, err
	}
	bodies := make([][]byte, 0, to-from)
	for o := from; o < to; o++ {
		body, n, err := decodeRecord(data, o)
		if err != nil {
			return nil, fmt.Errorf("%w: record at offset %d: %v", errCorrupt, o, err)
		}
		bodies = append(bodies, body)
		data = data[n:]
	}
	return bodies, nil
}

func (l *partLog) close() error { return l.f.Close() }
