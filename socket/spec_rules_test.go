package socket

import (
	"bytes"
	"context"
	"encoding/binary"
	"io"
	"net"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/wispmq/wisp/wire"
	"go.uber.org/goleak"
)

// The tests in this file hold wisp to rules of wire/SPEC.md that an
// implementation written from the spec alone relies on: when ACKs go out,
// where RESUME may stand, what the socket sends before it has read the
// peer's greeting, what counts as sending for the PING interval. Most run
// a raw peer on one end of net.Pipe in a synctest bubble, so "promptly"
// and "not before" are exact.

// specPeer reads and decodes everything a socket writes to one end of
// net.Pipe, from its own goroutine, after the greetings.
type specPeer struct {
	nc    net.Conn
	mu    sync.Mutex
	items []wire.Item
	err   error // a decoding error: the socket broke the protocol
	done  chan struct{}
}

// specGreet sends g on nc and reads the socket's greeting.
func specGreet(t *testing.T, nc net.Conn, g wire.Greeting) {
	t.Helper()
	if _, err := nc.Write(g.Append(nil)); err != nil {
		t.Fatalf("writing the raw greeting: %v", err)
	}
	if _, err := wire.ReadGreeting(nc); err != nil {
		t.Fatalf("reading the socket's greeting: %v", err)
	}
}

// specRead starts reading what the socket writes on nc.
func specRead(nc net.Conn) *specPeer {
	p := &specPeer{nc: nc, done: make(chan struct{})}
	go func() {
		defer close(p.done)
		var dec wire.Decoder
		var buf []byte
		b := make([]byte, 4096)
		for {
			n, err := nc.Read(b)
			buf = append(buf, b[:n]...)
			for len(buf) > 0 {
				it, k, derr := dec.Decode(buf)
				if derr == io.ErrUnexpectedEOF {
					break
				}
				p.mu.Lock()
				if derr != nil {
					p.err = derr
					p.mu.Unlock()
					return
				}
				it.Frame = bytes.Clone(it.Frame)
				it.Command.Data = bytes.Clone(it.Command.Data)
				p.items = append(p.items, it)
				p.mu.Unlock()
				buf = buf[k:]
			}
			if err != nil {
				return
			}
		}
	}()
	return p
}

// send writes b to the socket; on a pipe it returns once the socket read it.
func (p *specPeer) send(t *testing.T, b []byte) {
	t.Helper()
	if _, err := p.nc.Write(b); err != nil {
		t.Fatalf("raw write: %v", err)
	}
}

// got returns what the socket sent so far, failing the test if it broke
// the protocol.
func (p *specPeer) got(t *testing.T) []wire.Item {
	t.Helper()
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.err != nil {
		t.Fatalf("decoding what the socket sent: %v", p.err)
	}
	return append([]wire.Item(nil), p.items...)
}

// commands returns the commands among items with the given id.
func specCommands(items []wire.Item, id wire.CommandID) []wire.Command {
	var out []wire.Command
	for _, it := range items {
		if it.IsCommand && it.Command.ID == id {
			out = append(out, it.Command)
		}
	}
	return out
}

// specLastAck returns the seq of the last ACK among items, 0 if none.
func specLastAck(items []wire.Item) uint64 {
	acks := specCommands(items, wire.CmdAck)
	if len(acks) == 0 {
		return 0
	}
	return acks[len(acks)-1].Seq
}

// specMsg is a data message as a receiver numbers it (SPEC.md section 6).
type specMsg struct {
	seq  uint64
	body string // the frames, joined by "|"
}

// specMsgs numbers the data messages among items by the RESUMEs before
// them. A data message before any RESUME fails the test (receiver rule 5).
func specMsgs(t *testing.T, items []wire.Item) []specMsg {
	t.Helper()
	var out []specMsg
	var next uint64
	var frames []string
	for _, it := range items {
		switch {
		case it.IsCommand && it.Command.ID == wire.CmdResume:
			next = it.Command.Seq
		case it.IsCommand:
		case next == 0:
			t.Fatalf("data frame %q before any RESUME, want RESUME first (SPEC.md section 6, sender rule 1)", it.Frame)
		default:
			frames = append(frames, string(it.Frame))
			if !it.More {
				out = append(out, specMsg{next, strings.Join(frames, "|")})
				frames = nil
				next++
			}
		}
	}
	return out
}

