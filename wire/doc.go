// Package wire is the codec for WISP/1, the wire protocol spoken between wisp
// sockets. It is specified normatively in SPEC.md beside this file; this
// package follows that document and its tests check every test vector in it.
//
// A connection starts with a [Greeting] from each side, then carries frames in
// both directions. A data message is one or more data frames, every one but the
// last flagged [FlagMore]. A [Command] (RESUME, ACK, PING, PONG, ERROR,
// SUBSCRIBE, CANCEL) is a single frame flagged [FlagCommand] and never appears
// between the frames of one message.
//
// The package only converts bytes: it does no I/O beyond [ReadGreeting], starts
// no goroutines and imports nothing else of wisp. Encoders append to a caller's
// slice (Append functions) and never allocate when it has room; decoders parse
// from a caller's slice, return the number of bytes they consumed, return
// [io.ErrUnexpectedEOF] while the input is incomplete, check every size before
// they buffer or allocate anything, and alias the input instead of copying it.
// [Decoder] is the receive hot path: it enforces the frame, command and message
// limits on each frame header as soon as the header is available.
//
// Errors wrap one of the sentinels [ErrBadMagic], [ErrVersion], [ErrMalformed],
// [ErrFrameTooLarge] and [ErrUnknownCommand], so callers test them with
// [errors.Is]. Any of them means the peer broke the protocol and the connection
// should be closed.
package wire

import "math"

// Protocol constants and limits of WISP/1. See SPEC.md, "Limits".
const (
	// Magic opens every greeting.
	Magic = "WISP"
	// VersionMajor and VersionMinor are the protocol version this package
	// implements. Peers must agree on the major version; the connection uses
	// the smaller of the two minor versions. Minor version 1 adds frame
	// checksums (SPEC.md section 3.1).
	VersionMajor, VersionMinor = 1, 1
	// GreetingFixedLen is the length of a greeting without its properties.
	GreetingFixedLen = 26
	// MaxPropertiesLen is the largest properties block of a greeting.
	MaxPropertiesLen = 1024
	// MaxCommandLen is the largest payload of a command frame (id and body).
	MaxCommandLen = 1024
	// MaxFramesPerMessage is the largest number of frames in one message.
	MaxFramesPerMessage = 1024
	// MaxPingContext is the largest context carried by PING and PONG.
	MaxPingContext = 16
	// MaxErrorReason is the largest reason carried by ERROR.
	MaxErrorReason = 255
	// MaxPrefixLen is the largest prefix carried by SUBSCRIBE and CANCEL.
	MaxPrefixLen = 1023
	// MaxFrameLen is the largest payload of one frame that the long frame
	// header can express.
	MaxFrameLen = math.MaxUint32
)
