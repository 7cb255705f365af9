package patterns

import (
	"errors"
	"fmt"
)

// ErrAckBeyondSent is returned (wrapped, with the numbers) by [Ledger.Ack]
// when a peer acknowledges a sequence number that was never sent to it. The
// engine treats it as a protocol violation by that peer.
var ErrAckBeyondSent = errors.New("patterns: ack for a message that was never sent")

// minLedgerCap is the first ring size. A socket may hold a hundred
// thousand peers, most of them sent a message or two (a reply) and idle
// since: the ring they keep is what this costs (64 bytes an entry for
// wisp's messages). A stream doubles it to its window within its first
// few sends.
const minLedgerCap = 2

// Ledger is the per-peer send ledger of the pipeline sockets: messages to one
// peer get consecutive sequence numbers starting at 1, and the ledger holds
// each message from [Ledger.Push] until an [Ledger.Ack] covers it, so that
// nothing is lost when a connection dies.
//
// Held messages are, in sequence order, first the unacked ones (sent, not yet
// acknowledged) and then the unsent ones. They live in a ring buffer that
// doubles when full, so Push, TakeUnsent and Ack allocate nothing once the
// ring is large enough; released slots are zeroed so the garbage collector
// can free the messages.
//
// The zero value is an empty ledger whose first message gets sequence 1.
// A Ledger is not safe for concurrent use.
type Ledger[T any] struct {
	buf   []T    // ring; len is 0 or a power of two
	head  int    // index in buf of the oldest held message
	n     int    // held messages
	sent  int    // the first sent of the n held messages are unacked
	acked uint64 // highest acknowledged seq; held message i has seq acked+1+i
}

// Push appends m as unsent. It gets sequence number [Ledger.NextSeq].
func (l *Ledger[T]) Push(m T) {
	if l.n == len(l.buf) {
		l.grow()
	}
	l.buf[l.index(l.n)] = m
	l.n++
}

// grow doubles the ring and lays the held messages out from index 0, so that
// index arithmetic stays a mask.
func (l *Ledger[T]) grow() {
	size := max(2*len(l.buf), minLedgerCap)
	buf := make([]T, size)
	if l.n > 0 {
		k := copy(buf, l.buf[l.head:])
		copy(buf[k:], l.buf[:l.head])
	}
	l.buf = buf
	l.head = 0
}

// index returns the position in buf of the i-th held message.
func (l *Ledger[T]) index(i int) int {
	return (l.head + i) & (len(l.buf) - 1)
}

// Len returns the number of held messages: unacked plus unsent.
func (l *Ledger[T]) Len() int { return l.n }

// Unsent returns the number of held messages not yet taken for sending.
func (l *Ledger[T]) Unsent() int { return l.n - l.sent }

// Unacked returns the number of messages sent but not yet acknowledged.
func (l *Ledger[T]) Unacked() int { return l.sent }

// NextSeq returns the sequence number the next [Ledger.Push] gets; 1 for a
// new ledger.
func (l *Ledger[T]) NextSeq() uint64 { return l.acked + uint64(l.n) + 1 }

// AckedSeq returns the highest acknowledged sequence number; 0 at start.
func (l *Ledger[T]) AckedSeq() uint64 { return l.acked }

// FirstUnsentSeq returns the sequence number of the first unsent message, or
// [Ledger.NextSeq] when none is unsent.
func (l *Ledger[T]) FirstUnsentSeq() uint64 { return l.acked + uint64(l.sent) + 1 }

// TakeUnsent appends up to max unsent messages (oldest first) to dst, marks
// them sent, and returns dst. The messages stay held until acknowledged. A
// max of zero or less takes nothing.
func (l *Ledger[T]) TakeUnsent(dst []T, max int) []T {
	k := min(max, l.n-l.sent)
	for i := 0; i < k; i++ {
		dst = append(dst, l.buf[l.index(l.sent+i)])
	}
	if k > 0 {
		l.sent += k
	}
	return dst
}

// Ack releases every sent message with sequence number <= seq and returns
// how many it released. An ack at or below [Ledger.AckedSeq] is stale (it
// crossed a newer one, or repeats one) and returns 0, nil. An ack beyond the
// last sent message returns 0 and an error matching [ErrAckBeyondSent], and
// changes nothing.
func (l *Ledger[T]) Ack(seq uint64) (int, error) {
	if seq <= l.acked {
		return 0, nil
	}
	last := l.acked + uint64(l.sent)
	if seq > last {
		return 0, fmt.Errorf("%w: got ack %d, last sent %d", ErrAckBeyondSent, seq, last)
	}
	k := int(seq - l.acked)
	l.release(k)
	l.sent -= k
	l.acked = seq
	return k, nil
}

// release drops the k oldest held messages, zeroing their slots.
func (l *Ledger[T]) release(k int) {
	var zero T
	for i := 0; i < k; i++ {
		l.buf[l.index(i)] = zero
	}
	l.n -= k
	if l.n == 0 {
		l.head = 0
	} else {
		l.head = l.index(k)
	}
}

// Rewind marks every unacked message unsent again, for a reconnect to the
// same peer: the peer acknowledges what it already has and drops duplicates,
// so resending from the first unacked message keeps order and loses nothing.
// It returns [Ledger.FirstUnsentSeq].
func (l *Ledger[T]) Rewind() uint64 {
	l.sent = 0
	return l.FirstUnsentSeq()
}

// TakeAll removes every held message (unacked first, then unsent, in
// sequence order), appends them to dst and returns dst; it is how the
// messages of a peer that is gone for good move to another peer. Sequence
// numbering continues: [Ledger.NextSeq] is unchanged and [Ledger.AckedSeq]
// becomes NextSeq()-1.
func (l *Ledger[T]) TakeAll(dst []T) []T {
	for i := 0; i < l.n; i++ {
		dst = append(dst, l.buf[l.index(i)])
	}
	l.acked += uint64(l.n)
	l.release(l.n)
	l.sent = 0
	return dst
}

// Restart renumbers the ledger for a new session with a new peer, which has
// seen none of the held messages: they all stay, all become unsent, and the
// first of them gets sequence 1 ([Ledger.AckedSeq] becomes 0). It returns
// [Ledger.FirstUnsentSeq], which is 1.
func (l *Ledger[T]) Restart() uint64 { return l.RestartAt(1) }

// RestartAt is Restart with the first held message numbered seq (at least
// 1): for a peer whose stream from this sender reached seq-1 before its
// ledger was dropped, so that it does not take the new messages for ones it
// already has. It returns [Ledger.FirstUnsentSeq], which is seq.
func (l *Ledger[T]) RestartAt(seq uint64) uint64 {
	l.acked = max(seq, 1) - 1
	l.sent = 0
	return l.FirstUnsentSeq()
}

// Peek returns the i-th held message (0 is the oldest) without changing
// anything; it is meant for stats and tests. It panics unless
// 0 <= i < [Ledger.Len], like indexing a slice.
func (l *Ledger[T]) Peek(i int) T {
	if i < 0 || i >= l.n {
		panic(fmt.Sprintf("patterns: Ledger.Peek index out of range: got %d, want [0,%d)", i, l.n))
	}
	return l.buf[l.index(i)]
}
