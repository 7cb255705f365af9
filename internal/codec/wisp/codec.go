package wisp

import (
	"fmt"

	"github.com/wispmq/wisp/internal/engine"
	"github.com/wispmq/wisp/wire"
)

// codec frames one WISP/1 connection after its handshake. dec is the
// reader's; sum and wcrc the writer's, for a connection with frame
// checksums (SPEC.md section 3.1).
type codec struct {
	dec  wire.Decoder
	sum  bool
	wcrc uint32 // checksum of the frames written of the message in progress
}

var _ engine.Codec = (*codec)(nil)

func (c *codec) Decode(b []byte) (engine.Item, int, error) {
	it, n, err := c.dec.Decode(b)
	if err != nil {
		return engine.Item{}, 0, err
	}
	if !it.IsCommand {
		return engine.Item{Frame: it.Frame, More: it.More}, n, nil
	}
	kind, ok := kindOf(it.Command.ID)
	if !ok {
		// ParseCommand refuses undefined ids, so a defined one is missing
		// from the table: a bug here, reported as the peer's fault would be.
		return engine.Item{}, 0, fmt.Errorf("%w: command %v", wire.ErrUnknownCommand, it.Command.ID)
	}
	cmd := engine.Command{Kind: kind, Seq: it.Command.Seq, Data: it.Command.Data}
	return engine.Item{IsCommand: true, Command: cmd}, n, nil
}

func (c *codec) DecodeData(b []byte, base int, refs []engine.FrameRef) ([]engine.FrameRef, int, error) {
	n := 0
	for n < len(b) {
		if wire.Flags(b[n])&wire.FlagCommand != 0 {
			return refs, n, nil
		}
		start, end, k, more, err := c.dec.DataFrame(b[n:])
		if err != nil {
			return refs, n, err
		}
		at := base + n
		refs = append(refs, engine.FrameRef{Start: at + start, End: at + end, More: more})
		n += k
	}
	return refs, n, nil
}

func (c *codec) Need() int { return c.dec.Need() }

// Vectored is false with checksums: every payload goes through the
// checksum, so none can bypass the codec.
func (c *codec) Vectored() bool { return !c.sum }

func (c *codec) DataHeader(b []byte) (int, bool) {
	f, length, _, err := wire.ParseFrameHeader(b)
	return length, err == nil && f&wire.FlagCommand == 0
}

func (c *codec) DecodeHeader(b []byte) (int, bool, int, error) {
	return c.dec.DecodeHeader(b)
}

func (c *codec) AppendCommand(b []byte, cmd engine.Command) []byte {
	start := len(b)
	b = wire.Command{ID: commandIDs[cmd.Kind], Seq: cmd.Seq, Data: cmd.Data}.Append(b)
	if c.sum {
		b = wire.AppendChecksum(b, wire.UpdateChecksum(0, b[start:]))
	}
	return b
}

func (c *codec) AppendFrame(b []byte, more bool, payload []byte) []byte {
	start := len(b)
	b = wire.AppendFrame(b, more, payload)
	if c.sum {
		c.wcrc = wire.UpdateChecksum(c.wcrc, b[start:])
		if !more {
			b = wire.AppendChecksum(b, c.wcrc)
			c.wcrc = 0
		}
	}
	return b
}

func (c *codec) AppendFrameHeader(b []byte, more bool, n int) []byte {
	var f wire.Flags
	if more {
		f = wire.FlagMore
	}
	return wire.AppendFrameHeader(b, f, n)
}

// commandIDs maps the engine's commands to WISP/1's command ids (SPEC.md
// section 5).
var commandIDs = [...]wire.CommandID{
	engine.CmdResume:    wire.CmdResume,
	engine.CmdAck:       wire.CmdAck,
	engine.CmdPing:      wire.CmdPing,
	engine.CmdPong:      wire.CmdPong,
	engine.CmdError:     wire.CmdError,
	engine.CmdSubscribe: wire.CmdSubscribe,
	engine.CmdCancel:    wire.CmdCancel,
}

// kinds is commandIDs the other way round: the engine's command for each
// WISP/1 command id, 0 for an id it does not know.
var kinds = func() (k [256]engine.CommandKind) {
	for kind, id := range commandIDs {
		if kind != 0 {
			k[id] = engine.CommandKind(kind)
		}
	}
	return k
}()

// kindOf maps a WISP/1 command id to the engine's command.
func kindOf(id wire.CommandID) (engine.CommandKind, bool) {
	k := kinds[id]
	return k, k != 0
}
