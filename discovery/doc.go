// Package discovery lets the peers of an application on a local network
// find each other without a list of addresses: each runs a Beacon that
// broadcasts a small UDP datagram every interval saying "I am ID of GROUP,
// reach me at ENDPOINT", listens for the others', and reports each peer's
// join and leave. A Mesh drives a socket with it: it connects a BUS
// socket to every member that joins and disconnects it from every member
// that leaves, so members started with no addresses form a full mesh.
//
//	s, _ := socket.New(socket.Bus, socket.WithDialFromBind(true))
//	ep, _ := s.Bind("tcp://0.0.0.0:0")
//	m, _ := discovery.NewMesh(s, ep, discovery.Config{Group: "chat"})
//	go m.Run(ctx) // until ctx ends
//	for e := range m.Events() { ... } // joins and leaves
//
// It works in the manner of CZMQ's zbeacon, with a datagram of its own.
//
// # Finding peers
//
// Every beacon binds the group's UDP port (Config.Port) on the wildcard
// address with SO_REUSEADDR and SO_REUSEPORT, so any number of beacons,
// in one process or many, share it, and the system hands each a copy of
// every broadcast datagram that reaches the port. Announcements go to
// Config.Broadcast: by default the limited broadcast address
// 255.255.255.255, which reaches the local network of the interface the
// default route goes through (Config.Interface picks an interface and its
// subnet's broadcast address instead; a host without a default route
// needs it). Set Broadcast to LoopbackBroadcast
// (127.255.255.255) to keep discovery on one host: Linux delivers it to
// every beacon on the host and sends nothing onto a network. IPv4 only.
//
// A beacon announces at once when it starts, then every Config.Interval
// (jittered a little shorter); when it hears a new peer it announces at
// once too, so a new member and the existing ones learn of each other
// within a round trip rather than an interval. A peer not heard for
// Config.Timeout (5 intervals by default) is reported gone (LeaveSilent),
// at most Timeout + Interval after its last beacon. A beacon whose Run
// ends sends a withdraw, which its peers report at once (LeaveWithdrawn);
// a lost withdraw leaves them to the timeout.
//
// Discovery is not authentication: anyone on the network can announce an
// endpoint, and a Mesh will connect to it. For a mesh of known members,
// use TLS with client certificates (socket.WithTLS) on the endpoints.
//
// # The datagram
//
// All integers are one byte; a datagram is exactly as long as its fields.
//
//	offset  size  field
//	0       4     magic "WSPD"
//	4       1     version, 1
//	5       1     kind: 1 announce, 2 withdraw
//	6       16    id: the sending beacon's, random
//	22      1     group length G, 1 to 64
//	23      G     group
//	23+G    1     endpoint length E, 1 to 255 (0 allowed in a withdraw)
//	24+G    E     endpoint, printable ASCII "scheme://address"
//
// A receiver ignores, and counts in Stats, datagrams that are not exactly
// one valid beacon (Garbage) and beacons of other groups (Foreign); its
// own beacons, looped back, it skips. An endpoint whose host is
// unspecified ("tcp://0.0.0.0:7001", "tcp://*:7001", "tcp://[::]:7001")
// is reported with the address the beacon came from in its place.
package discovery
