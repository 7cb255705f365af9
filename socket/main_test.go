package socket

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the package if any test leaves a goroutine behind: Close
// promises to wait for every goroutine a socket started.
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }
