package rendezvous

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the package if a test leaves a goroutine behind: Close
// and Serve promise to wait for theirs.
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }
