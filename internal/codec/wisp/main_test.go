package wisp_test

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the package if any test leaves a goroutine behind:
// Handshake starts a writer on every call and must wait for it on every
// path, success or refusal.
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }
