package socket

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/wispmq/wisp/patterns"
	"github.com/wispmq/wisp/wire"
	"go.uber.org/goleak"
)

// The tests in this file attack a bound socket with peers that break
// WISP/1 in one way each, over real tcp and unix connections, while a
// well-behaved peer streams messages through the same socket. Each bad peer
// must lose its own connection, with an event naming the reason and a
// counter, and nothing else may change: the good stream goes on, exactly
// once and in order, no memory is allocated on the bad peer's word, and no
// goroutine is left behind.

const (
	rawMaxMessage = 1 << 20
	// The handshake timeout of the socket under attack: short, because the
	// stalled-handshake case waits it out in real time, but long enough that
	// a loaded machine does not time out the other bad peers first.
	rawStallTimeout  = time.Second
	rawManyConns     = 10000
	rawManyInFlight  = 256 // dialed connections not yet dropped, at most
	rawProgressCheck = 200 // good messages that must arrive after each bad peer
)

// rawBench is a bound socket under attack and its good peer.
type rawBench struct {
	target   *Socket
	good     *Socket
	ep       string
	ev       *rawEvents
	stream   *rawStream
	claim    wire.SocketType // the type a compatible raw peer claims
	transprt string
}

func rawSetup(t *testing.T, transport string, typ Type) *rawBench {
	t.Helper()
	opts := []Option{
		WithMaxMessageSize(rawMaxMessage),
		WithHandshakeTimeout(rawStallTimeout),
		WithEventBuffer(4 * rawManyConns),
	}
	goodType, claim := Push, wire.Push
	if typ == Push {
		// A small window, so that an ACK of 1000 is beyond anything sent,
		// and a short resume timeout, so that messages held for a bad peer
		// that went away reach the good one soon.
		opts = append(opts, WithSendHWM(100), WithResumeTimeout(50*time.Millisecond))
		goodType, claim = Pull, wire.Pull
	}
	target, err := New(typ, opts...)
	if err != nil {
		t.Fatal(err)
	}
	ep := "tcp://127.0.0.1:0"
	if transport == "ipc" {
		ep = "ipc://" + filepath.Join(t.TempDir(), "bad")
	}
	ep, err = target.Bind(ep)
	if err != nil {
		t.Fatal(err)
	}
	b := &rawBench{target: target, ep: ep, ev: rawWatch(target), claim: claim, transprt: transport}
	b.good, err = New(goodType, WithMaxMessageSize(rawMaxMessage))
	if err != nil {
		t.Fatal(err)
	}
	mark := b.ev.mark()
	if err := b.good.Connect(ep); err != nil {
		t.Fatal(err)
	}
	b.ev.wait(t, mark, "connected event for the good peer", func(e Event) bool { return e.Kind == EventConnected })
	if typ == Pull {
		b.stream = rawStart(t, b.good, target, true)
	} else {
		// Messages a bad peer held come back through the resume timeout,
		// after newer ones: each arrives once, but not in order.
		b.stream = rawStart(t, target, b.good, false)
	}
	b.stream.progress(t, rawProgressCheck)
	return b
}

// teardown checks the good stream and closes everything.
func (b *rawBench) teardown(t *testing.T) {
	t.Helper()
	b.stream.finish(t)
	if err := b.good.Close(); err != nil {
		t.Errorf("good peer Close: %v", err)
	}
	if err := b.target.Close(); err != nil {
		t.Errorf("target Close: %v", err)
	}
	<-b.ev.done
	if d := b.target.Stats().EventsDropped; d != 0 {
		t.Errorf("target dropped %d events, want 0", d)
	}
}

// rawCase is one way of misbehaving.
type rawCase struct {
	name string
	on   Type // only against this type; 0 means both
	kind EventKind
	want error  // the sentinel the reason must wrap
	text string // for reasons without a sentinel: what the reason must say
	// count is the counter the failure must be counted in: "handshake",
	// "protocol" or "" (neither, for a peer that says goodbye with ERROR).
	count string
	// retries: the bad peer is a socket that keeps redialing, so there may
	// be more than one failure.
	retries bool
	run     func(t *testing.T, b *rawBench)
}

