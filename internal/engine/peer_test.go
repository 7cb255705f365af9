package engine

import (
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
	s, err := New(Config{Type: Push, Emit: func(Event) {}})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	p := &Peer{e: s}
	for i := range 10 {
		p.push(msg{first: []byte{byte(i)}, size: 1})
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
