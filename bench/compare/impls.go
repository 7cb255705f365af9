package main

import (
	"bufio"
	"bytes"
	"context"
	_ "embed"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
)

// buildTimeout bounds compiling wisp's bench command or thr.c: a cold build on
// a busy machine can take longer than one benchmark run.
const buildTimeout = 10 * time.Minute

// wispModule is the module path that marks the wisp repository root.
const wispModule = "github.com/wispmq/wisp"

// libzmqPackages is what to install when pkg-config or libzmq is missing.
const libzmqPackages = "apt-get install -y libzmq3-dev pkg-config"

// runner runs one implementation's PUSH/PULL throughput once. latRunner is
// its counterpart for REQ/REP latency.
type runner interface {
	run(ctx context.Context, transport string, size int, count int64) (sample, error)
}

// env is what every run shares: a scratch directory for ipc sockets and
// binaries, and the per-run timeout.
type env struct {
	dir     string
	timeout time.Duration
	seq     atomic.Int64 // makes ipc paths unique within dir
}

// endpoint returns a fresh endpoint for one run: tcp on a loopback port that
// was free a moment ago, or an ipc socket file in the scratch directory.
func (e *env) endpoint(transport string) (string, error) {
	switch transport {
	case "tcp":
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return "", err
		}
		addr := l.Addr().String()
		if err := l.Close(); err != nil {
			return "", err
		}
		return "tcp://" + addr, nil
	case "ipc":
		return "ipc://" + filepath.Join(e.dir, fmt.Sprintf("s%d.sock", e.seq.Add(1))), nil
	}
	return "", fmt.Errorf("transport: got %q, want tcp or ipc", transport)
}

// peerProg is a program that speaks the peer protocols: argv = prefix +
// [ROLE, ENDPOINT, SIZE, COUNT] for throughput (ROLE recv or send), the same
// and WARMUP for latency (rep or req). libzmq's thr and lat take no
// prefix; the zmq4 peer is this binary with peerArg; wisp's is its bench
// command with "peer -protocol zmtp".
type peerProg struct {
	path   string
	prefix []string
}

// args returns the argument list for one role.
func (p peerProg) args(role string, rest ...string) []string {
	return append(append(append([]string(nil), p.prefix...), role), rest...)
}

// pairRunner runs a receiver and a sender process that speak the peer
// protocol: argv = prefix + [recv|send, ENDPOINT, SIZE, COUNT]. The two
// are the same program for one library, or different ones for a pair of
// libraries.
type pairRunner struct {
	env        *env
	name       string
	recv, send peerProg
}

// newPairRunner runs prog on both sides.
func newPairRunner(e *env, name string, prog peerProg) *pairRunner {
	return &pairRunner{env: e, name: name, recv: prog, send: prog}
}

func (r *pairRunner) run(ctx context.Context, transport string, size int, count int64) (sample, error) {
	ep, err := r.env.endpoint(transport)
	if err != nil {
		return sample{}, err
	}
	rest := []string{ep, strconv.Itoa(size), strconv.FormatInt(count, 10)}
	// The receiver starts first; the senders of libzmq, zmq4 and wisp all
	// retry their connect until it has bound.
	res, err := runProcs(ctx, r.env.timeout, func(ctx context.Context) []*proc {
		return []*proc{
			newProc(ctx, r.name+" recv", r.recv.path, r.recv.args("recv", rest...)...),
			newProc(ctx, r.name+" send", r.send.path, r.send.args("send", rest...)...),
		}
	})
	if err != nil {
		return sample{}, err
	}
	recv, send := res[0], res[1]
	pl, err := parsePeerLine(recv.stdout)
	if err == nil {
		err = pl.checkShape(size, count)
	}
	if err != nil {
		return sample{}, fmt.Errorf("%s recv: %w", r.name, err)
	}
	return sample{
		count: count, size: size, seconds: *pl.Seconds,
		sendCPU: send.cpuSec, recvCPU: recv.cpuSec,
		sendRSSKB: float64(send.maxRSSKB), recvRSSKB: float64(recv.maxRSSKB),
	}, nil
}

// newZMQ4Runner runs zmq4 peers by re-executing this very binary.
func newZMQ4Runner(e *env) (runner, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, err
	}
	return newPairRunner(e, implZMQ4, peerProg{path: exe, prefix: []string{peerArg}}), nil
}

// errLibzmqMissing says the C toolchain pieces for libzmq are not installed.
var errLibzmqMissing = errors.New("libzmq development files not found")

// thrSource is the libzmq peer program, embedded so the runner compiles it
// from wherever it is started.
//
//go:embed libzmq/thr.c
var thrSource []byte

