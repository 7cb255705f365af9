package patterns

import (
	"errors"
	"math/rand/v2"
	"slices"
	"testing"
)

func TestLedgerZeroValue(t *testing.T) {
	var l Ledger[int]
	if got, want := l.NextSeq(), uint64(1); got != want {
		t.Errorf("NextSeq() = %d, want %d", got, want)
	}
	if got, want := l.AckedSeq(), uint64(0); got != want {
		t.Errorf("AckedSeq() = %d, want %d", got, want)
	}
	if got, want := l.FirstUnsentSeq(), uint64(1); got != want {
		t.Errorf("FirstUnsentSeq() = %d, want %d", got, want)
	}
	if l.Len() != 0 || l.Unsent() != 0 || l.Unacked() != 0 {
		t.Errorf("Len, Unsent, Unacked = %d, %d, %d, want 0, 0, 0", l.Len(), l.Unsent(), l.Unacked())
	}
	if got := l.TakeUnsent(nil, 10); len(got) != 0 {
		t.Errorf("TakeUnsent on empty ledger: got %v, want none", got)
	}
	if n, err := l.Ack(0); n != 0 || err != nil {
		t.Errorf("Ack(0) = %d, %v, want 0, nil", n, err)
	}
	if n, err := l.Ack(1); n != 0 || !errors.Is(err, ErrAckBeyondSent) {
		t.Errorf("Ack(1) on empty ledger = %d, %v, want 0, ErrAckBeyondSent", n, err)
	}
	if got := l.Rewind(); got != 1 {
		t.Errorf("Rewind() = %d, want 1", got)
	}
	if got := l.TakeAll(nil); len(got) != 0 {
		t.Errorf("TakeAll on empty ledger: got %v, want none", got)
	}
	if got := l.Restart(); got != 1 {
		t.Errorf("Restart() = %d, want 1", got)
	}
}

// TestLedgerLifecycle walks one peer's story: send, partial ack, reconnect
// and resend, stale and bogus acks, hand-over to another peer.
func TestLedgerLifecycle(t *testing.T) {
	var l Ledger[string]
	for _, m := range []string{"a", "b", "c", "d", "e"} {
		l.Push(m)
	}
	if got, want := l.TakeUnsent(nil, 3), []string{"a", "b", "c"}; !slices.Equal(got, want) {
		t.Fatalf("TakeUnsent(3): got %v, want %v", got, want)
	}
	if got, want := l.FirstUnsentSeq(), uint64(4); got != want {
		t.Errorf("FirstUnsentSeq() = %d, want %d", got, want)
	}
	n, err := l.Ack(4)
	if n != 0 || !errors.Is(err, ErrAckBeyondSent) {
		t.Fatalf("Ack(4) with 3 sent = %d, %v, want 0, ErrAckBeyondSent", n, err)
	}
	if got, want := err.Error(), "patterns: ack for a message that was never sent: got ack 4, last sent 3"; got != want {
		t.Errorf("Ack(4) error: got %q, want %q", got, want)
	}
	if n, err := l.Ack(2); n != 2 || err != nil {
		t.Fatalf("Ack(2) = %d, %v, want 2, nil", n, err)
	}
	if n, err := l.Ack(1); n != 0 || err != nil {
		t.Errorf("stale Ack(1) = %d, %v, want 0, nil", n, err)
	}
	if got, want := l.Peek(0), "c"; got != want {
		t.Errorf("Peek(0) = %q, want %q", got, want)
	}
	// Reconnect to the same peer: "c" was in flight and goes again.
	if got, want := l.Rewind(), uint64(3); got != want {
		t.Errorf("Rewind() = %d, want %d", got, want)
	}
	if got, want := l.TakeUnsent(nil, 10), []string{"c", "d", "e"}; !slices.Equal(got, want) {
		t.Fatalf("TakeUnsent after Rewind: got %v, want %v", got, want)
	}
	if n, err := l.Ack(3); n != 1 || err != nil {
		t.Fatalf("Ack(3) = %d, %v, want 1, nil", n, err)
	}
	l.Push("f")
	// The peer is gone for good: everything moves elsewhere, numbering goes on.
	if got, want := l.TakeAll(nil), []string{"d", "e", "f"}; !slices.Equal(got, want) {
		t.Fatalf("TakeAll: got %v, want %v", got, want)
	}
	if got, want := l.NextSeq(), uint64(7); got != want {
		t.Errorf("NextSeq() after TakeAll = %d, want %d", got, want)
	}
	if got, want := l.AckedSeq(), uint64(6); got != want {
		t.Errorf("AckedSeq() after TakeAll = %d, want %d", got, want)
	}
	l.Push("g")
	l.Push("h")
	l.TakeUnsent(nil, 1)
	// A new peer session starts numbering at 1 with everything unsent.
	if got, want := l.Restart(), uint64(1); got != want {
		t.Errorf("Restart() = %d, want %d", got, want)
	}
	if l.Len() != 2 || l.Unsent() != 2 || l.NextSeq() != 3 || l.AckedSeq() != 0 {
		t.Errorf("after Restart: Len, Unsent, NextSeq, AckedSeq = %d, %d, %d, %d, want 2, 2, 3, 0",
			l.Len(), l.Unsent(), l.NextSeq(), l.AckedSeq())
	}
}

