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

// TestNoInlineWriteWhileStreaming: with acknowledgements, Send writes a
// lone small message itself when the peer acknowledged everything, unless
// the connection streams: after the writer took several messages at once,
// the next one goes to the writer too, and after a batch of one Send writes
// again. A batch an inline write takes (what one SendMany queued) says
// nothing about streaming. Without acknowledgements the rule is the quiet
// interval, whatever the last batch was.
func TestNoInlineWriteWhileStreaming(t *testing.T) {
	s, err := New(Config{Type: Push, Behavior: testBehavior, Emit: func(Event) {}, Options: Options{Acks: true, SendHWM: 100, SendHWMBytes: 1 << 20}})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	p := newPeer(s, nil)
	c := &conn{s: s, p: p, inlineOK: true}
	p.conn.Store(c)
	// kick pushes n messages of one byte and reports whether Send would
	// write the first itself; the writer, never started, is not woken.
	kick := func(n int) bool {
		s.mu.Lock()
		defer s.mu.Unlock()
		c.idle = true
		var first *conn
		for i := range n {
			p.push(Msg{First: []byte{1}})
			if w := s.kickLocked(p, 1); i == 0 {
				first = w
			}
		}
		return first != nil
	}
	// take is the writer (or an inline Send) taking what is queued, and the
	// peer acknowledging it.
	take := func(inline bool) int {
		batch, _ := c.takeBatch(nil, false, inline)
		s.mu.Lock()
		defer s.mu.Unlock()
		if _, err := p.ack(p.ledger.FirstUnsentSeq() - 1); err != nil {
			t.Fatal(err)
		}
		return len(batch)
	}
	if !kick(1) {
		t.Fatal("a lone message to an idle connection: got no inline write, want one")
	}
	take(true)
	if kick(2); take(true) != 2 {
		t.Fatal("an inline Send's batch: want the 2 messages it queued")
	}
	if !kick(1) {
		t.Fatal("a lone message after an inline batch of 2: got no inline write, want one")
	}
	take(true)
	if kick(3); take(false) != 3 {
		t.Fatal("the writer's batch: want the 3 messages")
	}
	if kick(1) {
		t.Fatal("a lone message after the writer's batch of 3: got an inline write, want the writer")
	}
	if take(false) != 1 {
		t.Fatal("the writer's batch: want the 1 message")
	}
	if !kick(1) {
		t.Fatal("a lone message after a batch of 1: got no inline write, want one")
	}
	take(true)

	// Without acknowledgements: a connection quiet for inlineQuiet writes
	// inline even after the writer's batch of 3.
	s.opts.Acks = false
	c.noWait = &noWaitConn{}
	c.lastWrite.Store(nanotime() - 2*int64(inlineQuiet))
	if kick(3); take(false) != 3 || !c.streaming {
		t.Fatal("the writer's batch: want the 3 messages, and the connection streaming")
	}
	if !kick(1) {
		t.Fatal("without acknowledgements, a lone message to a quiet connection after a batch of 3: got no inline write, want one")
	}
}
