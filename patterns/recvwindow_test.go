package patterns

import (
	"fmt"
	"math"
	"math/bits"
	"math/rand/v2"
	"testing"
)

// rwStep is one call on a RecvWindow in a table test, with the answer it
// must give; run returns "" or what went wrong.
type rwStep struct {
	desc string
	run  func(w *RecvWindow) string
}

func rwSetWindow(msgs uint32, bytes uint64) rwStep {
	return rwStep{fmt.Sprintf("SetWindow(%d, %d)", msgs, bytes), func(w *RecvWindow) string {
		w.SetWindow(msgs, bytes)
		return ""
	}}
}

func rwAccept(seq uint64, want bool) rwStep {
	return rwStep{fmt.Sprintf("Accept(%d)", seq), func(w *RecvWindow) string {
		if got := w.Accept(seq); got != want {
			return fmt.Sprintf("got %v, want %v", got, want)
		}
		return ""
	}}
}

func rwTake(seq uint64, size int, wantDue bool) rwStep {
	return rwStep{fmt.Sprintf("Take(%d, %d)", seq, size), func(w *RecvWindow) string {
		if got := w.Take(seq, size); got != wantDue {
			return fmt.Sprintf("got due %v, want %v", got, wantDue)
		}
		return ""
	}}
}

func rwAckNow(urgent bool, wantSeq uint64, wantOK bool) rwStep {
	return rwStep{fmt.Sprintf("AckNow(%v)", urgent), func(w *RecvWindow) string {
		if seq, ok := w.AckNow(urgent); seq != wantSeq || ok != wantOK {
			return fmt.Sprintf("got (%d, %v), want (%d, %v)", seq, ok, wantSeq, wantOK)
		}
		return ""
	}}
}

func rwReconnected() rwStep {
	return rwStep{"Reconnected()", func(w *RecvWindow) string {
		w.Reconnected()
		return ""
	}}
}

// rwState checks the accessors; owed also checks Settled, its negation.
func rwState(last, taken, acked uint64, owed bool) rwStep {
	return rwStep{"state", func(w *RecvWindow) string {
		type state struct {
			Last, Taken, Acked uint64
			Owed, Settled      bool
		}
		got := state{w.Last(), w.Taken(), w.Acked(), w.Owed(), w.Settled()}
		want := state{last, taken, acked, owed, !owed}
		if got != want {
			return fmt.Sprintf("got %+v, want %+v", got, want)
		}
		return ""
	}}
}

// rwAcceptTake accepts and takes seqs first..last, size bytes each, none of
// them due.
func rwAcceptTake(first, last uint64, size int) []rwStep {
	var steps []rwStep
	for s := first; s <= last; s++ {
		steps = append(steps, rwAccept(s, true), rwTake(s, size, false))
	}
	return steps
}

