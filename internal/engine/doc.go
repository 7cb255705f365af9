// Package engine is the machinery under package socket, and knows no
// socket type by name: endpoints and connections, peers and their queues,
// the read and write loops, inproc links, and the lifecycle of a socket
// (open, lingering, closed). What a type means comes from its Behavior
// (package socktype); how bytes look on a connection comes from the
// Protocol chosen for the socket and the Codec its handshake returns
// (package codec/wisp for WISP/1).
//
// The files:
//
//	engine.go      Engine: New, lifecycle, Close and its linger, Flush, Stats
//	behavior.go    Behavior and Caps: what a socket type gives the engine
//	primitives.go  what the engine gives a Behavior: lock, peers, queues
//	codec.go       Protocol, Codec, PeerInfo, Command: the protocol seam
//	peer.go        Peer: one peer session, both directions, one lifetime
//	send.go        the send side: round robin, sending to one peer, limits
//	recv.go        the receive side: queues, fair queueing, acknowledging
//	delivery.go    a read's messages as one queue entry, taken one by one
//	endpoints.go   Bind, Connect, accept and dial loops, attach and detach
//	inproc.go      in-process links, which move messages by reference
//	conn.go        conn: one connection, its handshake and its end
//	read.go        the reader role: reading, decoding, delivering
//	write.go       the writer role: batching, ACKs, encoding, writing
//	ackflow.go     a PULL's Recv writing the ACKs that fall due itself
//	buffers.go     read and write buffers sized to what a connection does
//	heart.go       the process's one heartbeat clock: PINGs and timeouts
//	nowait_*.go    writes that never wait (PING, PONG, inline Sends), and
//	               the reads of a polling Recv
//	directread.go  Recv reading a lone connection itself, and polling it
//	               before it sleeps (Options.BusyPoll)
//	commands.go    commands a Behavior queues outside the data stream
//	watch.go       watchers (pollers) and TryRecv, a Recv that never waits
//	spooled.go     the spool's hook: which spooled messages an ACK released
//
// # Peers
//
// A Peer is one peer session (the socket on the other end, recognised by
// its session id across reconnections), holding its connection, its send
// ledger (patterns.Ledger), its receive queue and its receive window
// (patterns.RecvWindow). The engine keeps its peers in one list, in
// round-robin order, indexed by session. A peer stays while connected,
// while away for less than the resume timeout, and while the application
// has yet to take what it sent; then the socket forgets it and remembers
// only where its streams stood.
//
// # Idle connections
//
// A socket may have a hundred thousand peers, most of them idle, so an
// idle connection costs as little as the Go runtime allows: one goroutine,
// its reader, blocked in Read on a 256-byte buffer. Its writer goroutine
// runs only while there is something to write (signal starts it; it ends
// when it finds nothing), a read that fills the small buffer borrows a
// large one from a pool until the buffer is empty again, and a write
// buffer larger than a few kilobytes goes back to a pool after its write.
// No connection has a timer of its own for heartbeats: one goroutine for
// the whole process (heart.go) ticks ten times per shortest interval, ends
// connections whose read has waited for their timeout, and sends PINGs on
// those that wrote nothing for their interval, straight from its own
// goroutine when the socket has room. The reader answers a PING the same
// way, so an idle connection's heartbeat wakes no other goroutine.
//
// # Locks
//
// These are the engine's locks, outermost first. A goroutine that holds
// one may take only those below it; builds with the race detector (as the
// tests run in CI) or the wisplockcheck tag panic on any other order
// (package lockorder). A function whose name ends in Locked runs with the
// lock its comment names held, Engine.mu unless it says otherwise, and
// those that need Engine.mu assert it in checking builds. The one
// exception to the order, Recv's batch being recorded from the writer
// (lockWindow), takes recvMu with TryLock, which cannot wait.
//
//	inbox.recvMu  Recv's batch of messages taken from one peer
//	conn.wmu      the writer role: the writer goroutine, a Send writing
//	              inline (Kick.Flush), or a PULL's Recv writing an ACK
//	              (tryAck, with TryLock); over inproc, also the other
//	              socket's reader role
//	conn.rmu      the reader role: the serving goroutine, or a Recv
//	              reading directly
//	Engine.mu     peers, their send ledgers and connections, endpoints,
//	              the lifecycle, and every Behavior's own state
//	inbox.mu      the receive queues and who waits on them
//	conn.dlMu     read deadlines, and handing the read side over
//	Peer.ackMu    the receive window
//	conn.pongMu   the PONG owed to the peer
//	inprocNames   the process's bound inproc names
//	watchers.mu   who watches the socket (signalling takes no lock)
//
// The heart's lock is a leaf outside this order: it is held with no other
// lock, and taken by nobody who holds one.
//
// Over inproc, one socket's writer is the other socket's reader: while
// holding its own conn.wmu it takes that socket's Engine.mu (an ACK, a
// SUBSCRIBE or CANCEL), inbox.mu, Peer.ackMu and conn.dlMu (data) and
// conn.pongMu (a PING), which the order allows: no goroutine waits for a
// lock listed above, or beside, one it holds.
package engine
