package wire

import "errors"

// Sentinel errors. The errors returned by this package wrap exactly one of
// them (with details such as "got X, want Y"), so test with [errors.Is].
// Every one of them is a protocol violation by the peer: the caller should
// close the connection.
var (
	// ErrBadMagic: the peer's greeting does not start with [Magic], so the
	// peer does not speak WISP at all.
	ErrBadMagic = errors.New("wire: bad magic")
	// ErrVersion: the peer speaks a major version other than [VersionMajor].
	ErrVersion = errors.New("wire: unsupported version")
	// ErrMalformed: the bytes break a rule of the format (reserved bits set,
	// a property or command body of the wrong size, a command inside a
	// message, and so on).
	ErrMalformed = errors.New("wire: malformed")
	// ErrFrameTooLarge: a frame, command, message or frame count exceeds a
	// limit. It is reported as soon as the header announcing the size is
	// read, before any payload is buffered.
	ErrFrameTooLarge = errors.New("wire: frame too large")
	// ErrUnknownCommand: a command frame carries an id this version does not
	// define.
	ErrUnknownCommand = errors.New("wire: unknown command")
	// ErrChecksum: a message or command does not match the checksum that
	// follows it (SPEC.md section 3.1): its bytes were changed on the way.
	ErrChecksum = errors.New("wire: checksum mismatch")
)