func TestRecvWindowRules(t *testing.T) {
	cat := func(parts ...[]rwStep) []rwStep {
		var all []rwStep
		for _, p := range parts {
			all = append(all, p...)
		}
		return all
	}
	tests := []struct {
		name  string
		steps []rwStep
	}{
		{"zero value acknowledges every message at once", []rwStep{
			rwState(0, 0, 0, false),
			rwAckNow(false, 0, false),
			rwAckNow(true, 0, false), // nothing owed: even urgent sends nothing
			rwAccept(1, true),
			rwState(1, 0, 0, false), // accepted is not taken
			rwTake(1, 100, true),
			rwState(1, 1, 0, true),
			rwAckNow(false, 1, true),
			rwState(1, 1, 1, false),
			rwAckNow(false, 0, false),
		}},
		{"SetWindow(0, 0) gives interval 1", []rwStep{
			rwSetWindow(0, 0),
			rwAccept(1, true),
			rwTake(1, 0, true),
			rwAckNow(false, 1, true),
		}},
		{"window below 4 gives interval 1", []rwStep{
			rwSetWindow(3, 3),
			rwAccept(1, true),
			rwTake(1, 0, true),
			rwAckNow(false, 1, true),
		}},
		{"duplicates and seq 0 are dropped", []rwStep{
			rwAccept(0, false),
			rwAccept(1, true),
			rwAccept(2, true),
			rwAccept(2, false),
			rwAccept(1, false),
			rwAccept(0, false),
			rwState(2, 0, 0, false),
			rwAccept(3, true),
			rwState(3, 0, 0, false),
		}},
		{"a gap is new and later numbers below it are duplicates", []rwStep{
			rwAccept(1, true),
			rwAccept(5, true),
			rwAccept(3, false),
			rwAccept(6, true),
			rwAccept(math.MaxUint64, true),
			rwAccept(math.MaxUint64, false),
			rwState(math.MaxUint64, 0, 0, false),
		}},
		{"message interval is a quarter of the window", cat(
			[]rwStep{rwSetWindow(16, 0)},
			rwAcceptTake(1, 3, 1<<30), // no byte bound: size does not matter
			[]rwStep{
				rwAckNow(false, 0, false), // 3 of 4: the engine arms the timer
				rwState(3, 3, 0, true),
				rwAccept(4, true),
				rwTake(4, 1, true),
				rwAckNow(false, 4, true),
				rwState(4, 4, 4, false),
			},
			rwAcceptTake(5, 7, 1), // counting restarts at the ACK
			[]rwStep{rwAccept(8, true), rwTake(8, 1, true)},
		)},
		{"message interval counts skipped numbers", []rwStep{
			rwSetWindow(16, 0),
			rwAccept(1, true),
			rwTake(1, 1, false),
			rwAccept(4, true), // 2 and 3 went to other receivers
			rwTake(4, 1, true),
			rwAckNow(false, 4, true),
		}},
		{"byte interval is a quarter of the byte window", []rwStep{
			rwSetWindow(1000, 400),
			rwAccept(1, true),
			rwTake(1, 60, false),
			rwAccept(2, true),
			rwTake(2, 39, false),
			rwAckNow(false, 0, false), // 99 of 100 bytes
			rwAccept(3, true),
			rwTake(3, 1, true),
			rwAckNow(false, 3, true),
			rwAccept(4, true),
			rwTake(4, 99, false), // bytes count from the ACK
			rwAccept(5, true),
			rwTake(5, 1, true),
		}},
		{"one large message reaches the byte interval", []rwStep{
			rwSetWindow(1000, 1<<20),
			rwAccept(1, true),
			rwTake(1, 1<<18, true),
		}},
		{"byte window below 4 gives byte interval 1", []rwStep{
			rwSetWindow(1000, 1),
			rwAccept(1, true),
			rwTake(1, 0, false), // an empty message adds no bytes
			rwAccept(2, true),
			rwTake(2, 1, true),
		}},
		{"negative size counts as 0", []rwStep{
			rwSetWindow(1000, 8),
			rwAccept(1, true),
			rwTake(1, 1, false),
			rwAccept(2, true),
			rwTake(2, -100, false),
			rwAccept(3, true),
			rwTake(3, 1, true), // 2 bytes of 2: the negative size took none away
		}},
		{"huge sizes saturate instead of wrapping", []rwStep{
			rwSetWindow(1000, math.MaxUint64),
			rwAccept(1, true),
			rwTake(1, math.MaxInt, true),
			rwAccept(2, true),
			rwTake(2, math.MaxInt, true), // 2^64-2 bytes since the last ACK
			rwAccept(3, true),
			rwTake(3, 3, true), // wrapped, the sum would be 1 byte, short of 2^62
		}},
		{"urgent sends what is owed, below the interval", []rwStep{
			rwSetWindow(100, 0),
			rwAccept(1, true),
			rwAccept(2, true),
			rwTake(1, 10, false),
			rwAckNow(false, 0, false),
			rwAckNow(true, 1, true), // the delayed-ACK timer fired
			rwState(2, 1, 1, false),
			rwAckNow(true, 0, false), // nothing new: no ACK even when urgent
			rwTake(2, 10, false),
			rwAckNow(true, 2, true),
		}},
		{"restate after Reconnected", []rwStep{
			rwSetWindow(100, 0),
			rwAccept(1, true),
			rwTake(1, 10, false),
			rwAckNow(true, 1, true),
			rwState(1, 1, 1, false),
			rwReconnected(),
			rwState(1, 1, 1, true),
			rwAckNow(false, 1, true), // nothing new, stated again anyway
			rwState(1, 1, 1, false),
			rwAckNow(false, 0, false), // once per connection
			rwReconnected(),
			rwReconnected(), // two reconnects before a write: still one restatement
			rwAckNow(false, 1, true),
			rwAckNow(false, 0, false),
		}},
		{"restate covers what was taken since the last ACK", []rwStep{
			rwSetWindow(100, 0),
			rwAccept(1, true),
			rwAccept(2, true),
			rwTake(1, 10, false),
			rwAckNow(true, 1, true),
			rwTake(2, 10, false),
			rwReconnected(),
			rwAckNow(false, 2, true),
			rwState(2, 2, 2, false),
		}},
		{"Reconnected with nothing taken owes nothing", []rwStep{
			rwSetWindow(100, 0),
			rwAccept(1, true),
			rwReconnected(),
			rwState(1, 0, 0, false),
			rwAckNow(false, 0, false),
			rwTake(1, 1, false), // the new connection's first ACK is an ordinary one
			rwAckNow(false, 0, false),
			rwAckNow(true, 1, true),
		}},
		{"Settled once every taken message is acknowledged", []rwStep{
			rwSetWindow(100, 0),
			rwState(0, 0, 0, false),
			rwAccept(1, true),
			rwAccept(2, true),
			rwState(2, 0, 0, false), // queued but not taken: nothing to acknowledge
			rwTake(1, 1, false),
			rwState(2, 1, 0, true),
			rwAckNow(true, 1, true), // closing
			rwState(2, 1, 1, false),
			rwReconnected(),
			rwState(2, 1, 1, true),
		}},
		{"out-of-order and bogus Take are ignored", []rwStep{
			rwSetWindow(100, 4),
			rwAccept(1, true),
			rwAccept(2, true),
			rwAccept(3, true),
			rwTake(0, 1000, false),
			rwTake(4, 1000, false), // never arrived: a caller bug
			rwState(3, 0, 0, false),
			rwTake(2, 0, false), // takes 1 along: ACK is cumulative
			rwTake(1, 1000, false),
			rwTake(2, 1000, false),
			rwState(3, 2, 0, true),
			rwTake(3, 0, false), // the ignored sizes did not count
			rwAckNow(true, 3, true),
		}},
		{"SetWindow applies to what was taken before it", []rwStep{
			rwSetWindow(100, 0),
			rwAccept(1, true),
			rwTake(1, 1, false),
			rwAccept(2, true),
			rwTake(2, 1, false),
			rwSetWindow(8, 0), // interval 2: already reached
			rwAckNow(false, 2, true),
			rwAccept(3, true),
			rwTake(3, 1, false),
			rwSetWindow(100, 0),
			rwAckNow(false, 0, false),
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var w RecvWindow
			for i, s := range tt.steps {
				if msg := s.run(&w); msg != "" {
					t.Fatalf("step %d %s: %s", i, s.desc, msg)
				}
			}
		})
	}
}

