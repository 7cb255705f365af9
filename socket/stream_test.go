package socket

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/wispmq/wisp/wire"
)

// TestReturnAfterResumeTimeout: a PULL that leaves for longer than the
// PUSH's resume timeout and comes back with the same session must get the
// new messages. Its stream position survives the PUSH dropping its pipe, so
// the new messages are not numbered as ones the PULL already has.
func TestReturnAfterResumeTimeout(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		// Fake time in the bubble: a regression fails fast, not by hanging.
		ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
		defer cancel()
		push := newSocket(t, Push, WithResumeTimeout(100*time.Millisecond))
		pull := newSocket(t, Pull)
		ep, err := push.Bind("inproc://return-after-resume-timeout")
		if err != nil {
			t.Fatal(err)
		}
		if err := pull.Connect(ep); err != nil {
			t.Fatal(err)
		}
		wait(t, sendAll(ctx, push, 0, 5))
		for i, m := range recvN(t, ctx, pull, 5) {
			if got := number(t, m); got != i {
				t.Fatalf("got %d, want %d", got, i)
			}
		}
		if err := push.Flush(ctx); err != nil {
			t.Fatal(err)
		}
		if err := pull.Disconnect(ep); err != nil {
			t.Fatal(err)
		}
		time.Sleep(time.Second) // well past the resume timeout: the pipe is gone
		synctest.Wait()
		if n := len(push.Stats().Peers); n != 0 {
			t.Fatalf("PUSH peers after the resume timeout: got %d, want 0", n)
		}
		if err := pull.Connect(ep); err != nil {
			t.Fatal(err)
		}
		wait(t, sendAll(ctx, push, 5, 3))
		for i, m := range recvN(t, ctx, pull, 3) {
			if got := number(t, m); got != 5+i {
				t.Fatalf("after returning: got %d, want %d", got, 5+i)
			}
		}
		if err := push.Flush(ctx); err != nil {
			t.Fatalf("Flush: got %v, want nil", err)
		}
		if st := push.Stats(); st.ProtocolErrors != 0 {
			t.Fatalf("PUSH protocol errors: got %d, want 0", st.ProtocolErrors)
		}
	})
}

// TestProtocolErrorIsToldToThePeer: a peer that breaks the protocol after
// the handshake gets an ERROR command saying why before the connection
// closes.
func TestProtocolErrorIsToldToThePeer(t *testing.T) {
	push := newSocket(t, Push)
	ep, err := push.Bind("tcp://127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := rawDial(t, ep)
	p.nc.SetDeadline(time.Now().Add(rawTimeout))
	p.handshake(rawGreeting(wire.Pull, false))
	p.command(wire.Command{ID: wire.CmdAck, Seq: 1000}) // nothing was ever sent
	cmd, err := p.readCommand()
	if err != nil {
		t.Fatalf("reading the socket's answer: got %v, want an ERROR command", err)
	}
	if cmd.ID != wire.CmdError || !strings.Contains(string(cmd.Data), "ACK 1000") {
		t.Fatalf("got %v %q, want ERROR naming ACK 1000", cmd.ID, cmd.Data)
	}
	if _, err := p.drain(); err == nil {
		t.Fatal("connection still open after ERROR, want it closed")
	}
}

// TestSendLargerThanEveryPeerAccepts fails at once instead of waiting for a
// peer that could take the message.
func TestSendLargerThanEveryPeerAccepts(t *testing.T) {
	ctx := testContext(t)
	pull := newSocket(t, Pull, WithMaxMessageSize(100))
	ep, err := pull.Bind("tcp://127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	push := newSocket(t, Push)
	if err := push.Connect(ep); err != nil {
		t.Fatal(err)
	}
	waitKind(t, ctx, push, EventConnected)
	if err := push.Send(ctx, make([]byte, 101)); !errors.Is(err, ErrMessageTooLarge) {
		t.Fatalf("Send of 101 bytes to a peer that takes 100: got %v, want ErrMessageTooLarge", err)
	}
	if err := push.Send(ctx, make([]byte, 100)); err != nil {
		t.Fatalf("Send of 100 bytes: got %v, want nil", err)
	}
	if got := recvN(t, ctx, pull, 1)[0].Size(); got != 100 {
		t.Fatalf("received %d bytes, want 100", got)
	}
}

// TestLingerZeroPullStillAcks: a PULL created WithLinger(0) that takes
// messages and closes at once still writes its final ACK, so the PUSH can
// Flush and never hands those messages to another receiver. (Linger is about
// a sender's own messages; wispcat's tests first showed the gap.)
func TestLingerZeroPullStillAcks(t *testing.T) {
	for round := range 20 {
		ep := "inproc://" + t.Name() + "-" + strconv.Itoa(round)
		pull := newSocket(t, Pull, WithLinger(0))
		if _, err := pull.Bind(ep); err != nil {
			t.Fatal(err)
		}
		push := newSocket(t, Push, WithLinger(0))
		if err := push.Connect(ep); err != nil {
			t.Fatal(err)
		}
		ctx := testContext(t)
		wait(t, sendAll(ctx, push, 0, 3))
		recvN(t, ctx, pull, 3)
		pull.Close()
		// Bounds only the failing case: with the final ACK written (inproc
		// hands it over before Close returns), Flush returns at once.
		fctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		err := push.Flush(fctx)
		cancel()
		if err != nil {
			t.Fatalf("round %d: Flush after the PULL closed: got %v, want nil", round, err)
		}
		push.Close()
	}
}