func TestBadInputPull(t *testing.T) { rawBadInput(t, Pull) }
func TestBadInputPush(t *testing.T) { rawBadInput(t, Push) }

func rawBadInput(t *testing.T, typ Type) {
	for _, transport := range []string{"tcp", "ipc"} {
		t.Run(transport, func(t *testing.T) {
			b := rawSetup(t, transport, typ)
			for _, tc := range rawCases() {
				if tc.on != 0 && tc.on != typ {
					continue
				}
				t.Run(tc.name, func(t *testing.T) { b.check(t, tc) })
			}
			t.Run("many-connections", func(t *testing.T) { b.many(t) })
			b.teardown(t)
		})
	}
	goleak.VerifyNone(t)
}

// check runs one case and verifies its effects.
func (b *rawBench) check(t *testing.T, tc rawCase) {
	before := b.target.Stats()
	mark := b.ev.mark()
	tc.run(t, b)
	what := fmt.Sprintf("%v event wrapping %v %q", tc.kind, tc.want, tc.text)
	e := b.ev.wait(t, mark, what, func(e Event) bool {
		return e.Kind == tc.kind && (tc.want == nil || errors.Is(e.Err, tc.want)) && strings.Contains(fmt.Sprint(e.Err), tc.text)
	})
	t.Logf("reason: %v", e.Err)
	if tc.retries {
		b.settle(t, mark)
	}
	after := b.target.Stats()
	hs, proto := after.HandshakeFailures-before.HandshakeFailures, after.ProtocolErrors-before.ProtocolErrors
	var wantHS, wantProto uint64
	switch tc.count {
	case "handshake":
		wantHS = 1
	case "protocol":
		wantProto = 1
	}
	if tc.retries {
		if hs < 1 || proto != 0 {
			t.Errorf("HandshakeFailures, ProtocolErrors: got +%d, +%d, want at least +1, +0", hs, proto)
		}
	} else {
		if hs != wantHS || proto != wantProto {
			t.Errorf("HandshakeFailures, ProtocolErrors: got +%d, +%d, want +%d, +%d", hs, proto, wantHS, wantProto)
		}
		var fails []Event
		for _, e := range b.ev.since(mark) {
			if rawIsFailure(e) {
				fails = append(fails, e)
			}
		}
		if len(fails) != 1 {
			t.Errorf("got %d failure events, want 1: %v", len(fails), fails)
		}
	}
	b.stream.progress(t, rawProgressCheck)
}

// settle waits until every connection the target accepted since mark has
// failed: a redialing bad socket was closed, but its last connections may
// still be in the target's handshake.
func (b *rawBench) settle(t *testing.T, mark int) {
	t.Helper()
	accepted := 0
	for _, e := range b.ev.since(mark) {
		if e.Kind == EventAccepted {
			accepted++
		}
	}
	b.ev.waitN(t, mark, accepted, "handshake failures, one per accepted connection", func(e Event) bool {
		return e.Kind == EventHandshakeFailed
	})
}

// refused checks that the socket hung up having sent at most its own
// greeting: to a peer that does not speak WISP it sends nothing more.
func (b *rawBench) refused(t *testing.T, p *rawPeer) {
	t.Helper()
	got, err := p.drain()
	if !rawConnEnded(err) {
		t.Errorf("connection ended with %v, want EOF or reset", err)
	}
	if !bytes.HasPrefix(greetingOf(b.target), got) {
		t.Errorf("got %q from the socket, want at most its greeting %q", got, greetingOf(b.target))
	}
}

// hungUp checks that the socket ended the connection.
func rawHungUp(t *testing.T, p *rawPeer) []byte {
	t.Helper()
	got, err := p.drain()
	if !rawConnEnded(err) {
		t.Errorf("connection ended with %v, want EOF or reset", err)
	}
	return got
}