func TestRecvWindowCopyIsIndependent(t *testing.T) {
	var w RecvWindow
	w.SetWindow(100, 0)
	w.Accept(1)
	w.Take(1, 1)
	c := w
	if seq, ok := c.AckNow(true); seq != 1 || !ok {
		t.Fatalf("copy AckNow(true): got (%d, %v), want (1, true)", seq, ok)
	}
	if got, want := w.Acked(), uint64(0); got != want {
		t.Errorf("original Acked() after the copy acknowledged: got %d, want %d", got, want)
	}
}

func TestRecvWindowAllocs(t *testing.T) {
	var w RecvWindow
	w.SetWindow(64, 1<<20)
	seq := uint64(0)
	acks := 0
	cycle := func() {
		seq++
		w.Accept(seq)
		w.Accept(seq) // a duplicate
		w.Take(seq, 100)
		if _, ok := w.AckNow(false); ok {
			acks++
		}
	}
	if got := testing.AllocsPerRun(1000, cycle); got != 0 {
		t.Errorf("allocations per Accept/Take/AckNow cycle: got %v, want 0", got)
	}
	// 1001 cycles (AllocsPerRun warms up once) at interval 16.
	if want := 1001 / 16; acks != want {
		t.Errorf("ACKs sent in the allocation run: got %d, want %d", acks, want)
	}
}

