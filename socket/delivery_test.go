package socket

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"testing"
	"time"

	"github.com/wispmq/wisp/wire"
)

// splitMessage is message i (from 1) of TestMessagesSplitAcrossReads: one
// to four frames of sizes from 0 to 40 bytes, and now and then a frame
// large enough to be read into memory of its own.
func splitMessage(i int) [][]byte {
	frames := make([][]byte, 1+i%4)
	for j := range frames {
		size := (i*7 + j*13) % 41
		if i%37 == 0 && j == 0 {
			size = 20_000
		}
		f := make([]byte, size)
		for k := range f {
			f[k] = byte(i + j*k)
		}
		frames[j] = f
	}
	return frames
}

// TestMessagesSplitAcrossReads sends a stream of one- to four-frame
// messages, with a resend in the middle, in writes of sizes that cut
// frames, headers and messages at every kind of place. Over net.Pipe each
// read returns at most one write, so the socket's reader sees exactly those
// cuts: messages must come out whole, in order, each once.
func TestMessagesSplitAcrossReads(t *testing.T) {
	const n = 400
	ctx := testContext(t)
	pull := newSocket(t, Pull)
	ours := pipeTo(t, pull)

	g := rawGreeting(wire.Push, true)
	stream := g.Append(nil)
	appendRun := func(first, last int) {
		stream = wire.Command{ID: wire.CmdResume, Seq: uint64(first)}.Append(stream)
		for i := first; i <= last; i++ {
			frames := splitMessage(i)
			for j, f := range frames {
				stream = wire.AppendFrame(stream, j < len(frames)-1, f)
			}
		}
	}
	// 140..150 again, as a sender that never heard their ACK would: the
	// socket drops them as duplicates, 151 on are new.
	appendRun(1, 150)
	appendRun(140, n)

	cuts := []int{1, 2, 3, 5, 8, 13, 21, 34, 55, 89, 144, 233, 377, 610, 987, 1597}
	sent := make(chan error, 1)
	go func() {
		rest := stream
		for i := 0; len(rest) > 0; i++ {
			k := min(cuts[i%len(cuts)], len(rest))
			if _, err := ours.Write(rest[:k]); err != nil {
				sent <- err
				return
			}
			rest = rest[k:]
		}
		sent <- nil
	}()

	for i := 1; i <= n; i++ {
		recvWhole(t, ctx, pull, i, splitMessage(i))
	}
	if err := <-sent; err != nil {
		t.Fatalf("writing the stream: %v", err)
	}
	if got := pull.Stats().Duplicates; got != 11 {
		t.Errorf("Stats().Duplicates: got %d, want 11 (messages 140 to 150 sent twice)", got)
	}
}

// recvWhole receives message i and fails unless it has exactly want's
// frames.
func recvWhole(t *testing.T, ctx context.Context, s *Socket, i int, want [][]byte) {
	t.Helper()
	m, err := s.Recv(ctx)
	if err != nil {
		t.Fatalf("message %d: %v", i, err)
	}
	if len(m) != len(want) {
		t.Fatalf("message %d: got %d frames, want %d", i, len(m), len(want))
	}
	for j := range want {
		if !bytes.Equal(m[j], want[j]) {
			t.Fatalf("message %d frame %d: got %d bytes %s, want %d bytes %s", i, j, len(m[j]), frameStart(m[j]), len(want[j]), frameStart(want[j]))
		}
	}
}

// frameStart shows the start of a frame in a failure message.
func frameStart(b []byte) string { return fmt.Sprintf("%x", b[:min(len(b), 8)]) }

// mixedMessage is message i of TestMixedShapesInBatches: in turn one small
// frame, two small frames, one frame large enough to be read into memory
// of its own, and three frames with a large one in the middle.
func mixedMessage(i int) Message {
	small := []byte(fmt.Sprintf("m%d", i))
	large := bytes.Repeat([]byte{byte(i)}, 20_000)
	switch i % 4 {
	case 0:
		return Message{small}
	case 1:
		return Message{small, []byte("second")}
	case 2:
		return Message{large}
	default:
		return Message{small, large, []byte("third")}
	}
}

