package zmtp

import (
	"errors"
	"io"
	"reflect"
	"testing"

	"github.com/wispmq/wisp/internal/engine"
	"github.com/wispmq/wisp/wire/zmtp"
)

// The seed corpus lives in testdata/fuzz/FuzzCodecDecode/. Run for example
//	go test -run '^$' -fuzz FuzzCodecDecode -fuzztime 30s ./internal/codec/zmtp

// clearCodec is the codec of a connection in the clear (NULL or PLAIN) to
// a peer of type peer.
func clearCodec(peer engine.Type, minor byte) *codec {
	self := &engine.PeerInfo{Type: engine.Pull, MaxMessageSize: 1000}
	if peer == engine.Sub {
		self.Type = engine.Pub
	}
	return newCodec(self, &engine.PeerInfo{Type: peer, NoHeartbeats: minor == 0}, &null{})
}

// item is what a reader got: a command, or a data frame.
type item struct {
	Cmd  engine.Command
	Data string
	More bool
}

// decodeAll reads b as the engine's reader does when viaData (DecodeData
// for runs of data frames, Decode for what stops them), or with Decode
// alone, checking what the Codec interface promises.
func decodeAll(t *testing.T, c engine.Codec, b []byte, viaData bool) ([]item, error) {
	var got []item
	r := 0
	for r < len(b) {
		if viaData {
			refs, n, err := c.DecodeData(b[r:], r, nil)
			if n < 0 || r+n > len(b) {
				t.Fatalf("DecodeData took %d of %d bytes", n, len(b)-r)
			}
			for _, ref := range refs {
				if ref.Start < r || ref.End > r+n || ref.Start > ref.End {
					t.Fatalf("ref %+v outside [%d, %d)", ref, r, r+n)
				}
				got = append(got, item{Data: string(b[ref.Start:ref.End]), More: ref.More})
			}
			r += n
			if err != nil || r == len(b) {
				return got, err
			}
		}
		it, n, err := c.Decode(b[r:])
		if err != nil {
			if n != 0 {
				t.Fatalf("Decode got n=%d with %v", n, err)
			}
			return got, err
		}
		if n <= 0 || r+n > len(b) {
			t.Fatalf("Decode took %d of %d bytes", n, len(b)-r)
		}
		if it.IsCommand {
			cmd := it.Command
			cmd.Data = append([]byte{}, cmd.Data...)
			got = append(got, item{Cmd: cmd})
		} else {
			got = append(got, item{Data: string(it.Frame), More: it.More})
		}
		r += n
	}
	return got, nil
}

// FuzzCodecDecode: whatever the bytes, decoding never panics, fails only
// with incomplete input or one of wire/zmtp's sentinels, and reads the
// same items whether data runs go through DecodeData or Decode, from a
// publisher's subscribers (3.0 and 3.1) and from any other peer.
func FuzzCodecDecode(f *testing.F) {
	var b []byte
	b = zmtp.AppendFrame(b, true, []byte("a"))
	b = zmtp.AppendFrame(b, false, []byte("bc"))
	b = zmtp.AppendPing(b, 0, []byte("ctx"))
	b = zmtp.AppendCommand(b, zmtp.CmdSubscribe, []byte("topic"))
	b = zmtp.AppendFrame(b, false, []byte("\x01sub-as-message"))
	b = zmtp.AppendCommand(b, "UNKNOWN", nil)
	f.Add(b, uint8(0))
	f.Add(b, uint8(1))
	f.Fuzz(func(t *testing.T, b []byte, which uint8) {
		peer := engine.Push
		if which%2 == 1 {
			peer = engine.Sub
		}
		minor := byte(which / 2 % 2)
		viaData, errData := decodeAll(t, clearCodec(peer, minor), b, true)
		alone, errAlone := decodeAll(t, clearCodec(peer, minor), b, false)
		for _, err := range []error{errData, errAlone} {
			if err != nil && err != io.ErrUnexpectedEOF && !errors.Is(err, zmtp.ErrMalformed) && !errors.Is(err, zmtp.ErrFrameTooLarge) {
				t.Fatalf("error %v is no sentinel", err)
			}
		}
		if (errData == nil) != (errAlone == nil) || !reflect.DeepEqual(viaData, alone) {
			t.Fatalf("DecodeData path read %+v (%v), Decode alone %+v (%v)", viaData, errData, alone, errAlone)
		}
	})
}
