package wire

import (
	"encoding/binary"
	"fmt"
	"io"
	"math"
	"time"
)

// Greeting property keys (SPEC.md, "Properties").
const (
	propMaxMessageSize    = 1
	propHeartbeatInterval = 2
	propHeartbeatTimeout  = 3
	propWindow            = 4
	propRoutingID         = 5
	propWindowBytes       = 6
)

// Bits of the greeting's flags byte.
const (
	flagAcks     = 1 << 0
	flagChecksum = 1 << 1 // from minor version 1
)

// Greeting is what each side sends first on a new connection.
type Greeting struct {
	// Major and Minor are the sender's protocol version. Append writes them
	// as given, so set them to VersionMajor and VersionMinor.
	Major, Minor uint8
	// Type is the sender's socket type.
	Type SocketType
	// Acks asks the peer to acknowledge the data messages this side sends,
	// which this side keeps until they are acknowledged.
	Acks bool
	// Checksum asks for frame checksums on the connection (SPEC.md section
	// 3.1). It is defined from minor version 1: ParseGreeting reports it
	// only for a greeting of minor version 1 or later.
	Checksum bool
	// Session identifies the sending socket for its whole life.
	Session SessionID
	// MaxMessageSize is the largest message (sum of its frame payloads) the
	// sender accepts; 0 means not stated.
	MaxMessageSize uint64
	// HeartbeatInterval: the sender sends PING after this long without
	// sending anything; 0 means never. Millisecond resolution on the wire.
	HeartbeatInterval time.Duration
	// HeartbeatTimeout: the sender drops the connection after this long
	// without receiving anything; 0 means never. Millisecond resolution.
	HeartbeatTimeout time.Duration
	// Window is how many unacknowledged messages the sender holds per peer;
	// 0 means not stated.
	Window uint32
	// WindowBytes is how many payload bytes of unacknowledged messages the
	// sender holds per peer; 0 means not stated.
	WindowBytes uint64
	// RoutingID is reserved for ROUTER; nil means absent. At most 255 bytes.
	// ParseGreeting returns a slice of its input here, not a copy.
	RoutingID []byte
}

// Append appends the encoded greeting to b and returns the extended slice.
// It writes Major and Minor as they are (the zero value is not replaced by
// the current version) and omits properties whose value is zero; a non-nil
// RoutingID is written even when empty. Durations are rounded up to whole
// milliseconds, so that a positive duration never becomes "none", and
// saturate at 2^32-1 ms. Append panics if RoutingID is longer than 255 bytes.
// It does not allocate when b has room.
func (g *Greeting) Append(b []byte) []byte {
	if len(g.RoutingID) > math.MaxUint8 {
		panic(fmt.Sprintf("wire: Greeting.RoutingID is %d bytes, want <= 255", len(g.RoutingID)))
	}
	var flags byte
	if g.Acks {
		flags |= flagAcks
	}
	if g.Checksum {
		flags |= flagChecksum
	}
	hbi, hbt := millis(g.HeartbeatInterval), millis(g.HeartbeatTimeout)
	p := 0
	if g.MaxMessageSize != 0 {
		p += 2 + 8
	}
	if hbi != 0 {
		p += 2 + 4
	}
	if hbt != 0 {
		p += 2 + 4
	}
	if g.Window != 0 {
		p += 2 + 4
	}
	if g.RoutingID != nil {
		p += 2 + len(g.RoutingID)
	}
	if g.WindowBytes != 0 {
		p += 2 + 8
	}
	// p <= 295 < MaxPropertiesLen, so no check is needed. One allocation
	// at most: every connection appends one greeting. (Not slices.Grow,
	// which allocates twice in race builds.)
	if need := GreetingFixedLen + p; cap(b)-len(b) < need {
		b = append(make([]byte, 0, len(b)+need), b...)
	}
	b = append(b, Magic...)
	b = append(b, g.Major, g.Minor, byte(g.Type), flags)
	b = append(b, g.Session[:]...)
	b = binary.BigEndian.AppendUint16(b, uint16(p))
	// Ascending key order, as SPEC.md asks of senders.
	if g.MaxMessageSize != 0 {
		b = append(b, propMaxMessageSize, 8)
		b = binary.BigEndian.AppendUint64(b, g.MaxMessageSize)
	}
	if hbi != 0 {
		b = append(b, propHeartbeatInterval, 4)
		b = binary.BigEndian.AppendUint32(b, hbi)
	}
	if hbt != 0 {
		b = append(b, propHeartbeatTimeout, 4)
		b = binary.BigEndian.AppendUint32(b, hbt)
	}
	if g.Window != 0 {
		b = append(b, propWindow, 4)
		b = binary.BigEndian.AppendUint32(b, g.Window)
	}
	if g.RoutingID != nil {
		b = append(b, propRoutingID, byte(len(g.RoutingID)))
		b = append(b, g.RoutingID...)
	}
	if g.WindowBytes != 0 {
		b = append(b, propWindowBytes, 8)
		b = binary.BigEndian.AppendUint64(b, g.WindowBytes)
	}
	return b
}