// recvModel is the obvious, slow reference for RecvWindow: it keeps every
// number accepted, the queue of accepted messages not yet taken, and the
// size of every message taken since the last ACK, and recomputes the rest.
type recvModel struct {
	accepted  []uint64 // every seq accepted, in arrival order
	queue     []uint64 // accepted, not yet taken, in order
	taken     uint64
	acked     uint64
	msgs      uint32 // the window as stated
	bytes     uint64
	sinceAck  []int // sizes taken since the last ACK
	reconnect bool  // Reconnected since the last ACK, with something taken
}

func (m *recvModel) last() uint64 {
	var h uint64
	for _, s := range m.accepted {
		h = max(h, s)
	}
	return h
}

func (m *recvModel) accept(seq uint64) bool {
	if seq == 0 || seq <= m.last() {
		return false
	}
	m.accepted = append(m.accepted, seq)
	m.queue = append(m.queue, seq)
	return true
}

// reached reports whether the interval is reached, spelling the rules out
// in the spec's terms: a quarter of the window, at least one.
func (m *recvModel) reached() bool {
	msgInterval := uint64(m.msgs) / 4
	if msgInterval < 1 {
		msgInterval = 1
	}
	if m.taken-m.acked >= msgInterval {
		return true
	}
	if m.bytes == 0 {
		return false
	}
	byteInterval := m.bytes / 4
	if byteInterval < 1 {
		byteInterval = 1
	}
	var sum uint64
	for _, size := range m.sinceAck {
		var carry uint64
		sum, carry = bits.Add64(sum, uint64(size), 0)
		if carry != 0 {
			return true // more than 2^64 bytes reaches any interval
		}
	}
	return sum >= byteInterval
}

func (m *recvModel) take(seq uint64, size int) bool {
	if seq <= m.taken || seq > m.last() {
		return false
	}
	for len(m.queue) > 0 && m.queue[0] <= seq {
		m.queue = m.queue[1:]
	}
	m.taken = seq
	m.sinceAck = append(m.sinceAck, max(size, 0))
	return m.reached()
}

func (m *recvModel) owed() bool { return m.taken > m.acked || m.reconnect }

func (m *recvModel) ackNow(urgent bool) (uint64, bool) {
	if !m.owed() || !(urgent || m.reconnect || m.reached()) {
		return 0, false
	}
	m.acked = m.taken
	m.sinceAck = nil
	m.reconnect = false
	return m.taken, true
}

var (
	fuzzWindowMsgs  = [8]uint32{0, 1, 4, 7, 8, 16, 1000, math.MaxUint32}
	fuzzWindowBytes = [8]uint64{0, 0, 1, 4, 100, 1000, 1 << 20, math.MaxUint64}
	fuzzSizes       = [8]int{0, 1, -5, 10, 100, 1000, 1 << 20, math.MaxInt}
)

