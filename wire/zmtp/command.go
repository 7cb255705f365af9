package zmtp

import (
	"encoding/binary"
	"fmt"
	"strings"
	"time"
)

// Command names this package encodes and parses.
const (
	CmdReady     = "READY"
	CmdError     = "ERROR"
	CmdPing      = "PING"
	CmdPong      = "PONG"
	CmdSubscribe = "SUBSCRIBE"
	CmdCancel    = "CANCEL"
	CmdHello     = "HELLO"
	CmdWelcome   = "WELCOME"
	CmdInitiate  = "INITIATE"
	CmdMessage   = "MESSAGE"
)

// Limits of command fields.
const (
	// MaxPingContext is the longest context a PING may carry.
	MaxPingContext = 16
	// MaxErrorReason is the longest reason an ERROR carries.
	MaxErrorReason = 255
)

// AppendCommand appends a command frame: name, then data.
func AppendCommand(b []byte, name string, data []byte) []byte {
	if len(name) == 0 || len(name) > 255 {
		panic(fmt.Sprintf("zmtp: command name %q", name))
	}
	b = AppendFrameHeader(b, FlagCommand, 1+len(name)+len(data))
	b = append(b, byte(len(name)))
	b = append(b, name...)
	return append(b, data...)
}

// ParseCommand splits a command's body into its name and data; data
// aliases body.
func ParseCommand(body []byte) (name string, data []byte, err error) {
	if len(body) < 1 || int(body[0]) == 0 || len(body) < 1+int(body[0]) {
		return "", nil, fmt.Errorf("%w: command body of %d bytes has no whole name", ErrMalformed, len(body))
	}
	n := int(body[0])
	return string(body[1 : 1+n]), body[1+n:], nil
}

// IsCommand reports whether a command body is named name, without
// allocating.
func IsCommand(body []byte, name string) bool {
	return len(body) >= 1+len(name) && int(body[0]) == len(name) && string(body[1:1+len(name)]) == name
}

// AppendPing appends a PING: ttl tells the peer how long to wait for
// traffic from us before it gives up on the connection (0: no limit; it
// is sent in tenths of a second, at most 6553.5 s), and ctx (at most
// MaxPingContext bytes) comes back in the PONG.
func AppendPing(b []byte, ttl time.Duration, ctx []byte) []byte {
	d := min(ttl/(100*time.Millisecond), 0xffff)
	if ttl > 0 && d == 0 {
		d = 1
	}
	var data [2 + MaxPingContext]byte
	binary.BigEndian.PutUint16(data[:2], uint16(d))
	n := copy(data[2:], ctx)
	return AppendCommand(b, CmdPing, data[:2+n])
}

// ParsePing parses a PING's data into its TTL and context.
func ParsePing(data []byte) (ttl time.Duration, ctx []byte, err error) {
	if len(data) < 2 || len(data) > 2+MaxPingContext {
		return 0, nil, fmt.Errorf("%w: PING data of %d bytes, want 2 to %d", ErrMalformed, len(data), 2+MaxPingContext)
	}
	return time.Duration(binary.BigEndian.Uint16(data)) * 100 * time.Millisecond, data[2:], nil
}

// AppendError appends an ERROR with reason, cut to MaxErrorReason bytes.
func AppendError(b []byte, reason string) []byte {
	reason = reason[:min(len(reason), MaxErrorReason)]
	data := make([]byte, 0, 1+len(reason))
	data = append(append(data, byte(len(reason))), reason...)
	return AppendCommand(b, CmdError, data)
}

// ParseError returns an ERROR's reason.
func ParseError(data []byte) ([]byte, error) {
	if len(data) < 1 || len(data) != 1+int(data[0]) {
		return nil, fmt.Errorf("%w: ERROR data of %d bytes does not hold its reason", ErrMalformed, len(data))
	}
	return data[1:], nil
}

// Property is one metadata property of READY or INITIATE.
type Property struct {
	Name  string
	Value []byte
}

// Metadata is a command's list of properties, in order.
type Metadata []Property

// Standard property names.
const (
	PropSocketType = "Socket-Type"
	PropIdentity   = "Identity"
	PropUserID     = "User-Id"
)

// Get returns the value of the property named name, compared without
// regard to case as the spec asks, and whether it is there.
func (m Metadata) Get(name string) ([]byte, bool) {
	for _, p := range m {
		if strings.EqualFold(p.Name, name) {
			return p.Value, true
		}
	}
	return nil, false
}

// Append appends m, encoded, to b.
func (m Metadata) Append(b []byte) []byte {
	for _, p := range m {
		if len(p.Name) == 0 || len(p.Name) > 255 {
			panic(fmt.Sprintf("zmtp: property name %q", p.Name))
		}
		b = append(b, byte(len(p.Name)))
		b = append(b, p.Name...)
		b = binary.BigEndian.AppendUint32(b, uint32(len(p.Value)))
		b = append(b, p.Value...)
	}
	return b
}

// ParseMetadata parses a list of properties; values alias b.
func ParseMetadata(b []byte) (Metadata, error) {
	var m Metadata
	for len(b) > 0 {
		n := int(b[0])
		if n == 0 || len(b) < 1+n+4 {
			return nil, fmt.Errorf("%w: property %d is cut short or unnamed", ErrMalformed, len(m)+1)
		}
		name := b[1 : 1+n]
		for _, c := range name {
			if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte("-_.+", c) >= 0) {
				return nil, fmt.Errorf("%w: property name byte %#02x", ErrMalformed, c)
			}
		}
		vlen := binary.BigEndian.Uint32(b[1+n:])
		rest := b[1+n+4:]
		if uint64(vlen) > uint64(len(rest)) {
			return nil, fmt.Errorf("%w: property %q value of %d bytes, %d left", ErrMalformed, name, vlen, len(rest))
		}
		m = append(m, Property{Name: string(name), Value: rest[:vlen:vlen]})
		b = rest[vlen:]
	}
	return m, nil
}

// SocketTypes are the Socket-Type names ZMTP defines.
var SocketTypes = []string{"PAIR", "PUB", "SUB", "REQ", "REP", "DEALER", "ROUTER", "PULL", "PUSH", "XPUB", "XSUB"}
