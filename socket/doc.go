// Package socket is wisp's public API: messaging sockets in the style of
// ZeroMQ, in pure Go.
//
// A Socket of a type (Push, Pull) binds and connects to any number of
// endpoints — "tcp://host:port", "ipc:///path", "inproc://name", or a
// net.Listener or net.Conn the application already has — in any order, and
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
// receiver; only then can a message arrive twice. Flush waits for every
// acknowledgement; Close waits up to the linger time and reports how many
// messages were not acknowledged (ErrUndelivered).
//
// # Memory and blocking
//
// Every queue is bounded: Send blocks at the send high-water marks
// (WithSendHWM, WithSendHWMBytes) until there is room or its context ends,
// and a receiving socket stops reading from a peer whose queue reached
// WithRecvHWM. Send keeps a reference to the frames it is given until they
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
package socket
