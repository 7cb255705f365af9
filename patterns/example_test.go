package patterns_test

import (
	"fmt"
	"time"

	"github.com/wispmq/wisp/patterns"
)

// A sender numbers messages to one peer, resends what was in flight after a
// reconnect, and hands everything still held to another peer when this one
// is gone for good.
func ExampleLedger() {
	var l patterns.Ledger[string]
	l.Push("a")
	l.Push("b")
	l.Push("c")

	batch := l.TakeUnsent(nil, 10) // written to the connection
	fmt.Println("sent", batch, "next seq", l.NextSeq())

	n, _ := l.Ack(1) // the peer acknowledged seq 1
	fmt.Println("released", n, "unacked", l.Unacked())

	// The connection died with b and c in flight; after reconnecting they go again.
	from := l.Rewind()
	fmt.Println("resend from seq", from, l.TakeUnsent(nil, 10))

	// The peer is gone for good: move what it never acknowledged elsewhere.
	fmt.Println("move", l.TakeAll(nil), "held", l.Len())
	// Output:
	// sent [a b c] next seq 4
	// released 1 unacked 2
	// resend from seq 2 [b c]
	// move [b c] held 0
}

// A receiver drops a resent duplicate, acknowledges once a quarter of the
// sender's window has been taken, and restates its last ACK on a new
// connection.
func ExampleRecvWindow() {
	var w patterns.RecvWindow
	w.SetWindow(8, 0) // the sender's greeting stated window 8: ACK every 2

	fmt.Println("accept", w.Accept(1), w.Accept(2), w.Accept(1)) // 1 again: a resend

	due := w.Take(1, 5) // the application took message 1, 5 bytes
	seq, ok := w.AckNow(false)
	fmt.Println("take 1: due", due, "ack", seq, ok, "arm timer", w.Owed())

	due = w.Take(2, 5)
	seq, ok = w.AckNow(false)
	fmt.Println("take 2: due", due, "ack", seq, ok)

	// A new connection: ACK 2 may have been lost with the old one.
	w.Reconnected()
	seq, ok = w.AckNow(false)
	fmt.Println("reconnected: ack", seq, ok, "settled", w.Settled())
	// Output:
	// accept true true false
	// take 1: due false ack 0 false arm timer true
	// take 2: due true ack 2 true
	// reconnected: ack 2 true settled true
}

func ExampleRoundRobin() {
	var rr patterns.RoundRobin
	full := []bool{false, true, false} // peer 1's queue is at its high-water mark
	ready := func(i int) bool { return !full[i] }
	for range 3 {
		fmt.Print(rr.Pick(len(full), ready), " ")
	}
	fmt.Println()
	// Output: 0 2 0
}

func ExampleFairQueue() {
	var fq patterns.FairQueue
	waiting := []int{3, 0, 1} // messages queued per peer
	for {
		i := fq.Pick(len(waiting), func(i int) bool { return waiting[i] > 0 })
		if i < 0 {
			break
		}
		waiting[i]--
		fmt.Print(i, " ")
	}
	fmt.Println()
	// Output: 0 2 0 0
}

func ExampleBackoff() {
	b := patterns.Backoff{Initial: 100 * time.Millisecond, Max: time.Second}
	// A real caller passes rand.Float64(); 0.5 makes the output stable.
	for range 5 {
		fmt.Print(b.Next(0.5), " ")
	}
	b.Reset() // after a successful handshake
	fmt.Println(b.Next(0.5))
	// Output: 75ms 150ms 300ms 600ms 750ms 75ms
}
