package socket

import (
	"bytes"
	"errors"
	"io"
	"net"
	"os"
	"testing"
	"time"

	"github.com/wispmq/wisp/wire/zmtp"
)

// rawZMTP is a hand-driven ZMTP peer of version 3.minor, for what no
// library in reach speaks any more: ZMTP 3.0.
type rawZMTP struct {
	t   *testing.T
	nc  net.Conn
	buf []byte
	dec zmtp.Decoder
}

// dialRawZMTP connects to a ZMTP socket at addr, greets it as a 3.minor
// peer of type typ, and reads its greeting and READY.
func dialRawZMTP(t *testing.T, addr string, minor byte, typ string) *rawZMTP {
	t.Helper()
	nc, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nc.Close() })
	nc.SetDeadline(time.Now().Add(testTimeout))
	r := &rawZMTP{t: t, nc: nc}
	greeting := zmtp.Greeting{Major: 3, Minor: minor, Mechanism: zmtp.MechanismNull}.Append(nil)
	ready := zmtp.AppendCommand(nil, zmtp.CmdReady, zmtp.Metadata{{Name: zmtp.PropSocketType, Value: []byte(typ)}}.Append(nil))
	if _, err := nc.Write(append(greeting, ready...)); err != nil {
		t.Fatal(err)
	}
	r.buf = make([]byte, zmtp.GreetingLen)
	if _, err := io.ReadFull(nc, r.buf); err != nil {
		t.Fatal(err)
	}
	if g, err := zmtp.ParseGreeting(r.buf); err != nil || g.Major != 3 || g.Minor != 1 {
		t.Fatalf("the socket's greeting: %+v, %v; want ZMTP 3.1", g, err)
	}
	r.buf = r.buf[:0]
	if f := r.frame(); !f.Command || !zmtp.IsCommand(f.Body, zmtp.CmdReady) {
		t.Fatalf("got %+v, want READY", f)
	}
	return r
}

// frame reads the socket's next frame.
func (r *rawZMTP) frame() zmtp.Frame {
	r.t.Helper()
	for {
		f, n, err := r.dec.Decode(r.buf)
		if err == nil {
			f.Body = bytes.Clone(f.Body)
			r.buf = r.buf[n:]
			return f
		}
		if err != io.ErrUnexpectedEOF {
			r.t.Fatal(err)
		}
		chunk := make([]byte, 4096)
		k, err := r.nc.Read(chunk)
		if err != nil {
			r.t.Fatalf("reading the socket's frames: %v", err)
		}
		r.buf = append(r.buf, chunk[:k]...)
	}
}

