//go:build unix

package main

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"
)

// raiseFileLimit makes room for need open files: every connection is one,
// and the default soft limit (often 1024) is far below the peers scale
// asks for. It raises the soft limit to the hard one and, as root, the hard
// limit to need (at most /proc/sys/fs/nr_open, the kernel's ceiling). It
// fails, saying how to raise the limit, if need is still out of reach.
func raiseFileLimit(need uint64) error {
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		return fmt.Errorf("reading the open-file limit: %w", err)
	}
	if lim.Cur != lim.Max {
		want := lim
		want.Cur = lim.Max
		if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &want); err != nil && uint64(lim.Cur) < need && need <= uint64(lim.Max) {
			// Some systems refuse a soft limit as high as an unlimited
			// hard one (macOS caps it); need alone may still pass.
			want.Cur = lim.Cur
			setLimit(&want.Cur, need)
			syscall.Setrlimit(syscall.RLIMIT_NOFILE, &want)
		}
	}
	ceiling, hasCeiling := nrOpen()
	var hardErr error // why root could not raise the hard limit
	root := os.Geteuid() == 0
	if root && uint64(lim.Max) < need {
		hard := need
		if hasCeiling && hard > ceiling {
			hard = ceiling
		}
		if hard > uint64(lim.Max) {
			want := lim
			setLimit(&want.Max, hard)
			setLimit(&want.Cur, hard)
			hardErr = syscall.Setrlimit(syscall.RLIMIT_NOFILE, &want)
		}
	}
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		return fmt.Errorf("reading the open-file limit: %w", err)
	}
	if uint64(lim.Cur) >= need {
		return nil
	}
	how := "as root, or after raising the hard limit: /etc/security/limits.conf, or LimitNOFILE= for a systemd service"
	switch {
	case root && hardErr != nil:
		how = fmt.Sprintf("this process runs as root but could not raise the hard limit: %v; a container may need CAP_SYS_RESOURCE, or its runtime's ulimit option", hardErr)
	case root && hasCeiling && need > ceiling:
		how = fmt.Sprintf("the kernel's ceiling, /proc/sys/fs/nr_open, is %d: raise it first with sysctl -w fs.nr_open=%d", ceiling, need)
	}
	return fmt.Errorf("need %d open files, but the limit is %d (hard limit %d): run `ulimit -n %d` first (%s)",
		need, uint64(lim.Cur), uint64(lim.Max), need, how)
}

// setLimit stores v in an rlimit field, whose type is uint64 on most
// systems and int64 on some BSDs.
func setLimit[T ~uint64 | ~int64](field *T, v uint64) { *field = T(v) }

// nrOpen is Linux's ceiling on any process's open-file limit; ok is false
// where there is none to read.
func nrOpen() (uint64, bool) {
	b, err := os.ReadFile("/proc/sys/fs/nr_open")
	if err != nil {
		return 0, false
	}
	n, err := strconv.ParseUint(strings.TrimSpace(string(b)), 10, 64)
	return n, err == nil
}
