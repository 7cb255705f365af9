package wire

import (
	"encoding/binary"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
)

// Flags is the first byte of a frame header.
type Flags uint8

// Frame flags. Bits 3 to 7 are reserved and must be zero.
const (
	// FlagMore: another frame of the same message follows this one.
	FlagMore Flags = 1 << iota
	// FlagCommand: the frame is a command, not message data.
	FlagCommand
	// FlagLong: the length field is 4 bytes instead of 1.
	FlagLong

	flagsReserved = ^(FlagMore | FlagCommand | FlagLong)
)

// String returns the set flags joined by "|" ("MORE|LONG"), "0" when none
// is set, and reserved bits in hex.
func (f Flags) String() string {
	if f == 0 {
		return "0"
	}
	var parts []string
	for _, x := range [...]struct {
		f    Flags
		name string
	}{{FlagMore, "MORE"}, {FlagCommand, "COMMAND"}, {FlagLong, "LONG"}} {
		if f&x.f != 0 {
			parts = append(parts, x.name)
		}
	}
	if r := f & flagsReserved; r != 0 {
		parts = append(parts, "0x"+strconv.FormatUint(uint64(r), 16))
	}
	return strings.Join(parts, "|")
}

// maxFrameLen is the largest frame length this platform can hold in an int
// together with its header (it matters on 32-bit platforms only).
const maxFrameLen = min(MaxFrameLen, math.MaxInt-5)

// FrameHeaderLen returns the length of the header that AppendFrameHeader
// writes for a payload of n bytes: 2 if n <= 255, else 5.
func FrameHeaderLen(n int) int {
	if n <= math.MaxUint8 {
		return 2
	}
	return 5
}

// AppendFrameHeader appends the header of a frame with flags f and an n-byte
// payload. It picks the short or long form itself, so FlagLong in f is
// ignored. It panics if f has reserved bits set or n is negative or above
// [MaxFrameLen]: those are programming errors. It does not allocate when b
// has room.
func AppendFrameHeader(b []byte, f Flags, n int) []byte {
	if f&flagsReserved != 0 || n < 0 || uint64(n) > MaxFrameLen {
		panic(fmt.Sprintf("wire: AppendFrameHeader(%v, %d): invalid flags or length", f, n))
	}
	f &^= FlagLong
	if n <= math.MaxUint8 {
		return append(b, byte(f), byte(n))
	}
	return binary.BigEndian.AppendUint32(append(b, byte(f|FlagLong)), uint32(n))
}

// AppendFrame appends a whole data frame: header and payload. more says
// whether another frame of the same message follows.
func AppendFrame(b []byte, more bool, payload []byte) []byte {
	var f Flags
	if more {
		f = FlagMore
	}
	return append(AppendFrameHeader(b, f, len(payload)), payload...)
}

// ParseFrameHeader parses the frame header at the start of b: its flags
// (FlagLong set if the long form was used), the payload length and the
// header's own length. It returns [io.ErrUnexpectedEOF] while the header is
// incomplete. It rejects reserved flag bits and COMMAND with MORE
// ([ErrMalformed]) from the first byte on, and a command length outside
// 1..[MaxCommandLen] ([ErrMalformed] for 0, [ErrFrameTooLarge] above) as
// soon as the length is read. Both header forms are accepted for any length.
func ParseFrameHeader(b []byte) (f Flags, length int, hdrLen int, err error) {
	if len(b) < 1 {
		return 0, 0, 0, io.ErrUnexpectedEOF
	}
	f = Flags(b[0])
	if f&flagsReserved != 0 {
		return 0, 0, 0, fmt.Errorf("%w: frame flags got %#02x, want reserved bits 3-7 clear", ErrMalformed, byte(f))
	}
	if f&(FlagCommand|FlagMore) == FlagCommand|FlagMore {
		return 0, 0, 0, fmt.Errorf("%w: frame flags got COMMAND|MORE, want MORE clear on a command", ErrMalformed)
	}
	if f&FlagLong == 0 {
		if len(b) < 2 {
			return 0, 0, 0, io.ErrUnexpectedEOF
		}
		length, hdrLen = int(b[1]), 2
	} else {
		if len(b) < 5 {
			return 0, 0, 0, io.ErrUnexpectedEOF
		}
		l := binary.BigEndian.Uint32(b[1:5])
		if uint64(l) > maxFrameLen {
			return 0, 0, 0, fmt.Errorf("%w: frame length got %d, want <= %d on this platform", ErrFrameTooLarge, l, uint64(maxFrameLen))
		}
		length, hdrLen = int(l), 5
	}
	if f&FlagCommand != 0 {
		if length == 0 {
			return 0, 0, 0, fmt.Errorf("%w: command length got 0, want >= 1", ErrMalformed)
		}
		if length > MaxCommandLen {
			return 0, 0, 0, fmt.Errorf("%w: command length got %d, want <= %d", ErrFrameTooLarge, length, MaxCommandLen)
		}
	}
	return f, length, hdrLen, nil
}
