//go:build linux

package faulttest

import (
	"flag"
	"os"
	"testing"

	"go.uber.org/goleak"
)

// enableEnv turns the suite on. Its scenarios take minutes and need root,
// so the ordinary go test ./... that CI runs (with and without -race) skips
// them; .ci/run sets it for one run of its own.
const enableEnv = "WISP_FAULTS"

// TestMain fails the package if a test leaves a goroutine behind (the
// relay's, or a child's output reader). With the suite on, it also lets
// the scenarios run side by side: go test runs at most GOMAXPROCS parallel
// tests by default, two on a two-core machine, and the scenarios spend
// their time waiting on faults, not computing.
func TestMain(m *testing.M) {
	flag.Parse()
	if os.Getenv(enableEnv) != "" && os.Getenv(childEnv) == "" {
		set := false
		flag.Visit(func(f *flag.Flag) { set = set || f.Name == "test.parallel" })
		if !set {
			flag.Set("test.parallel", "16")
		}
	}
	goleak.VerifyTestMain(m)
}
