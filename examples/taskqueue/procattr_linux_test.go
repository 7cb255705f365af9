package main

import (
	"os/exec"
	"syscall"
)

// orphanProof makes the kernel SIGKILL cmd's process when the test binary
// dies without its cleanups (go test's -timeout panics, or a signal), so
// no broker or worker is left running. Strictly the signal comes when the
// thread that started the child ends, but Go keeps its threads for the
// life of the process (it ends only those of goroutines that exit while
// locked to one, which these tests have none of).
func orphanProof(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
