package zmtp

import (
	"bytes"
	"fmt"
	"io"
	"net"
	"time"

	"github.com/wispmq/wisp/internal/engine"
	"github.com/wispmq/wisp/wire/zmtp"
)

// cmdStream reads and writes the commands of a security handshake, before
// the connection carries data.
type cmdStream struct {
	nc   net.Conn
	buf  []byte // read, not yet parsed, from r
	r    int
	dec  zmtp.Decoder
	sent []byte
}

// next returns the peer's next command: its name and data, which stay
// valid until the next call. An ERROR from the peer is returned as an
// error wrapping ErrAuth (in the middle of a security handshake, a peer
// hangs up on credentials) or ErrPeerError.
func (cs *cmdStream) next(doing string) (string, []byte, error) {
	for {
		if fl, _, _, err := zmtp.ParseFrameHeader(cs.buf[cs.r:]); err == nil && fl&zmtp.FlagCommand == 0 {
			// Refused at its header: until the handshake ends, nothing
			// bounds a message's size, and none may come.
			return "", nil, fmt.Errorf("%w: a message before the handshake ended (%s)", engine.ErrProtocol, doing)
		}
		f, n, err := cs.dec.Decode(cs.buf[cs.r:])
		if err == nil {
			cs.r += n
			if bytes.HasPrefix(f.Body, libzmqPlainError) {
				// libzmq 4.3's PLAIN server misspells ERROR's name
				// (a C escape ate its length byte); its reason follows.
				f.Body = append([]byte("\x05ERROR"), f.Body[len(libzmqPlainError):]...)
			}
			name, data, err := zmtp.ParseCommand(f.Body)
			if err != nil {
				return "", nil, fmt.Errorf("%w: %w", engine.ErrProtocol, err)
			}
			if name == zmtp.CmdError {
				reason, err := zmtp.ParseError(data)
				if err != nil {
					return "", nil, fmt.Errorf("%w: %w", engine.ErrProtocol, err)
				}
				return "", nil, refusedBy(reason)
			}
			return name, data, nil
		}
		if err != io.ErrUnexpectedEOF {
			return "", nil, fmt.Errorf("%w: %w", engine.ErrProtocol, err)
		}
		if cs.r > 0 {
			cs.buf = append(cs.buf[:0], cs.buf[cs.r:]...)
			cs.r = 0
		}
		need := max(cs.dec.Need(), len(cs.buf)+1)
		if cap(cs.buf) < need || cap(cs.buf)-len(cs.buf) < 512 {
			nb := make([]byte, len(cs.buf), max(need, 2*cap(cs.buf), 1024))
			copy(nb, cs.buf)
			cs.buf = nb
		}
		m, rerr := cs.nc.Read(cs.buf[len(cs.buf):cap(cs.buf)])
		cs.buf = cs.buf[:len(cs.buf)+m]
		if rerr != nil && m == 0 {
			return "", nil, engine.HandshakeIOError(rerr, doing)
		}
	}
}

// libzmqPlainError is how libzmq 4.3's PLAIN server starts an ERROR:
// "\x05ERROR" in its source is the byte 0x5e and "RROR".
var libzmqPlainError = []byte("\x5eRROR")

// expect reads the next command and fails unless it is named name.
func (cs *cmdStream) expect(name string) ([]byte, error) {
	got, data, err := cs.next("waiting for " + name)
	if err != nil {
		return nil, err
	}
	if got != name {
		return nil, fmt.Errorf("%w: got command %q during the handshake, want %s", engine.ErrProtocol, got, name)
	}
	return data, nil
}

// expectMetadata reads the next command, which must be named name and
// carry metadata in the clear (READY, or PLAIN's INITIATE), and parses it.
func (cs *cmdStream) expectMetadata(name string) (zmtp.Metadata, error) {
	data, err := cs.expect(name)
	if err != nil {
		return nil, err
	}
	md, err := zmtp.ParseMetadata(data)
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %w", engine.ErrProtocol, name, err)
	}
	return md, nil
}

// send writes one command, built by appending to b.
func (cs *cmdStream) send(b []byte, doing string) error {
	if _, err := cs.nc.Write(b); err != nil {
		return engine.HandshakeIOError(err, doing)
	}
	return nil
}

// refuse tells the peer reason with an ERROR, best effort, before the
// caller hangs up.
func (cs *cmdStream) refuse(reason string) {
	cs.nc.SetWriteDeadline(time.Now().Add(errorWriteTimeout))
	cs.nc.Write(zmtp.AppendError(nil, reason))
}

// refuseWith is refuse once m's handshake has finished: with CURVE, the
// ERROR is sealed like every later command.
func (cs *cmdStream) refuseWith(m mechanism, reason string) {
	reason = reason[:min(len(reason), zmtp.MaxErrorReason)]
	b := zmtp.AppendError(nil, reason)
	if box := m.box(); box != nil {
		_, _, h, _ := zmtp.ParseFrameHeader(b)
		b = box.seal(nil, false, true, b[h:])
	}
	cs.nc.SetWriteDeadline(time.Now().Add(errorWriteTimeout))
	cs.nc.Write(b)
}

// rest returns what arrived after the handshake's last command.
func (cs *cmdStream) rest() []byte { return cs.buf[cs.r:] }

// refusedBy is the error for an ERROR the peer sent during the handshake.
// A bare three-digit reason is a ZAP status (libzmq sends those).
func refusedBy(reason []byte) error {
	if len(reason) == 3 && reason[0] >= '1' && reason[0] <= '9' {
		return fmt.Errorf("%w: the peer refused the handshake (status %s)", engine.ErrAuth, reason)
	}
	return fmt.Errorf("%w: %q", engine.ErrPeerError, reason)
}