// specData is the RESUME (seq 1) and single-frame messages a raw sender
// writes.
func specData(resume uint64, bodies ...string) []byte {
	var b []byte
	if resume > 0 {
		b = wire.Command{ID: wire.CmdResume, Seq: resume}.Append(b)
	}
	for _, m := range bodies {
		b = wire.AppendFrame(b, false, []byte(m))
	}
	return b
}

// TestSpecAckWhenDue: receiver rule 4. A PULL acknowledges, with ACK(T)
// and never more than T, once the application has taken half the
// sender's window (without waiting for a timer), and promptly once no
// accepted message waits; and on a new connection from the same sender
// it restates ACK(T) before the sender's RESUME.
func TestSpecAckWhenDue(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx := context.Background()
		pull := rawMustNew(t, Pull)
		a, b := net.Pipe()
		if err := pull.ConnectConn(a); err != nil {
			t.Fatal(err)
		}
		g := rawGreeting(wire.Push, true)
		g.Window = 8
		specGreet(t, b, g)
		p := specRead(b)
		p.send(t, specData(1, "1", "2", "3", "4", "5", "6"))
		synctest.Wait()
		if got := specLastAck(p.got(t)); got != 0 {
			t.Fatalf("before any Recv: got ACK %d, want none (an ACK names only what the application took)", got)
		}

		// Half the window taken: the ACK is due now, not at a timer (no
		// fake time passes before synctest.Wait returns).
		recvN(t, ctx, pull, 4)
		synctest.Wait()
		if got := specLastAck(p.got(t)); got != 4 {
			t.Fatalf("after taking 4 of a window of 8: got last ACK %d, want 4", got)
		}

		// One more taken while another waits: the spec asks for nothing
		// yet, and an ACK may not name the one still waiting. (wisp
		// acknowledges about 1 ms after the take anyway.)
		recvN(t, ctx, pull, 1)
		time.Sleep(10 * time.Millisecond)
		synctest.Wait()
		if got := specLastAck(p.got(t)); got != 5 {
			t.Fatalf("10 ms after taking 5 of 6: got last ACK %d, want 5", got)
		}

		// The last one taken, nothing waits: ACK(6) promptly.
		recvN(t, ctx, pull, 1)
		time.Sleep(2 * time.Millisecond)
		synctest.Wait()
		if got := specLastAck(p.got(t)); got != 6 {
			t.Fatalf("2 ms after taking the last message: got last ACK %d, want 6", got)
		}

		// The same sender session on a new connection: ACK(6) comes before
		// the sender's RESUME, which it has not sent.
		b.Close()
		<-p.done
		synctest.Wait()
		a2, b2 := net.Pipe()
		if err := pull.ConnectConn(a2); err != nil {
			t.Fatal(err)
		}
		specGreet(t, b2, g)
		p2 := specRead(b2)
		synctest.Wait()
		items := p2.got(t)
		if len(items) != 1 || !items[0].IsCommand || items[0].Command.ID != wire.CmdAck || items[0].Command.Seq != 6 {
			t.Fatalf("on the new connection before our RESUME: got %+v, want only ACK 6", items)
		}
		p2.send(t, specData(7, "7"))
		if m := recvN(t, ctx, pull, 1)[0]; string(m[0]) != "7" {
			t.Fatalf("after RESUME 7: got %q, want 7", m)
		}
		time.Sleep(2 * time.Millisecond)
		synctest.Wait()
		if got := specLastAck(p2.got(t)); got != 7 {
			t.Fatalf("after taking 7: got last ACK %d, want 7", got)
		}
		if st := pull.Stats(); st.ProtocolErrors != 0 {
			t.Errorf("ProtocolErrors: got %d, want 0", st.ProtocolErrors)
		}
		rawMustClose(t, pull)
		b2.Close()
		<-p2.done
	})
	goleak.VerifyNone(t)
}

