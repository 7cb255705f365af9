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
	"strings"
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
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	childTimeout := "-timeout=" + timeout.String() // children give up on their own too

	recv, err := startPeer(ctx, "receiver", append(p.recvArgs, childTimeout))
	if err != nil {
		return sideResult{}, err
	}
	endpoint, err := recv.readLine()
	if err != nil {
		recv.abort()
		return sideResult{}, err
	}
	send, err := startPeer(ctx, "sender", append(p.sendArgs(endpoint), childTimeout))
	if err != nil {
		recv.abort()
		return sideResult{}, err
	}
	_, sendUsage, err := send.finish()
	if err != nil {
		recv.abort()
		return sideResult{}, err
	}
	rest, recvUsage, err := recv.finish()
	if err != nil {
		return sideResult{}, err
	}
	var rl recvLine
	if err := json.Unmarshal(bytes.TrimSpace(rest), &rl); err != nil {
		return sideResult{}, fmt.Errorf("receiver output %q: %w", rest, err)
	}
	return sideResult{recv: rl, send: sendUsage, rcv: recvUsage}, nil
}

// peer is a running child process of a measurement: this program started
// again with a hidden subcommand. Its stdin stays open until finish or
// abort, which is how a child that serves until told otherwise learns that
// the run is over.
type peer struct {
	name   string // for error messages: "receiver"
	ctx    context.Context
	kill   context.CancelFunc
	cmd    *exec.Cmd
	stdin  io.WriteCloser
	stdout io.ReadCloser
	out    *bufio.Reader
	stderr limitedBuffer
}

// startPeer starts this program with args. The child is killed, by PID, when
// ctx ends or abort is called. It stays in this process's group, so that
// whoever runs this command can kill the whole tree by group.
func startPeer(ctx context.Context, name string, args []string) (*peer, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, fmt.Errorf("finding this program to start its %s: %w", name, err)
	}
	p := &peer{name: name}
	p.ctx, p.kill = context.WithCancel(ctx)
	p.cmd = exec.CommandContext(p.ctx, exe, args...)
	p.cmd.Stderr = &p.stderr
	p.cmd.WaitDelay = 2 * time.Second // a stuck pipe must not hang Wait
	if p.stdin, err = p.cmd.StdinPipe(); err == nil {
		p.stdout, err = p.cmd.StdoutPipe()
	}
	if err == nil {
		err = p.cmd.Start()
	}
	if err != nil {
		p.kill()
		return nil, fmt.Errorf("starting %s: %w", name, err)
	}
	p.out = bufio.NewReader(p.stdout)
	return p, nil
}

// readLine returns the child's next stdout line, without its newline.
func (p *peer) readLine() (string, error) {
	line, err := p.out.ReadString('\n')
	if err != nil {
		return "", fmt.Errorf("%s: got no line (%v), want one; stderr: %s", p.name, err, p.errText())
	}
	return strings.TrimSpace(line), nil
}

// finish closes the child's stdin, reads the rest of its stdout (at most
// 1 MiB) and waits for it to exit. It returns that output and the child's
// resource usage, or an error if the child failed.
func (p *peer) finish() ([]byte, rusage, error) {
	defer p.kill()
	p.stdin.Close()
	rest, rerr := io.ReadAll(io.LimitReader(p.out, 1<<20))
	io.Copy(io.Discard, p.stdout) // a runaway child must not block on its pipe
	if err := p.cmd.Wait(); err != nil {
		return nil, rusage{}, fmt.Errorf("%s: %w; stderr: %s", p.name, childErr(p.ctx, err), p.errText())
	}
	if rerr != nil {
		return nil, rusage{}, fmt.Errorf("reading %s output: %w", p.name, rerr)
	}
	return rest, rusageOf(p.cmd.ProcessState), nil
}

// abort kills the child and waits for it, on a path where the run has
// already failed.
func (p *peer) abort() {
	p.kill()
	p.stdin.Close()
	io.Copy(io.Discard, p.stdout)
	p.cmd.Wait()
}

func (p *peer) errText() string { return strings.TrimSpace(p.stderr.String()) }

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
