package socket

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"
)

func TestSpoolOptionsRefused(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct {
		name string
		typ  Type
		opts []Option
	}{
		{"PULL", Pull, []Option{WithSpool(dir)}},
		{"DEALER", Dealer, []Option{WithSpool(dir)}},
		{"ZMTP", Push, []Option{WithSpool(dir), WithProtocol(ZMTP)}},
		{"acks off", Push, []Option{WithSpool(dir), WithAcks(false)}},
		{"fail fast", Push, []Option{WithSpool(dir), WithFailFast(true)}},
		{"sync without spool", Push, []Option{WithSpoolSync(SpoolSyncNone)}},
		{"limit without spool", Push, []Option{WithSpoolLimit(1 << 20)}},
		{"small limit", Push, []Option{WithSpool(dir), WithSpoolLimit(100)}},
		{"zero interval", Push, []Option{WithSpool(dir), WithSpoolSync(SpoolSyncEvery(0))}},
		{"empty dir", Push, []Option{WithSpool("")}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, err := New(tc.typ, tc.opts...)
			if err == nil {
				s.Close()
				t.Fatal("New: got nil error")
			}
			if !errors.Is(err, ErrInvalidOption) {
				t.Fatalf("New: got %v, want ErrInvalidOption", err)
			}
		})
	}
}

func TestParseSpoolSync(t *testing.T) {
	for in, want := range map[string]SpoolSync{"always": SpoolSyncAlways, "none": SpoolSyncNone, "250ms": SpoolSyncEvery(250 * time.Millisecond)} {
		got, err := ParseSpoolSync(in)
		if err != nil || got != want || got.String() != in {
			t.Errorf("ParseSpoolSync(%q) = %v, %v", in, got, err)
		}
	}
	for _, in := range []string{"", "sometimes", "-1s", "0s"} {
		if _, err := ParseSpoolSync(in); !errors.Is(err, ErrInvalidOption) {
			t.Errorf("ParseSpoolSync(%q): %v, want ErrInvalidOption", in, err)
		}
	}
}

// spoolPush makes a spooling PUSH on dir; the test closes it.
func spoolPush(t *testing.T, dir string, opts ...Option) *Socket {
	t.Helper()
	s, err := New(Push, append([]Option{WithSpool(dir), WithSpoolSync(SpoolSyncNone)}, opts...)...)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return s
}

func TestSpoolResendsAfterRestart(t *testing.T) {
	ctx := testContext(t)
	dir := t.TempDir()
	nw := newNetwork(t, "tcp")
	ep := nw.reserve()

	// No receiver: everything stays spooled, and Close says so.
	push := spoolPush(t, dir, WithLinger(0))
	nw.connect(push, ep)
	wait(t, sendAll(ctx, push, 0, 100))
	if st := push.Stats(); st.Spooled != 100 {
		t.Fatalf("Stats.Spooled %d, want 100", st.Spooled)
	}
	err := push.Close()
	if !errors.Is(err, ErrUndelivered) {
		t.Fatalf("Close: got %v, want ErrUndelivered", err)
	}
	t.Log(err)

	pull := newSocket(t, Pull)
	nw.bindAt(pull, ep)
	push = spoolPush(t, dir)
	nw.connect(push, ep)
	if st := push.Stats(); st.Spooled != 100 {
		t.Fatalf("after reopening Stats.Spooled %d, want 100", st.Spooled)
	}
	wait(t, sendAll(ctx, push, 100, 50))
	for i, m := range recvN(t, ctx, pull, 150) {
		if n := number(t, m); n != i {
			t.Fatalf("message %d is %d: the spool's messages come first, in order", i, n)
		}
	}
	if err := push.Flush(ctx); err != nil {
		t.Fatalf("Flush: %v", err)
	}
	if err := push.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	// Everything was acknowledged: a new socket has nothing to send.
	push = spoolPush(t, dir)
	defer push.Close()
	if st := push.Stats(); st.Spooled != 0 {
		t.Fatalf("third socket: Stats.Spooled %d, want 0", st.Spooled)
	}
}

