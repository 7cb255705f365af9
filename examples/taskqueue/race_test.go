//go:build race

package main

import "os"

// Under -race the example's processes are built with the race detector
// too, so a data race in them fails the test as well. Such a process
// sleeps a second before it exits (to let reports finish) unless told
// otherwise: a tenth of one is enough here.
func init() {
	buildFlags = append(buildFlags, "-race")
	processEnv = append(processEnv, "GORACE="+os.Getenv("GORACE")+" atexit_sleep_ms=100")
}
