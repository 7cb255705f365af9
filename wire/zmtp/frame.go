package zmtp

import (
	"encoding/binary"
	"fmt"
	"io"
	"math"
)

// Flags is the first byte of a frame.
type Flags uint8

// Frame flags; bits 3 to 7 are reserved and must be zero.
const (
	FlagMore    Flags = 1 << 0 // another frame of the same message follows
	FlagLong    Flags = 1 << 1 // the size field is 8 bytes instead of 1
	FlagCommand Flags = 1 << 2 // the frame is a command

	flagsReserved = ^(FlagMore | FlagLong | FlagCommand)
)

// Limits this package holds peers to.
const (
	// MaxFramesPerMessage is the most frames a message may have.
	MaxFramesPerMessage = 1024
	// DefaultMaxCommandSize bounds a command's body unless a Decoder says
	// otherwise: commands carry names, keys and metadata, never data.
	DefaultMaxCommandSize = 64 << 10
)

// maxFrameLen is the largest frame this platform can hold in an int with
// its header.
const maxFrameLen = math.MaxInt - 9

// FrameHeaderLen returns the length of a frame header for an n-byte body:
// 2 up to 255 bytes, else 9.
func FrameHeaderLen(n int) int {
	if n <= math.MaxUint8 {
		return 2
	}
	return 9
}

// AppendFrameHeader appends the header of a frame with flags f (FlagLong is
// chosen here) and an n-byte body.
func AppendFrameHeader(b []byte, f Flags, n int) []byte {
	if f&flagsReserved != 0 || n < 0 {
		panic(fmt.Sprintf("zmtp: AppendFrameHeader(%#x, %d): invalid flags or length", f, n))
	}
	f &^= FlagLong
	if n <= math.MaxUint8 {
		return append(b, byte(f), byte(n))
	}
	return binary.BigEndian.AppendUint64(append(b, byte(f|FlagLong)), uint64(n))
}

// AppendFrame appends a whole data frame; more says another frame of the
// same message follows.
func AppendFrame(b []byte, more bool, payload []byte) []byte {
	f := Flags(0)
	if more {
		f = FlagMore
	}
	return append(AppendFrameHeader(b, f, len(payload)), payload...)
}

// ParseFrameHeader parses the frame header at the start of b and returns
// the flags, the body length and the header length. It returns
// io.ErrUnexpectedEOF while the header is incomplete.
func ParseFrameHeader(b []byte) (f Flags, length, hdrLen int, err error) {
	if len(b) < 1 {
		return 0, 0, 0, io.ErrUnexpectedEOF
	}
	f = Flags(b[0])
	if f&flagsReserved != 0 {
		return 0, 0, 0, fmt.Errorf("%w: reserved frame flags %#02x", ErrMalformed, byte(f))
	}
	if f&FlagCommand != 0 && f&FlagMore != 0 {
		return 0, 0, 0, fmt.Errorf("%w: a command flagged MORE", ErrMalformed)
	}
	if f&FlagLong == 0 {
		if len(b) < 2 {
			return 0, 0, 0, io.ErrUnexpectedEOF
		}
		return f, int(b[1]), 2, nil
	}
	if len(b) < 9 {
		return 0, 0, 0, io.ErrUnexpectedEOF
	}
	n := binary.BigEndian.Uint64(b[1:9])
	if n > maxFrameLen {
		return 0, 0, 0, fmt.Errorf("%w: frame of %d bytes", ErrFrameTooLarge, n)
	}
	return f, int(n), 9, nil
}

// Frame is one decoded frame.
type Frame struct {
	Command bool
	More    bool
	// Body is a data frame's payload or a command's body (name and data);
	// it aliases the decoder's input.
	Body []byte
}

// Decoder decodes the frames of one connection, enforcing limits on each
// frame header before its body is buffered. It keeps the state of the
// message in progress; the zero value accepts messages of any size.
type Decoder struct {
	// MaxMessageSize bounds the payload bytes of one message; 0 means no
	// limit.
	MaxMessageSize uint64
	// MaxCommandSize bounds a command's body; 0 means
	// DefaultMaxCommandSize.
	MaxCommandSize int

	frames int    // data frames received of the message in progress
	size   uint64 // its payload bytes so far
	need   int
}

// Decode decodes the frame at the start of b and returns it with the bytes
// it took. While b holds no whole frame it returns io.ErrUnexpectedEOF,
// and Need says how many bytes the frame needs.
func (d *Decoder) Decode(b []byte) (Frame, int, error) {
	f, length, h, err := d.header(b)
	if err != nil {
		return Frame{}, 0, err
	}
	if len(b)-h < length {
		d.need = h + length
		return Frame{}, 0, io.ErrUnexpectedEOF
	}
	d.need = 0
	n := h + length
	body := b[h:n:n]
	if f&FlagCommand != 0 {
		return Frame{Command: true, Body: body}, n, nil
	}
	d.account(f, length)
	return Frame{More: f&FlagMore != 0, Body: body}, n, nil
}

// DecodeHeader consumes the header of the data frame at the start of b,
// checking its limits as Decode would, so that the caller can read the
// payload itself. It returns the payload length, MORE, and the header
// length.
func (d *Decoder) DecodeHeader(b []byte) (length int, more bool, hdrLen int, err error) {
	f, length, h, err := d.header(b)
	if err != nil {
		return 0, false, 0, err
	}
	if f&FlagCommand != 0 {
		return 0, false, 0, fmt.Errorf("%w: DecodeHeader on a command", ErrMalformed)
	}
	d.need = 0
	d.account(f, length)
	return length, f&FlagMore != 0, h, nil
}

// header parses and checks a frame header, setting need when incomplete.
func (d *Decoder) header(b []byte) (Flags, int, int, error) {
	f, length, h, err := ParseFrameHeader(b)
	if err == io.ErrUnexpectedEOF {
		d.need = 2
		if len(b) > 0 && Flags(b[0])&FlagLong != 0 {
			d.need = 9
		}
		return 0, 0, 0, err
	}
	if err != nil {
		return 0, 0, 0, err
	}
	if f&FlagCommand != 0 {
		limit := d.MaxCommandSize
		if limit == 0 {
			limit = DefaultMaxCommandSize
		}
		if length > limit {
			return 0, 0, 0, fmt.Errorf("%w: command of %d bytes, want <= %d", ErrFrameTooLarge, length, limit)
		}
		return f, length, h, nil
	}
	if d.frames+1 > MaxFramesPerMessage || (d.frames+1 == MaxFramesPerMessage && f&FlagMore != 0) {
		return 0, 0, 0, fmt.Errorf("%w: more than %d frames in a message", ErrFrameTooLarge, MaxFramesPerMessage)
	}
	if limit := d.MaxMessageSize; limit != 0 && (d.size > limit || uint64(length) > limit-d.size) {
		return 0, 0, 0, fmt.Errorf("%w: message of at least %d bytes, want <= %d", ErrFrameTooLarge, d.size+uint64(length), limit)
	}
	return f, length, h, nil
}

func (d *Decoder) account(f Flags, length int) {
	if f&FlagMore != 0 {
		d.frames++
		d.size += uint64(length)
	} else {
		d.frames, d.size = 0, 0
	}
}

// Need returns, after Decode returned io.ErrUnexpectedEOF, how many bytes
// from the start of its input the next frame needs (its header's length
// while the header is incomplete); 0 otherwise.
func (d *Decoder) Need() int { return d.need }

// InMessage reports whether the frames decoded so far end with MORE: a
// message is in progress.
func (d *Decoder) InMessage() bool { return d.frames > 0 }
