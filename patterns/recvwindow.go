package patterns

import "math"

// RecvWindow is the receive side of one sender's acknowledged stream (WISP/1
// section 6): it drops messages the receiver already accepted, follows what
// the application took, and decides when to send ACK(n), which tells the
// sender that the application took every message up to n so that it can
// drop its copies.
//
// The receiver must acknowledge promptly, or the sender's window fills and
// it stops, but not once per message, which would cost a write per message.
// So an ACK goes out at once when a quarter of the sender's window has been
// taken since the last one, in messages or in bytes, whichever comes first;
// a quarter leaves the sender three quarters to keep sending while the ACK
// is on its way. Short of that, the engine arms a short delayed-ACK timer,
// and an ACK also rides along whenever the receiver writes anyway. On every
// new connection the last ACK is stated again, because the previous one may
// have been lost with the old connection.
//
// The message interval counts sequence numbers, not calls to
// [RecvWindow.Take]: numbers skipped after a RESUME count too, as they do in
// the sender's window.
//
// The zero value has accepted nothing and, knowing no window, acknowledges
// every message at once (interval 1) until [RecvWindow.SetWindow]. Its
// methods allocate nothing, and a copy is an independent window. A
// RecvWindow is not safe for concurrent use.
type RecvWindow struct {
	last         uint64 // highest seq accepted (H in the spec)
	taken        uint64 // highest seq the application took (T in the spec)
	acked        uint64 // seq of the last ACK sent
	every        uint64 // message interval; 0 (the zero value) counts as 1
	everyBytes   uint64 // byte interval; 0 means the sender stated no byte window
	pendingBytes uint64 // bytes taken since the last ACK, saturating
	restate      bool   // a new connection must hear the last ACK; only set when taken > 0
}

// SetWindow sets the acknowledgement interval from the window the sender
// stated in its greeting: msgs/4 messages (at least 1), and bytes/4 bytes (at
// least 1) when bytes > 0; bytes == 0 means no byte bound. A msgs of 0 (not
// stated) gives interval 1, as the spec counts an absent window as 1. The new
// interval applies from the next [RecvWindow.Take] or [RecvWindow.AckNow];
// what was taken since the last ACK keeps counting towards it.
func (w *RecvWindow) SetWindow(msgs uint32, bytes uint64) {
	w.every = max(uint64(msgs/4), 1)
	w.everyBytes = 0
	if bytes > 0 {
		w.everyBytes = max(bytes/4, 1)
	}
}

// Accept records that the message numbered seq arrived and reports whether
// it is new: seq above every number accepted before. A duplicate (seq at or
// below that, such as a resend after a reconnect of a message that arrived
// over the old connection) returns false and changes nothing; the caller
// drops it. seq 0 is never new, since streams number from 1. A seq more than
// one above [RecvWindow.Last] is new: the numbers in between went to other
// receivers while this one was away (the spec's receiver rule 2).
func (w *RecvWindow) Accept(seq uint64) bool {
	if seq <= w.last {
		return false
	}
	w.last = seq
	return true
}

// Last returns the highest sequence number accepted (0 at first).
func (w *RecvWindow) Last() uint64 { return w.last }

// Take records that the application took message seq, of size payload
// bytes, and reports whether an acknowledgement is due at once: the interval
// in messages or in bytes is reached since the last ACK. The caller then
// wakes the connection's writer, whose [RecvWindow.AckNow] sends it.
//
// Messages are taken in order: seq must be above every seq taken before and
// at most [RecvWindow.Last]. Since ACK is cumulative, taking seq also covers
// every accepted message below it. A seq at or below the last taken is
// ignored and returns false. A seq above Last is a caller bug (it takes a
// message that never arrived); Take returns false and changes nothing rather
// than acknowledge it, because an ACK beyond what the sender sent is a
// protocol error on its side. A negative size counts as 0.
func (w *RecvWindow) Take(seq uint64, size int) (due bool) {
	if seq <= w.taken || seq > w.last {
		return false
	}
	w.taken = seq
	if size > 0 {
		// Saturate instead of wrapping: the sum only has to reach the
		// interval, and a wrapped one would hide that it did.
		b := w.pendingBytes + uint64(size)
		if b < w.pendingBytes {
			b = math.MaxUint64
		}
		w.pendingBytes = b
	}
	return w.intervalReached()
}

// intervalReached reports whether the application took a full interval, in
// messages or in bytes, since the last ACK.
func (w *RecvWindow) intervalReached() bool {
	if w.taken-w.acked >= max(w.every, 1) {
		return true
	}
	return w.everyBytes > 0 && w.pendingBytes >= w.everyBytes
}

// Budget returns how far, in sequence numbers past [RecvWindow.Taken], and
// in bytes, the application may take before the next acknowledgement is
// due, counting from the one due now if one is (it will cover everything
// taken so far): a receiver that takes messages in batches can record them
// with one [RecvWindow.Take] when either runs out, and no ACK is due any
// later for it. Both are at least 1; bytes is math.MaxUint64 when the
// sender stated no byte window.
func (w *RecvWindow) Budget() (msgs, bytes uint64) {
	every := max(w.every, 1)
	if w.intervalReached() {
		msgs, bytes = every, w.everyBytes
	} else {
		msgs, bytes = every-(w.taken-w.acked), w.everyBytes-w.pendingBytes
	}
	if w.everyBytes == 0 {
		bytes = math.MaxUint64
	}
	return msgs, bytes
}

// Taken returns the highest sequence number taken (0 at first).
func (w *RecvWindow) Taken() uint64 { return w.taken }

// Acked returns the highest sequence number acknowledged (0 at first).
func (w *RecvWindow) Acked() uint64 { return w.acked }

// Owed reports whether an acknowledgement is owed: something taken is not
// acknowledged yet, or a new connection must hear the last ACK again. It is
// always !Settled().
func (w *RecvWindow) Owed() bool { return w.taken > w.acked || w.restate }

// AckNow decides the ACK for the connection's writer, which calls it each
// time it is about to write. It returns the sequence to acknowledge and true
// when an acknowledgement is owed and either urgent is true (the delayed-ACK
// timer fired, the socket is closing, or the writer sends data anyway, so
// the ACK costs no write of its own), the interval is reached, or a new
// connection must hear it; it then records the ACK as sent, so the caller
// must send it. The sequence is always [RecvWindow.Taken], and above 0.
//
// Otherwise it returns 0, false, and the caller arms the delayed-ACK timer
// if [RecvWindow.Owed] is true.
func (w *RecvWindow) AckNow(urgent bool) (seq uint64, ok bool) {
	if !w.Owed() {
		return 0, false
	}
	if !urgent && !w.restate && !w.intervalReached() {
		return 0, false
	}
	w.acked = w.taken
	w.pendingBytes = 0
	w.restate = false
	return w.taken, true
}

// Reconnected records a new connection to the sender: the next
// [RecvWindow.AckNow] restates the last acknowledgement if anything was ever
// taken, even if nothing new was taken, because the previous ACK may have
// been lost with the old connection and the sender, which resumes from what
// it believes unacknowledged, would otherwise resend messages it could drop.
// With nothing taken there is nothing to restate.
func (w *RecvWindow) Reconnected() {
	w.restate = w.taken > 0
}

// Settled reports whether every message taken has been acknowledged and no
// restatement is pending, which is when a closing receiver may hang up
// without leaving the sender to resend what the application already has.
// It is always !Owed().
func (w *RecvWindow) Settled() bool { return !w.Owed() }