// TestMixedShapesInBatches sends runs of messages of every shape in one
// SendMany each, so that an inproc link hands them over in one batch and
// a stream connection reads several in one read, and checks that each
// arrives whole, in order, once.
func TestMixedShapesInBatches(t *testing.T) {
	forEachTransport(t, func(t *testing.T, nw *network) {
		ctx := testContext(t)
		push, pull := newPair(t, nw)
		const total = 400
		sent := make(chan error, 1)
		go func() {
			for from := 0; from < total; from += 10 {
				batch := make([]Message, 10)
				for k := range batch {
					batch[k] = mixedMessage(from + k)
				}
				if n, err := push.SendMany(ctx, batch); err != nil || n != len(batch) {
					sent <- fmt.Errorf("SendMany from %d: got %d, %v, want %d, nil", from, n, err, len(batch))
					return
				}
			}
			sent <- push.Flush(ctx)
		}()
		for i := range total {
			recvWhole(t, ctx, pull, i, mixedMessage(i))
		}
		if err := <-sent; err != nil {
			t.Fatal(err)
		}
	})
}

// pipeTo connects s to one end of net.Pipe and returns the other, for a
// raw peer to write to; what the socket writes back (its greeting, ACKs)
// is read and dropped until the test ends.
func pipeTo(t *testing.T, s *Socket) net.Conn {
	t.Helper()
	ours, theirs := net.Pipe()
	if err := s.ConnectConn(theirs); err != nil {
		t.Fatal(err)
	}
	drained := make(chan struct{})
	go func() {
		defer close(drained)
		io.Copy(io.Discard, ours)
	}()
	t.Cleanup(func() {
		ours.Close()
		<-drained
	})
	return ours
}

// rawPipePush connects a raw PUSH peer to pull over net.Pipe, greets it
// and starts its stream at sequence 1.
func rawPipePush(t *testing.T, pull *Socket) net.Conn {
	t.Helper()
	ours := pipeTo(t, pull)
	g := rawGreeting(wire.Push, true)
	b := wire.Command{ID: wire.CmdResume, Seq: 1}.Append(g.Append(nil))
	if _, err := ours.Write(b); err != nil {
		t.Fatal(err)
	}
	return ours
}

// TestLongRunWaitsItsTurn checks that a peer whose messages all arrived in
// one read does not make another peer wait behind all of them: once the
// second peer has a message queued, Recv takes it after at most a batch
// (recvBatch) of the first one's.
func TestLongRunWaitsItsTurn(t *testing.T) {
	const run = 1000
	ctx := testContext(t)
	pull := newSocket(t, Pull)
	queued := func(n int) {
		t.Helper()
		for pull.Stats().MsgsIn < uint64(n) {
			if ctx.Err() != nil {
				t.Fatalf("waiting for %d messages in: %v", n, ctx.Err())
			}
			time.Sleep(time.Millisecond)
		}
	}
	a := rawPipePush(t, pull)
	var stream []byte
	for range run {
		stream = wire.AppendFrame(stream, false, []byte("a"))
	}
	if _, err := a.Write(stream); err != nil {
		t.Fatal(err)
	}
	queued(run)
	if m, err := pull.Recv(ctx); err != nil || string(m.Bytes()) != "a" {
		t.Fatalf("first Recv: got %q, %v; want a", m.Bytes(), err)
	}
	b := rawPipePush(t, pull)
	if _, err := b.Write(wire.AppendFrame(nil, false, []byte("b"))); err != nil {
		t.Fatal(err)
	}
	queued(run + 1)
	for before := 0; ; before++ {
		m, err := pull.Recv(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if string(m.Bytes()) == "b" {
			t.Logf("b came after %d more of a's", before)
			break
		}
		if before > 64 {
			t.Fatalf("got %d more of a's messages before b's, want at most 64", before)
		}
	}
}
