package socket

import "github.com/wispmq/wisp/internal/engine"

// Type is a socket type: the messaging pattern a socket takes part in.
type Type uint8

// String returns the type's upper-case name ("PUSH"), or "SocketType(42)"
// for a value that names no type.
func (t Type) String() string { return engine.Type(t).String() }

// Valid reports whether t names a socket type.
func (t Type) Valid() bool { return engine.Type(t).Valid() }

// Socket types. The values are wisp's own; each wire protocol maps them to
// its numbering.
const (
	// Push sends messages round-robin to its connected PULL peers, keeping
	// each until the receiver has taken it, and resending it after a
	// reconnect or to another receiver if its receiver is gone.
	Push = Type(engine.Push)
	// Pull receives messages from its PUSH peers, fair-queued across them,
	// acknowledging each once the application has taken it with Recv.
	Pull = Type(engine.Pull)
	// Req sends a request and then receives its reply, strictly in turn.
	// Each request carries a request id and goes to the next peer in turn;
	// replies to anything but the outstanding request are dropped. With
	// WithRequestRetry it resends a request whose server went away.
	Req = Type(engine.Req)
	// Rep receives requests, fair-queued across its peers, and sends each
	// reply to the peer that asked.
	Rep = Type(engine.Rep)
	// Dealer sends round-robin and receives fair-queued, like a PUSH and a
	// PULL in one, with no envelope: the asynchronous client or worker of a
	// broker.
	Dealer = Type(engine.Dealer)
	// Router receives from its peers with each peer's routing id as the
	// first frame, and sends each message to the peer its first frame names:
	// the asynchronous server, and the front of a broker.
	Router = Type(engine.Router)
	// Pair talks to exactly one peer, in both directions.
	Pair = Type(engine.Pair)
	// Pub publishes: each message goes, once, to every subscriber with a
	// prefix its first frame starts with. It never blocks; a subscriber
	// whose queue is full misses messages (counted, EventDropping).
	Pub = Type(engine.Pub)
	// Sub subscribes to prefixes with Subscribe and receives the matching
	// messages of every publisher it is connected to.
	Sub = Type(engine.Sub)
	// XPub publishes like Pub, and its Recv returns subscription changes:
	// [1, prefix...] when a prefix gains its first subscriber, [0,
	// prefix...] when it loses its last.
	XPub = Type(engine.XPub)
	// XSub receives like Sub, unfiltered, and subscribes by sending
	// [1, prefix...] and unsubscribes by sending [0, prefix...], so Proxy
	// can join an XSUB to an XPUB.
	XSub = Type(engine.XSub)
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

// Subscription message markers for XPUB and XSUB: the first byte of a
// subscription message, followed by the prefix.
const (
	// SubscriptionCancel marks an unsubscribe message.
	SubscriptionCancel byte = 0
	// SubscriptionAdd marks a subscribe message.
	SubscriptionAdd byte = 1
)
