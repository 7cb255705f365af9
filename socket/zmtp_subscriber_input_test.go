package socket

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"net"
	"runtime"
	"strings"
	"testing"

	"github.com/wispmq/wisp/wire/zmtp"
)

// What a ZMTP subscriber may send a publisher: subscriptions, in the 3.1
// command form or the 3.0 message form, and nothing that costs the
// publisher more than the limits say.

// rawSubscriber binds a ZMTP PUB (with opts) and connects a raw ZMTP 3.1
// SUB peer to it; whatever the PUB sends is discarded.
func rawSubscriber(t *testing.T, opts ...Option) (*Socket, net.Conn) {
	t.Helper()
	ctx := testContext(t)
	pub := zmtpSocket(t, Pub, append([]Option{WithEventBuffer(1024)}, opts...)...)
	ep, err := pub.Bind("tcp://127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	nc, err := net.Dial("tcp", strings.TrimPrefix(ep, "tcp://"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nc.Close() })
	b := zmtp.Greeting{Major: 3, Minor: 1, Mechanism: zmtp.MechanismNull}.Append(nil)
	b = zmtp.AppendCommand(b, zmtp.CmdReady, zmtp.Metadata{{Name: zmtp.PropSocketType, Value: []byte("SUB")}}.Append(nil))
	if _, err := nc.Write(b); err != nil {
		t.Fatal(err)
	}
	go io.Copy(io.Discard, nc)
	waitKind(t, ctx, pub, EventConnected)
	return pub, nc
}

// waitSubscriptions waits until the PUB's one peer subscribes to n prefixes.
func waitSubscriptions(t *testing.T, pub *Socket, n int) {
	t.Helper()
	waitFor(t, testContext(t), "subscriptions", func() bool {
		st := pub.Stats()
		return len(st.Peers) == 1 && st.Peers[0].Subscriptions == n
	})
}

// TestZMTPSubscriberLargeOtherMessage: a subscriber's message that is no
// subscription is skipped whatever its size; one large enough to be read
// straight into its own memory once went to the PUB as data and ended the
// connection.
func TestZMTPSubscriberLargeOtherMessage(t *testing.T) {
	pub, nc := rawSubscriber(t)
	nc.Write(zmtp.AppendFrame(nil, false, []byte("xsmall")))
	nc.Write(zmtp.AppendCommand(nil, zmtp.CmdSubscribe, []byte("a")))
	waitSubscriptions(t, pub, 1)
	nc.Write(zmtp.AppendFrame(nil, false, bytes.Repeat([]byte("x"), 100<<10)))
	nc.Write(zmtp.AppendCommand(nil, zmtp.CmdSubscribe, []byte("b")))
	waitSubscriptions(t, pub, 2)
	if n := countEvents(pub, EventDisconnected); n != 0 {
		t.Fatalf("a 100 KiB message that is no subscription disconnected the subscriber (%d)", n)
	}
}

// TestZMTPSubscriberSkippedFramesNotKept: frames of skipped messages are
// not kept. Messages of a large frame flagged MORE and a small last one
// once left every large frame behind, for the life of the connection.
func TestZMTPSubscriberSkippedFramesNotKept(t *testing.T) {
	pub, nc := rawSubscriber(t, WithMaxMessageSize(1<<20))
	frame := bytes.Repeat([]byte("x"), 512<<10)
	const n = 100 // 50 MiB in all
	runtime.GC()
	var before runtime.MemStats
	runtime.ReadMemStats(&before)
	w := bufio.NewWriterSize(nc, 1<<20)
	for range n {
		w.Write(zmtp.AppendFrame(nil, true, frame))
		w.Write(zmtp.AppendFrame(nil, false, []byte("y")))
	}
	w.Write(zmtp.AppendCommand(nil, zmtp.CmdSubscribe, []byte("a")))
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	waitSubscriptions(t, pub, 1)
	runtime.GC()
	var after runtime.MemStats
	runtime.ReadMemStats(&after)
	if grown := int64(after.HeapAlloc) - int64(before.HeapAlloc); grown > 16<<20 {
		t.Fatalf("the PUB holds %d MiB more after %d skipped messages of 512 KiB", grown>>20, n)
	}
}

// TestZMTPSubscriberPrefixLimit: a prefix longer than MaxPrefixLen (1023
// bytes) ends the subscriber's connection, in either form, as on WISP/1:
// a publisher keeps every prefix, byte by byte.
func TestZMTPSubscriberPrefixLimit(t *testing.T) {
	for _, form := range []string{"command", "message"} {
		t.Run(form, func(t *testing.T) {
			ctx := testContext(t)
			pub, nc := rawSubscriber(t)
			subscribe := func(prefix []byte) []byte {
				if form == "command" {
					return zmtp.AppendCommand(nil, zmtp.CmdSubscribe, prefix)
				}
				return zmtp.AppendFrame(nil, false, append([]byte{1}, prefix...))
			}
			nc.Write(subscribe(bytes.Repeat([]byte("a"), 1023)))
			waitSubscriptions(t, pub, 1)
			nc.Write(subscribe(bytes.Repeat([]byte("b"), 1024)))
			ev := waitKind(t, ctx, pub, EventDisconnected)
			if !errors.Is(ev.Err, ErrProtocol) || !errors.Is(ev.Err, zmtp.ErrFrameTooLarge) {
				t.Fatalf("got %v, want ErrProtocol and zmtp.ErrFrameTooLarge", ev.Err)
			}
		})
	}
}
