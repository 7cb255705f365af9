//go:build windows

package main

import (
	"fmt"
	"os"
	"syscall"
	"time"
)

// Windows has no getrusage: CPU time comes from the process times, and
// peak memory is not measured (reported as 0).

// rusageOf converts a finished process's resource usage.
func rusageOf(ps *os.ProcessState) rusage {
	ru, ok := ps.SysUsage().(*syscall.Rusage)
	if !ok {
		return rusage{}
	}
	return rusage{cpuSec: filetimeSeconds(ru.KernelTime) + filetimeSeconds(ru.UserTime)}
}

// filetimeSeconds converts a duration in a FILETIME (100 ns units).
func filetimeSeconds(ft syscall.Filetime) float64 {
	n := int64(ft.HighDateTime)<<32 | int64(ft.LowDateTime)
	return (time.Duration(n) * 100).Seconds()
}

// selfUsage returns this process's CPU time so far.
func selfUsage() (rusage, error) {
	h, err := syscall.GetCurrentProcess()
	if err != nil {
		return rusage{}, err
	}
	var created, exited, kernel, user syscall.Filetime
	if err := syscall.GetProcessTimes(h, &created, &exited, &kernel, &user); err != nil {
		return rusage{}, fmt.Errorf("GetProcessTimes: %w", err)
	}
	return rusage{cpuSec: filetimeSeconds(kernel) + filetimeSeconds(user)}, nil
}