// runRecvWindowOps decodes ops (two bytes each: operation, argument),
// applies them to a RecvWindow and to the model, and checks the answers and
// the invariants after every step.
func runRecvWindowOps(t *testing.T, ops []byte) {
	t.Helper()
	var w RecvWindow
	var m recvModel
	// mustAck* record promises AckNow(false) has to keep: an interval Take
	// reported as reached (until SetWindow moves it), and a restatement.
	mustAckDue, mustAckRestate := false, false
	for step := 0; step+1 < len(ops); step += 2 {
		op, arg := ops[step]%16, ops[step+1]
		var what string
		switch {
		case op == 0:
			msgs, bytes := fuzzWindowMsgs[arg%8], fuzzWindowBytes[arg/8%8]
			w.SetWindow(msgs, bytes)
			m.msgs, m.bytes = msgs, bytes
			mustAckDue = false
			what = fmt.Sprintf("SetWindow(%d, %d)", msgs, bytes)
		case op <= 4:
			// Mostly the next number, plus duplicates, 0, gaps and the
			// largest number there is.
			seq := uint64(math.MaxUint64)
			if arg != 0xff {
				last, delta := m.last(), int(arg%16)-6
				switch {
				case delta < 0 && last < uint64(-delta):
					seq = 0
				case delta < 0:
					seq = last - uint64(-delta)
				case last <= math.MaxUint64-uint64(delta):
					seq = last + uint64(delta)
				}
			}
			got, want := w.Accept(seq), m.accept(seq)
			what = fmt.Sprintf("Accept(%d)", seq)
			if got != want {
				t.Fatalf("step %d %s: got %v, want %v", step/2, what, got, want)
			}
		case op <= 9:
			// The next message in order; op 9 tries one Take must ignore.
			size := fuzzSizes[arg%8]
			seq := m.taken + 1 // nothing queued: beyond Last, or 0 after the last number
			if len(m.queue) > 0 {
				seq = m.queue[0]
			}
			if op == 9 {
				switch arg / 8 % 4 {
				case 0:
					seq = 0
				case 1:
					seq = m.taken
				case 2:
					seq = m.last() + 1
				default:
					seq = m.taken - min(m.taken, uint64(arg/32))
				}
			}
			got, want := w.Take(seq, size), m.take(seq, size)
			what = fmt.Sprintf("Take(%d, %d)", seq, size)
			if got != want {
				t.Fatalf("step %d %s: got due %v, want %v", step/2, what, got, want)
			}
			mustAckDue = mustAckDue || got
		case op == 13:
			w.Reconnected()
			m.reconnect = m.taken > 0
			mustAckRestate = w.Taken() > 0
			what = "Reconnected()"
		default:
			urgent := op <= 12 && arg&1 == 1
			seq, ok := w.AckNow(urgent)
			wseq, wok := m.ackNow(urgent)
			what = fmt.Sprintf("AckNow(%v)", urgent)
			if seq != wseq || ok != wok {
				t.Fatalf("step %d %s: got (%d, %v), want (%d, %v)", step/2, what, seq, ok, wseq, wok)
			}
			if ok && (seq != w.Taken() || seq == 0) {
				t.Fatalf("step %d %s: got seq %d with Taken() %d, want seq == Taken() > 0", step/2, what, seq, w.Taken())
			}
			if !ok && seq != 0 {
				t.Fatalf("step %d %s: got seq %d without ok, want 0", step/2, what, seq)
			}
			if !urgent && (mustAckDue || mustAckRestate) && !ok {
				t.Fatalf("step %d %s: got no ACK, want one (due %v, restate %v)", step/2, what, mustAckDue, mustAckRestate)
			}
			if ok {
				mustAckDue, mustAckRestate = false, false
			}
		}
		checkRecvWindow(t, &w, &m, step/2, what, mustAckDue || mustAckRestate)
	}
}

