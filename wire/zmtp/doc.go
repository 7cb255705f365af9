// Package zmtp is the byte-level codec of ZMTP 3.1 (ZeroMQ's wire
// protocol, rfc.zeromq.org specs 23 and 37), as libzmq, pyzmq, JeroMQ and
// CZMQ speak it: the greeting, frames, commands and their metadata. It is
// wisp's second wire protocol beside WISP/1 (package wire), used to talk to
// existing ZeroMQ peers.
//
// Like package wire, it only converts bytes: encoders append to a caller's
// slice, decoders parse a caller's slice, return [io.ErrUnexpectedEOF]
// while the input is incomplete, check every size before anything is
// buffered, and alias their input instead of copying it. Errors wrap one of
// the sentinels [ErrSignature], [ErrVersion], [ErrMalformed] and
// [ErrFrameTooLarge]; any of them means the peer broke the protocol.
package zmtp