// closeWrite ends our side of the stream, like a peer that exits, while we
// can still read until the socket hangs up too.
func rawCloseWrite(t *testing.T, p *rawPeer) {
	t.Helper()
	cw, ok := p.nc.(interface{ CloseWrite() error })
	if !ok {
		t.Fatalf("%T has no CloseWrite", p.nc)
	}
	if err := cw.CloseWrite(); err != nil {
		t.Fatal(err)
	}
}

// expectError reads the socket's greeting, then an ERROR command whose
// reason contains want, then the end of the connection.
func rawExpectError(t *testing.T, p *rawPeer, want string) {
	t.Helper()
	if _, err := p.readGreeting(); err != nil {
		t.Fatalf("reading the socket's greeting before its ERROR: %v (got %q)", err, p.buf)
	}
	c, err := p.readCommand()
	if err != nil {
		t.Fatalf("reading the ERROR command: %v", err)
	}
	if c.ID != wire.CmdError || !strings.Contains(string(c.Data), want) {
		t.Errorf("got %v %q, want ERROR containing %q", c.ID, c.Data, want)
	}
	rawHungUp(t, p)
}

func rawCases() []rawCase {
	return []rawCase{
		{
			name: "garbage", kind: EventHandshakeFailed, want: wire.ErrBadMagic, count: "handshake",
			run: func(t *testing.T, b *rawBench) {
				r := rand.New(rand.NewPCG(1, 2))
				junk := make([]byte, 1000)
				for i := range junk {
					junk[i] = byte(r.Uint32())
				}
				junk[0] = 0xff // anything but the 'W' of WISP
				p := rawDial(t, b.ep)
				p.send(junk) // the socket may hang up before it has all
				b.refused(t, p)
			},
		},
		{
			name: "http-request", kind: EventHandshakeFailed, want: wire.ErrBadMagic, count: "handshake",
			run: func(t *testing.T, b *rawBench) {
				p := rawDial(t, b.ep)
				p.send([]byte("GET / HTTP/1.1\r\nHost: localhost\r\nUser-Agent: test\r\nAccept: */*\r\n\r\n"))
				b.refused(t, p)
			},
		},
		{
			name: "wrong-magic", kind: EventHandshakeFailed, want: wire.ErrBadMagic, count: "handshake",
			run: func(t *testing.T, b *rawBench) {
				g := rawGreeting(b.claim, false)
				wb := g.Append(nil)
				wb[3] = 'Q'
				p := rawDial(t, b.ep)
				p.send(wb)
				b.refused(t, p)
			},
		},
		{
			name: "major-version-2", kind: EventHandshakeFailed, want: wire.ErrVersion, count: "handshake",
			run: func(t *testing.T, b *rawBench) {
				g := rawGreeting(b.claim, false)
				g.Major, g.Minor = 2, 0
				p := rawDial(t, b.ep)
				p.greet(g)
				rawExpectError(t, p, "unsupported version 2.0")
			},
		},
		{
			name: "oversized-properties", kind: EventHandshakeFailed, want: wire.ErrMalformed, count: "handshake",
			run: func(t *testing.T, b *rawBench) {
				g := rawGreeting(b.claim, false)
				wb := g.Append(nil)
				wb[24], wb[25] = 0x08, 0x00 // 2048 bytes of properties, above the 1024 allowed
				p := rawDial(t, b.ep)
				p.send(wb)
				rawHungUp(t, p)
			},
		},
		{
			name: "incompatible-type", kind: EventHandshakeFailed, want: ErrIncompatiblePeer, count: "handshake",
			run: func(t *testing.T, b *rawBench) {
				p := rawDial(t, b.ep)
				p.greet(rawGreeting(wireType(b.target.typ), false)) // PUSH to PUSH, PULL to PULL
				rawExpectError(t, p, "incompatible")
			},
		},
		{
			name: "undefined-type", kind: EventHandshakeFailed, want: ErrIncompatiblePeer, count: "handshake",
			run: func(t *testing.T, b *rawBench) {
				p := rawDial(t, b.ep)
				p.greet(rawGreeting(42, false))
				rawExpectError(t, p, "incompatible")
			},
		},
		{
			name: "same-type-socket", kind: EventHandshakeFailed, want: ErrIncompatiblePeer, count: "handshake", retries: true,
			run: func(t *testing.T, b *rawBench) {
				bad, err := New(b.target.typ, WithReconnectInterval(50*time.Millisecond, time.Second))
				if err != nil {
					t.Fatal(err)
				}
				w := rawWatch(bad)
				if err := bad.Connect(b.ep); err != nil {
					t.Fatal(err)
				}
				e := w.wait(t, 0, "handshake failure on the bad socket", rawFailure(EventHandshakeFailed, ErrIncompatiblePeer))
				t.Logf("the bad socket's reason: %v", e.Err)
				if err := bad.Close(); err != nil {
					t.Errorf("bad socket Close: %v", err)
				}
				<-w.done
			},
		},
		{
			name: "frame-of-4GiB", kind: EventDisconnected, want: wire.ErrFrameTooLarge, count: "protocol",
			run: func(t *testing.T, b *rawBench) {
				p := rawDial(t, b.ep)
				p.handshake(rawGreeting(b.claim, false))
				var m0 runtime.MemStats
				runtime.ReadMemStats(&m0)
				p.mustSend(wire.AppendFrameHeader(nil, 0, 1<<32-1))
				rawHungUp(t, p)
				b.ev.wait(t, 0, "oversized frame failure", rawFailure(EventDisconnected, wire.ErrFrameTooLarge))
				var m1 runtime.MemStats
				runtime.ReadMemStats(&m1)
				// The declared size is 4 GiB; anything near it would show.
				const slack = 256 << 20
				if m1.HeapAlloc > m0.HeapAlloc+slack || m1.Sys > m0.Sys+slack {
					t.Errorf("HeapAlloc, Sys: got %d, %d MiB after the frame header, want below %d, %d MiB",
						m1.HeapAlloc>>20, m1.Sys>>20, (m0.HeapAlloc+slack)>>20, (m0.Sys+slack)>>20)
				}
			},
		},
		{
			name: "message-over-max", kind: EventDisconnected, want: wire.ErrFrameTooLarge, count: "protocol",
			run: func(t *testing.T, b *rawBench) {
				p := rawDial(t, b.ep)
				p.handshake(rawGreeting(b.claim, false))
				// Each frame fits; the two together do not.
				p.frame(true, make([]byte, rawMaxMessage/2+1))
				p.send(wire.AppendFrameHeader(nil, 0, rawMaxMessage/2))
				rawHungUp(t, p)
			},
		},
		{
			name: "truncated-frame", kind: EventDisconnected, want: io.ErrUnexpectedEOF, count: "protocol",
			run: func(t *testing.T, b *rawBench) {
				p := rawDial(t, b.ep)
				p.handshake(rawGreeting(b.claim, false))
				p.mustSend(append(wire.AppendFrameHeader(nil, 0, 100), "only ten b"...))
				rawCloseWrite(t, p)
				rawHungUp(t, p)
			},
		},
		{
			name: "truncated-message", kind: EventDisconnected, want: io.ErrUnexpectedEOF, count: "protocol",
			run: func(t *testing.T, b *rawBench) {
				p := rawDial(t, b.ep)
				p.handshake(rawGreeting(b.claim, false))
				p.frame(true, []byte("first of two frames"))
				rawCloseWrite(t, p)
				rawHungUp(t, p)
			},
		},
		{
			name: "stalled-handshake", kind: EventHandshakeFailed, want: ErrHandshakeTimeout, count: "handshake",
			run: func(t *testing.T, b *rawBench) {
				g := rawGreeting(b.claim, false)
				p := rawDial(t, b.ep)
				p.mustSend(g.Append(nil)[:13])
				got := rawHungUp(t, p)
				if !bytes.Equal(got, greetingOf(b.target)) {
					t.Errorf("got %q before the hang-up, want the greeting %q", got, greetingOf(b.target))
				}
			},
		},
		{
			name: "unknown-command", kind: EventDisconnected, want: wire.ErrUnknownCommand, count: "protocol",
			run: func(t *testing.T, b *rawBench) {
				p := rawDial(t, b.ep)
				p.handshake(rawGreeting(b.claim, false))
				p.mustSend([]byte{byte(wire.FlagCommand), 3, 0x7f, 1, 2})
				rawHungUp(t, p)
			},
		},
		{
			name: "command-inside-message", kind: EventDisconnected, want: wire.ErrMalformed, count: "protocol",
			run: func(t *testing.T, b *rawBench) {
				p := rawDial(t, b.ep)
				p.handshake(rawGreeting(b.claim, false))
				wb := wire.AppendFrame(nil, true, []byte("first"))
				wb = wire.Command{ID: wire.CmdPing}.Append(wb)
				wb = wire.AppendFrame(wb, false, []byte("last"))
				p.mustSend(wb)
				rawHungUp(t, p)
			},
		},
		{
			name: "peer-error", kind: EventDisconnected, want: ErrPeerError, text: "going away",
			run: func(t *testing.T, b *rawBench) {
				p := rawDial(t, b.ep)
				p.handshake(rawGreeting(b.claim, false))
				p.command(wire.Command{ID: wire.CmdError, Data: []byte("going away")})
				rawHungUp(t, p)
			},
		},
		// Rules of the acknowledged stream (SPEC.md section 6) that the
		// engine, not the codec, enforces.
		{
			name: "data-before-resume", on: Pull, kind: EventDisconnected, text: "before RESUME", count: "protocol",
			run: func(t *testing.T, b *rawBench) {
				p := rawDial(t, b.ep)
				p.handshake(rawGreeting(wire.Push, true))
				p.frame(false, []byte("no RESUME came first"))
				rawHungUp(t, p)
			},
		},
		{
			name: "resume-without-acks", kind: EventDisconnected, text: "RESUME", count: "protocol",
			run: func(t *testing.T, b *rawBench) {
				p := rawDial(t, b.ep)
				p.handshake(rawGreeting(b.claim, false))
				p.command(wire.Command{ID: wire.CmdResume, Seq: 1})
				rawHungUp(t, p)
			},
		},
		{
			name: "ack-to-receiver", on: Pull, kind: EventDisconnected, text: "ACK", count: "protocol",
			run: func(t *testing.T, b *rawBench) {
				p := rawDial(t, b.ep)
				p.handshake(rawGreeting(wire.Push, false))
				p.command(wire.Command{ID: wire.CmdAck, Seq: 1})
				rawHungUp(t, p)
			},
		},
		{
			name: "subscribe-to-pipeline", kind: EventDisconnected, text: "SUBSCRIBE", count: "protocol",
			run: func(t *testing.T, b *rawBench) {
				p := rawDial(t, b.ep)
				p.handshake(rawGreeting(b.claim, false))
				p.command(wire.Command{ID: wire.CmdSubscribe, Data: []byte("x")})
				rawHungUp(t, p)
			},
		},
		{
			name: "ack-beyond-sent", on: Push, kind: EventDisconnected, want: patterns.ErrAckBeyondSent, count: "protocol",
			run: func(t *testing.T, b *rawBench) {
				p := rawDial(t, b.ep)
				p.handshake(rawGreeting(wire.Pull, false))
				c, err := p.readCommand()
				if err != nil || c.ID != wire.CmdResume || c.Seq != 1 {
					t.Fatalf("got %v %d (%v), want RESUME 1 first", c.ID, c.Seq, err)
				}
				p.command(wire.Command{ID: wire.CmdAck, Seq: 1000})
				rawHungUp(t, p)
			},
		},
		{
			name: "data-to-sender", on: Push, kind: EventDisconnected, text: "receives none", count: "protocol",
			run: func(t *testing.T, b *rawBench) {
				p := rawDial(t, b.ep)
				p.handshake(rawGreeting(wire.Pull, false))
				p.frame(false, []byte("a PULL does not send"))
				rawHungUp(t, p)
			},
		},
	}
}