func TestLedgerTakeUnsentMax(t *testing.T) {
	for _, max := range []int{-1, 0} {
		var l Ledger[int]
		l.Push(1)
		if got := l.TakeUnsent(nil, max); len(got) != 0 || l.Unsent() != 1 {
			t.Errorf("TakeUnsent(max=%d): got %v and %d unsent, want nothing taken and 1 unsent", max, got, l.Unsent())
		}
	}
}

func TestLedgerPeekOutOfRange(t *testing.T) {
	var l Ledger[int]
	l.Push(1)
	for _, i := range []int{-1, 1} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("Peek(%d) with Len 1: got no panic, want one", i)
				}
			}()
			l.Peek(i)
		}()
	}
}

// ledgerModel is the obvious, slow reference: every entry carries its seq.
type ledgerModel struct {
	entries []modelEntry
	next    uint64
	acked   uint64
}

type modelEntry struct {
	seq  uint64
	val  int
	sent bool
}

func newLedgerModel() *ledgerModel { return &ledgerModel{next: 1} }

func (m *ledgerModel) push(v int) {
	m.entries = append(m.entries, modelEntry{seq: m.next, val: v})
	m.next++
}

func (m *ledgerModel) takeUnsent(max int) []int {
	var out []int
	for i := range m.entries {
		if len(out) >= max {
			break
		}
		if !m.entries[i].sent {
			m.entries[i].sent = true
			out = append(out, m.entries[i].val)
		}
	}
	return out
}

func (m *ledgerModel) ack(seq uint64) (int, bool) {
	if seq <= m.acked {
		return 0, true
	}
	last := m.acked
	for _, e := range m.entries {
		if e.sent {
			last = e.seq
		}
	}
	if seq > last {
		return 0, false
	}
	k := 0
	for k < len(m.entries) && m.entries[k].seq <= seq {
		k++
	}
	m.entries = m.entries[k:]
	m.acked = seq
	return k, true
}

func (m *ledgerModel) rewind() uint64 {
	for i := range m.entries {
		m.entries[i].sent = false
	}
	return m.firstUnsent()
}

func (m *ledgerModel) takeAll() []int {
	var out []int
	for _, e := range m.entries {
		out = append(out, e.val)
	}
	m.entries = nil
	m.acked = m.next - 1
	return out
}

func (m *ledgerModel) restart() uint64 {
	for i := range m.entries {
		m.entries[i] = modelEntry{seq: uint64(i + 1), val: m.entries[i].val}
	}
	m.acked = 0
	m.next = uint64(len(m.entries) + 1)
	return m.firstUnsent()
}

func (m *ledgerModel) firstUnsent() uint64 {
	for _, e := range m.entries {
		if !e.sent {
			return e.seq
		}
	}
	return m.next
}

func (m *ledgerModel) counts() (unsent, unacked int) {
	for _, e := range m.entries {
		if e.sent {
			unacked++
		} else {
			unsent++
		}
	}
	return unsent, unacked
}

// runLedgerOps decodes ops (two bytes each: operation, argument), applies
// them to a Ledger and to the model, and compares every accessor after every
// step. Values pushed are 1, 2, 3, ... so a zero slot means released.
func runLedgerOps(t *testing.T, ops []byte) {
	t.Helper()
	var l Ledger[int]
	m := newLedgerModel()
	val := 0
	for step := 0; step+1 < len(ops); step += 2 {
		op, arg := ops[step]%16, ops[step+1]
		var what string
		switch {
		case op <= 6:
			// Pushes come in runs so the ring wraps and grows often.
			for range int(arg%4) + 1 {
				val++
				l.Push(val)
				m.push(val)
			}
			what = "Push"
		case op <= 9:
			max := int(arg%12) - 1
			got := l.TakeUnsent(nil, max)
			want := m.takeUnsent(max)
			if !slices.Equal(got, want) {
				t.Fatalf("step %d TakeUnsent(%d): got %v, want %v", step/2, max, got, want)
			}
			what = "TakeUnsent"
		case op <= 12:
			// Mostly valid acks, plus stale ones and ones beyond what was sent.
			seq := int64(m.acked) + int64(arg%24) - 4
			seq = max(seq, 0)
			n, err := l.Ack(uint64(seq))
			wn, ok := m.ack(uint64(seq))
			if n != wn || (err == nil) != ok || (err != nil && !errors.Is(err, ErrAckBeyondSent)) {
				t.Fatalf("step %d Ack(%d): got %d, %v, want %d, ok=%v", step/2, seq, n, err, wn, ok)
			}
			what = "Ack"
		case op == 13:
			if got, want := l.Rewind(), m.rewind(); got != want {
				t.Fatalf("step %d Rewind(): got %d, want %d", step/2, got, want)
			}
			what = "Rewind"
		case op == 14:
			if got, want := l.TakeAll(nil), m.takeAll(); !slices.Equal(got, want) {
				t.Fatalf("step %d TakeAll(): got %v, want %v", step/2, got, want)
			}
			what = "TakeAll"
		default:
			if got, want := l.Restart(), m.restart(); got != want {
				t.Fatalf("step %d Restart(): got %d, want %d", step/2, got, want)
			}
			what = "Restart"
		}
		checkLedger(t, &l, m, step/2, what)
	}
}

