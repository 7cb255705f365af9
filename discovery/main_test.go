package discovery

import (
	"os"
	"testing"

	"go.uber.org/goleak"
)

// TestMain runs the test binary as a mesh member when the killed-peer
// test starts it as a child (runChild), and otherwise checks that no test
// leaves a goroutine behind.
func TestMain(m *testing.M) {
	if os.Getenv(childEnv) != "" {
		os.Exit(runChild())
	}
	goleak.VerifyTestMain(m)
}
