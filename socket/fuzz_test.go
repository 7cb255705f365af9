package socket

import (
	"context"
	"net"
	"testing"

	"github.com/wispmq/wisp/wire"
)

// FuzzStreamInput feeds arbitrary bytes, after a valid PUSH greeting, to a
// PULL socket's connection reader: whatever the bytes, the socket must not
// panic, must end that connection (or keep it healthy until the peer
// closes), and must keep working.
func FuzzStreamInput(f *testing.F) {
	f.Add(false, wire.AppendFrame(nil, false, []byte("hello")))
	f.Add(true, append(wire.Command{ID: wire.CmdResume, Seq: 1}.Append(nil), wire.AppendFrame(nil, false, []byte("x"))...))
	f.Add(true, wire.AppendFrame(nil, false, []byte("data before RESUME")))
	f.Add(false, wire.AppendFrameHeader(nil, wire.FlagMore, 300))
	f.Add(false, []byte{0xff, 0xff, 0xff, 0xff, 0xff})
	f.Add(true, wire.Command{ID: wire.CmdAck, Seq: 7}.Append(nil))
	f.Add(false, append(wire.AppendFrame(nil, true, []byte("a")), wire.Command{ID: wire.CmdPing}.Append(nil)...))

	pull, err := New(Pull, WithMaxMessageSize(1<<16), WithEventBuffer(1<<12))
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { pull.Close() })
	f.Fuzz(func(t *testing.T, acks bool, input []byte) {
		ours, theirs := net.Pipe()
		g := wire.Greeting{Major: wire.VersionMajor, Type: wire.Push, Acks: acks, Session: wire.NewSessionID()}
		if err := pull.ConnectConn(theirs); err != nil {
			t.Fatal(err)
		}
		// Take messages while the input goes in: an input of more than
		// WithRecvHWM messages would otherwise stop the socket's reads at
		// the mark, and net.Pipe's Write below with them, for as long as
		// the connection lasts (the fuzzer counts an input that takes 10 s
		// as a hang).
		taking, stopTaking := context.WithCancel(context.Background())
		took := make(chan struct{})
		defer func() { stopTaking(); <-took }() // also when t.Fatal ends the input
		go func() {
			defer close(took)
			for {
				if _, err := pull.Recv(taking); err != nil {
					return
				}
			}
		}()
		// The socket writes its greeting (and later maybe PONG, ACK or
		// ERROR); read and discard so net.Pipe never blocks it.
		drained := make(chan struct{})
		go func() {
			defer close(drained)
			buf := make([]byte, 4096)
			for {
				if _, err := ours.Read(buf); err != nil {
					return
				}
			}
		}()
		ours.Write(g.Append(nil))
		ours.Write(input)
		ours.Close()
		<-drained
		// The connection must end: wait for its last event.
		ctx, cancel := context.WithTimeout(context.Background(), rawTimeout)
		defer cancel()
		for {
			select {
			case e := <-pull.Events():
				if (e.Kind == EventDisconnected || e.Kind == EventHandshakeFailed) && e.Session == g.Session.String() {
					goto ended
				}
			case <-ctx.Done():
				t.Fatal("the connection did not end after the peer closed")
			}
		}
	ended:
		stopTaking()
		<-took
		// Take what was left, so the socket stays empty between inputs.
		done, stop := context.WithCancel(context.Background())
		stop()
		for {
			if _, err := pull.Recv(done); err != nil {
				break
			}
		}
	})
}
