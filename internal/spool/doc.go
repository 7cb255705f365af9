// Package spool is the durable log under a spooling PUSH socket
// (socket.WithSpool): an append-only log of messages in a directory, with
// a record of which ones receivers acknowledged, so that a sender started
// again on the directory after a crash resends, in order, exactly what was
// not acknowledged.
//
// The directory holds:
//
//	lock                   flock'ed while a spool has the directory open
//	00000000000000000001.seg  segments: records numbered from the name on
//	acks                   which records were acknowledged
//
// Every record, in segments and in the acknowledgement file, is
// [len][crc32c][seq][payload] (record.go); the CRC-32C covers the length,
// the number and the payload. Open reads everything: a bad record at the
// end of the newest file, with no good record after it, is a torn write
// and is cut; a bad record anywhere else, or records out of sequence, is
// ErrCorrupt, and the spool does not open (scan.go).
//
// Acknowledgements come in any order (round robin over several
// receivers). The spool keeps a watermark, below which everything is
// acknowledged, and the set of acknowledged numbers above it, both
// persisted in the acknowledgement file as they arrive (acks.go). A segment
// is deleted once the watermark passes its last record, the whole segment
// at once, so trimming never rewrites data; the acknowledgement file keeps
// the acknowledged records still in a segment from being sent again, and
// is itself compacted into one snapshot when it grows.
//
// The files: record.go (the record layout and its checksum), frames.go
// (a message's frames in a payload), scan.go (reading a file, telling a
// torn tail from damage), open.go, spool.go (appending, acknowledging,
// trimming), next.go and cursor.go (reading messages back in order),
// sync.go (the sync policies and the housekeeping goroutine), acks.go (the
// acknowledgement file), lock_*.go (the directory lock per system).
//
// # Why not github.com/tidwall/wal
//
// tidwall/wal v1.2.1 was the candidate library. It did not fit on three
// counts: its binary records are a uvarint length and the data, with no
// checksum, so a corrupt record is delivered as if it were good; Open
// fails with ErrCorrupt on a torn tail instead of cutting it, so a log
// torn by a crash cannot be opened without repair by hand; and
// TruncateFront, the trim, copies the remainder of the segment it cuts
// into a new file (and syncs it) every time, where this package only ever
// deletes whole segments and records acknowledgements separately, which
// out-of-order acknowledgements need anyway. It also syncs either after
// every write or never (no interval), and takes no lock on its directory.
package spool
