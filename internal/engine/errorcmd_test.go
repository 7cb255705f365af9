package engine

import (
	"errors"
	"strings"
	"testing"
	"unicode/utf8"
)

// TestErrorCommandKeepsUTF8: a reason longer than an ERROR carries is cut
// before the character that crosses the limit, so it stays UTF-8.
func TestErrorCommandKeepsUTF8(t *testing.T) {
	for _, reason := range []string{
		strings.Repeat("é", 200),            // 2-byte characters, the limit falls inside one
		"x" + strings.Repeat("€", 100),      // 3-byte characters
		strings.Repeat("a", MaxErrorReason), // exactly the limit
		strings.Repeat("a", 300),
	} {
		cmd := errorCommand(errors.New(reason))
		if len(cmd.Data) > MaxErrorReason || !utf8.Valid(cmd.Data) || !strings.HasPrefix(reason, string(cmd.Data)) {
			t.Errorf("reason of %d bytes: got %d bytes (valid UTF-8 %v), want a valid prefix of at most %d",
				len(reason), len(cmd.Data), utf8.Valid(cmd.Data), MaxErrorReason)
		}
		if len(reason)-len(cmd.Data) > 0 && MaxErrorReason-len(cmd.Data) >= utf8.UTFMax {
			t.Errorf("reason of %d bytes: cut to %d, want within a character of %d", len(reason), len(cmd.Data), MaxErrorReason)
		}
	}
}
