package wire

import (
	"encoding/binary"
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
	// Checksum says the connection carries frame checksums (SPEC.md
	// section 3.1): Decode then expects one after each command and after
	// the last frame of each message, and fails with an error wrapping
	// ErrChecksum where it does not match. Set it when the greetings
	// agreed on checksums.
	Checksum bool

	frames int    // frames received of the message in progress (all had MORE)
	size   uint64 // payload bytes received of the message in progress
	need   int    // bytes the next frame needs, set when Decode returns io.ErrUnexpectedEOF
	crc    uint32 // checksum of the frames received of the message in progress
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
//
// With Checksum set, a command or the last frame of a message is whole
// only with the checksum after it, which n includes; Decode returns such a
// frame only once the checksum matches, so nothing of a changed message is
// ever returned as its end.
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
	end := h + length
	n = end
	closes := d.Checksum && f&(FlagCommand|FlagMore) != FlagMore // a command, or a message's last frame
	if closes {
		n += ChecksumLen
	}
	if len(b) < n {
		d.need = n
		return Item{}, 0, io.ErrUnexpectedEOF
	}
	d.need = 0
	if d.Checksum {
		if err := d.sum(b[:n], end, closes); err != nil {
			return Item{}, 0, err
		}
	}
	payload := b[h:end:end] // capped, so a caller's append cannot overwrite what follows
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

// DataFrame is Decode for a data frame, for a reader that keeps where
// payloads lie rather than Items: the payload is b[start:end], n the bytes
// consumed, more whether more frames of the message follow. For a data
// frame, limits, checksums, [Decoder.Need] and errors are exactly
// Decode's. A command at the start of b is an error wrapping ErrMalformed:
// commands go through Decode.
func (d *Decoder) DataFrame(b []byte) (start, end, n int, more bool, err error) {
	if len(b) >= 2 && !d.Checksum {
		// The common case, a short header: no checksum, no command, no
		// long length, no reserved bit.
		if f := Flags(b[0]); f&^FlagMore == 0 {
			length := int(b[1])
			if err := d.check(f, length); err != nil {
				return 0, 0, 0, false, err
			}
			end = 2 + length
			if len(b) < end {
				d.need = end
				return 0, 0, 0, false, io.ErrUnexpectedEOF
			}
			d.need = 0
			d.account(f, length)
			return 2, end, end, f&FlagMore != 0, nil
		}
	}
	if len(b) > 0 && Flags(b[0])&FlagCommand != 0 {
		return 0, 0, 0, false, fmt.Errorf("%w: DataFrame got a command, want a data frame", ErrMalformed)
	}
	it, n, err := d.Decode(b)
	if err != nil {
		return 0, 0, 0, false, err
	}
	_, _, h, _ := ParseFrameHeader(b) // Decode took it
	return h, h + len(it.Frame), n, it.More, nil
}

// sum adds a frame, b[:end] (its header and payload; when it closes a
// message or is a command, its checksum follows), to the checksum of the
// message in progress, and checks the checksum when the frame closes it.
func (d *Decoder) sum(b []byte, end int, closes bool) error {
	crc := UpdateChecksum(d.crc, b[:end])
	if !closes {
		d.crc = crc
		return nil
	}
	d.crc = 0
	if got := binary.BigEndian.Uint32(b[end:]); got != crc {
		return fmt.Errorf("%w: got %08x, want %08x", ErrChecksum, got, crc)
	}
	return nil
}

// DecodeHeader parses and checks the header of a data frame at the start of
// b, exactly as Decode would, and counts the frame as received, so the
// caller can read a large payload straight from the connection into its own
// buffer instead of through b. It returns the payload length, whether more
// frames follow, and the header length. A command header is an error
// wrapping ErrMalformed: commands go through Decode. Like Decode, it returns
// io.ErrUnexpectedEOF (and sets Need) while the header is incomplete.
func (d *Decoder) DecodeHeader(b []byte) (length int, more bool, hdrLen int, err error) {
	if d.Checksum {
		// The payload would bypass the checksum.
		return 0, false, 0, fmt.Errorf("%w: DecodeHeader with Checksum set, want Decode", ErrMalformed)
	}
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
func (d *Decoder) Reset() { d.frames, d.size, d.need, d.crc = 0, 0, 0, 0 }
