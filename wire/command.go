package wire

import (
	"encoding/binary"
	"fmt"
	"strconv"
	"unicode/utf8"
)

// CommandID is the first payload byte of a command frame.
type CommandID uint8

// Command ids of WISP/1.
const (
	// CmdResume: the next data message has sequence number Seq.
	CmdResume CommandID = 1 + iota
	// CmdAck: every message up to and including Seq was taken by the
	// receiving application.
	CmdAck
	// CmdPing asks for a PONG echoing Data.
	CmdPing
	// CmdPong answers a PING with its Data.
	CmdPong
	// CmdError carries a UTF-8 reason in Data; its sender then closes.
	CmdError
	// CmdSubscribe adds the prefix in Data (reserved for PUB/SUB).
	CmdSubscribe
	// CmdCancel removes the prefix in Data (reserved for PUB/SUB).
	CmdCancel
)

var commandNames = [...]string{
	CmdResume: "RESUME", CmdAck: "ACK", CmdPing: "PING", CmdPong: "PONG",
	CmdError: "ERROR", CmdSubscribe: "SUBSCRIBE", CmdCancel: "CANCEL",
}

// String returns the command's name ("ACK"), or "CommandID(9)" for an id
// this version does not define.
func (id CommandID) String() string {
	if id.valid() {
		return commandNames[id]
	}
	return "CommandID(" + strconv.Itoa(int(id)) + ")"
}

func (id CommandID) valid() bool { return id >= CmdResume && int(id) < len(commandNames) }

// maxBody returns the largest body of a command with id other than the
// sequence-number commands.
func (id CommandID) maxBody() int {
	switch id {
	case CmdPing, CmdPong:
		return MaxPingContext
	case CmdError:
		return MaxErrorReason
	default: // CmdSubscribe, CmdCancel
		return MaxPrefixLen
	}
}

// Command is a decoded command frame. Only the fields its ID uses matter.
type Command struct {
	ID CommandID
	// Seq is the sequence number of RESUME and ACK.
	Seq uint64
	// Data is the PING/PONG context, the ERROR reason or the SUBSCRIBE/CANCEL
	// prefix. ParseCommand returns a slice of its input here, not a copy.
	Data []byte
}

// Validate reports whether c may be sent: a defined ID, RESUME with a
// non-zero Seq, and Data within its command's limit. The returned error
// wraps [ErrUnknownCommand], [ErrMalformed] or [ErrFrameTooLarge].
func (c Command) Validate() error {
	switch {
	case !c.ID.valid():
		return fmt.Errorf("%w: got id %d, want 1..%d", ErrUnknownCommand, c.ID, len(commandNames)-1)
	case c.ID == CmdResume && c.Seq == 0:
		return fmt.Errorf("%w: RESUME sequence got 0, want >= 1", ErrMalformed)
	case c.ID == CmdResume || c.ID == CmdAck:
		return nil
	case len(c.Data) > c.ID.maxBody():
		return fmt.Errorf("%w: %v body got %d bytes, want <= %d", ErrMalformed, c.ID, len(c.Data), c.ID.maxBody())
	}
	return nil
}

// Append appends c as a whole command frame, header included. An ERROR
// reason longer than [MaxErrorReason] is cut at a UTF-8 character boundary,
// because a reason is advisory text worth sending even when long. Any other
// invalid command (see [Command.Validate]) makes Append panic, as it is a
// programming error; check user-supplied prefixes with Validate first. It
// does not allocate when b has room.
func (c Command) Append(b []byte) []byte {
	if c.ID == CmdError && len(c.Data) > MaxErrorReason {
		c.Data = truncateUTF8(c.Data, MaxErrorReason)
	}
	if err := c.Validate(); err != nil {
		panic("wire: Command.Append: " + err.Error())
	}
	if c.ID == CmdResume || c.ID == CmdAck {
		b = append(b, byte(FlagCommand), 1+8, byte(c.ID))
		return binary.BigEndian.AppendUint64(b, c.Seq)
	}
	b = AppendFrameHeader(b, FlagCommand, 1+len(c.Data))
	b = append(b, byte(c.ID))
	return append(b, c.Data...)
}

// truncateUTF8 cuts d to at most n bytes without splitting a character
// (when d is valid UTF-8; otherwise it just cuts at n).
func truncateUTF8(d []byte, n int) []byte {
	for cut := n; cut > n-utf8.UTFMax && cut > 0; cut-- {
		if utf8.RuneStart(d[cut]) {
			return d[:cut]
		}
	}
	return d[:n]
}

// ParseCommand parses the payload of a command frame (without its header).
// It checks the payload length (1..[MaxCommandLen]) and each body's exact or
// largest size before looking at it; Data aliases payload. An ACK with Seq 0
// is accepted (it acknowledges nothing); RESUME with Seq 0 is malformed. An
// undefined id wraps [ErrUnknownCommand].
func ParseCommand(payload []byte) (Command, error) {
	if len(payload) == 0 {
		return Command{}, fmt.Errorf("%w: command payload got 0 bytes, want >= 1", ErrMalformed)
	}
	if len(payload) > MaxCommandLen {
		return Command{}, fmt.Errorf("%w: command payload got %d bytes, want <= %d", ErrFrameTooLarge, len(payload), MaxCommandLen)
	}
	c := Command{ID: CommandID(payload[0])}
	body := payload[1:]
	switch c.ID {
	case CmdResume, CmdAck:
		if len(body) != 8 {
			return Command{}, fmt.Errorf("%w: %v body got %d bytes, want 8", ErrMalformed, c.ID, len(body))
		}
		c.Seq = binary.BigEndian.Uint64(body)
		if c.ID == CmdResume && c.Seq == 0 {
			return Command{}, fmt.Errorf("%w: RESUME sequence got 0, want >= 1", ErrMalformed)
		}
		return c, nil
	case CmdPing, CmdPong, CmdError, CmdSubscribe, CmdCancel:
		if len(body) > c.ID.maxBody() {
			return Command{}, fmt.Errorf("%w: %v body got %d bytes, want <= %d", ErrMalformed, c.ID, len(body), c.ID.maxBody())
		}
		c.Data = body
		return c, nil
	}
	return Command{}, fmt.Errorf("%w: got id %#02x", ErrUnknownCommand, payload[0])
}