// millis converts d to whole milliseconds for the wire, rounding up and
// saturating at the u32 maximum; d <= 0 gives 0.
func millis(d time.Duration) uint32 {
	if d <= 0 {
		return 0
	}
	ms := d / time.Millisecond
	if d%time.Millisecond != 0 {
		ms++
	}
	if ms > math.MaxUint32 {
		return math.MaxUint32
	}
	return uint32(ms)
}

// ParseGreeting parses the greeting at the start of b and returns it with the
// number of bytes it occupies. RoutingID aliases b.
//
// It fails as early as the input allows, so that a peer speaking another
// protocol is refused at once: the magic is checked against however many of
// its 4 bytes are present, and the major version as soon as byte 4 is. A
// major version other than [VersionMajor] returns an error wrapping
// [ErrVersion] together with the fields of the version-independent first 8
// bytes present in b (Major, and Minor, Type and Acks when present), so the
// caller can name the peer's version in its ERROR reply. A properties length
// above [MaxPropertiesLen] is an error as soon as it is read. While b holds
// less than the whole greeting and no error is found yet, ParseGreeting
// returns [io.ErrUnexpectedEOF].
//
// It checks the format only: the socket type's validity and compatibility
// are for the caller to check.
func ParseGreeting(b []byte) (Greeting, int, error) {
	m := min(len(b), len(Magic))
	if string(b[:m]) != Magic[:m] {
		return Greeting{}, 0, fmt.Errorf("%w: got %q, want %q", ErrBadMagic, b[:m], Magic)
	}
	if len(b) < 5 {
		return Greeting{}, 0, io.ErrUnexpectedEOF
	}
	var g Greeting
	g.Major = b[4]
	if g.Major != VersionMajor {
		// These bytes keep their meaning in every version (SPEC.md, "Versions").
		if len(b) > 5 {
			g.Minor = b[5]
		}
		if len(b) > 6 {
			g.Type = SocketType(b[6])
		}
		if len(b) > 7 {
			g.Acks = b[7]&flagAcks != 0
		}
		return g, 0, fmt.Errorf("%w: got major version %d, want %d", ErrVersion, g.Major, VersionMajor)
	}
	if len(b) < GreetingFixedLen {
		return Greeting{}, 0, io.ErrUnexpectedEOF
	}
	g.Minor = b[5]
	g.Type = SocketType(b[6])
	g.Acks = b[7]&flagAcks != 0 // bits a minor version does not define are ignored (future minors)
	g.Checksum = g.Minor >= 1 && b[7]&flagChecksum != 0
	copy(g.Session[:], b[8:24])
	p := int(binary.BigEndian.Uint16(b[24:26]))
	if p > MaxPropertiesLen {
		return Greeting{}, 0, fmt.Errorf("%w: greeting properties length got %d, want <= %d", ErrMalformed, p, MaxPropertiesLen)
	}
	end := GreetingFixedLen + p
	if len(b) < end {
		return Greeting{}, 0, io.ErrUnexpectedEOF
	}
	if err := g.parseProperties(b[GreetingFixedLen:end]); err != nil {
		return Greeting{}, 0, err
	}
	return g, end, nil
}

