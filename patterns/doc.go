// Package patterns holds what each wisp socket type means, as small
// deterministic state machines over abstract peers.
//
// Nothing here does I/O, starts a goroutine, reads a clock or draws a random
// number: peers are indices, time is a value the caller passes in, and
// randomness is a number the caller draws. That keeps every rule testable
// exhaustively and fast, and leaves the engine in package socket free to own
// connections, goroutines and locking. None of the types here is safe for
// concurrent use; the engine guards each one with its own lock.
//
// The pieces:
//   - [Ledger]: the pipeline's per-peer send ledger. It numbers the messages
//     sent to one peer, keeps them until the peer acknowledges them, and
//     hands them back for resending after a reconnect or for moving to
//     another peer when this one is gone for good.
//   - [RecvWindow]: the receive side of one sender's acknowledged stream. It
//     drops resent duplicates, follows what the application took, and
//     decides when to acknowledge: at once after a quarter of the sender's
//     window, otherwise on a delayed-ACK timer or along with other writes,
//     and again on every new connection.
//   - [RoundRobin]: which ready peer an outgoing message goes to (PUSH,
//     DEALER).
//   - [FairQueue]: which ready peer the next incoming message is taken from
//     (PULL, DEALER).
//   - [Backoff]: the jittered exponential delay between reconnect attempts.
package patterns
