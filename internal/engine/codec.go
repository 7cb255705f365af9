package engine

import (
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"time"
)

// PeerInfo is what a socket states about itself in a handshake, whatever
// the protocol: the engine fills one for itself and a Protocol returns the
// peer's.
type PeerInfo struct {
	Type Type
	// Session identifies the socket for its whole life.
	Session SessionID
	// Acks asks the peer to acknowledge data messages, which the socket
	// keeps until they are.
	Acks bool
	// MaxMessageSize is the largest message the socket accepts; 0 means
	// not stated.
	MaxMessageSize uint64
	// HeartbeatInterval and HeartbeatTimeout: how long the socket stays
	// silent before it pings, and how long it waits for anything before it
	// hangs up; 0 means never.
	HeartbeatInterval, HeartbeatTimeout time.Duration
	// NoHeartbeats: the peer's protocol has no PING (ZMTP 3.0), so the
	// socket neither pings it nor hangs up on its silence.
	NoHeartbeats bool
	// Window and WindowBytes bound the unacknowledged messages (and their
	// payload bytes) the socket holds per peer; 0 means not stated.
	Window      uint32
	WindowBytes uint64
	// Checksum, in the socket's own info, asks for frame checksums; in a
	// peer's, it says the connection carries them (SPEC.md section 3.1).
	Checksum bool
	// RoutingID is the name a ROUTER peer should know the socket by; nil
	// means none.
	RoutingID []byte
	// UserID is who the peer proved to be in a security handshake (a
	// user name, a public key, or what an authenticator named it); empty
	// when it proved nothing.
	UserID string
	// TLS is the connection's TLS state when it runs over TLS (the
	// engine fills it, whatever the protocol); nil otherwise.
	TLS *tls.ConnectionState
}

// A Protocol is a wire protocol for stream connections: it runs the
// handshake, after which a Codec chosen by what both sides stated carries
// the frames.
type Protocol interface {
	// Handshake sends self's greeting on nc and reads the peer's, within
	// the deadline the engine set on nc. It returns the peer's info, the
	// codec for the rest of the connection, and the bytes that arrived
	// after the peer's greeting. On failure it has told the peer why where
	// the protocol allows, and the error wraps ErrHandshakeTimeout,
	// ErrIncompatiblePeer, or the protocol's own reason.
	Handshake(nc net.Conn, self *PeerInfo) (Handshake, error)
}

// Handshake is the outcome of a successful Protocol.Handshake.
type Handshake struct {
	Peer  PeerInfo
	Codec Codec
	// Rest holds bytes that arrived after the peer's greeting; the engine
	// copies them out before the codec is used.
	Rest []byte
}

// A Codec turns one connection's bytes into frames and commands and back,
// after the handshake. Decoding is the reader's and encoding the writer's:
// the two may run at the same time and must share nothing mutable.
type Codec interface {
	// Decode parses the first whole frame of b and returns it with the
	// number of bytes it took. While b holds no whole frame it returns
	// io.ErrUnexpectedEOF and Need tells how many bytes from b's start the
	// frame needs. Any other error means the peer broke the protocol. A
	// data frame's payload and a command's Data alias b.
	Decode(b []byte) (Item, int, error)
	// DecodeData decodes the data frames at the start of b, one after
	// another, appending where each payload lies (offsets into b, plus base)
	// to refs. It stops before a command, at an incomplete frame or at a
	// protocol error, and returns refs, the bytes those frames took and
	// the error: nil when it stopped at a command or the end of b,
	// io.ErrUnexpectedEOF at an incomplete frame (Need is then counted from
	// where it stopped). It is the hot path: one call per read, not per
	// frame.
	DecodeData(b []byte, base int, refs []FrameRef) ([]FrameRef, int, error)
	// Need returns, after Decode returned io.ErrUnexpectedEOF, how many
	// bytes the next frame needs from the start of Decode's input.
	Need() int
	// DataHeader parses the header of a data frame at the start of b, when
	// b holds all of it, and returns its payload length: so that a large
	// payload can be read straight into its own memory. ok is false when b
	// starts with anything else or the header is incomplete; it checks
	// nothing and changes nothing.
	DataHeader(b []byte) (length int, ok bool)
	// DecodeHeader consumes the header of the data frame at the start of b
	// as Decode would, checking its limits, and returns the payload length,
	// whether more frames follow, and the header's length. The caller then
	// reads the payload itself.
	DecodeHeader(b []byte) (length int, more bool, hdrLen int, err error)
	// AppendCommand appends c, encoded, to b.
	AppendCommand(b []byte, c Command) []byte
	// AppendFrame appends a whole data frame; more says another frame of
	// the same message follows.
	AppendFrame(b []byte, more bool, payload []byte) []byte
	// AppendFrameHeader appends the header of a data frame of n bytes whose
	// payload the caller writes after it. The engine uses it only when
	// Vectored is true.
	AppendFrameHeader(b []byte, more bool, n int) []byte
	// Vectored reports whether a data frame's payload goes on the wire as
	// the application gave it, after AppendFrameHeader's header, so that a
	// large one can be written from the application's memory (and read
	// straight into its own, through DataHeader). A codec that transforms
	// payloads (encryption) returns false.
	Vectored() bool
}

