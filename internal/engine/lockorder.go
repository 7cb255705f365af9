package engine

import "github.com/wispmq/wisp/internal/lockorder"

// The engine's locks, outermost first: a goroutine holding one may only
// take those below it (see the package doc). Checking builds enforce it.
const (
	rankRecv        lockorder.Rank = iota + 1 // inbox.recvMu: Recv's batch
	rankWriter                                // conn.wmu: the writer role
	rankReader                                // conn.rmu: the reader role
	rankEngine                                // Engine.mu: peers, send side, behaviours
	rankInbox                                 // inbox.mu: receive queues
	rankDeadline                              // conn.dlMu: read deadlines and yielding
	rankWindow                                // Peer.ackMu: the receive window
	rankPong                                  // conn.pongMu: the PONG to send
	rankInprocNames                           // the process's inproc names
	rankWatchers                              // watchers.mu: who watches the socket
)
