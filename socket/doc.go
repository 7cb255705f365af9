// Package socket is wisp's public API: messaging sockets in the style of
// ZeroMQ, in pure Go.
//
// A Socket of a type (Push, Pull, Req, Rep, Dealer, Router, Pair, Pub, Sub,
// XPub, XSub, Bus) binds and connects to any number of
// endpoints — "tcp://host:port", "ipc:///path", "inproc://name", the
// schemes packages register (ws:// and wss:// with transport/ws, quic://
// with transport/quic), or a net.Listener or net.Conn the application
// already has — in any order, and
// moves whole messages (one or more frames) between the application and its
// peers. The socket connects, reconnects with jittered backoff, frames,
// queues and flow-controls; peers speak WISP/1 (see wire/SPEC.md).
//
// # Delivery
//
// PUSH keeps every message until the receiving application has taken it
// with Recv (acknowledgements, on by default). After a broken connection it
// resends what was not acknowledged and the receiver drops what it already
// had, so each message arrives exactly once and in order per sender. When a
// receiver is gone for good (a new session at its endpoint, or no return
// within WithResumeTimeout), its unacknowledged messages go to another
// receiver; only then can a message arrive twice. Until another receiver has
// them, Send accepts no new message: they still count against the send
// marks, and nothing sent later overtakes them (unless they are larger than
// every connected receiver accepts: those wait for one that does without
// holding up the rest). Flush waits for every
// acknowledgement; Close waits up to the linger time and reports how many
// messages were not acknowledged (ErrUndelivered).
//
// A PUSH made WithSpool(dir) is durable as well: Send returns once the
// message is in an append-only log on disk, acknowledgements trim the log,
// and a PUSH made again on dir after a crash of its process sends what was
// not acknowledged, in order, before anything new. Only messages in flight
// at the crash can then arrive twice. WithSpoolSync says what survives a
// crash of the machine, WithSpoolLimit bounds the log.
//
// Taking a message with Recv acknowledges it. With WithDeferredAck, Recv
// acknowledges the message it returned before instead, so a message is
// acknowledged only once the application asks for the next (or calls Ack):
// a receiver that dies while it handles a message then loses nothing.
//
// # Request and reply
//
// A REQ socket sends one request at a time and receives its reply; each
// request carries an id, and a reply to anything else (late, duplicated) is
// dropped and counted in Stats.StaleReplies. Recv's context bounds the wait,
// and after it ends a new request may be sent, so a client never hangs on a
// dead server. WithRequestRetry resends the request when its connection
// ends or after an interval, to another server or to a restarted one: the
// client gets exactly one reply, and servers should treat requests as
// possibly repeated. A REP socket answers each request on the connection of
// the peer that asked; a reply whose asker is gone is dropped and counted
// (Stats.Unroutable).
//
// ROUTER and DEALER are the asynchronous forms: ROUTER prefixes each
// received message with its peer's routing id and routes what it sends by
// that frame; DEALER round-robins and fair-queues without an envelope.
// Proxy joins a ROUTER frontend to a DEALER backend to make a broker
// between many clients and many workers. The envelope on the wire is
// specified in wire/SPEC.md, section 4.1.
//
// # Publish and subscribe
//
// A SUB socket's subscriptions (byte prefixes of a message's first frame)
// travel to every publisher it connects to and are stated again in full
// after every reconnect; they are commands, not data, so no high-water mark
// can drop them. The publisher filters: a message that matches no
// subscriber is never sent, and one that matches several of a subscriber's
// prefixes is sent to it once. Publication is at most once: a PUB never
// waits for a slow subscriber, it drops that subscriber's messages
// (Stats.Drops, PeerStats.Drops, EventDropping) and keeps serving the
// others. WaitSubscribers makes a publisher wait until its subscribers'
// subscriptions have arrived, so the first messages are not lost to the
// time a subscription takes to travel.
//
// # Meshes
//
// BUS sockets make a peer-to-peer mesh: each member usually binds one
// endpoint and connects to every other's, and two members that dial each
// other keep one connection (wire/SPEC.md, section 6). Send gives a message
// to every member, Recv fair-queues from all. Each member's copy is
// acknowledged and resent like a PUSH's, never handed to another member,
// so a member in the mesh gets every other member's messages exactly once
// and in order per sender, across reconnections within the resume
// timeout. A slow member slows Send (it queues a message for all members
// or, if its context ends first, for none) rather than missing messages.
// A member that joins, or restarts as a new socket, gets only what is sent
// after its handshake; WaitPeers lets a member wait for the others first.
// Package discovery's Mesh wires the members of a local network together
// with no list of addresses: each finds the others by UDP broadcast.
//
// # Memory and blocking
//
// Every queue is bounded: Send blocks at the send high-water marks
// (WithSendHWM, WithSendHWMBytes) until there is room or its context ends,
// and a receiving socket stops reading from a peer whose queue reached
// WithRecvHWM (a socket that also sends bounds an acknowledged peer's queue
// by that peer's window instead, so its ACKs keep flowing). Across all its
// peers a receiving socket queues at most WithRecvQueueBytes of payload
// (32 MiB by default), so a burst from thousands of peers waits in the
// kernel and the senders rather than in the heap; it reads again from the
// peers it stopped, in the order it stopped them, as Recv takes the queue
// down. Send keeps a reference to the frames it is given until they
// are acknowledged, so the caller must not modify them afterwards; it copies
// nothing, and over inproc the receiver gets the same memory.
//
// # Errors and events
//
// Errors wrap the sentinels of this package (and context errors), for
// errors.Is; ErrClosed also matches net.ErrClosed. Bad input from a peer
// ends only that connection, with an Event on the Events channel giving the
// reason and a counter in Stats.
//
// A Socket is safe for concurrent use. Close ends every goroutine it
// started before it returns.
//
// # Underneath
//
// A Socket is a thin front on wisp's engine (internal/engine), which knows
// no socket type by name: it runs endpoints, connections and their read
// and write loops, and keeps one Peer per peer session with both
// directions of its stream. What a type does is a behaviour registered for
// it (internal/socktype); what goes on the wire is the protocol's codec,
// chosen at each connection's handshake (WISP/1: internal/codec/wisp).
package socket
