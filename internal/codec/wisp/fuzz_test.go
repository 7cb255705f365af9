package wisp_test

import (
	"bytes"
	"errors"
	"io"
	"net"
	"reflect"
	"testing"
	"time"

	"github.com/wispmq/wisp/internal/codec/wisp"
	"github.com/wispmq/wisp/internal/engine"
	"github.com/wispmq/wisp/wire"
)

// The seed corpus lives in testdata/fuzz/FuzzCodecDecode/. Run for example
//	go test -run '^$' -fuzz FuzzCodecDecode -fuzztime 30s ./internal/codec/wisp

// decoded is one item a reader got, with the bytes it came from.
type decoded struct {
	item engine.Item
	raw  []byte
}

// readStream feeds data to c the way a connection's reader does: it appends
// up to chunk bytes at a time to its buffer, decodes every whole frame from
// the front, and stops at the first error other than io.ErrUnexpectedEOF.
// It checks what the Codec interface promises of each call. err is nil
// when data ended on a frame boundary.
func readStream(t *testing.T, c engine.Codec, data []byte, chunk int) (got []decoded, err error) {
	t.Helper()
	var buf []byte
	for pos := 0; pos < len(data); {
		k := min(chunk, len(data)-pos)
		buf = append(buf, data[pos:pos+k]...)
		pos += k
		for len(buf) > 0 {
			it, n, err := c.Decode(buf)
			if err == io.ErrUnexpectedEOF {
				if n != 0 {
					t.Fatalf("Decode(% x) got n=%d with io.ErrUnexpectedEOF, want 0", buf, n)
				}
				if c.Need() <= len(buf) {
					t.Fatalf("Decode(% x): Need() got %d with %d bytes given, want more", buf, c.Need(), len(buf))
				}
				break
			}
			if err != nil {
				if n != 0 {
					t.Fatalf("Decode(% x) got n=%d with %v, want 0", buf, n, err)
				}
				return got, err
			}
			if n <= 0 || n > len(buf) {
				t.Fatalf("Decode(% x) got n=%d and nil error, want 1..%d", buf, n, len(buf))
			}
			checkItem(t, it, buf[:n])
			got = append(got, decoded{cloneItem(it), append([]byte(nil), buf[:n]...)})
			buf = buf[n:]
		}
	}
	if len(buf) > 0 {
		return got, io.ErrUnexpectedEOF
	}
	return got, nil
}

// readStreamData reads data as the engine's conn.parse does: DecodeData
// takes each run of data frames, located by offset in the read buffer, and
// Decode the command that ends it. It checks what the Codec interface
// promises of DecodeData.
func readStreamData(t *testing.T, c engine.Codec, data []byte, chunk int) (got []engine.Item, err error) {
	t.Helper()
	var buf []byte
	r := 0 // start of what is not yet decoded in buf
	for pos := 0; pos < len(data); {
		k := min(chunk, len(data)-pos)
		buf = append(buf, data[pos:pos+k]...)
		pos += k
		for r < len(buf) {
			base := r
			refs, n, err := c.DecodeData(buf[r:], r, nil)
			if n < 0 || n > len(buf)-r {
				t.Fatalf("DecodeData(% x) got n=%d, want 0..%d", buf[r:], n, len(buf)-r)
			}
			end := base // where the previous frame ended
			for _, ref := range refs {
				if ref.Start < end+2 || ref.End < ref.Start || ref.End > base+n {
					t.Fatalf("DecodeData(% x, base %d) got ref %+v after %d, want one within the %d bytes taken", buf[r:], base, ref, end, n)
				}
				got = append(got, cloneItem(engine.Item{Frame: buf[ref.Start:ref.End], More: ref.More}))
				end = ref.End
			}
			if end != base+n {
				t.Fatalf("DecodeData(% x) got n=%d, want %d, the end of its last frame", buf[r:], n, end-base)
			}
			r += n
			if err == io.ErrUnexpectedEOF {
				if c.Need() <= len(buf)-r {
					t.Fatalf("DecodeData(% x): Need() got %d with %d bytes left, want more", buf[base:], c.Need(), len(buf)-r)
				}
				break
			}
			if err != nil {
				return got, err
			}
			if r == len(buf) {
				break
			}
			if wire.Flags(buf[r])&wire.FlagCommand == 0 {
				t.Fatalf("DecodeData(% x) stopped at %d with nil error, want it to stop only before a command", buf[base:], n)
			}
			it, n, err := c.Decode(buf[r:])
			if err == io.ErrUnexpectedEOF {
				break
			}
			if err != nil {
				return got, err
			}
			if !it.IsCommand {
				t.Fatalf("Decode(% x) after DecodeData got a data frame, want the command", buf[r:])
			}
			got = append(got, cloneItem(it))
			r += n
		}
	}
	if r < len(buf) {
		return got, io.ErrUnexpectedEOF
	}
	return got, nil
}