// many opens and closes rawManyConns connections while the good peer
// streams. Each is one handshake failure; the good stream must not notice.
func (b *rawBench) many(t *testing.T) {
	before := b.target.Stats()
	mark := b.ev.mark()
	failed := func(e Event) bool { return e.Kind == EventHandshakeFailed }
	network, addr, _ := strings.Cut(b.ep, "://")
	if network == "ipc" {
		network = "unix"
	}
	for i := range rawManyConns {
		if i >= rawManyInFlight && i%rawManyInFlight == 0 {
			// Keep the accept queue short, so the kernel drops none.
			b.ev.waitN(t, mark, i-rawManyInFlight, "handshake failures", failed)
		}
		nc, err := net.DialTimeout(network, addr, rawTimeout)
		if err != nil {
			t.Fatalf("dial %d: %v", i, err)
		}
		nc.Close()
	}
	b.ev.waitN(t, mark, rawManyConns, "handshake failures", failed)
	after := b.target.Stats()
	if hs, proto := after.HandshakeFailures-before.HandshakeFailures, after.ProtocolErrors-before.ProtocolErrors; hs != rawManyConns || proto != 0 {
		t.Errorf("HandshakeFailures, ProtocolErrors: got +%d, +%d, want +%d, +0", hs, proto, rawManyConns)
	}
	reasons := map[string]int{}
	for _, e := range b.ev.since(mark) {
		switch {
		case e.Kind == EventHandshakeFailed && (errors.Is(e.Err, io.ErrUnexpectedEOF) || errors.Is(e.Err, syscall.ECONNRESET) ||
			errors.Is(e.Err, syscall.EPIPE) || errors.Is(e.Err, ErrHandshakeTimeout)):
			// A handshake goroutine that starts after its deadline (a
			// loaded machine) reports the timeout before it sees the EOF.
			reasons[fmt.Sprintf("%v", rawErrno(e.Err))]++
		case e.Kind == EventAccepted || e.Kind == EventHandshakeFailed:
			if e.Kind == EventHandshakeFailed {
				t.Errorf("got handshake failure %v, want a closed or reset connection (or a timeout)", e.Err)
			}
		case e.Kind == EventPeerGone:
			// An earlier case's raw peer whose resume timeout ended.
		default:
			t.Errorf("got event %v, want only accepted, handshake-failed and peer-gone", e)
		}
	}
	t.Logf("reasons: %v", reasons)
	b.stream.progress(t, rawProgressCheck)
}

