package discovery

import (
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
)

// The datagram's fixed parts (see the package doc for the layout).
const (
	// Magic opens every beacon datagram.
	Magic = "WSPD"
	// Version is the datagram layout this package writes and reads.
	Version = 1

	// MaxGroupLen is the longest group name.
	MaxGroupLen = 64
	// MaxEndpointLen is the longest endpoint a beacon carries.
	MaxEndpointLen = 255
	// MaxDatagramSize is the size of the largest valid datagram: what a
	// reader needs to buffer, and one byte more tells an oversized one.
	MaxDatagramSize = headerLen + 1 + MaxGroupLen + 1 + MaxEndpointLen

	headerLen = len(Magic) + 1 + 1 + len(ID{}) // magic, version, kind, id
)

// Errors of Parse, for errors.Is. Each wraps ErrBadDatagram.
var (
	// ErrBadDatagram: the bytes are not a beacon this package can read.
	ErrBadDatagram = errors.New("discovery: bad datagram")
	// ErrNotBeacon: the datagram does not start with Magic.
	ErrNotBeacon = fmt.Errorf("%w: not a wisp beacon", ErrBadDatagram)
	// ErrVersion: a wisp beacon of another version.
	ErrVersion = fmt.Errorf("%w: unknown version", ErrBadDatagram)
	// ErrMalformed: a version-1 beacon whose fields do not fit: truncated,
	// with bytes after its end, an unknown kind, or a field out of range.
	ErrMalformed = fmt.Errorf("%w: malformed", ErrBadDatagram)
)

// ID is a beacon's identity: random and new for every Beacon unless
// Config.ID names one (Mesh uses the socket's session id).
type ID [16]byte

// String returns the id in hex, as socket.Socket.Session does.
func (id ID) String() string { return hex.EncodeToString(id[:]) }

// ParseID reads an id written by ID.String (32 hex digits).
func ParseID(s string) (ID, error) {
	var id ID
	if len(s) != 2*len(id) {
		return id, fmt.Errorf("discovery: id %q: want %d hex digits", s, 2*len(id))
	}
	if _, err := hex.Decode(id[:], []byte(s)); err != nil {
		return id, fmt.Errorf("discovery: id %q: %w", s, err)
	}
	return id, nil
}

// Kind says what a datagram announces.
type Kind uint8

// Datagram kinds.
const (
	// KindAnnounce: the peer is there, at Endpoint. Sent every interval.
	KindAnnounce Kind = 1
	// KindWithdraw: the peer is leaving; forget it now.
	KindWithdraw Kind = 2
)

// String returns "announce" or "withdraw".
func (k Kind) String() string {
	switch k {
	case KindAnnounce:
		return "announce"
	case KindWithdraw:
		return "withdraw"
	}
	return fmt.Sprintf("Kind(%d)", uint8(k))
}

// Datagram is one beacon on the wire.
type Datagram struct {
	Kind     Kind
	ID       ID
	Group    string // 1 to MaxGroupLen bytes
	Endpoint string // announce: 1 to MaxEndpointLen bytes; withdraw: may be empty
}

// Append appends the datagram's bytes to b. It does not check the fields;
// Check does.
func (d Datagram) Append(b []byte) []byte {
	b = append(b, Magic...)
	b = append(b, Version, byte(d.Kind))
	b = append(b, d.ID[:]...)
	b = append(b, byte(len(d.Group)))
	b = append(b, d.Group...)
	b = append(b, byte(len(d.Endpoint)))
	return append(b, d.Endpoint...)
}

// Check reports whether the datagram's fields are in range, as Parse
// requires of what it reads.
func (d Datagram) Check() error {
	if d.Kind != KindAnnounce && d.Kind != KindWithdraw {
		return fmt.Errorf("%w: kind %d", ErrMalformed, d.Kind)
	}
	if err := checkGroup(d.Group); err != nil {
		return fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	if d.Endpoint == "" && d.Kind == KindWithdraw {
		return nil
	}
	if err := checkEndpoint(d.Endpoint); err != nil {
		return fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	return nil
}

// Parse reads one whole datagram. It never allocates more than the
// datagram's own length, and rejects anything that is not exactly one
// valid version-1 beacon: the errors wrap ErrBadDatagram.
func Parse(b []byte) (Datagram, error) {
	var d Datagram
	if len(b) < len(Magic) || string(b[:len(Magic)]) != Magic {
		return d, ErrNotBeacon
	}
	if len(b) < len(Magic)+1 {
		return d, fmt.Errorf("%w: truncated before the version", ErrMalformed)
	}
	if v := b[len(Magic)]; v != Version {
		return d, fmt.Errorf("%w %d", ErrVersion, v)
	}
	if len(b) > MaxDatagramSize {
		return d, fmt.Errorf("%w: %d bytes, want at most %d", ErrMalformed, len(b), MaxDatagramSize)
	}
	if len(b) < headerLen+1 {
		return d, fmt.Errorf("%w: truncated header (%d bytes)", ErrMalformed, len(b))
	}
	d.Kind = Kind(b[len(Magic)+1])
	copy(d.ID[:], b[len(Magic)+2:headerLen])
	rest := b[headerLen:]
	group, rest, ok := field(rest)
	if !ok {
		return Datagram{}, fmt.Errorf("%w: truncated group", ErrMalformed)
	}
	endpoint, rest, ok := field(rest)
	if !ok {
		return Datagram{}, fmt.Errorf("%w: truncated endpoint", ErrMalformed)
	}
	if len(rest) != 0 {
		return Datagram{}, fmt.Errorf("%w: %d bytes after the endpoint", ErrMalformed, len(rest))
	}
	d.Group, d.Endpoint = string(group), string(endpoint)
	if err := d.Check(); err != nil {
		return Datagram{}, err
	}
	return d, nil
}

// field reads a one-byte length and that many bytes.
func field(b []byte) (f, rest []byte, ok bool) {
	if len(b) < 1 || len(b)-1 < int(b[0]) {
		return nil, nil, false
	}
	n := int(b[0])
	return b[1 : 1+n], b[1+n:], true
}

func checkGroup(g string) error {
	if g == "" || len(g) > MaxGroupLen {
		return fmt.Errorf("group of %d bytes, want 1 to %d", len(g), MaxGroupLen)
	}
	return nil
}

// checkEndpoint accepts "scheme://address" in printable ASCII without
// spaces: anything else could not be dialed, and would end up in logs.
func checkEndpoint(ep string) error {
	if ep == "" || len(ep) > MaxEndpointLen {
		return fmt.Errorf("endpoint of %d bytes, want 1 to %d", len(ep), MaxEndpointLen)
	}
	for i := 0; i < len(ep); i++ {
		if ep[i] <= ' ' || ep[i] > '~' {
			return fmt.Errorf("endpoint with byte %#x at %d, want printable ASCII", ep[i], i)
		}
	}
	scheme, addr, ok := strings.Cut(ep, "://")
	if !ok || scheme == "" || addr == "" {
		return fmt.Errorf("endpoint %q, want scheme://address", ep)
	}
	return nil
}
