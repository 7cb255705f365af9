package zmtp

import "errors"

// Sentinel errors; every error this package returns wraps one of them.
var (
	// ErrSignature: the peer's first bytes are not a ZMTP signature, so it
	// does not speak ZMTP 2.0 or later at all.
	ErrSignature = errors.New("zmtp: bad signature")
	// ErrVersion: the peer speaks a ZMTP version before 3.0.
	ErrVersion = errors.New("zmtp: unsupported version")
	// ErrMalformed: the bytes break a rule of the format.
	ErrMalformed = errors.New("zmtp: malformed")
	// ErrFrameTooLarge: a frame, command or message exceeds a limit. It is
	// reported as soon as the header announcing the size is read.
	ErrFrameTooLarge = errors.New("zmtp: frame too large")
)