// TestZMTPSubscriptionsByVersion: a SUB tells a 3.1 publisher its
// subscriptions with SUBSCRIBE and CANCEL commands, and a 3.0 publisher
// with [1 prefix] and [0 prefix] messages, which 3.0 has instead; a PUB
// takes both forms from its subscribers.
func TestZMTPSubscriptionsByVersion(t *testing.T) {
	for _, minor := range []byte{0, 1} {
		t.Run("SUB to a 3."+string('0'+minor)+" publisher", func(t *testing.T) {
			l, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			defer l.Close()
			sub := zmtpSocket(t, Sub, WithHeartbeat(20*time.Millisecond, 100*time.Millisecond))
			if err := sub.Subscribe([]byte("A")); err != nil {
				t.Fatal(err)
			}
			if err := sub.Connect("tcp://" + l.Addr().String()); err != nil {
				t.Fatal(err)
			}
			nc, err := l.Accept()
			if err != nil {
				t.Fatal(err)
			}
			defer nc.Close()
			nc.SetDeadline(time.Now().Add(testTimeout))
			r := &rawZMTP{t: t, nc: nc}
			greeting := zmtp.Greeting{Major: 3, Minor: minor, Mechanism: zmtp.MechanismNull}.Append(nil)
			ready := zmtp.AppendCommand(nil, zmtp.CmdReady, zmtp.Metadata{{Name: zmtp.PropSocketType, Value: []byte("PUB")}}.Append(nil))
			nc.Write(append(greeting, ready...))
			r.buf = make([]byte, zmtp.GreetingLen)
			if _, err := io.ReadFull(nc, r.buf); err != nil {
				t.Fatal(err)
			}
			r.buf = r.buf[:0]
			r.frame() // READY
			want := [][]byte{zmtp.AppendCommand(nil, zmtp.CmdSubscribe, []byte("A")), zmtp.AppendCommand(nil, zmtp.CmdCancel, []byte("A"))}
			if minor == 0 {
				want = [][]byte{zmtp.AppendFrame(nil, false, []byte("\x01A")), zmtp.AppendFrame(nil, false, []byte("\x00A"))}
			}
			for i, w := range want {
				f := r.frame()
				got := zmtp.AppendFrame(nil, false, f.Body)
				if f.Command {
					got = zmtp.AppendFrameHeader(nil, zmtp.FlagCommand, len(f.Body))
					got = append(got, f.Body...)
				}
				if !bytes.Equal(got, w) {
					t.Fatalf("change %d: got %x, want %x", i, got, w)
				}
				if i == 0 {
					// Only now is the subscription surely stated: before
					// the SUB attached, Unsubscribe would leave nothing
					// to state.
					if err := sub.Unsubscribe([]byte("A")); err != nil {
						t.Fatal(err)
					}
				}
			}
			// ZMTP 3.1 has PING; a 3.0 peer would not know one, so the SUB
			// neither pings it nor hangs up on its silence.
			nc.SetReadDeadline(time.Now().Add(500 * time.Millisecond))
			f, n, err := r.dec.Decode(r.buf)
			if err == io.ErrUnexpectedEOF {
				chunk := make([]byte, 64)
				n, err = nc.Read(chunk)
				f, _, _ = r.dec.Decode(chunk[:n])
			}
			if minor == 1 && (err != nil || !f.Command || !zmtp.IsCommand(f.Body, zmtp.CmdPing)) {
				t.Fatalf("a 3.1 peer silent for 500ms: got %+v, %v; want a PING", f, err)
			}
			if minor == 0 && !errors.Is(err, os.ErrDeadlineExceeded) {
				t.Fatalf("a 3.0 peer silent for 500ms: got %d bytes (%+v), %v; want nothing, not even a hang-up", n, f, err)
			}
		})
	}
	for _, minor := range []byte{0, 1} {
		t.Run("PUB from a 3."+string('0'+minor)+" subscriber", func(t *testing.T) {
			ctx := testContext(t)
			pub := zmtpSocket(t, Pub)
			ep, err := pub.Bind("tcp://127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			r := dialRawZMTP(t, ep[len("tcp://"):], minor, "SUB")
			var subscribe []byte
			if minor == 0 {
				subscribe = zmtp.AppendFrame(nil, false, []byte("\x01A"))
			} else {
				subscribe = zmtp.AppendCommand(nil, zmtp.CmdSubscribe, []byte("A"))
			}
			// Something that is no subscription first: ignored.
			r.nc.Write(append(zmtp.AppendFrame(nil, false, []byte("\x07junk")), subscribe...))
			if err := pub.WaitSubscribers(ctx, 1); err != nil {
				t.Fatal(err)
			}
			for _, topic := range []string{"B-1", "A-2", "C-3", "AB-4"} {
				if err := pub.Send(ctx, []byte(topic)); err != nil {
					t.Fatal(err)
				}
			}
			for _, want := range []string{"A-2", "AB-4"} {
				if f := r.frame(); f.Command || string(f.Body) != want {
					t.Fatalf("got %+v, want publication %q", f, want)
				}
			}
		})
	}
}

// TestZMTPLargeMessages: frames around the short/long header boundary and
// past the sizes the reader reads straight into the application's memory,
// in multi-frame messages, between wisp sockets over every transport.
func TestZMTPLargeMessages(t *testing.T) {
	forEachTransport(t, func(t *testing.T, nw *network) {
		ctx := testContext(t)
		push, pull := newPairOpts(t, nw, []Option{WithProtocol(ZMTP)}, []Option{WithProtocol(ZMTP), WithMaxMessageSize(8 << 20)})
		sizes := []int{0, 255, 256, 16<<10 - 1, 16 << 10, 70 << 10, 3 << 20}
		var frames [][]byte
		for i, n := range sizes {
			frames = append(frames, bytes.Repeat([]byte{byte('a' + i)}, n))
		}
		for range 3 {
			if err := push.Send(ctx, frames...); err != nil {
				t.Fatal(err)
			}
		}
		for range 3 {
			m, err := pull.Recv(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if len(m) != len(frames) {
				t.Fatalf("got %d frames, want %d", len(m), len(frames))
			}
			for i := range m {
				if !bytes.Equal(m[i], frames[i]) {
					t.Fatalf("frame %d (%d bytes) arrived changed (%d bytes)", i, len(frames[i]), len(m[i]))
				}
			}
		}
	})
}