// rawErrno names a failure reason for the log.
func rawErrno(err error) string {
	switch {
	case errors.Is(err, io.ErrUnexpectedEOF):
		return "EOF"
	case errors.Is(err, syscall.ECONNRESET):
		return "ECONNRESET"
	case errors.Is(err, ErrHandshakeTimeout):
		return "timeout"
	default:
		return "EPIPE"
	}
}

// TestBadInputCloseDuringHandshakes closes a socket while bad peers are in the
// middle of their handshakes: Close must still end every goroutine.
func TestBadInputCloseDuringHandshakes(t *testing.T) {
	s, err := New(Pull, WithHandshakeTimeout(time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	ep, err := s.Bind("tcp://127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	w := rawWatch(s)
	mark := w.mark()
	var peers []*rawPeer
	for i := range 20 {
		p := rawDial(t, ep)
		g := rawGreeting(wire.Push, false)
		p.mustSend(g.Append(nil)[:i]) // from nothing to almost a greeting
		peers = append(peers, p)
	}
	w.waitN(t, mark, 20, "accepted connections", func(e Event) bool { return e.Kind == EventAccepted })
	ctx, cancel := context.WithTimeout(context.Background(), rawTimeout)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- s.Close() }()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Close: %v", err)
		}
	case <-ctx.Done():
		t.Fatal("Close did not return while peers were mid-handshake")
	}
	<-w.done
	for _, p := range peers {
		rawHungUp(t, p)
	}
	goleak.VerifyNone(t)
}
