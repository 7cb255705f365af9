package zmtp

import (
	"fmt"
	"math"
	"time"

	"github.com/wispmq/wisp/internal/engine"
	"github.com/wispmq/wisp/wire/zmtp"
)

// codec frames one ZMTP connection after its handshake. The reader owns
// dec, pending, msgFrames and msgSize (and the box's opening side); the
// writer owns scratch (and the box's sealing side).
type codec struct {
	dec zmtp.Decoder
	// box seals and opens every frame as a CURVE MESSAGE; nil in the clear.
	box *curveBox
	// ttl is what our PINGs ask the peer to wait for our traffic: our own
	// heartbeat timeout.
	ttl time.Duration
	// subsFromPeer: the peer is a SUB or XSUB, whose messages are
	// subscriptions ([1 prefix...] or [0 prefix...], as in ZMTP 3.0).
	subsFromPeer bool
	// subsAsMessages: the peer speaks ZMTP 3.0, which has no SUBSCRIBE and
	// CANCEL commands: send subscriptions as such messages.
	subsAsMessages bool
	maxMessage     uint64

	// Reader: a command DecodeData opened (and so consumed from the box's
	// nonce sequence) before it stopped, for the Decode that follows.
	pending    *engine.Item
	pendingLen int
	msgFrames  int    // sealed data frames of the message in progress
	msgSize    uint64 // and their bytes

	scratch []byte // writer: a frame's plaintext before it is sealed
}

var _ engine.Codec = (*codec)(nil)

func newCodec(self, peer *engine.PeerInfo, m mechanism) *codec {
	c := &codec{
		box:            m.box(),
		ttl:            self.HeartbeatTimeout,
		subsFromPeer:   peer.Type == engine.Sub || peer.Type == engine.XSub,
		subsAsMessages: peer.NoHeartbeats, // both came with ZMTP 3.1
		maxMessage:     self.MaxMessageSize,
	}
	c.dec.MaxMessageSize = self.MaxMessageSize
	if c.box != nil {
		// Every frame is a MESSAGE command as large as the data it carries.
		c.dec.MaxCommandSize = math.MaxInt
		if self.MaxMessageSize > 0 && self.MaxMessageSize < math.MaxInt-curveMessageOverhead {
			c.dec.MaxCommandSize = int(self.MaxMessageSize) + curveMessageOverhead
			c.dec.MaxMessageSize = self.MaxMessageSize + curveMessageOverhead
		}
	}
	return c
}

func (c *codec) Vectored() bool { return c.box == nil }

func (c *codec) Need() int { return c.dec.Need() }

// DecodeData decodes data frames until a command, or, from a subscriber,
// stops at once: its messages are subscriptions, for Decode.
func (c *codec) DecodeData(b []byte, base int, refs []engine.FrameRef) ([]engine.FrameRef, int, error) {
	if c.subsFromPeer {
		return refs, 0, nil
	}
	n := 0
	for n < len(b) {
		if zmtp.Flags(b[n])&zmtp.FlagCommand != 0 {
			return refs, n, nil
		}
		f, k, err := c.dec.Decode(b[n:])
		if err != nil {
			return refs, n, err
		}
		if c.box == nil {
			end := n + k
			refs = append(refs, engine.FrameRef{Start: base + end - len(f.Body), End: base + end, More: f.More})
			n = end
			continue
		}
		it, off, err := c.open(f)
		if err != nil {
			return refs, n, err
		}
		if it.IsCommand {
			c.pending, c.pendingLen = &it, k
			return refs, n, nil
		}
		start := n + k - len(f.Body) + off
		refs = append(refs, engine.FrameRef{Start: base + start, End: base + n + k, More: it.More})
		n += k
	}
	return refs, n, nil
}