// TestSpecSenderResume: sender rules 1 and 4. A PUSH sends nothing but its
// greeting until it has read the peer's; it sends RESUME just before its
// first data message, so a PONG may come first; and on a new connection it
// takes an ACK that arrives before its RESUME, with the peer's greeting,
// as any ACK: no protocol error, and what it still sends is numbered so
// that a receiver drops only true duplicates.
func TestSpecSenderResume(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx := context.Background()
		push := rawMustNew(t, Push, WithLinger(0))
		a, b := net.Pipe()
		if err := push.ConnectConn(a); err != nil {
			t.Fatal(err)
		}
		sent := make(chan error, 1)
		go func() { sent <- push.Send(ctx, []byte("m1")) }()

		// The socket's greeting, and then nothing, however long we wait
		// before sending ours.
		if _, err := wire.ReadGreeting(b); err != nil {
			t.Fatalf("reading the socket's greeting: %v", err)
		}
		p := specRead(b)
		time.Sleep(time.Second)
		synctest.Wait()
		if items := p.got(t); len(items) != 0 {
			t.Fatalf("before our greeting: got %+v, want nothing after the socket's greeting (SPEC.md section 2)", items)
		}
		g := rawGreeting(wire.Pull, false)
		p.send(t, g.Append(nil))
		synctest.Wait()
		if err := <-sent; err != nil {
			t.Fatal(err)
		}
		items := p.got(t)
		if len(items) != 2 || !items[0].IsCommand || items[0].Command.ID != wire.CmdResume || items[0].Command.Seq != 1 ||
			items[1].IsCommand || string(items[1].Frame) != "m1" {
			t.Fatalf("after our greeting: got %+v, want RESUME 1 and m1", items)
		}

		p.send(t, wire.Command{ID: wire.CmdAck, Seq: 1}.Append(nil))
		synctest.Wait()

		// A new connection with nothing to send: no RESUME, and a PING is
		// answered with a PONG alone. RESUME comes just before the data.
		b.Close()
		<-p.done
		synctest.Wait()
		a2, b2 := net.Pipe()
		if err := push.ConnectConn(a2); err != nil {
			t.Fatal(err)
		}
		specGreet(t, b2, g)
		p2 := specRead(b2)
		p2.send(t, wire.Command{ID: wire.CmdPing, Data: []byte("ctx")}.Append(nil))
		synctest.Wait()
		items = p2.got(t)
		if len(items) != 1 || !items[0].IsCommand || items[0].Command.ID != wire.CmdPong || string(items[0].Command.Data) != "ctx" {
			t.Fatalf("PING with nothing to send: got %+v, want only PONG ctx", items)
		}
		for _, m := range []string{"m2", "m3", "m4"} {
			if err := push.Send(ctx, []byte(m)); err != nil {
				t.Fatal(err)
			}
		}
		synctest.Wait()
		items = p2.got(t)
		if len(items) != 5 || !items[1].IsCommand || items[1].Command.ID != wire.CmdResume || items[1].Command.Seq != 2 {
			t.Fatalf("after m2..m4: got %+v, want PONG, RESUME 2 and three messages", items)
		}
		if msgs := specMsgs(t, items); len(msgs) != 3 || msgs[0] != (specMsg{2, "m2"}) || msgs[2] != (specMsg{4, "m4"}) {
			t.Fatalf("after m2..m4: got %+v, want them numbered 2..4", msgs)
		}

		// A third connection: our greeting and ACK 4 in one write, before
		// we read the socket's greeting and so before its RESUME.
		b2.Close()
		<-p2.done
		synctest.Wait()
		a3, b3 := net.Pipe()
		if err := push.ConnectConn(a3); err != nil {
			t.Fatal(err)
		}
		wrote := make(chan error, 1)
		go func() {
			_, err := b3.Write(wire.Command{ID: wire.CmdAck, Seq: 4}.Append(g.Append(nil)))
			wrote <- err
		}()
		if _, err := wire.ReadGreeting(b3); err != nil {
			t.Fatalf("reading the socket's greeting: %v", err)
		}
		if err := <-wrote; err != nil {
			t.Fatal(err)
		}
		p3 := specRead(b3)
		synctest.Wait()
		if err := push.Send(ctx, []byte("m5")); err != nil {
			t.Fatal(err)
		}
		synctest.Wait()
		// The ACK raced the socket's resend of m2..m4: any of them it did
		// resend keeps its number, and m5 is 5 either way.
		want := []string{"", "m1", "m2", "m3", "m4", "m5"}
		msgs := specMsgs(t, p3.got(t))
		if len(msgs) == 0 || msgs[len(msgs)-1] != (specMsg{5, "m5"}) {
			t.Fatalf("on the third connection: got %+v, want m5 numbered 5 last", msgs)
		}
		for _, m := range msgs {
			if m.seq < 2 || m.seq > 5 || want[m.seq] != m.body {
				t.Fatalf("on the third connection: got %+v, want each of m2..m5 numbered as first sent", msgs)
			}
		}
		p3.send(t, wire.Command{ID: wire.CmdAck, Seq: 5}.Append(nil))
		fctx, cancel := context.WithTimeout(ctx, time.Minute)
		defer cancel()
		if err := push.Flush(fctx); err != nil {
			t.Errorf("Flush after ACK 5: got %v, want nil", err)
		}
		if st := push.Stats(); st.ProtocolErrors != 0 {
			t.Errorf("ProtocolErrors: got %d, want 0 (an ACK before RESUME is an ACK)", st.ProtocolErrors)
		}
		rawMustClose(t, push)
		b3.Close()
		<-p3.done
	})
	goleak.VerifyNone(t)
}

// TestSpecAnySendingCountsForPing: section 7. A side with a heartbeat
// interval that keeps writing PONGs or ACKs sends no PING; once it writes
// nothing, it pings after its interval, and at most three tenths late.
func TestSpecAnySendingCountsForPing(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const interval = time.Second
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		pull := rawMustNew(t, Pull, WithHeartbeat(interval, 10*interval))
		a, b := net.Pipe()
		if err := pull.ConnectConn(a); err != nil {
			t.Fatal(err)
		}
		specGreet(t, b, rawGreeting(wire.Push, true)) // no timeout stated: the PULL's own interval rules
		p := specRead(b)
		taken := make(chan struct{})
		go func() {
			defer close(taken)
			for {
				if _, err := pull.Recv(ctx); err != nil {
					return
				}
			}
		}()

		// Ten intervals of PINGs from us, twice an interval: only PONGs.
		for range 20 {
			p.send(t, wire.Command{ID: wire.CmdPing}.Append(nil))
			time.Sleep(interval / 2)
		}
		synctest.Wait()
		items := p.got(t)
		if pings, pongs := len(specCommands(items, wire.CmdPing)), len(specCommands(items, wire.CmdPong)); pings != 0 || pongs != 20 {
			t.Fatalf("while answering PINGs: got %d PINGs and %d PONGs, want 0 and 20", pings, pongs)
		}

		// Ten intervals of messages, which the application takes: only ACKs.
		p.send(t, specData(1))
		for i := range 20 {
			p.send(t, specData(0, "m"))
			time.Sleep(interval / 2)
			synctest.Wait()
			if got := specLastAck(p.got(t)); got != uint64(i+1) {
				t.Fatalf("half an interval after message %d: got last ACK %d, want %d", i+1, got, i+1)
			}
		}
		if pings := len(specCommands(p.got(t), wire.CmdPing)); pings != 0 {
			t.Fatalf("while acknowledging: got %d PINGs, want 0", pings)
		}

		// Silence from both sides: a PING, not before the interval and at
		// most three tenths late.
		time.Sleep(interval/2 - time.Nanosecond) // the last ACK went out half an interval ago
		synctest.Wait()
		if pings := len(specCommands(p.got(t), wire.CmdPing)); pings != 0 {
			t.Fatalf("before an interval of silence: got %d PINGs, want 0", pings)
		}
		time.Sleep(interval * 3 / 10)
		synctest.Wait()
		if pings := len(specCommands(p.got(t), wire.CmdPing)); pings != 1 {
			t.Fatalf("1.3 intervals into the silence: got %d PINGs, want 1", pings)
		}
		cancel()
		<-taken
		rawMustClose(t, pull)
		b.Close()
		<-p.done
	})
	goleak.VerifyNone(t)
}

