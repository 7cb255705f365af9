package wispprom

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the package if a test or example leaves a goroutine
// behind: a Collector starts none, and every test closes its sockets.
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }
