package engine

import (
	"context"
	"errors"
	"testing"

	"github.com/wispmq/wisp/patterns"
)

// TestAckAfterRewindCoversUnresentMessages: after a reconnect the receiver
// may acknowledge messages it took over the old connection before the
// sender has resent them. That is not an ACK beyond what was sent: those
// messages are released and not resent, and the writer restates the
// stream's position with RESUME.
func TestAckAfterRewindCoversUnresentMessages(t *testing.T) {
	s, err := New(Config{Type: Push, Behavior: testBehavior, Emit: func(Event) {}})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	p := newPeer(s, nil)
	for i := range 10 {
		p.push(Msg{First: []byte{byte(i)}})
	}
	p.ledger.TakeUnsent(nil, 10)
	p.sentHigh = 10
	p.ledger.Rewind() // reconnect: everything unacknowledged is unsent again
	if n, err := p.ack(7); err != nil || n != 7 {
		t.Fatalf("ack(7) after rewind: got (%d, %v), want (7, nil)", n, err)
	}
	if !p.resumeNeeded {
		t.Fatal("resumeNeeded: got false, want true")
	}
	if got := p.ledger.FirstUnsentSeq(); got != 8 {
		t.Fatalf("next to resend: got %d, want 8", got)
	}
	if p.heldBytes != 3 {
		t.Fatalf("heldBytes: got %d, want 3", p.heldBytes)
	}
	if _, err := p.ack(11); !errors.Is(err, patterns.ErrAckBeyondSent) {
		t.Fatalf("ack(11) with 10 ever sent: got %v, want ErrAckBeyondSent", err)
	}
}

// sender is the least behaviour an engine needs for tests of the send side
// alone: it sends round robin and takes nothing else.
type sender struct{ e *Engine }

func testBehavior(e *Engine) Behavior { return sender{e} }

func (b sender) Caps() Caps                               { return Caps{SendsData: true, CanSend: true} }
func (b sender) AdmitLocked(*PeerInfo) error              { return nil }
func (b sender) AttachedLocked(*Peer, bool)               {}
func (b sender) DetachedLocked(*Peer)                     {}
func (b sender) GoneLocked(*Peer)                         {}
func (b sender) RehomeLocked(*Peer, *PeerInfo) bool       { return true }
func (b sender) CommandLocked(_ *Peer, cmd Command) error { return UnexpectedCommand(Push, cmd) }
func (b sender) Send(ctx context.Context, m Msg) error    { return b.e.SendRoundRobin(ctx, m) }
func (b sender) Recv(context.Context) (Message, error)    { return nil, NotSupported(Push, "Recv") }
func (b sender) CloseLocked()                             {}
