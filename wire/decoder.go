package wire

import (
	"fmt"
	"io"
)

// Decoder turns a byte stream into data frames and commands, enforcing every
// limit of SPEC.md on each frame header as soon as the header is available.
// It keeps only the count and size of the message in progress, so one
// Decoder serves one connection; its zero value is ready to use. It is not
// safe for concurrent use.
type Decoder struct {
	// MaxMessageSize is the largest message (sum of its frame payloads)
	// accepted; 0 means only the frame format's own limit. Set it to what
	// this side announced in its greeting.
	MaxMessageSize uint64

	frames int    // frames received of the message in progress (all had MORE)
	size   uint64 // payload bytes received of the message in progress
	need   int    // bytes the next frame needs, set when Decode returns io.ErrUnexpectedEOF
}

// Item is one decoded frame: a command, or one data frame of a message.
type Item struct {
	// IsCommand tells whether Command (true) or Frame and More are set.
	IsCommand bool
	// Command is the decoded command when IsCommand; its Data aliases the
	// input.
	Command Command
	// Frame is the payload of a data frame; it aliases the input.
	Frame []byte
	// More is true when more frames of the same message follow.
	More bool
}

// Decode parses the first whole frame of b and returns it with n, the number
// of bytes it consumed. If b does not hold a whole frame, Decode returns
// [io.ErrUnexpectedEOF] with n == 0, and [Decoder.Need] then tells how many
// bytes the frame needs, so the caller can grow its buffer once. Limits are
// checked on the header: a frame that makes its message too large, has too
// many frames, or is an oversized command fails as soon as its header is in
// b, before the payload arrives. Any other error (always with n == 0) means
// the peer broke the protocol; the Decoder keeps no error state, but the
// caller should close the connection. Decode does not allocate unless it
// returns such an error.
func (d *Decoder) Decode(b []byte) (it Item, n int, err error) {
	f, length, h, err := ParseFrameHeader(b)
	if err != nil {
		if err == io.ErrUnexpectedEOF {
			d.need = headerNeed(b)
		}
		return Item{}, 0, err
	}
	if err := d.check(f, length); err != nil {
		return Item{}, 0, err
	}
	if len(b)-h < length {
		d.need = h + length
		return Item{}, 0, io.ErrUnexpectedEOF
	}
	d.need = 0
	n = h + length
	payload := b[h:n:n] // capped, so a caller's append cannot overwrite what follows
	if f&FlagCommand != 0 {
		c, err := ParseCommand(payload)
		if err != nil {
			return Item{}, 0, err
		}
		return Item{IsCommand: true, Command: c}, n, nil
	}
	d.account(f, length)
	return Item{Frame: payload, More: f&FlagMore != 0}, n, nil
}

// DecodeHeader parses and checks the header of a data frame at the start of
// b, exactly as Decode would, and counts the frame as received, so the
// caller can read a large payload straight from the connection into its own
// buffer instead of through b. It returns the payload length, whether more
// frames follow, and the header length. A command header is an error
// wrapping ErrMalformed: commands go through Decode. Like Decode, it returns
// io.ErrUnexpectedEOF (and sets Need) while the header is incomplete.
func (d *Decoder) DecodeHeader(b []byte) (length int, more bool, hdrLen int, err error) {
	f, length, h, err := ParseFrameHeader(b)
	if err != nil {
		if err == io.ErrUnexpectedEOF {
			d.need = headerNeed(b)
		}
		return 0, false, 0, err
	}
	if f&FlagCommand != 0 {
		return 0, false, 0, fmt.Errorf("%w: DecodeHeader on a command frame", ErrMalformed)
	}
	if err := d.check(f, length); err != nil {
		return 0, false, 0, err
	}
	d.need = 0
	d.account(f, length)
	return length, f&FlagMore != 0, h, nil
}

// check enforces the message limits on a frame header.
func (d *Decoder) check(f Flags, length int) error {
	if f&FlagCommand != 0 {
		if d.frames > 0 {
			return fmt.Errorf("%w: command after frame %d of a message, want none inside a message", ErrMalformed, d.frames)
		}
		return nil
	}
	// The frame being read is number d.frames+1; only a last frame may be
	// number MaxFramesPerMessage.
	if d.frames+1 > MaxFramesPerMessage || (d.frames+1 == MaxFramesPerMessage && f&FlagMore != 0) {
		return fmt.Errorf("%w: message frames got more than %d, want <= %d", ErrFrameTooLarge, MaxFramesPerMessage, MaxFramesPerMessage)
	}
	if limit := d.MaxMessageSize; limit != 0 && (d.size > limit || uint64(length) > limit-d.size) {
		return fmt.Errorf("%w: message size got at least %d, want <= %d", ErrFrameTooLarge, d.size+uint64(length), limit)
	}
	return nil
}

// account records a data frame as received.
func (d *Decoder) account(f Flags, length int) {
	if f&FlagMore != 0 {
		d.frames++
		d.size += uint64(length)
	} else {
		d.frames, d.size = 0, 0
	}
}

// headerNeed returns the length of the frame header that starts b, as far as
// b tells: 1 when b is empty, else the short or long header length.
func headerNeed(b []byte) int {
	switch {
	case len(b) == 0:
		return 1
	case Flags(b[0])&FlagLong != 0:
		return 5
	default:
		return 2
	}
}

// Need returns, after Decode returned [io.ErrUnexpectedEOF], how many bytes
// from the start of its input the next frame needs: the whole frame (header
// and payload) once its header was complete, else the header length known so
// far (1 before the flags byte, then 2 or 5), so the caller may need to call
// Decode again after reading that much. It returns 0 after a successful
// Decode.
func (d *Decoder) Need() int { return d.need }

// Reset forgets the message in progress, for use on a new connection.
// MaxMessageSize is kept.
func (d *Decoder) Reset() { d.frames, d.size, d.need = 0, 0, 0 }
