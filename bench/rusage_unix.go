//go:build unix

package main

import (
	"fmt"
	"os"
	"runtime"
	"syscall"
	"time"
)

// rusageOf converts a finished process's resource usage.
func rusageOf(ps *os.ProcessState) rusage {
	ru, ok := ps.SysUsage().(*syscall.Rusage)
	if !ok {
		return rusage{}
	}
	return rusage{cpuSec: cpuSeconds(ru), maxRSSKB: maxRSSKB(ru)}
}

func cpuSeconds(ru *syscall.Rusage) float64 {
	return time.Duration(syscall.TimevalToNsec(ru.Utime) + syscall.TimevalToNsec(ru.Stime)).Seconds()
}

// maxRSSKB returns ru_maxrss in KiB: Linux reports KiB, macOS bytes.
func maxRSSKB(ru *syscall.Rusage) int64 {
	if runtime.GOOS == "darwin" || runtime.GOOS == "ios" {
		return int64(ru.Maxrss) / 1024
	}
	return int64(ru.Maxrss)
}

// selfUsage returns this process's CPU time and peak RSS so far.
func selfUsage() (rusage, error) {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return rusage{}, fmt.Errorf("getrusage: %w", err)
	}
	return rusage{cpuSec: cpuSeconds(&ru), maxRSSKB: maxRSSKB(&ru)}, nil
}
