package main

import (
	"encoding/binary"
	"errors"
	"hash/fnv"
)

// record is one message of a partition: its key, its value, and who
// produced it. producer and pseq are the idempotent producer's: a producer
// numbers its records per partition from 1 (pseq), and a partition keeps
// the last pseq of each producer, so a batch sent again after a lost reply
// is not appended twice. Producer 0 is the broker itself (committed
// offsets), which never resends.
type record struct {
	producer uint64
	pseq     uint64
	key      []byte
	value    []byte
}

// encode lays the record out as a log body:
//
//	producer uint64, big endian
//	pseq     uint64, big endian
//	keylen   uint32, big endian
//	key, value
func (r record) encode() []byte {
	b := make([]byte, 20, 20+len(r.key)+len(r.value))
	binary.BigEndian.PutUint64(b[0:8], r.producer)
	binary.BigEndian.PutUint64(b[8:16], r.pseq)
	binary.BigEndian.PutUint32(b[16:20], uint32(len(r.key)))
	b = append(b, r.key...)
	return append(b, r.value...)
}

var errBadRecord = errors.New("malformed record body")

// decodeBody is encode's inverse; key and value are sub-slices of b.
func decodeBody(b []byte) (record, error) {
	if len(b) < 20 {
		return record{}, errBadRecord
	}
	n := binary.BigEndian.Uint32(b[16:20])
	if uint64(len(b)-20) < uint64(n) {
		return record{}, errBadRecord
	}
	return record{
		producer: binary.BigEndian.Uint64(b[0:8]),
		pseq:     binary.BigEndian.Uint64(b[8:16]),
		key:      b[20 : 20+n],
		value:    b[20+n:],
	}, nil
}

// partitionOf is the partition of key among n: a hash of the key, so that
// every record with the same key goes to the same partition, where the
// log keeps them in order. (Kafka hashes with murmur2; any stable hash
// does.)
func partitionOf(key []byte, n int) int {
	h := fnv.New32a()
	h.Write(key)
	return int(h.Sum32() % uint32(n))
}

// pack puts bodies in one frame, each prefixed by its length (uint32, big
// endian). A batch travels as one frame because a message has at most
// 1024 frames (wire/SPEC.md), fewer than a batch may hold records.
func pack(bodies [][]byte) []byte {
	n := 0
	for _, b := range bodies {
		n += 4 + len(b)
	}
	out := make([]byte, 0, n)
	for _, b := range bodies {
		out = binary.BigEndian.AppendUint32(out, uint32(len(b)))
		out = append(out, b...)
	}
	return out
}

// unpack is pack's inverse; the bodies are sub-slices of b.
func unpack(b []byte) ([][]byte, error) {
	var bodies [][]byte
	for len(b) > 0 {
		if len(b) < 4 {
			return nil, errBadRecord
		}
		n := binary.BigEndian.Uint32(b)
		if uint64(len(b)-4) < uint64(n) {
			return nil, errBadRecord
		}
		bodies = append(bodies, b[4:4+n])
		b = b[4+n:]
	}
	return bodies, nil
}