func checkLedger(t *testing.T, l *Ledger[int], m *ledgerModel, step int, what string) {
	t.Helper()
	unsent, unacked := m.counts()
	type state struct {
		Len, Unsent, Unacked           int
		NextSeq, AckedSeq, FirstUnsent uint64
	}
	got := state{l.Len(), l.Unsent(), l.Unacked(), l.NextSeq(), l.AckedSeq(), l.FirstUnsentSeq()}
	want := state{len(m.entries), unsent, unacked, m.next, m.acked, m.firstUnsent()}
	if got != want {
		t.Fatalf("after step %d (%s): got %+v, want %+v", step, what, got, want)
	}
	for i, e := range m.entries {
		if v := l.Peek(i); v != e.val {
			t.Fatalf("after step %d (%s): Peek(%d) = %d, want %d", step, what, i, v, e.val)
		}
	}
	// Released slots must be zero so the GC can free what they referenced.
	for i := l.n; i < len(l.buf); i++ {
		if v := l.buf[l.index(i)]; v != 0 {
			t.Fatalf("after step %d (%s): free ring slot %d holds %d, want 0", step, what, l.index(i), v)
		}
	}
	if c := len(l.buf); c != 0 && c&(c-1) != 0 {
		t.Fatalf("after step %d (%s): ring size %d, want a power of two", step, what, c)
	}
}

func TestLedgerModel(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	ops := make([]byte, 300)
	for range 2000 {
		for i := range ops {
			ops[i] = byte(rng.Uint32())
		}
		runLedgerOps(t, ops)
		if t.Failed() {
			t.Logf("ops: %x", ops)
			return
		}
	}
}

func FuzzLedger(f *testing.F) {
	f.Add([]byte{0, 3, 7, 5, 10, 2, 13, 0, 7, 9, 11, 9, 14, 0, 15, 0})
	f.Fuzz(func(t *testing.T, ops []byte) {
		// Every step checks every held message, so the cost is quadratic in
		// the length; 512 operations reach every state a longer run does.
		if len(ops) > 512 {
			ops = ops[:512]
		}
		runLedgerOps(t, ops)
	})
}

func TestLedgerSteadyStateAllocs(t *testing.T) {
	var l Ledger[[]byte]
	msg := []byte("payload")
	dst := make([]([]byte), 0, 64)
	cycle := func() {
		for range 32 {
			l.Push(msg)
		}
		dst = l.TakeUnsent(dst[:0], 64)
		if _, err := l.Ack(l.AckedSeq() + uint64(len(dst))); err != nil {
			t.Fatalf("Ack: got %v, want nil", err)
		}
	}
	cycle() // warm the ring
	if got := testing.AllocsPerRun(100, cycle); got != 0 {
		t.Errorf("allocations per Push/TakeUnsent/Ack cycle: got %v, want 0", got)
	}
}

func BenchmarkLedgerPushTakeAck(b *testing.B) {
	const batch = 64
	var l Ledger[[]byte]
	msg := []byte("payload")
	dst := make([][]byte, 0, batch)
	b.ReportAllocs()
	for b.Loop() {
		for range batch {
			l.Push(msg)
		}
		dst = l.TakeUnsent(dst[:0], batch)
		if _, err := l.Ack(l.NextSeq() - 1); err != nil {
			b.Fatalf("Ack: got %v, want nil", err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*batch), "ns/msg")
}

func TestLedgerRestartAt(t *testing.T) {
	var l Ledger[int]
	for i := range 3 {
		l.Push(i)
	}
	l.TakeUnsent(nil, 2)
	if got := l.RestartAt(41); got != 41 {
		t.Fatalf("RestartAt(41): got %d, want 41", got)
	}
	if l.AckedSeq() != 40 || l.Unsent() != 3 || l.NextSeq() != 44 {
		t.Fatalf("after RestartAt(41): acked %d unsent %d next %d, want 40 3 44", l.AckedSeq(), l.Unsent(), l.NextSeq())
	}
	l.TakeUnsent(nil, 3)
	if n, err := l.Ack(43); n != 3 || err != nil {
		t.Fatalf("Ack(43): got (%d, %v), want (3, nil)", n, err)
	}
	if got := l.RestartAt(0); got != 1 {
		t.Fatalf("RestartAt(0): got %d, want 1 (sequences start at 1)", got)
	}
}