// checkItem checks an item against the engine's terms.
func checkItem(t *testing.T, it engine.Item, raw []byte) {
	t.Helper()
	if !it.IsCommand {
		if !reflect.DeepEqual(it.Command, engine.Command{}) {
			t.Fatalf("data frame % x got Command %+v, want none", raw, it.Command)
		}
		return
	}
	c := it.Command
	if it.Frame != nil || it.More {
		t.Fatalf("command % x got Frame %q, More %v, want neither", raw, it.Frame, it.More)
	}
	limit := map[engine.CommandKind]int{
		engine.CmdPing: engine.MaxPingContext, engine.CmdPong: engine.MaxPingContext,
		engine.CmdError: engine.MaxErrorReason, engine.CmdSubscribe: engine.MaxPrefixLen,
		engine.CmdCancel: engine.MaxPrefixLen,
	}
	switch c.Kind {
	case engine.CmdResume, engine.CmdAck:
		if c.Data != nil || (c.Kind == engine.CmdResume && c.Seq == 0) {
			t.Fatalf("command % x got %+v, want a sequence number only (>= 1 for RESUME)", raw, c)
		}
	case engine.CmdPing, engine.CmdPong, engine.CmdError, engine.CmdSubscribe, engine.CmdCancel:
		if c.Seq != 0 || c.Data == nil || len(c.Data) > limit[c.Kind] {
			t.Fatalf("command % x got %+v, want Data of at most %d bytes and no Seq", raw, c, limit[c.Kind])
		}
	default:
		t.Fatalf("command % x got kind %v, want CmdResume..CmdCancel", raw, c.Kind)
	}
}

// sentinel names the error err wraps, so errors compare by kind.
func sentinel(err error) error {
	for _, s := range []error{io.ErrUnexpectedEOF, wire.ErrMalformed, wire.ErrFrameTooLarge, wire.ErrUnknownCommand} {
		if errors.Is(err, s) {
			return s
		}
	}
	return err
}

func FuzzCodecDecode(f *testing.F) {
	f.Fuzz(func(t *testing.T, data []byte, maxMsg uint16, chunk uint8) {
		limit := uint64(maxMsg) // 0: not stated

		// A reader that gets all of data at once.
		got, err := readStream(t, newCodec(t, limit), data, len(data))
		if err != nil && err != io.ErrUnexpectedEOF && sentinel(err) == err {
			t.Fatalf("Decode got %v, want an error wrapping one of wire's sentinels", err)
		}

		// The codec is wire.Decoder in the engine's terms: same items, same
		// error.
		d := wire.Decoder{MaxMessageSize: limit}
		var wantErr error
		consumed := 0
		for i := 0; ; i++ {
			wit, n, werr := d.Decode(data[consumed:])
			if werr != nil {
				if werr != io.ErrUnexpectedEOF || consumed < len(data) {
					wantErr = werr
				}
				if i != len(got) {
					t.Fatalf("codec decoded %d items, wire.Decoder %d", len(got), i)
				}
				break
			}
			if i >= len(got) {
				t.Fatalf("codec stopped after %d items with %v, wire.Decoder decodes % x", len(got), err, data[consumed:consumed+n])
			}
			g := got[i].item
			if g.IsCommand != wit.IsCommand || !bytes.Equal(g.Frame, wit.Frame) || g.More != wit.More ||
				(g.IsCommand && (g.Command.Kind.String() != wit.Command.ID.String() || g.Command.Seq != wit.Command.Seq || !bytes.Equal(g.Command.Data, wit.Command.Data))) {
				t.Fatalf("item %d: codec got %+v, wire.Decoder %+v", i, g, wit)
			}
			consumed += n
		}
		if sentinel(err) != sentinel(wantErr) {
			t.Fatalf("codec ended with %v, wire.Decoder with %v", err, wantErr)
		}

		// The engine's rules hold for the messages decoded.
		frames, size := 0, uint64(0)
		for _, g := range got {
			if g.item.IsCommand {
				if frames > 0 {
					t.Fatalf("command %v decoded after frame %d of a message, want none inside a message", g.item.Command.Kind, frames)
				}
				continue
			}
			frames++
			size += uint64(len(g.item.Frame))
			if frames > engine.MaxFramesPerMessage || (limit != 0 && size > limit) {
				t.Fatalf("message got %d frames and %d bytes, want <= %d and <= %d", frames, size, engine.MaxFramesPerMessage, limit)
			}
			if !g.item.More {
				frames, size = 0, 0
			}
		}

		// A reader that gets data in chunks gets the same.
		chunked, cerr := readStream(t, newCodec(t, limit), data, 1+int(chunk))
		if !reflect.DeepEqual(chunked, got) || sentinel(cerr) != sentinel(err) {
			t.Fatalf("in chunks of %d got %d items and %v, at once %d items and %v", 1+int(chunk), len(chunked), cerr, len(got), err)
		}

		// So does a reader that takes runs of data frames with DecodeData.
		runs, rerr := readStreamData(t, newCodec(t, limit), data, 1+int(chunk))
		if len(runs) != len(got) || sentinel(rerr) != sentinel(err) {
			t.Fatalf("with DecodeData got %d items and %v, with Decode %d items and %v", len(runs), rerr, len(got), err)
		}
		for i := range got {
			if !reflect.DeepEqual(runs[i], got[i].item) {
				t.Fatalf("item %d: with DecodeData got %+v, with Decode %+v", i, runs[i], got[i].item)
			}
		}

		// Encoding the items again gives a stream that decodes to them, in
		// the same bytes wherever the sender used the short form for a
		// short frame, as encoders must.
		c := newCodec(t, limit)
		var enc []byte
		for _, g := range got {
			one := appendItem(c, nil, g.item)
			if wire.Flags(g.raw[0])&wire.FlagLong == 0 || len(g.raw)-5 > 255 {
				if !bytes.Equal(one, g.raw) {
					t.Fatalf("%+v re-encoded got % x, want % x", g.item, one, g.raw)
				}
			}
			enc = append(enc, one...)
		}
		again, aerr := readStream(t, c, enc, len(enc))
		if aerr != nil || len(again) != len(got) {
			t.Fatalf("re-encoded stream got %d items and %v, want %d and nil", len(again), aerr, len(got))
		}
		for i := range got {
			if !reflect.DeepEqual(again[i].item, got[i].item) {
				t.Fatalf("re-encoded item %d got %+v, want %+v", i, again[i].item, got[i].item)
			}
		}
	})
}