// parseProperties fills g from a properties block of at most
// MaxPropertiesLen bytes; each iteration consumes at least 2 bytes, so the
// loop is bounded.
func (g *Greeting) parseProperties(props []byte) error {
	var seen [256 / 64]uint64
	for len(props) > 0 {
		if len(props) < 2 {
			return fmt.Errorf("%w: greeting property header got %d bytes, want 2", ErrMalformed, len(props))
		}
		key, l := props[0], int(props[1])
		if len(props)-2 < l {
			return fmt.Errorf("%w: greeting property %d value got %d bytes, want %d", ErrMalformed, key, len(props)-2, l)
		}
		v := props[2 : 2+l : 2+l]
		props = props[2+l:]
		if seen[key/64]&(1<<(key%64)) != 0 {
			return fmt.Errorf("%w: greeting property %d got twice, want once", ErrMalformed, key)
		}
		seen[key/64] |= 1 << (key % 64)
		want := 4
		switch key {
		case propMaxMessageSize, propWindowBytes:
			want = 8
		case propHeartbeatInterval, propHeartbeatTimeout, propWindow:
		case propRoutingID:
			g.RoutingID = v
			continue
		default:
			continue // unknown keys are ignored so that minors can add them
		}
		if l != want {
			return fmt.Errorf("%w: greeting property %d length got %d, want %d", ErrMalformed, key, l, want)
		}
		switch key {
		case propMaxMessageSize:
			g.MaxMessageSize = binary.BigEndian.Uint64(v)
		case propHeartbeatInterval:
			g.HeartbeatInterval = time.Duration(binary.BigEndian.Uint32(v)) * time.Millisecond
		case propHeartbeatTimeout:
			g.HeartbeatTimeout = time.Duration(binary.BigEndian.Uint32(v)) * time.Millisecond
		case propWindow:
			g.Window = binary.BigEndian.Uint32(v)
		case propWindowBytes:
			g.WindowBytes = binary.BigEndian.Uint64(v)
		}
	}
	return nil
}

// ReadGreeting reads exactly one greeting from r, and nothing more, so the
// caller may wrap r in a buffered reader afterwards. It reads the magic and
// the version before the rest, so a peer speaking another protocol is refused
// without waiting for 26 bytes. Errors are those of [ParseGreeting], or r's
// (a peer that closes early gives [io.ErrUnexpectedEOF] or [io.EOF]). Unlike
// ParseGreeting, the returned RoutingID is a copy. It allocates its buffer.
func ReadGreeting(r io.Reader) (Greeting, error) {
	buf := make([]byte, GreetingFixedLen+MaxPropertiesLen)
	have := 0
	// Steps: magic, rest of the version-stable prefix, fixed part, properties.
	for _, want := range [...]int{4, 8, GreetingFixedLen, -1} {
		if want < 0 {
			want = GreetingFixedLen + int(binary.BigEndian.Uint16(buf[24:26]))
		}
		if want > have {
			k, err := io.ReadFull(r, buf[have:want])
			have += k
			if err != nil {
				// A protocol error in what did arrive is the better reason.
				if g, _, perr := ParseGreeting(buf[:have]); perr != nil && perr != io.ErrUnexpectedEOF {
					return g, perr
				}
				return Greeting{}, err
			}
		}
		g, _, err := ParseGreeting(buf[:have])
		if err == nil {
			if g.RoutingID != nil {
				g.RoutingID = append([]byte{}, g.RoutingID...)
			}
			return g, nil
		}
		if err != io.ErrUnexpectedEOF {
			return g, err
		}
	}
	// Unreachable: the last step holds the whole greeting.
	return Greeting{}, io.ErrUnexpectedEOF
}
