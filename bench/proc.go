package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"syscall"
	"time"
)

// maxStderr bounds how much of a child's stderr is kept for error messages.
const maxStderr = 16 << 10

// limitedBuffer keeps the first maxStderr bytes written to it.
type limitedBuffer struct{ bytes.Buffer }

func (b *limitedBuffer) Write(p []byte) (int, error) {
	if room := maxStderr - b.Len(); room > 0 {
		b.Buffer.Write(p[:min(len(p), room)])
	}
	return len(p), nil
}

// rusage is what the parent learns about a finished child.
type rusage struct {
	cpuSec   float64 // user + system
	maxRSSKB int64
}

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

// recvLine is what a receiving child prints after its endpoint line.
type recvLine struct {
	Seconds float64 `json:"seconds"`
	Count   int64   `json:"count"`
	Size    int     `json:"size"`
}

// pair names the two hidden subcommands of a two-process measurement and
// their arguments.
type pair struct {
	recvArgs []string // after the subcommand name
	sendArgs func(endpoint string) []string
}

// sideResult is what runPair measured.
type sideResult struct {
	recv      recvLine
	send, rcv rusage
}

// runPair runs a receiver child, which binds and prints its real endpoint on
// its first stdout line, then a sender child connecting to that endpoint.
// When the sender has exited (it sent, waited for every acknowledgement and
// closed), the parent closes the receiver's stdin, the receiver's signal to
// close and exit. Both children are killed, by PID, when ctx ends or the
// timeout passes. They stay in this process's group so that whoever runs
// this command can kill the whole tree by group.
func runPair(ctx context.Context, timeout time.Duration, p pair) (sideResult, error) {
	exe, err := os.Executable()
	if err != nil {
		return sideResult{}, fmt.Errorf("finding this program to start its peers: %w", err)
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	childTimeout := "-timeout=" + timeout.String() // children give up on their own too

	recv := exec.CommandContext(ctx, exe, append(p.recvArgs, childTimeout)...)
	var recvErr limitedBuffer
	recv.Stderr = &recvErr
	recv.WaitDelay = 2 * time.Second // a stuck pipe must not hang Wait
	stdin, err := recv.StdinPipe()
	if err != nil {
		return sideResult{}, err
	}
	stdout, err := recv.StdoutPipe()
	if err != nil {
		return sideResult{}, err
	}
	if err := recv.Start(); err != nil {
		return sideResult{}, fmt.Errorf("starting receiver: %w", err)
	}
	// From here on the receiver must be waited for on every path.
	fail := func(err error) (sideResult, error) {
		cancel()
		stdin.Close()
		io.Copy(io.Discard, stdout)
		recv.Wait()
		return sideResult{}, err
	}
	out := bufio.NewReader(stdout)
	first, err := out.ReadString('\n')
	if err != nil {
		return fail(fmt.Errorf("receiver: got no endpoint line (%v), want one; stderr: %s", err, strings.TrimSpace(recvErr.String())))
	}
	endpoint := strings.TrimSpace(first)

	send := exec.CommandContext(ctx, exe, append(p.sendArgs(endpoint), childTimeout)...)
	var sendErr limitedBuffer
	send.Stderr = &sendErr
	send.Stdout = &sendErr
	send.WaitDelay = 2 * time.Second
	if err := send.Run(); err != nil {
		return fail(fmt.Errorf("sender: %w; stderr: %s", childErr(ctx, err), strings.TrimSpace(sendErr.String())))
	}
	stdin.Close()
	rest, err := io.ReadAll(io.LimitReader(out, 1<<20))
	if err != nil {
		return fail(fmt.Errorf("reading receiver output: %w", err))
	}
	if err := recv.Wait(); err != nil {
		return sideResult{}, fmt.Errorf("receiver: %w; stderr: %s", childErr(ctx, err), strings.TrimSpace(recvErr.String()))
	}
	var rl recvLine
	if err := json.Unmarshal(bytes.TrimSpace(rest), &rl); err != nil {
		return sideResult{}, fmt.Errorf("receiver output %q: %w", rest, err)
	}
	return sideResult{recv: rl, send: rusageOf(send.ProcessState), rcv: rusageOf(recv.ProcessState)}, nil
}

// childErr says a child was killed for the timeout rather than just "signal: killed".
func childErr(ctx context.Context, err error) error {
	if errors.Is(ctx.Err(), context.DeadlineExceeded) {
		return fmt.Errorf("timed out and killed: %w", err)
	}
	return err
}

// runChild runs a hidden subcommand in this process.
func runChild(c child, args []string, stdout, stderr io.Writer) int {
	if err := c.run(args, stdout, os.Stdin); err != nil {
		fmt.Fprintf(stderr, "bench %s: %v\n", c.name, err)
		if errors.Is(err, errBadConfig) {
			return exitUsage
		}
		return exitFail
	}
	return exitOK
}
