package main

import (
	"bufio"
	"os"
	"runtime"
	"strings"
)

// cpuModel returns the first "model name" in /proc/cpuinfo, or "unknown CPU".
func cpuModel() string {
	f, err := os.Open("/proc/cpuinfo")
	if err != nil {
		return "unknown CPU"
	}
	defer f.Close()
	return parseCPUModel(bufio.NewScanner(f))
}

func parseCPUModel(sc *bufio.Scanner) string {
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return "unknown CPU"
}

// thisMachine describes the host; libzmq is the version thr reported, or a
// reason it is absent.
func thisMachine(libzmq string) machine {
	return machine{
		CPU:    cpuModel(),
		Cores:  runtime.NumCPU(),
		Go:     runtime.Version(),
		OSArch: runtime.GOOS + "/" + runtime.GOARCH,
		Libzmq: libzmq,
	}
}