// FuzzHandshakeGreeting plays a peer that sends data, in writes of chunk
// bytes (at least 1), and then hangs up: the handshake reads the greeting
// through its growing buffer whatever the pieces. It must end, never
// panic, and when it succeeds, have read the greeting ParseGreeting finds
// at the front of data, with Rest the bytes that followed it. The seed
// corpus lives in testdata/fuzz/FuzzHandshakeGreeting/.
func FuzzHandshakeGreeting(f *testing.F) {
	self := engine.PeerInfo{Type: engine.Pull, Session: seq16(1)}
	mine := len(wisp.AppendGreeting(nil, &self))
	f.Fuzz(func(t *testing.T, data []byte, chunk uint8) {
		local, remote := net.Pipe()
		defer local.Close()
		local.SetDeadline(time.Now().Add(10 * time.Second)) // a hang fails, it does not stall the fuzzer
		peer := goPeer(func() error {
			// A pipe's writes wait for the reader: read the handshake's
			// greeting, and then whatever it writes after it (an ERROR).
			greeted := make(chan error, 1)
			drained := goPeer(func() error {
				_, err := io.ReadFull(remote, make([]byte, mine))
				greeted <- err
				io.Copy(io.Discard, remote)
				return nil
			})
			for rest := data; len(rest) > 0; {
				n := min(len(rest), max(int(chunk), 1))
				if _, err := remote.Write(rest[:n]); err != nil {
					break // the handshake gave up on what it read so far
				}
				rest = rest[n:]
			}
			err := <-greeted
			remote.Close() // the end of data: the handshake reads EOF
			<-drained
			return err
		})
		h, err := wisp.Protocol{}.Handshake(local, &self)
		local.Close() // a peer still writing or draining stops
		<-peer
		g, n, perr := wire.ParseGreeting(data)
		if err != nil {
			// A whole greeting of a type WISP/1 defines is not refused.
			if perr == nil && !errors.Is(err, engine.ErrIncompatiblePeer) {
				t.Fatalf("Handshake failed with %v on % x, a greeting ParseGreeting reads", err, data)
			}
			return
		}
		if perr != nil {
			t.Fatalf("Handshake succeeded on % x, where ParseGreeting fails with %v", data, perr)
		}
		if !bytes.Equal(h.Peer.RoutingID, g.RoutingID) || (h.Peer.RoutingID == nil) != (g.RoutingID == nil) {
			t.Fatalf("peer RoutingID got %q, want %q", h.Peer.RoutingID, g.RoutingID)
		}
		if len(h.Rest) > len(data)-n || !bytes.Equal(h.Rest, data[n:n+len(h.Rest)]) {
			t.Fatalf("Rest got % x, want a prefix of what followed the greeting, % x", h.Rest, data[n:])
		}
	})
}