func checkRecvWindow(t *testing.T, w *RecvWindow, m *recvModel, step int, what string, mustAck bool) {
	t.Helper()
	type state struct {
		Last, Taken, Acked uint64
		Owed, Settled      bool
	}
	got := state{w.Last(), w.Taken(), w.Acked(), w.Owed(), w.Settled()}
	want := state{m.last(), m.taken, m.acked, m.owed(), !m.owed()}
	if got != want {
		t.Fatalf("after step %d (%s): got %+v, want %+v", step, what, got, want)
	}
	if !(got.Acked <= got.Taken && got.Taken <= got.Last) {
		t.Fatalf("after step %d (%s): got Acked %d, Taken %d, Last %d, want Acked <= Taken <= Last", step, what, got.Acked, got.Taken, got.Last)
	}
	if got.Owed == got.Settled {
		t.Fatalf("after step %d (%s): got Owed %v and Settled %v, want opposites", step, what, got.Owed, got.Settled)
	}
	// Ask copies, which leave w as it is: an urgent ACK goes out exactly
	// when one is owed, and a promised one goes out without urgency.
	c := *w
	if seq, ok := c.AckNow(true); ok != got.Owed || (ok && seq != got.Taken) {
		t.Fatalf("after step %d (%s): copy AckNow(true) = (%d, %v), want (%d, %v)", step, what, seq, ok, got.Taken, got.Owed)
	}
	if mustAck {
		c = *w
		if seq, ok := c.AckNow(false); !ok || seq != got.Taken {
			t.Fatalf("after step %d (%s): copy AckNow(false) = (%d, %v), want (%d, true)", step, what, seq, ok, got.Taken)
		}
	}
	// Budget is what is left of the interval, or a whole interval when an
	// ACK is due now: taking that much makes an ACK due (a copy says so).
	msgs, bytes := w.Budget()
	if msgs == 0 || bytes == 0 {
		t.Fatalf("after step %d (%s): Budget() = (%d, %d), want both at least 1", step, what, msgs, bytes)
	}
	if !m.reached() && m.last()-m.taken >= msgs {
		c = *w
		if !c.Take(m.taken+msgs, 0) {
			t.Fatalf("after step %d (%s): Budget() = (%d, %d) but taking %d more is not due", step, what, msgs, bytes, msgs)
		}
	}
}

func TestRecvWindowModel(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	ops := make([]byte, 300)
	for range 2000 {
		for i := range ops {
			ops[i] = byte(rng.Uint32())
		}
		runRecvWindowOps(t, ops)
		if t.Failed() {
			t.Logf("ops: %x", ops)
			return
		}
	}
}

// FuzzRecvWindow applies arbitrary sequences of SetWindow, Accept, Take,
// AckNow and Reconnected and compares every answer with the model.
func FuzzRecvWindow(f *testing.F) {
	f.Add([]byte{0, 0x0d, 1, 7, 5, 1, 1, 7, 5, 2, 10, 0, 13, 0, 14, 0})
	f.Fuzz(func(t *testing.T, ops []byte) {
		// The model scans everything accepted at every step, so the cost is
		// quadratic in the length; 1024 bytes reach every state a longer
		// run does.
		if len(ops) > 1024 {
			ops = ops[:1024]
		}
		runRecvWindowOps(t, ops)
	})
}

// TestRecvWindowBudget: what is left of the interval after each Take, in
// messages and in bytes, and a whole interval once an ACK is due.
func TestRecvWindowBudget(t *testing.T) {
	var w RecvWindow
	w.SetWindow(12, 400) // every 3 messages or 100 bytes
	for seq := uint64(1); seq <= 5; seq++ {
		w.Accept(seq)
	}
	steps := []struct {
		seq         uint64
		size        int
		msgs, bytes uint64
		wantDue     bool
	}{
		{seq: 1, size: 10, msgs: 2, bytes: 90},
		{seq: 2, size: 30, msgs: 1, bytes: 60},
		{seq: 3, size: 5, msgs: 3, bytes: 100, wantDue: true}, // due: counted from that ACK
		{seq: 4, size: 100, msgs: 3, bytes: 100, wantDue: true},
	}
	for _, st := range steps {
		if due := w.Take(st.seq, st.size); due != st.wantDue {
			t.Fatalf("Take(%d, %d): got due %v, want %v", st.seq, st.size, due, st.wantDue)
		}
		if msgs, bytes := w.Budget(); msgs != st.msgs || bytes != st.bytes {
			t.Fatalf("Budget() after Take(%d, %d): got (%d, %d), want (%d, %d)", st.seq, st.size, msgs, bytes, st.msgs, st.bytes)
		}
	}
	w.AckNow(false)
	if msgs, bytes := w.Budget(); msgs != 3 || bytes != 100 {
		t.Fatalf("Budget() after the ACK: got (%d, %d), want (3, 100)", msgs, bytes)
	}
	var none RecvWindow
	none.SetWindow(8, 0)
	if msgs, bytes := none.Budget(); msgs != 2 || bytes != math.MaxUint64 {
		t.Fatalf("Budget() with no byte window: got (%d, %d), want (2, MaxUint64)", msgs, bytes)
	}
}
