package socket

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/wispmq/wisp/wire"
)

// The departed tests: a receiving socket forgets a sender that stayed away
// for the resume timeout (EventPeerGone, and it leaves Stats), but keeps
// where its stream stood, so when the same session comes back its resent
// messages are still recognised as duplicates and its last ACK is stated
// again.

// waitPeerLeft waits until s no longer lists the peer of session in Stats:
// it forgot the peer.
func waitPeerLeft(t *testing.T, ctx context.Context, s *Socket, session string) {
	t.Helper()
	waitFor(t, ctx, "the forgotten peer to leave Stats", func() bool {
		for _, p := range s.Stats().Peers {
			if p.Session == session {
				return false
			}
		}
		return true
	})
}

// rawAckOf reads commands from p until an ACK, and returns its sequence.
func rawAckOf(t *testing.T, p *rawPeer) uint64 {
	t.Helper()
	for range 100 {
		cmd, err := p.readCommand()
		if err != nil {
			t.Fatalf("waiting for an ACK: got %v, want one", err)
		}
		if cmd.ID == wire.CmdAck {
			return cmd.Seq
		}
	}
	t.Fatal("no ACK among 100 commands")
	return 0
}

// rawAckUpTo reads ACKs from p until one acknowledges want; the socket may
// acknowledge in several steps before.
func rawAckUpTo(t *testing.T, p *rawPeer, want uint64) {
	t.Helper()
	for range 100 {
		got := rawAckOf(t, p)
		if got == want {
			return
		}
		if got > want {
			t.Fatalf("ACK: got %d, want at most %d", got, want)
		}
	}
	t.Fatalf("no ACK of %d among 100", want)
}

// rawSendRun sends RESUME first and then messages first..last, numbered by
// their bodies.
func rawSendRun(p *rawPeer, first, last uint64) {
	p.command(wire.Command{ID: wire.CmdResume, Seq: first})
	for seq := first; seq <= last; seq++ {
		p.frame(false, []byte(fmt.Sprint(seq)))
	}
}

func TestDepartedSenderComesBack(t *testing.T) {
	ctx := testContext(t)
	pull := newSocket(t, Pull, WithResumeTimeout(50*time.Millisecond))
	ep, err := pull.Bind("tcp://127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	w := rawWatch(pull)
	g := rawGreeting(wire.Push, true)
	session := g.Session.String()

	first := rawDial(t, ep)
	first.handshake(g)
	rawSendRun(first, 1, 5)
	for i, m := range recvN(t, ctx, pull, 5) {
		if got := string(m.Bytes()); got != fmt.Sprint(i+1) {
			t.Fatalf("message %d: got %q, want %d", i, got, i+1)
		}
	}
	rawAckUpTo(t, first, 5)
	first.nc.Close()
	w.wait(t, 0, "the PULL to forget the sender", func(e Event) bool {
		return e.Kind == EventPeerGone && e.Session == session
	})
	waitPeerLeft(t, ctx, pull, session)

	// The same session again, resending 3..7 as a sender that never heard
	// the ACK would: 3, 4 and 5 are duplicates, 6 and 7 are new.
	again := rawDial(t, ep)
	again.handshake(g)
	if got := rawAckOf(t, again); got != 5 {
		t.Fatalf("first ACK on the new connection: got %d, want 5 stated again", got)
	}
	rawSendRun(again, 3, 7)
	for i, m := range recvN(t, ctx, pull, 2) {
		if got := string(m.Bytes()); got != fmt.Sprint(i+6) {
			t.Fatalf("after the return, message %d: got %q, want %d", i, got, i+6)
		}
	}
	if st := pull.Stats(); st.Duplicates != 3 || st.MsgsIn != 7 {
		t.Fatalf("Stats: got %d duplicates and %d messages in, want 3 and 7", st.Duplicates, st.MsgsIn)
	}
}
