package spool

import (
	"errors"
	"fmt"
)

// Sentinel errors; the errors the package returns wrap them, with detail.
var (
	// ErrFull is returned by Append when the record would take the spool's
	// files past their limit. Acknowledgements make room.
	ErrFull = errors.New("spool: full")
	// ErrTooLarge is returned by Append for a record larger than the limit
	// itself, which no amount of acknowledgement makes room for.
	ErrTooLarge = errors.New("spool: record larger than the limit")
	// ErrCorrupt is returned by Open when a file holds a bad record that is
	// not a torn tail (good records follow it, or it is not in the newest
	// file), or records out of sequence. Open refuses such a spool rather
	// than deliver around the damage; the error names the file and offset.
	ErrCorrupt = errors.New("spool: corrupt")
	// ErrLocked is returned by Open when another spool, in this process or
	// another, has the directory open.
	ErrLocked = errors.New("spool: directory in use")
	// ErrClosed is returned by calls on a closed spool.
	ErrClosed = errors.New("spool: closed")
)

// corruptAt is ErrCorrupt with where and why.
func corruptAt(path string, off int64, why error) error {
	return fmt.Errorf("%w: %s at offset %d: %w", ErrCorrupt, path, off, why)
}