// TestSpecIncompatibleReason: section 2.4's example is what wisp sends to
// a PUSH that dials a PUSH, after its whole greeting.
func TestSpecIncompatibleReason(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		push := rawMustNew(t, Push)
		a, b := net.Pipe()
		if err := push.ConnectConn(a); err != nil {
			t.Fatal(err)
		}
		specGreet(t, b, rawGreeting(wire.Push, true))
		p := specRead(b)
		<-p.done // the socket hangs up after the ERROR
		items := p.got(t)
		const want = "wisp: incompatible peer: PUSH cannot talk to PUSH"
		if len(items) != 1 || !items[0].IsCommand || items[0].Command.ID != wire.CmdError || string(items[0].Command.Data) != want {
			t.Fatalf("after the greetings: got %+v, want only ERROR %q", items, want)
		}
		b.Close()
		rawMustClose(t, push)
	})
	goleak.VerifyNone(t)
}

// TestSpecConnectingSenderHandsOverAtOnce: sender rule 5. When a PUSH's
// endpoint answers with a new session, the old stream's unacknowledged
// messages go to it at once, numbered from 1, however long the resume
// timeout. (TestTimedResumeTimeout holds the binding side: it hands over
// only when the resume timeout ends.)
func TestSpecConnectingSenderHandsOverAtOnce(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx := context.Background()
		const ep = "inproc://spec-hand-over"
		push := rawMustNew(t, Push, WithResumeTimeout(time.Hour), WithReconnectInterval(time.Millisecond, time.Millisecond), WithLinger(0))
		old := rawMustNew(t, Pull)
		if _, err := old.Bind(ep); err != nil {
			t.Fatal(err)
		}
		if err := push.Connect(ep); err != nil {
			t.Fatal(err)
		}
		for _, m := range []string{"a", "b", "c"} {
			if err := push.Send(ctx, []byte(m)); err != nil {
				t.Fatal(err)
			}
		}
		synctest.Wait()
		if q := old.Stats().RecvQueue; q != 3 {
			t.Fatalf("old PULL RecvQueue: got %d, want 3", q)
		}
		rawMustClose(t, old) // takes nothing
		synctest.Wait()

		repl := rawMustNew(t, Pull)
		if _, err := repl.Bind(ep); err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		for _, want := range []string{"a", "b", "c"} {
			m, err := repl.Recv(ctx)
			if err != nil || string(m[0]) != want {
				t.Fatalf("new session: got %q, %v, want %q", m, err, want)
			}
		}
		if d := time.Since(start); d > time.Second {
			t.Errorf("new session got the messages after %v, want at once, not after the resume timeout", d)
		}
		fctx, cancel := context.WithTimeout(ctx, time.Minute)
		defer cancel()
		if err := push.Flush(fctx); err != nil {
			t.Errorf("Flush: got %v, want nil", err)
		}
		rawMustClose(t, push)
		rawMustClose(t, repl)
	})
	goleak.VerifyNone(t)
}

// TestSpecDroppedRepliesAcknowledged: section 4.1 and receiver rule 4. A
// REQ drops a late reply and malformed ones from an acknowledged REP, and
// acknowledges them as taken while it waits for the right one.
func TestSpecDroppedRepliesAcknowledged(t *testing.T) {
	rbForStreams(t, func(t *testing.T, nw *network) {
		ctx := testContext(t)
		req := newSocket(t, Req)
		ep := nw.bind(req)
		p := rbDial(t, ep, wire.Rep, true, "")
		waitConnected(t, ctx, req, 1)
		rfSend(t, ctx, req, "q")
		m := p.readMsg()
		if len(m) != 3 || len(m[0]) != 4 {
			t.Fatalf("request on the wire: got %q, want [4-byte id, empty, q]", m)
		}
		p.ack()
		id := string(m[0])
		late := string(binary.BigEndian.AppendUint32(nil, binary.BigEndian.Uint32(m[0])-1))
		got := rtRecvAsync(ctx, req)

		p.command(wire.Command{ID: wire.CmdResume, Seq: 1})
		p.sendMsg(late, "", "late") // 1
		p.sendMsg(id)               // 2: no delimiter
		p.sendMsg(id, "")           // 3: nothing after the delimiter
		specWaitAck(t, p, 3)
		rtNotYet(t, got, "REQ Recv after a late and two malformed replies")

		p.sendMsg(id, "", "right") // 4
		if r := <-got; r.err != nil || len(r.m) != 1 || string(r.m[0]) != "right" {
			t.Fatalf("REQ Recv: got %q, %v, want [right]", r.m, r.err)
		}
		specWaitAck(t, p, 4)
		rbNoProtocolErrors(t, req)
	})
}

