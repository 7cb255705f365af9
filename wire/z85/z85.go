// Package z85 is Z85, the ZeroMQ Base-85 encoding of ZeroMQ RFC 32
// (rfc.zeromq.org/spec:32): every 4 bytes become 5 printable characters
// that need no quoting in source code, configuration files or on a
// command line. ZeroMQ uses it to write CURVE keys as 40-character
// strings.
//
// Unlike other Base-85 encodings, Z85 has no padding: the binary input
// must be a multiple of 4 bytes long and the text a multiple of 5
// characters.
package z85

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// Sentinel errors; every error this package returns wraps one of them.
var (
	// ErrLength: the input is not a whole number of groups (4 bytes to
	// encode, 5 characters to decode).
	ErrLength = errors.New("z85: bad length")
	// ErrChar: the text holds a character outside Z85's alphabet, or a
	// group of 5 characters whose value does not fit in 32 bits.
	ErrChar = errors.New("z85: bad character")
)

// alphabet is RFC 32's: digit value i is alphabet[i].
const alphabet = "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ.-:+=^!/*?&<>()[]{}@%$#"

// invalid marks a byte outside the alphabet in values.
const invalid = 0xff

// values maps a character to its digit value, or invalid.
var values = func() (v [256]byte) {
	for i := range v {
		v[i] = invalid
	}
	for i := 0; i < len(alphabet); i++ {
		v[alphabet[i]] = byte(i)
	}
	return v
}()

// Encode returns the Z85 text of src, 5 characters for every 4 bytes. The
// length of src must be a multiple of 4; otherwise the error wraps
// ErrLength.
func Encode(src []byte) (string, error) {
	if len(src)%4 != 0 {
		return "", fmt.Errorf("%w: %d bytes to encode, want a multiple of 4", ErrLength, len(src))
	}
	dst := make([]byte, len(src)/4*5)
	for i, j := 0, 0; i < len(src); i, j = i+4, j+5 {
		v := binary.BigEndian.Uint32(src[i:])
		// The most significant digit comes first.
		for k := 4; k >= 0; k-- {
			dst[j+k] = alphabet[v%85]
			v /= 85
		}
	}
	return string(dst), nil
}

// Decode returns the bytes that the Z85 text s encodes, 4 for every 5
// characters. The length of s must be a multiple of 5 (else the error
// wraps ErrLength), and s must hold only characters of Z85's alphabet,
// in groups whose value fits in 32 bits (else it wraps ErrChar). It never
// panics, whatever s holds.
func Decode(s string) ([]byte, error) {
	if len(s)%5 != 0 {
		return nil, fmt.Errorf("%w: %d characters to decode, want a multiple of 5", ErrLength, len(s))
	}
	dst := make([]byte, len(s)/5*4)
	for i, j := 0, 0; i < len(s); i, j = i+5, j+4 {
		// 85^5 - 1 exceeds 2^32 - 1: accumulate in 64 bits to catch groups
		// that overflow instead of wrapping them around.
		var v uint64
		for k := 0; k < 5; k++ {
			d := values[s[i+k]]
			if d == invalid {
				return nil, fmt.Errorf("%w: %q at offset %d", ErrChar, s[i+k], i+k)
			}
			v = v*85 + uint64(d)
		}
		if v > 0xffffffff {
			return nil, fmt.Errorf("%w: group %q at offset %d exceeds 2^32-1", ErrChar, s[i:i+5], i)
		}
		binary.BigEndian.PutUint32(dst[j:], uint32(v))
	}
	return dst, nil
}