// newLibzmqRunner compiles thr.c into the scratch directory and returns the
// runner and libzmq's version. The runner's recv (or send) is the compiled
// program, for pairing it with another library.
func newLibzmqRunner(ctx context.Context, e *env) (*pairRunner, string, error) {
	bin, version, err := compileLibzmqPeer(ctx, e, "thr", thrSource)
	if err != nil {
		return nil, "", err
	}
	return newPairRunner(e, implLibzmq, peerProg{path: bin}), version, nil
}

// compileLibzmqPeer compiles one of the libzmq peer programs (name.c) into
// the scratch directory and asks it for libzmq's version.
func compileLibzmqPeer(ctx context.Context, e *env, name string, source []byte) (bin, version string, err error) {
	if _, err := exec.LookPath("pkg-config"); err != nil {
		return "", "", fmt.Errorf("%w: pkg-config is not installed; install it with: %s", errLibzmqMissing, libzmqPackages)
	}
	flags, err := exec.CommandContext(ctx, "pkg-config", "--cflags", "--libs", "libzmq").Output()
	if err != nil {
		return "", "", fmt.Errorf("%w: pkg-config does not know libzmq; install it with: %s", errLibzmqMissing, libzmqPackages)
	}
	cc := os.Getenv("CC")
	if cc == "" {
		cc = "cc"
	}
	srcPath := filepath.Join(e.dir, name+".c")
	if err := os.WriteFile(srcPath, source, 0o644); err != nil {
		return "", "", err
	}
	bin = filepath.Join(e.dir, name)
	// -pthread for broker.c's threads; the others do not mind it.
	args := append([]string{"-O2", "-pthread", "-o", bin, srcPath}, strings.Fields(string(flags))...)
	if out, err := runBuild(ctx, "", nil, cc, args...); err != nil {
		return "", "", fmt.Errorf("compiling %s.c with %s: %w\n%s", name, cc, err, out)
	}
	vctx, cancel := context.WithTimeout(ctx, e.timeout)
	defer cancel()
	out, err := exec.CommandContext(vctx, bin, "version").Output()
	if err != nil {
		return "", "", fmt.Errorf("%s version: %w", bin, err)
	}
	return bin, strings.TrimSpace(string(out)), nil
}

