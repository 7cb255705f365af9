// Package wiretest reads the test vectors of wire/SPEC.md, for the tests of
// every package that encodes or decodes WISP/1, so that the spec and each
// implementation of it are checked against the same bytes.
package wiretest

import (
	"bufio"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"strings"
)

// Vectors reads the ```hex name=NAME blocks of a SPEC.md: each block's hex
// digits, with spaces, line breaks and "#" comments ignored, are the bytes
// of the vector NAME. A malformed block, a name used twice or a block left
// open is an error naming the line.
func Vectors(r io.Reader) (map[string][]byte, error) {
	vecs := make(map[string][]byte)
	var name string
	var digits strings.Builder
	sc := bufio.NewScanner(r)
	for line := 1; sc.Scan(); line++ {
		text := sc.Text()
		switch {
		case name == "" && strings.HasPrefix(text, "```hex"):
			n, ok := strings.CutPrefix(text, "```hex name=")
			if !ok || n == "" || strings.ContainsAny(n, " \t") {
				return nil, fmt.Errorf("SPEC.md:%d: got %q, want ```hex name=NAME", line, text)
			}
			if _, dup := vecs[n]; dup {
				return nil, fmt.Errorf("SPEC.md:%d: vector %q defined twice", line, n)
			}
			name = n
			digits.Reset()
		case name != "" && text == "```":
			b, err := hex.DecodeString(digits.String())
			if err != nil {
				return nil, fmt.Errorf("SPEC.md: vector %q: %w", name, err)
			}
			vecs[name] = b
			name = ""
		case name != "":
			text, _, _ = strings.Cut(text, "#")
			digits.WriteString(strings.Join(strings.Fields(text), ""))
		}
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	if name != "" {
		return nil, fmt.Errorf("SPEC.md: vector %q not closed", name)
	}
	return vecs, nil
}

// File reads the vectors of the SPEC.md at path.
func File(path string) (map[string][]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return Vectors(f)
}
