package wispotel_test

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the package if a test leaves a goroutine behind: wispotel
// promises to start none, and the sockets' Close to wait for theirs.
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }
