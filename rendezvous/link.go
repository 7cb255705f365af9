package rendezvous

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/wispmq/wisp/socket"
)

// Path says how a Link carries messages.
type Path uint8

const (
	// Direct: over a TCP connection between the two peers' bound ports,
	// through both NATs.
	Direct Path = iota + 1
	// Relayed: through the introducer, which forwards each message.
	Relayed
)

// String returns "direct" or "relayed".
func (p Path) String() string {
	switch p {
	case Direct:
		return "direct"
	case Relayed:
		return "relayed"
	}
	return fmt.Sprintf("Path(%d)", uint8(p))
}

// ErrEmptyMessage: Send was given no frames.
var ErrEmptyMessage = errors.New("rendezvous: empty message")

// A Link carries messages between two peers the introducer introduced,
// directly or through the relay (Path). It lives as long as its Peer.
// Send and Recv may be called from different goroutines.
type Link struct {
	p         *Peer
	path      Path
	name      string
	remote    string
	attempts  int
	punchTime time.Duration
}

// Path says whether the link is direct or relayed.
func (l *Link) Path() Path { return l.path }

// Name is the other peer's name.
func (l *Link) Name() string { return l.name }

// Remote is the other peer's public endpoint, as the introducer saw it.
// On a direct link it is also the remote address of the connection.
func (l *Link) Remote() string { return l.remote }

// Attempts is how many dials this side made while punching (0 when it did
// not punch). Two peers that dial at once usually need one each.
func (l *Link) Attempts() int { return l.attempts }

// PunchTime is how long this side took from the introduction to its direct
// connection, or to settling for the relay.
func (l *Link) PunchTime() time.Duration { return l.punchTime }

// Send sends a message of one or more frames to the other peer. Relayed,
// a message may have at most 1023 frames (the relay adds one).
func (l *Link) Send(ctx context.Context, frames ...[]byte) error {
	if len(frames) == 0 {
		return ErrEmptyMessage
	}
	if l.path == Direct {
		return l.p.data.Send(ctx, frames...)
	}
	return l.p.intro.Send(ctx, message{kind: kindRelay, payload: frames}.frames()...)
}

// Recv returns the next message from the other peer. Relayed, a malformed
// message from the introducer is an error wrapping ErrProtocol, and an
// ERROR from it the matching sentinel.
func (l *Link) Recv(ctx context.Context) (socket.Message, error) {
	if l.path == Direct {
		return l.p.data.Recv(ctx)
	}
	m, err := l.p.recv(ctx)
	if err != nil {
		return nil, err
	}
	switch m.kind {
	case kindRelay:
		return socket.Message(m.payload), nil
	case kindError:
		return nil, errorOf(m)
	}
	return nil, fmt.Errorf("%w: %v on a relayed link", ErrProtocol, m.kind)
}
