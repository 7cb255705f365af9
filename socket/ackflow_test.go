package socket

import (
	"fmt"
	"runtime"
	"strconv"
	"testing"
	"time"

	"github.com/wispmq/wisp/wire"
)

// TestAckFlowOnKernelSockets streams numbered messages from a PUSH with a
// window of 8 to a PULL over tcp and ipc: every message arrives once and
// in order, Flush sees every one acknowledged, and some of the ACKs were
// written by the PULL's Recv itself (ackflow.go).
func TestAckFlowOnKernelSockets(t *testing.T) {
	for _, tr := range []string{"tcp", "ipc"} {
		t.Run(tr, func(t *testing.T) {
			ctx := testContext(t)
			nw := newNetwork(t, tr)
			pull := newSocket(t, Pull)
			push := newSocket(t, Push, WithSendHWM(8)) // an ACK every 2 messages
			nw.connect(push, nw.bind(pull))
			const n = 500
			got := make(chan error, 1)
			go func() {
				for i := range n {
					m, err := pull.Recv(ctx)
					if err != nil {
						got <- fmt.Errorf("Recv %d: %w", i, err)
						return
					}
					if want := fmt.Sprint(i); len(m) != 1 || string(m[0]) != want {
						got <- fmt.Errorf("message %d: got %q, want [%s]", i, m, want)
						return
					}
				}
				got <- nil
			}()
			for i := range n {
				if err := push.Send(ctx, []byte(fmt.Sprint(i))); err != nil {
					t.Fatalf("Send %d: got error %v, want nil", i, err)
				}
			}
			if err := <-got; err != nil {
				t.Fatal(err)
			}
			if err := push.Flush(ctx); err != nil {
				t.Fatalf("Flush after every message was received: got %v, want nil (all acknowledged)", err)
			}
			if a := pull.e.InlineAcks(); a == 0 {
				t.Errorf("ACKs the PULL's Recv wrote itself: got 0, want some of the %d due", n/2)
			}
		})
	}
}

// TestCloseWritesTheLastACK: a PULL acknowledging every message to a peer
// that reads nothing for now fills its socket buffer with ACKs, so the
// last one Recv writes is cut short and its rest waits for the writer.
// Closing then must still get the last ACK out: the peer reads, after
// Close began, up to the end of the connection, and the last ACK it finds
// covers every message. With one processor the writer has not run before
// Close, which is where the rest was once dropped (found by review).
func TestCloseWritesTheLastACK(t *testing.T) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(1))
	ctx := testContext(t)
	nw := newNetwork(t, "ipc")
	pull := newSocket(t, Pull)
	peer := rawDial(t, nw.bind(pull))
	g := rawGreeting(wire.Push, true)
	g.Window = 4 // an ACK for every message taken
	peer.handshake(g)
	const n = 3000
	stream := wire.Command{ID: wire.CmdResume, Seq: 1}.Append(nil)
	for i := range n {
		stream = wire.AppendFrame(stream, false, []byte(strconv.Itoa(i)))
	}
	peer.mustSend(stream)
	for i := range n {
		m, err := pull.Recv(ctx)
		if err != nil {
			t.Fatalf("Recv %d: got error %v, want nil", i, err)
		}
		if want := strconv.Itoa(i); len(m) != 1 || string(m[0]) != want {
			t.Fatalf("message %d: got %q, want [%s]", i, m, want)
		}
	}
	closed := make(chan error, 1)
	go func() { closed <- pull.Close() }()
	// Give Close the time to end the connection early, as it did when it
	// dropped the rest: with it written first, Close waits for our reads
	// (its linger is 2 s), so this wait can only let the bug show, never
	// fail a correct socket.
	select {
	case err := <-closed:
		closed <- err
	case <-time.After(300 * time.Millisecond):
	}
	var last uint64
	for {
		it, err := peer.readItem()
		if err != nil {
			break // the PULL hung up
		}
		if it.IsCommand && it.Command.ID == wire.CmdAck {
			last = it.Command.Seq
		}
	}
	if err := <-closed; err != nil {
		t.Fatalf("Close: got %v, want nil", err)
	}
	if last != n {
		t.Fatalf("last ACK before the PULL hung up: got %d, want %d (every message taken)", last, n)
	}
}
