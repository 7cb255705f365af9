// Package rendezvous connects two wisp peers that are each behind a NAT:
// an introducer both can reach tells each the other's public endpoint, both
// dial each other at once from their bound ports (TCP hole punching), and
// when no direct connection comes of it, the introducer relays their
// messages.
//
// # How it works
//
// A peer (Register) binds one local port and does everything from it: a
// PAIR socket listens there and dials from there (socket.WithDialFromBind),
// and a DEALER connects to the introducer from the same port
// (SO_REUSEPORT). Its NAT maps that connection's source port to a public
// port; the introducer, a ROUTER (Introducer), sees the connection come
// from that public address and port and records it under the peer's name.
//
// When one peer asks for another (Connect, while the other is in Accept),
// the introducer sends each the other's public endpoint, one right after
// the other. Both PAIR sockets then dial the endpoint they were given,
// from their bound ports, redialing failed attempts every retry interval.
// The first SYN to leave a NAT creates the mapping that lets the other
// side's SYN in, as a reply: the two SYNs cross and TCP's simultaneous open
// makes one connection of them (or a dial reaches the other's listener).
// A SYN that arrives before the other side's own SYN has left is dropped
// by that NAT; the dial stays pending (the kernel sends its SYN again) and
// completes when the other side's SYN comes in through the mapping it
// opened. A dial that fails is made again after the retry interval (but
// see below for NATs that refuse rather than drop). The peer that
// asked decides: a direct connection within the punch timeout
// (WithPunchTimeout) makes the Link Direct, otherwise Relayed; it tells the
// other peer its verdict through the introducer, so both take the same
// path. The accepting peer waits for the verdict up to its own punch
// timeout plus five seconds, so give both peers the same timeout.
//
// Behind a NAT that keeps a mapping per local address and port (RFC 4787
// "endpoint-independent mapping"; Linux's MASQUERADE keeps the local port
// itself whenever it can), the connection to the introducer and the punch
// leave through the same public port because they leave from the same
// local one; which socket made them does not matter to the NAT, so the
// introducer connection is a socket of its own beside the PAIR socket
// rather than a second use of it. Keeping it open also keeps the mapping
// alive.
//
// A Relayed link sends each message to the introducer, which forwards it
// to the other peer: every byte crosses the introducer's network twice, at
// its cost, and its latency adds to the path. IntroducerStats counts what
// it relayed.
//
// # Where punching cannot work
//
//   - Symmetric NATs (endpoint-dependent mapping): a NAT that picks a new
//     public port for each destination (Linux MASQUERADE with --random or
//     --random-fully, many carrier-grade and enterprise NATs) sends the
//     punch from a port the introducer never saw, so the other side dials
//     a mapping that does not lead to the peer. One such NAT is enough to
//     defeat punching when the other side filters by address and port,
//     as the usual NAT does. The link falls back to the relay.
//   - NATs that answer an unsolicited SYN with a reset instead of dropping
//     it. Each side's first SYN usually reaches the other NAT before that
//     NAT's own peer has sent; the reset goes back through the sender's
//     NAT, ends the sender's dial and closes the state the other side's
//     SYN needed to get in. A punch then works only if the two SYNs cross
//     in flight, within about one trip between the NATs, and redials,
//     each ended by the next reset, rarely line up: measured between two
//     Linux routers one switch apart, 16 to 20 dials each in 3 s and no
//     connection (internal/faulttest/README.md). Over longer paths the
//     window is wider; here the relay takes over.
//   - Firewalls that drop unsolicited inbound traffic even when it answers
//     an outgoing SYN to the same address and port, or that drop SYNs
//     from outside altogether (some corporate firewalls track only
//     completed outgoing handshakes).
//   - NATs that rewrite the source port even for the first mapping when
//     another host behind them holds it, and NATs that expire a mapping
//     faster than the introduction takes; keep the introducer connection
//     open (a Peer does) to keep the mapping alive.
//   - Two peers behind the same NAT, or behind one carrier-grade NAT:
//     they see each other's public endpoint, and reaching it needs the
//     NAT to hairpin (loop traffic from inside back inside), which many
//     do not do.
//   - TLS and CURVE: their handshakes have a client and a server, and a
//     simultaneous open leaves both sides dialing; a Peer uses plain
//     tcp://.
//
// A direct link lasts while both NATs keep their mappings: the socket's
// heartbeats keep them busy, and if the connection breaks both sides dial
// again from the same ports, which punches again while the mappings live.
//
// # Protocol
//
// Peers and the introducer exchange wisp messages whose first frame names
// the kind (REGISTER, REGISTERED, CONNECT, PEER, PATH, RELAY, ERROR); the
// fields are checked strictly, and a malformed message is answered with an
// ERROR that ends the sender's registration (ErrProtocol on the peer's
// side). Names prove nothing: any peer can register any free name, and
// the link itself is not authenticated, so an application that needs to
// know who is on the other end checks that in its own messages.
package rendezvous