func TestSpoolMultiFrameRoundTrip(t *testing.T) {
	ctx := testContext(t)
	dir := t.TempDir()
	nw := newNetwork(t, "tcp")
	ep := nw.reserve()
	push := spoolPush(t, dir, WithLinger(0))
	frames := [][]byte{[]byte("header"), {}, []byte("body")}
	if err := push.Send(ctx, frames...); err != nil {
		t.Fatal(err)
	}
	frames[0] = []byte("reused by the caller") // Send cloned the slice
	push.Close()

	pull := newSocket(t, Pull)
	nw.bindAt(pull, ep)
	push = spoolPush(t, dir)
	defer push.Close()
	nw.connect(push, ep)
	m := recvN(t, ctx, pull, 1)[0]
	if len(m) != 3 || string(m[0]) != "header" || len(m[1]) != 0 || string(m[2]) != "body" {
		t.Fatalf("got %q", m)
	}
}

// Two receivers take turns; one takes everything, the other nothing. Only
// the second's messages are sent again after a restart, and the first
// one's acknowledgements, out of order as they are, are kept.
func TestSpoolKeepsOutOfOrderAcks(t *testing.T) {
	ctx := testContext(t)
	dir := t.TempDir()
	nw := newNetwork(t, "tcp")
	fast, slow := newSocket(t, Pull), newSocket(t, Pull)
	push := spoolPush(t, dir, WithLinger(0))
	nw.connect(push, nw.bind(fast))
	nw.connect(push, nw.bind(slow))
	if err := push.WaitPeers(ctx, 2); err != nil {
		t.Fatal(err)
	}
	wait(t, sendAll(ctx, push, 0, 100))
	var took []int
	for range 50 {
		took = append(took, number(t, recvN(t, ctx, fast, 1)[0]))
	}
	waitFor(t, ctx, "the fast receiver's acknowledgements", func() bool { return push.Stats().Spooled == 50 })
	push.Close()
	slow.Close() // its 50 messages were never taken

	last := newSocket(t, Pull)
	push = spoolPush(t, dir)
	defer push.Close()
	nw.connect(push, nw.bind(last))
	var resent []int
	for _, m := range recvN(t, ctx, last, 50) {
		resent = append(resent, number(t, m))
	}
	if !slices.IsSorted(resent) {
		t.Fatalf("resent out of order: %v", resent)
	}
	all := slices.Sorted(slices.Values(append(took, resent...)))
	for i, n := range all {
		if n != i {
			t.Fatalf("fast took %v, the restart resent %v: want 0..99 once each", took, resent)
		}
	}
	if err := push.Flush(ctx); err != nil {
		t.Fatal(err)
	}
}

// A receiver that closes with messages it did not take: they go to the
// other receiver, and stay spooled until that one acknowledges them.
func TestSpoolHandsOverAndKeepsUntilAcked(t *testing.T) {
	ctx := testContext(t)
	dir := t.TempDir()
	nw := newNetwork(t, "tcp")
	stays, leaves := newSocket(t, Pull), newSocket(t, Pull)
	push := spoolPush(t, dir, WithResumeTimeout(50*time.Millisecond))
	defer push.Close()
	nw.connect(push, nw.bind(stays))
	nw.connect(push, nw.bind(leaves))
	if err := push.WaitPeers(ctx, 2); err != nil {
		t.Fatal(err)
	}
	wait(t, sendAll(ctx, push, 0, 200))
	waitFor(t, ctx, "both receivers to hold messages", func() bool {
		return leaves.Stats().RecvQueue > 0 && stays.Stats().RecvQueue > 0
	})
	leaves.Close()
	seen := map[int]bool{}
	for _, m := range recvN(t, ctx, stays, 200) {
		seen[number(t, m)] = true
	}
	if len(seen) != 200 {
		t.Fatalf("the staying receiver got %d distinct messages, want 200", len(seen))
	}
	if err := push.Flush(ctx); err != nil {
		t.Fatalf("Flush: %v", err)
	}
	if st := push.Stats(); st.Spooled != 0 || st.Resends == 0 {
		t.Fatalf("Spooled %d, Resends %d: want everything acknowledged after a hand-over", st.Spooled, st.Resends)
	}
}

func TestSpoolLockedDirectory(t *testing.T) {
	dir := t.TempDir()
	push := spoolPush(t, dir)
	_, err := New(Push, WithSpool(dir))
	if !errors.Is(err, ErrSpoolLocked) {
		t.Fatalf("second New on the directory: got %v, want ErrSpoolLocked", err)
	}
	push.Close()
	push = spoolPush(t, dir) // free again
	push.Close()
}

