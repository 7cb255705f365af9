//go:build !unix && !windows

package spool

import (
	"fmt"
	"os"
	"runtime"
)

// lockFile refuses: without a lock two sockets could interleave their
// records in one directory, so a spool is not offered where there is none.
func lockFile(f *os.File) error {
	return fmt.Errorf("spool: no file locking on %s", runtime.GOOS)
}
