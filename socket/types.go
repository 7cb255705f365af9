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
	// Bus is a member of a peer-to-peer mesh of BUS sockets (it talks to
	// BUS only): Send gives the message to every member, Recv takes from
	// all of them in turn (fair-queued). Members are usually wired by each
	// binding one endpoint and connecting to every other's; two members
	// that connect to each other keep one connection, so nothing arrives
	// twice.
	//
	// Delivery is acknowledged per member, as a DEALER's is: each member's
	// copy waits in its queue until that member's application took it, and
	// is resent after a broken connection, so a member that stays in the
	// mesh gets every message of every other member exactly once, in
	// order per sender. A member away for less than the resume timeout
	// (WithResumeTimeout) gets, on its return, what was sent meanwhile.
	// With WithAcks(false) nothing is kept for resending, and a broken
	// connection may lose what was in flight, as for DEALER.
	//
	// A slow member slows the mesh: Send waits until every member has room
	// below the send high-water marks and then queues the message for all
	// of them at once, so that nobody silently misses a message. If Send
	// gives up (its context ends) it has queued the message for nobody, and
	// may be retried without duplicates. A member that is gone for good
	// (away past the resume timeout, or replaced by a new socket at the
	// endpoint it was dialed at) leaves the mesh: its copies are dropped
	// and counted in Stats.Unroutable, and Send waits for it no longer.
	//
	// A message goes to the members there are when Send is called: one
	// that joins later, or a restarted one (a new socket, a new session),
	// gets only what is sent after its handshake, and what its old self
	// had not taken is lost with it. WaitPeers waits for the members to
	// connect first. With no member at all, Send delivers to nobody (with
	// WithFailFast it fails with ErrNoPeer). A message larger than some
	// member accepts fails with ErrMessageTooLarge, for every member.
	//
	// ZMTP defines no BUS: a BUS speaks WISP/1 only.
	Bus = Type(engine.Bus)
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

// Release gives the memory of a received message back to wisp, to read
// later large messages into, once the application is done with it. A
// stream of large messages then stops allocating (and zeroing, and
// faulting in) fresh memory for every message: a PULL receiving 64 KiB
// messages over tcp spends about a third of the CPU per message, and takes
// twice as many per second (bench/README.md, "Releasing received
// messages").
//
// After Release, m's frames are set to nil, and the memory they were views
// of may hold any socket's later messages: the application must keep no
// other reference to a frame (or to a slice of one) that it would still
// use. Release is optional: memory not released is collected as usual.
//
// Only frames of 16 KiB or more that a socket read from a connection are
// reused; smaller frames share memory with other messages, and the frames
// of an inproc message are the sender's. Releasing anything else, a
// message twice, or a message the application made itself is harmless: it
// only clears m's frames. The memory kept for reuse is bounded (64 MiB for
// the process).
func (m Message) Release() { engine.Release(engine.Message(m)) }

// Subscription message markers for XPUB and XSUB: the first byte of a
// subscription message, followed by the prefix.
const (
	// SubscriptionCancel marks an unsubscribe message.
	SubscriptionCancel byte = 0
	// SubscriptionAdd marks a subscribe message.
	SubscriptionAdd byte = 1
)
