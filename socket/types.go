package socket

import "github.com/wispmq/wisp/wire"

// Type is a socket type: the messaging pattern a socket takes part in.
type Type = wire.SocketType

// Socket types. The numbering is the one WISP/1 sends in its greeting.
const (
	// Push sends messages round-robin to its connected PULL peers, keeping
	// each until the receiver has taken it, and resending it after a
	// reconnect or to another receiver if its receiver is gone.
	Push = wire.Push
	// Pull receives messages from its PUSH peers, fair-queued across them,
	// acknowledging each once the application has taken it with Recv.
	Pull = wire.Pull
	// Pair, Pub, Sub, Req, Rep, Dealer, Router, XPub and XSub are the other
	// types of the protocol; New reports ErrUnsupportedType for them until
	// they are implemented.
	Pair   = wire.Pair
	Pub    = wire.Pub
	Sub    = wire.Sub
	Req    = wire.Req
	Rep    = wire.Rep
	Dealer = wire.Dealer
	Router = wire.Router
	XPub   = wire.XPub
	XSub   = wire.XSub
)

// Message is one message: one or more frames, delivered whole or not at all.
type Message [][]byte

// Bytes returns the first frame, the whole body of a single-frame message.
func (m Message) Bytes() []byte {
	if len(m) == 0 {
		return nil
	}
	return m[0]
}

// Size returns the total payload size of all frames.
func (m Message) Size() int {
	n := 0
	for _, f := range m {
		n += len(f)
	}
	return n
}
