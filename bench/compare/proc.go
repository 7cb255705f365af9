package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os/exec"
	"strings"
	"syscall"
	"time"
)

// maxCapture bounds what is kept of a child's stdout or stderr: peers print
// one line, and a runaway child must not grow the runner's memory.
const maxCapture = 64 << 10

// capWriter keeps the first maxCapture bytes written to it and drops the rest.
type capWriter struct{ buf bytes.Buffer }

func (w *capWriter) Write(p []byte) (int, error) {
	if room := maxCapture - w.buf.Len(); room > 0 {
		w.buf.Write(p[:min(len(p), room)])
	}
	return len(p), nil
}

// procResult is what one finished child left behind.
type procResult struct {
	stdout   []byte
	cpuSec   float64 // user + system
	maxRSSKB int64
}

// proc is one child process of a run.
type proc struct {
	name   string // for error messages: "libzmq recv"
	cmd    *exec.Cmd
	stdout capWriter
	stderr capWriter
}

// newProc prepares a child that is killed, with its whole process group, when
// ctx ends: the group matters for wisp's bench command, which starts its own
// peer process.
func newProc(ctx context.Context, name, path string, args ...string) *proc {
	p := &proc{name: name, cmd: exec.CommandContext(ctx, path, args...)}
	p.cmd.Stdout = &p.stdout
	p.cmd.Stderr = &p.stderr
	p.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	p.cmd.Cancel = func() error {
		// The child leads its own group, so -pid names exactly its group.
		return syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
	}
	// A grandchild that keeps our pipes open must not hang Wait.
	p.cmd.WaitDelay = 5 * time.Second
	return p
}

// result reads CPU time and peak RSS from the finished child.
func (p *proc) result() procResult {
	r := procResult{stdout: p.stdout.buf.Bytes()}
	if st := p.cmd.ProcessState; st != nil {
		if ru, ok := st.SysUsage().(*syscall.Rusage); ok {
			r.cpuSec = tvSeconds(ru.Utime) + tvSeconds(ru.Stime)
			r.maxRSSKB = ru.Maxrss // KiB on Linux
		}
	}
	return r
}

func tvSeconds(tv syscall.Timeval) float64 {
	return float64(tv.Sec) + float64(tv.Usec)/1e6
}

// Why a run's children were killed.
var (
	errTimeout = errors.New("timed out")
	errPartner = errors.New("partner process failed")
)

// runProcs starts the children in order, waits for all of them and returns
// their results in the same order. If one fails, the others are killed so a
// sender never blocks forever on a receiver that is gone; after timeout all
// are killed.
func runProcs(parent context.Context, timeout time.Duration, build func(ctx context.Context) []*proc) ([]procResult, error) {
	tctx, cancelTimeout := context.WithTimeoutCause(parent, timeout, errTimeout)
	defer cancelTimeout()
	ctx, cancel := context.WithCancelCause(tctx)
	defer cancel(nil)
	procs := build(ctx)

	errc := make(chan error, len(procs))
	started := 0
	var firstErr error
	for _, p := range procs {
		if err := p.cmd.Start(); err != nil {
			firstErr = fmt.Errorf("%s: %w", p.name, err)
			cancel(errPartner)
			break
		}
		started++
		go func() { errc <- p.wait(ctx) }()
	}
	for range started {
		if err := <-errc; err != nil {
			if firstErr == nil {
				firstErr = err
			}
			cancel(errPartner)
		}
	}
	if firstErr != nil {
		return nil, firstErr
	}
	out := make([]procResult, len(procs))
	for i, p := range procs {
		out[i] = p.result()
	}
	return out, nil
}

// wait waits for the child and explains a failure with the tail of its stderr.
func (p *proc) wait(ctx context.Context) error {
	err := p.cmd.Wait()
	if err == nil {
		return nil
	}
	if cause := context.Cause(ctx); cause != nil {
		// Killed by us: say why (a partner's own error is reported by it).
		return fmt.Errorf("%s: killed: %w", p.name, cause)
	}
	msg := strings.TrimSpace(p.stderr.buf.String())
	if len(msg) > 500 {
		msg = "..." + msg[len(msg)-500:]
	}
	if msg == "" {
		return fmt.Errorf("%s: %w", p.name, err)
	}
	return fmt.Errorf("%s: %w: %s", p.name, err, msg)
}
