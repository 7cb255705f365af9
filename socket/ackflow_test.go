package socket

import (
	"fmt"
	"testing"
)

// TestAckFlowOnKernelSockets streams numbered messages from a PUSH with a
// window of 8 to a PULL over tcp and ipc: every message arrives once and
// in order, Flush sees every one acknowledged, and the ACKs went the
// short way (ackflow.go): some written by the PULL's Recv itself, and the
// PUSH poked its reader for them when three quarters of its window were
// out.
func TestAckFlowOnKernelSockets(t *testing.T) {
	for _, tr := range []string{"tcp", "ipc"} {
		t.Run(tr, func(t *testing.T) {
			ctx := testContext(t)
			nw := newNetwork(t, tr)
			pull := newSocket(t, Pull)
			push := newSocket(t, Push, WithSendHWM(8)) // an ACK every 2 messages, a poke at 6 out
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
			if p := push.e.AckPokes(); p == 0 {
				t.Errorf("times the PUSH poked its reader for ACKs: got 0, want some")
			}
		})
	}
}