func TestSpoolCorruptLog(t *testing.T) {
	ctx := testContext(t)
	dir := t.TempDir()
	push := spoolPush(t, dir, WithLinger(0))
	wait(t, sendAll(ctx, push, 0, 10))
	push.Close()
	segs, _ := filepath.Glob(filepath.Join(dir, "*.seg"))
	data, _ := os.ReadFile(segs[0])
	data[20] ^= 1
	os.WriteFile(segs[0], data, 0o644)
	_, err := New(Push, WithSpool(dir))
	if !errors.Is(err, ErrSpoolCorrupt) {
		t.Fatalf("New on a damaged spool: got %v, want ErrSpoolCorrupt", err)
	}
}

func TestSpoolFull(t *testing.T) {
	ctx := testContext(t)
	dir := t.TempDir()
	nw := newNetwork(t, "tcp")
	ep := nw.reserve()
	push := spoolPush(t, dir, WithSpoolLimit(64<<10), WithLinger(0))
	defer push.Close()
	nw.connect(push, ep)
	msg := make([]byte, 1000)
	var err error
	for i := 0; err == nil; i++ {
		short, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
		err = push.Send(short, msg)
		cancel()
		if i > 100 {
			t.Fatal("a 64 KiB spool took 100 KB")
		}
	}
	if !errors.Is(err, ErrSpoolFull) || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Send to a full spool: got %v, want ErrSpoolFull and the deadline", err)
	}
	if st := push.Stats(); st.SpoolFileBytes > 64<<10 {
		t.Fatalf("spool files %d bytes, limit 65536", st.SpoolFileBytes)
	}
	if err := push.Send(ctx, make([]byte, 64<<10)); !errors.Is(err, ErrMessageTooLarge) {
		t.Fatalf("Send larger than the limit: got %v, want ErrMessageTooLarge", err)
	}
	// A receiver arrives: room is made, and a waiting Send goes through.
	done := make(chan error, 1)
	go func() { done <- push.Send(ctx, []byte("after")) }()
	pull := newSocket(t, Pull)
	nw.bindAt(pull, ep)
	var last Message
	for last == nil || string(last[0]) != "after" {
		last = recvN(t, ctx, pull, 1)[0]
	}
	if err := <-done; err != nil {
		t.Fatalf("Send waiting for room: %v", err)
	}
}

func TestSpoolCloseEndsWaitingSend(t *testing.T) {
	ctx := testContext(t)
	push := spoolPush(t, t.TempDir(), WithSpoolLimit(64<<10), WithLinger(0))
	msg := make([]byte, 8000)
	for range 8 { // 8 records of 8019 bytes fit in 64 KiB, a ninth does not
		if err := push.Send(ctx, msg); err != nil {
			t.Fatal(err)
		}
	}
	done := make(chan error, 1)
	go func() { done <- push.Send(ctx, msg) }()
	time.Sleep(20 * time.Millisecond)
	push.Close()
	if err := <-done; !isClosed(err) {
		t.Fatalf("Send waiting when Close came: %v, want ErrClosed", err)
	}
}

// A spooled message larger than every connected receiver takes waits for
// one that takes it, and the messages after it wait too: the spool's
// order holds.
func TestSpoolTooLargeWaitsForAReceiver(t *testing.T) {
	ctx := testContext(t)
	nw := newNetwork(t, "tcp")
	small := newSocket(t, Pull, WithMaxMessageSize(100))
	push := spoolPush(t, t.TempDir(), WithReconnectInterval(10*time.Millisecond, time.Second))
	defer push.Close()
	nw.connect(push, nw.bind(small))
	if err := push.WaitPeers(ctx, 1); err != nil {
		t.Fatal(err)
	}
	if err := push.Send(ctx, make([]byte, 200)); err != nil {
		t.Fatalf("Send: %v (the spool takes it; the receivers' limits come later)", err)
	}
	if err := push.Send(ctx, []byte("after")); err != nil {
		t.Fatal(err)
	}
	short, cancel := context.WithTimeout(ctx, 100*time.Millisecond)
	defer cancel()
	if m, err := small.Recv(short); err == nil {
		t.Fatalf("the small receiver got %q, overtaking the large message", m)
	}
	large := newSocket(t, Pull)
	nw.connect(push, nw.bind(large))
	if m := recvN(t, ctx, large, 1)[0]; len(m[0]) != 200 {
		t.Fatalf("the large receiver got %q, want the 200 bytes", m)
	}
	// Then "after" goes on, round robin, to one receiver or the other.
	p, err := NewPoller(small, large)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	if _, m, err := p.Recv(ctx); err != nil || string(m.Bytes()) != "after" {
		t.Fatalf("then got %q, %v, want after", m, err)
	}
	if err := push.Flush(ctx); err != nil {
		t.Fatalf("Flush: %v", err)
	}
}
