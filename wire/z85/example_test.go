package z85_test

import (
	"errors"
	"fmt"

	"github.com/wispmq/wisp/wire/z85"
)

// Encode RFC 32's test vector and decode it back; then decode text that
// is not Z85.
func Example() {
	s, err := z85.Encode([]byte{0x86, 0x4F, 0xD2, 0x6F, 0xB5, 0x59, 0xF7, 0x5B})
	if err != nil {
		panic(err)
	}
	fmt.Println(s)

	b, err := z85.Decode(s)
	if err != nil {
		panic(err)
	}
	fmt.Printf("% X\n", b)

	_, err = z85.Decode("Hello World")
	fmt.Println(errors.Is(err, z85.ErrLength))
	_, err = z85.Decode("Hello~orld")
	fmt.Println(errors.Is(err, z85.ErrChar))
	// Output:
	// HelloWorld
	// 86 4F D2 6F B5 59 F7 5B
	// true
	// true
}