// runBuild runs a compiler with a bound on its time and returns its combined output.
func runBuild(ctx context.Context, dir string, extraEnv []string, name string, args ...string) ([]byte, error) {
	ctx, cancel := context.WithTimeout(ctx, buildTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Dir = dir
	if extraEnv != nil {
		cmd.Env = append(os.Environ(), extraEnv...)
	}
	out, err := cmd.CombinedOutput()
	return bytes.TrimSpace(out), err
}

// findWispRoot returns the absolute wisp repository root: hint if it holds
// wisp's go.mod, else the nearest directory above the working directory that
// does (so the runner works from anywhere inside the repository).
func findWispRoot(hint string) (string, error) {
	if abs, err := filepath.Abs(hint); err == nil && isWispRoot(abs) {
		return abs, nil
	}
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for range 64 { // bounded: no path is that deep
		if isWispRoot(dir) {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			break
		}
		dir = parent
	}
	return "", fmt.Errorf("wisp root: got no go.mod for module %s at %q or above the working directory, want -wisp-root to point at the repository", wispModule, hint)
}

// isWispRoot reports whether dir/go.mod declares the wisp module.
func isWispRoot(dir string) bool {
	f, err := os.Open(filepath.Join(dir, "go.mod"))
	if err != nil {
		return false
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if fields := strings.Fields(sc.Text()); len(fields) == 2 && fields[0] == "module" {
			return strings.Trim(fields[1], `"`) == wispModule
		}
	}
	return false
}

// wispRunner runs wisp's own bench command, which starts its peer process
// itself and reports both sides' CPU and memory (thr) or the round-trip
// times (lat).
type wispRunner struct {
	env  *env
	path string
	// protocol, if set, is passed as -protocol; unset, the command is run
	// as before that flag existed, so an older tree (-wisp-root) still
	// runs as implWisp.
	protocol string
	// thrExtra is added to every thr run's arguments: one of thrOnly's
	// args (implWispRelease, implWispBatch); empty for the others.
	thrExtra []string
	// latExtra is added to every lat run's arguments: one of latOnly's
	// args (implWispBusyPoll); empty for the others.
	latExtra []string
	// psExtra is added to every pubsub run's arguments: -nodrop for
	// implWispNodrop; empty for the others.
	psExtra []string
}

// zmtpProtocol is the -protocol value of wisp's bench command for ZMTP.
const zmtpProtocol = "zmtp"

// withZMTP returns the runner for implWispZMTP: the same bench command,
// both sides speaking ZMTP.
func (r *wispRunner) withZMTP() *wispRunner {
	return &wispRunner{env: r.env, path: r.path, protocol: zmtpProtocol}
}

// withThrArgs returns the runner for one of thrOnlyImpls: the same bench
// command and arguments as r, plus args on every thr run.
func (r *wispRunner) withThrArgs(args ...string) *wispRunner {
	return &wispRunner{env: r.env, path: r.path, protocol: r.protocol, thrExtra: slices.Concat(r.thrExtra, args)}
}

// withLatArgs returns the runner for one of latOnlyImpls: the same bench
// command and arguments as r, plus args on every lat run.
func (r *wispRunner) withLatArgs(args ...string) *wispRunner {
	return &wispRunner{env: r.env, path: r.path, protocol: r.protocol, latExtra: slices.Concat(r.latExtra, args)}
}

// protocolArgs are the arguments that choose r's protocol, if any.
func (r *wispRunner) protocolArgs() []string {
	if r.protocol == "" {
		return nil
	}
	return []string{"-protocol", r.protocol}
}

// thrArgs is the argument list of one throughput run of the bench
// command. Only what r adds (-protocol, thrExtra) is passed beyond the
// run's shape, so implWisp runs as it always did.
func (r *wispRunner) thrArgs(transport string, size int, count int64) []string {
	return slices.Concat([]string{"thr", "-pattern", "pushpull",
		"-transport", transport, "-size", strconv.Itoa(size), "-count", strconv.FormatInt(count, 10)}, r.protocolArgs(), r.thrExtra)
}

// zmtpPeer is wisp's bench command as one side of a pair with another
// library: its peer subcommand, speaking ZMTP.
func (r *wispRunner) zmtpPeer() peerProg {
	return peerProg{path: r.path, prefix: []string{"peer", "-protocol", zmtpProtocol}}
}

// newMixedRunner pairs a wisp and a libzmq peer program over ZMTP: name is
// implWispLibzmq (wisp sends) or implLibzmqWisp (wisp receives).
func newMixedRunner(e *env, name string, wisp *wispRunner, libzmq *pairRunner) *pairRunner {
	r := &pairRunner{env: e, name: name, send: wisp.zmtpPeer(), recv: libzmq.recv}
	if name == implLibzmqWisp {
		r.send, r.recv = libzmq.send, wisp.zmtpPeer()
	}
	return r
}

// errProbe says an implementation's one short run before the first round
// failed, so it is skipped.
var errProbe = errors.New("the short run before the first round failed")

// thrProbeCount is the size of that run in -mode thr.
const thrProbeCount = 10_000

// probeThr makes one short throughput run with r, so that an
// implementation that cannot run at all (a bench command without
// -protocol or the peer subcommand, a ZMTP handshake that fails) is
// skipped once, with its own error, rather than failing every round.
func probeThr(ctx context.Context, r runner, transport string) error {
	if _, err := r.run(ctx, transport, 16, thrProbeCount); err != nil {
		return fmt.Errorf("%w: %w", errProbe, err)
	}
	return nil
}

// newWispRunner builds wisp's bench command from the repository at root.
// GOWORK=off keeps a stray workspace file from changing what gets built.
func newWispRunner(ctx context.Context, e *env, root string) (*wispRunner, error) {
	bin := filepath.Join(e.dir, "wispbench")
	out, err := runBuild(ctx, root, []string{"GOWORK=off"}, "go", "build", "-o", bin, wispModule+"/bench")
	if err != nil {
		return nil, fmt.Errorf("building %s/bench in %s: %w\n%s", wispModule, root, err, out)
	}
	return &wispRunner{env: e, path: bin}, nil
}

func (r *wispRunner) run(ctx context.Context, transport string, size int, count int64) (sample, error) {
	res, err := runProcs(ctx, r.env.timeout, func(ctx context.Context) []*proc {
		return []*proc{newProc(ctx, "wispbench", r.path, r.thrArgs(transport, size, count)...)}
	})
	if err != nil {
		return sample{}, err
	}
	pl, err := parsePeerLine(res[0].stdout)
	if err == nil {
		err = pl.checkShape(size, count)
	}
	if err != nil {
		return sample{}, fmt.Errorf("wispbench: %w", err)
	}
	return sample{
		count: count, size: size, seconds: *pl.Seconds,
		sendCPU: orNaN(pl.SenderCPUSec), recvCPU: orNaN(pl.ReceiverCPUSec),
		sendRSSKB: orNaN(pl.SenderMaxRSSKB), recvRSSKB: orNaN(pl.ReceiverMaxRSSKB),
	}, nil
}
