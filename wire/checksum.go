package wire

import (
	"encoding/binary"
	"hash/crc32"
)

// ChecksumLen is the length of the checksum that follows each message and
// each command on a connection with frame checksums (SPEC.md section 3.1).
const ChecksumLen = 4

// castagnoli is CRC-32C's table; package crc32 computes it with the CPU's
// CRC32 instruction where there is one.
var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// UpdateChecksum returns the CRC-32C of the bytes already summed into crc
// followed by p. Start a message or command with 0 and sum every frame's
// header and payload in order.
func UpdateChecksum(crc uint32, p []byte) uint32 { return crc32.Update(crc, castagnoli, p) }

// AppendChecksum appends crc as the 4-byte big-endian checksum that closes
// a message or command.
func AppendChecksum(b []byte, crc uint32) []byte { return binary.BigEndian.AppendUint32(b, crc) }