// specWaitAck reads the socket's commands until an ACK of seq; one beyond
// it fails the test.
func specWaitAck(t *testing.T, p *rbPeer, seq uint64) {
	t.Helper()
	for range 1 << 10 {
		c, err := p.readCommand()
		if err != nil {
			t.Fatalf("waiting for ACK %d: %v", seq, err)
		}
		switch {
		case c.ID == wire.CmdError:
			t.Fatalf("waiting for ACK %d: got ERROR %q", seq, c.Data)
		case c.ID != wire.CmdAck:
		case c.Seq > seq:
			t.Fatalf("waiting for ACK %d: got ACK %d, beyond what was sent", seq, c.Seq)
		case c.Seq == seq:
			return
		}
	}
	t.Fatalf("no ACK %d among 1024 commands", seq)
}

// TestSpecDuplicateConnection: section 6. A second connection from a
// session that has one is refused with an ERROR when the same side dialed
// both; the first goes on.
func TestSpecDuplicateConnection(t *testing.T) {
	rbForStreams(t, func(t *testing.T, nw *network) {
		ctx := testContext(t)
		pull := newSocket(t, Pull)
		ep := nw.bind(pull)
		g := rawGreeting(wire.Push, false)
		first := rawDial(t, ep)
		first.handshake(g)
		waitConnected(t, ctx, pull, 1)

		second := rawDial(t, ep)
		second.handshake(g)
		c, err := second.readCommand()
		if err != nil || c.ID != wire.CmdError || !strings.Contains(string(c.Data), "duplicate connection") {
			t.Fatalf("second connection of one session: got %v %q, %v, want ERROR naming the duplicate connection", c.ID, c.Data, err)
		}
		rawHungUp(t, second)

		first.frame(false, []byte("still here"))
		rfRecvBody(t, ctx, pull, "still here")
	})
}

// TestSpecCrossedConnections: section 6. Two sockets that each dial the
// other keep one connection, the one dialed by the smaller session id, on
// both sides.
func TestSpecCrossedConnections(t *testing.T) {
	rbForStreams(t, func(t *testing.T, nw *network) {
		ctx := testContext(t)
		push := newSocket(t, Push, WithReconnectInterval(5*time.Millisecond, 20*time.Millisecond))
		pull := newSocket(t, Pull, WithReconnectInterval(5*time.Millisecond, 20*time.Millisecond))
		epPush, epPull := nw.bind(push), nw.bind(pull)
		nw.connect(push, epPull)
		nw.connect(pull, epPush)
		want := epPush // dialed by the PULL
		if push.Session() < pull.Session() {
			want = epPull
		}
		kept := func(s *Socket) []string {
			var eps []string
			for _, p := range s.Stats().Peers {
				if p.Connected {
					eps = append(eps, p.Endpoint)
				}
			}
			return eps
		}
		for _, s := range []*Socket{push, pull} {
			waitFor(t, ctx, "one connection, dialed by the smaller session", func() bool {
				eps := kept(s)
				return len(eps) == 1 && eps[0] == want
			})
		}
		// And it stays so: both dialers keep trying, and are refused.
		time.Sleep(100 * time.Millisecond)
		for _, s := range []*Socket{push, pull} {
			if eps := kept(s); len(eps) != 1 || eps[0] != want {
				t.Errorf("%v after 100 ms: got connections %v, want only %s", s.Type(), eps, want)
			}
		}
		rfSend(t, ctx, push, "one way")
		rfRecvBody(t, ctx, pull, "one way")
	})
}
