package spool

import (
	"encoding/binary"
	"errors"
	"hash/crc32"
)

// A record is one message in a segment or one entry of the acknowledgement
// file, laid out as
//
//	len   uint32, little endian: payload bytes
//	crc   uint32, little endian: CRC-32C of len, seq and payload
//	seq   uint64, little endian: the record's number
//	payload
//
// The checksum covers the length too, so a torn or flipped length is caught
// like a torn payload rather than sending the scan off into the weeds.
const headerSize = 16

// castagnoli is CRC-32C, which amd64 and arm64 compute in hardware.
var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// Reasons decodeRecord gives for bytes that are not a whole, good record.
var (
	// errShort: the bytes end before the record does (a torn write, or
	// simply the end of what was read so far).
	errShort = errors.New("record runs past the end")
	// errChecksum: the record is whole but its CRC-32C does not match.
	errChecksum = errors.New("record checksum mismatch")
	// errTooLong: the length field is beyond any record the spool writes.
	errTooLong = errors.New("record length beyond the maximum")
)

// maxPayload bounds a record's payload: a WISP/1 message is at most
// 2^32-1 bytes, plus the frame lengths.
const maxPayload = 1<<32 - 1

// appendRecord appends the record (seq, payload) to dst.
func appendRecord(dst []byte, seq uint64, payload []byte) []byte {
	start := len(dst)
	dst = append(dst, make([]byte, headerSize)...)
	dst = append(dst, payload...)
	sealRecord(dst[start:], seq)
	return dst
}

// sealRecord fills in the header of rec, a record whose payload is in
// place after headerSize bytes of room.
func sealRecord(rec []byte, seq uint64) {
	binary.LittleEndian.PutUint32(rec[0:4], uint32(len(rec)-headerSize))
	binary.LittleEndian.PutUint64(rec[8:16], seq)
	crc := crc32.Update(0, castagnoli, rec[0:4])
	crc = crc32.Update(crc, castagnoli, rec[8:])
	binary.LittleEndian.PutUint32(rec[4:8], crc)
}

// decodeRecord decodes the record at the start of b. It returns its number,
// its payload (a sub-slice of b) and its size, or an error matching
// errShort, errChecksum or errTooLong. It never reads past b.
func decodeRecord(b []byte) (seq uint64, payload []byte, n int, err error) {
	if len(b) < headerSize {
		return 0, nil, 0, errShort
	}
	size := uint64(binary.LittleEndian.Uint32(b[0:4]))
	if size > maxPayload {
		return 0, nil, 0, errTooLong
	}
	if uint64(len(b)-headerSize) < size {
		return 0, nil, 0, errShort
	}
	end := headerSize + int(size)
	crc := crc32.Update(0, castagnoli, b[0:4])
	crc = crc32.Update(crc, castagnoli, b[8:end])
	if crc != binary.LittleEndian.Uint32(b[4:8]) {
		return 0, nil, 0, errChecksum
	}
	return binary.LittleEndian.Uint64(b[8:16]), b[headerSize:end], end, nil
}