// Decode decodes one frame: a command, or a data frame.
func (c *codec) Decode(b []byte) (engine.Item, int, error) {
	if it := c.pending; it != nil {
		c.pending = nil
		return *it, c.pendingLen, nil
	}
	inMessage := c.dec.InMessage() || c.msgFrames > 0
	f, n, err := c.dec.Decode(b)
	if err != nil {
		return engine.Item{}, 0, err
	}
	var it engine.Item
	if c.box != nil {
		if it, _, err = c.open(f); err != nil {
			return engine.Item{}, 0, err
		}
	} else if f.Command {
		if it, err = command(f.Body); err != nil {
			return engine.Item{}, 0, err
		}
	} else {
		it = engine.Item{Frame: f.Body, More: f.More}
	}
	if !it.IsCommand && c.subsFromPeer {
		sub, err := subscription(it, inMessage)
		if err != nil {
			return engine.Item{}, 0, err
		}
		return sub, n, nil
	}
	return it, n, nil
}

// open opens a sealed frame and returns it as an item, with where its
// payload starts in f.Body.
func (c *codec) open(f zmtp.Frame) (engine.Item, int, error) {
	// libzmq sends MESSAGE in a data frame, never flagged MORE: MORE and
	// COMMAND travel inside the box.
	if f.Command || f.More || !zmtp.IsCommand(f.Body, zmtp.CmdMessage) {
		return engine.Item{}, 0, fmt.Errorf("%w: a frame in the clear on a CURVE connection", zmtp.ErrMalformed)
	}
	more, isCmd, off, err := c.box.open(f.Body)
	if err != nil {
		return engine.Item{}, 0, err
	}
	payload := f.Body[off:]
	if isCmd {
		if more {
			return engine.Item{}, 0, fmt.Errorf("%w: a command flagged MORE", zmtp.ErrMalformed)
		}
		it, err := command(payload)
		return it, off, err
	}
	// The decoder saw commands; hold the data they carry to its limits.
	if c.msgFrames+1 > zmtp.MaxFramesPerMessage || (c.msgFrames+1 == zmtp.MaxFramesPerMessage && more) {
		return engine.Item{}, 0, fmt.Errorf("%w: more than %d frames in a message", zmtp.ErrFrameTooLarge, zmtp.MaxFramesPerMessage)
	}
	if limit := c.maxMessage; limit != 0 && (c.msgSize > limit || uint64(len(payload)) > limit-c.msgSize) {
		return engine.Item{}, 0, fmt.Errorf("%w: message of at least %d bytes, want <= %d", zmtp.ErrFrameTooLarge, c.msgSize+uint64(len(payload)), limit)
	}
	if more {
		c.msgFrames++
		c.msgSize += uint64(len(payload))
	} else {
		c.msgFrames, c.msgSize = 0, 0
	}
	return engine.Item{Frame: payload, More: more}, off, nil
}

// command maps a command's body to the engine's terms. Commands the
// engine has no use for are skipped, as ZMTP asks.
func command(body []byte) (engine.Item, error) {
	name, data, err := zmtp.ParseCommand(body)
	if err != nil {
		return engine.Item{}, err
	}
	cmd := engine.Command{Kind: engine.CmdSkip}
	switch name {
	case zmtp.CmdPing:
		_, ctx, err := zmtp.ParsePing(data)
		if err != nil {
			return engine.Item{}, err
		}
		cmd = engine.Command{Kind: engine.CmdPing, Data: ctx}
	case zmtp.CmdPong:
		if len(data) > zmtp.MaxPingContext {
			return engine.Item{}, fmt.Errorf("%w: PONG context of %d bytes", zmtp.ErrMalformed, len(data))
		}
		cmd = engine.Command{Kind: engine.CmdPong, Data: data}
	case zmtp.CmdError:
		reason, err := zmtp.ParseError(data)
		if err != nil {
			return engine.Item{}, err
		}
		cmd = engine.Command{Kind: engine.CmdError, Data: reason}
	case zmtp.CmdSubscribe, zmtp.CmdCancel:
		if err := checkPrefix(data); err != nil {
			return engine.Item{}, err
		}
		cmd = engine.Command{Kind: engine.CmdSubscribe, Data: data}
		if name == zmtp.CmdCancel {
			cmd.Kind = engine.CmdCancel
		}
	case zmtp.CmdReady, zmtp.CmdHello, zmtp.CmdWelcome, zmtp.CmdInitiate, zmtp.CmdMessage:
		return engine.Item{}, fmt.Errorf("%w: %s after the handshake", zmtp.ErrMalformed, name)
	}
	return engine.Item{IsCommand: true, Command: cmd}, nil
}

