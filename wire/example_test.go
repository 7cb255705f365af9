package wire_test

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/wispmq/wisp/wire"
)

// Build a two-frame message and an ACK, then parse them back as a receiver
// would, growing its buffer as Need says.
func Example() {
	var out []byte
	out = wire.AppendFrame(out, true, []byte("topic"))
	out = wire.AppendFrame(out, false, []byte("hello"))
	out = wire.Command{ID: wire.CmdAck, Seq: 7}.Append(out)

	d := wire.Decoder{MaxMessageSize: 1 << 20}
	in := out[:3] // pretend only 3 bytes have arrived so far
	for len(out) > 0 {
		it, n, err := d.Decode(in)
		if err == io.ErrUnexpectedEOF {
			in = out[:d.Need()] // read until the frame is whole
			continue
		}
		if err != nil {
			fmt.Println("protocol error:", err)
			return
		}
		if it.IsCommand {
			fmt.Printf("command %v %d\n", it.Command.ID, it.Command.Seq)
		} else {
			fmt.Printf("frame %q more=%v\n", it.Frame, it.More)
		}
		out = out[n:]
		in = in[n:]
	}
	// Output:
	// frame "topic" more=true
	// frame "hello" more=false
	// command ACK 7
}

func ExampleParseGreeting() {
	local := wire.Greeting{
		Major: wire.VersionMajor, Minor: wire.VersionMinor,
		Type: wire.Push, Acks: true, Session: wire.NewSessionID(),
		HeartbeatInterval: 5 * time.Second, Window: 1000,
	}
	b := local.Append(nil)

	peer, n, err := wire.ParseGreeting(b)
	fmt.Println(n, err, peer.Type, peer.Acks, peer.HeartbeatInterval, peer.Window)
	fmt.Println(wire.Compatible(wire.Pull, peer.Type))

	_, _, err = wire.ParseGreeting([]byte("GET / HTTP/1.1\r\n"))
	fmt.Println(errors.Is(err, wire.ErrBadMagic))
	// Output:
	// 38 <nil> PUSH true 5s 1000
	// true
	// true
}

func ExampleReadGreeting() {
	conn := bytes.NewReader([]byte("WISP\x02\x01\x08\x00")) // a peer speaking version 2.1
	g, err := wire.ReadGreeting(conn)
	if errors.Is(err, wire.ErrVersion) {
		reason := fmt.Sprintf("unsupported version %d.%d", g.Major, g.Minor)
		reply := wire.Command{ID: wire.CmdError, Data: []byte(reason)}.Append(nil)
		fmt.Printf("%s: % x\n", reason, reply[:3])
	}
	// Output:
	// unsupported version 2.1: 02 18 05
}

func ExampleCommand_Append() {
	b := wire.Command{ID: wire.CmdSubscribe, Data: []byte("weather.")}.Append(nil)
	fmt.Printf("% x\n", b)
	_, length, h, _ := wire.ParseFrameHeader(b)
	c, err := wire.ParseCommand(b[h : h+length])
	fmt.Printf("%v %q %v\n", c.ID, c.Data, err)
	// Output:
	// 02 09 06 77 65 61 74 68 65 72 2e
	// SUBSCRIBE "weather." <nil>
}

// A reader that keeps its bytes and only notes where each payload lies
// decodes data frames with DataFrame, and hands commands to Decode.
func ExampleDecoder_DataFrame() {
	var stream []byte
	stream = wire.AppendFrame(stream, true, []byte("topic"))
	stream = wire.AppendFrame(stream, false, []byte("hello"))
	stream = wire.Command{ID: wire.CmdAck, Seq: 1}.Append(stream)

	var d wire.Decoder
	for at := 0; at < len(stream); {
		if wire.Flags(stream[at])&wire.FlagCommand != 0 {
			it, n, err := d.Decode(stream[at:])
			if err != nil {
				fmt.Println(err)
				return
			}
			fmt.Printf("command %v\n", it.Command.ID)
			at += n
			continue
		}
		start, end, n, more, err := d.DataFrame(stream[at:])
		if err != nil {
			fmt.Println(err)
			return
		}
		fmt.Printf("frame at %d:%d %q more=%v\n", at+start, at+end, stream[at+start:at+end], more)
		at += n
	}
	// Output:
	// frame at 2:7 "topic" more=true
	// frame at 9:14 "hello" more=false
	// command ACK
}