// FrameRef locates a data frame's payload in a read buffer.
type FrameRef struct {
	Start, End int
	More       bool // more frames of the same message follow
}

// Item is one decoded frame: a command, or one data frame of a message.
type Item struct {
	IsCommand bool
	Command   Command
	Frame     []byte // a data frame's payload
	More      bool   // more frames of the same message follow
}

// CommandKind says what a command means to the engine; each protocol maps
// it to and from its own encoding.
type CommandKind uint8

// The commands the engine sends and understands.
const (
	// CmdResume: the next data message has sequence number Seq.
	CmdResume CommandKind = iota + 1
	// CmdAck: the receiving application took every message up to Seq.
	CmdAck
	// CmdPing asks for a CmdPong echoing Data.
	CmdPing
	// CmdPong answers a CmdPing with its Data.
	CmdPong
	// CmdError carries the reason, in Data, the sender is about to hang up.
	CmdError
	// CmdSubscribe adds the prefix in Data.
	CmdSubscribe
	// CmdCancel removes the prefix in Data.
	CmdCancel
	// CmdSkip: the codec consumed bytes that mean nothing to the engine
	// (a command the protocol says to ignore); Decode returns it so that
	// its input is never read twice.
	CmdSkip
)

var commandNames = [...]string{
	CmdResume: "RESUME", CmdAck: "ACK", CmdPing: "PING", CmdPong: "PONG",
	CmdError: "ERROR", CmdSubscribe: "SUBSCRIBE", CmdCancel: "CANCEL",
	CmdSkip: "SKIP",
}

// String returns the command's name, such as "ACK".
func (k CommandKind) String() string {
	if int(k) < len(commandNames) && commandNames[k] != "" {
		return commandNames[k]
	}
	return fmt.Sprintf("CommandKind(%d)", uint8(k))
}

// Command is one command, in the engine's terms.
type Command struct {
	Kind CommandKind
	Seq  uint64 // CmdResume and CmdAck
	Data []byte // the ping context, the error reason or the prefix
}

// Limits the engine holds every protocol to.
const (
	// MaxFramesPerMessage is the most frames a message may have.
	MaxFramesPerMessage = 1024
	// MaxPingContext is the largest context a PING carries.
	MaxPingContext = 16
	// MaxPrefixLen is the longest subscription prefix.
	MaxPrefixLen = 1023
	// MaxErrorReason is the longest reason an ERROR carries.
	MaxErrorReason = 255
)

// HandshakeIOError turns a failed read or write during a handshake into
// the reason the connection ends: ErrHandshakeTimeout for a deadline,
// io.ErrUnexpectedEOF for a peer that hung up.
func HandshakeIOError(err error, doing string) error {
	if errors.Is(err, os.ErrDeadlineExceeded) {
		return fmt.Errorf("%w while %s", ErrHandshakeTimeout, doing)
	}
	if errors.Is(err, io.EOF) {
		return fmt.Errorf("peer closed the connection while %s: %w", doing, io.ErrUnexpectedEOF)
	}
	return fmt.Errorf("%s: %w", doing, err)
}