// checkPrefix holds a subscription to the limit the engine sets every
// protocol: a publisher keeps every prefix, byte by byte.
func checkPrefix(prefix []byte) error {
	if len(prefix) > engine.MaxPrefixLen {
		return fmt.Errorf("%w: subscription prefix of %d bytes, want <= %d", zmtp.ErrFrameTooLarge, len(prefix), engine.MaxPrefixLen)
	}
	return nil
}

// subscription turns a subscriber's message frame into the command it
// means: a message whose first frame is [1 prefix...] subscribes, [0
// prefix...] cancels, as libzmq's XPUB reads them. Anything else, and
// every later frame of a message, carries nothing for a publisher and is
// skipped, as libzmq's PUB does (its XPUB would hand such messages to the
// application; wisp's XPUB reports only subscriptions).
func subscription(it engine.Item, inMessage bool) (engine.Item, error) {
	f := it.Frame
	if inMessage || len(f) == 0 || f[0] > 1 {
		return engine.Item{IsCommand: true, Command: engine.Command{Kind: engine.CmdSkip}}, nil
	}
	if err := checkPrefix(f[1:]); err != nil {
		return engine.Item{}, err
	}
	kind := engine.CmdCancel
	if f[0] == 1 {
		kind = engine.CmdSubscribe
	}
	return engine.Item{IsCommand: true, Command: engine.Command{Kind: kind, Data: f[1:]}}, nil
}

func (c *codec) DataHeader(b []byte) (int, bool) {
	if c.box != nil || c.subsFromPeer {
		// A subscriber's messages are subscriptions, for Decode to read:
		// none goes straight to the application.
		return 0, false
	}
	f, length, _, err := zmtp.ParseFrameHeader(b)
	return length, err == nil && f&zmtp.FlagCommand == 0
}

func (c *codec) DecodeHeader(b []byte) (int, bool, int, error) {
	if c.box != nil {
		return 0, false, 0, fmt.Errorf("%w: no frame headers on a CURVE connection", zmtp.ErrMalformed)
	}
	return c.dec.DecodeHeader(b)
}

// AppendCommand encodes cmd. RESUME and ACK have no ZMTP form: a ZMTP
// socket runs without acks, so the engine never sends them.
func (c *codec) AppendCommand(b []byte, cmd engine.Command) []byte {
	body := c.scratch[:0]
	switch cmd.Kind {
	case engine.CmdPing:
		body = zmtp.AppendPing(body, c.ttl, cmd.Data)
	case engine.CmdPong:
		body = zmtp.AppendCommand(body, zmtp.CmdPong, cmd.Data)
	case engine.CmdError:
		body = zmtp.AppendError(body, string(cmd.Data))
	case engine.CmdSubscribe, engine.CmdCancel:
		if c.subsAsMessages {
			flag := byte(0)
			if cmd.Kind == engine.CmdSubscribe {
				flag = 1
			}
			msg := append([]byte{flag}, cmd.Data...)
			return c.AppendFrame(b, false, msg)
		}
		name := zmtp.CmdSubscribe
		if cmd.Kind == engine.CmdCancel {
			name = zmtp.CmdCancel
		}
		body = zmtp.AppendCommand(body, name, cmd.Data)
	default:
		return b
	}
	c.scratch = body
	if c.box == nil {
		return append(b, body...)
	}
	_, _, h, _ := zmtp.ParseFrameHeader(body)
	return c.box.seal(b, false, true, body[h:])
}

func (c *codec) AppendFrame(b []byte, more bool, payload []byte) []byte {
	if c.box != nil {
		return c.box.seal(b, more, false, payload)
	}
	return zmtp.AppendFrame(b, more, payload)
}

func (c *codec) AppendFrameHeader(b []byte, more bool, n int) []byte {
	f := zmtp.Flags(0)
	if more {
		f = zmtp.FlagMore
	}
	return zmtp.AppendFrameHeader(b, f, n)
}
