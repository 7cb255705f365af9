package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// TestBridge runs the commands the way the README does: certs, then a REP
// server, then clients. The client with the CA's certificate exchanges
// messages; a client with a stranger's certificate and one with none are
// refused, and the server reports each refusal with its TLS reason; the
// good client is still served after them.
func TestBridge(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	bin, dir := setup(t, ctx)
	srv := startServer(t, ctx, bin, dir, "rep")

	out := runClient(t, ctx, bin, dir, srv.endpoint, "-type", "req", "hello", "world")
	want := "connected to " + srv.endpoint + "\nreply \"echo: hello\"\nreply \"echo: world\"\n"
	if out != want {
		t.Fatalf("good client printed %q, want %q", out, want)
	}
	srv.expect(t, `tls: `, ` verified as "wisp example client"`)
	srv.expect(t, `got "hello"`, "")
	srv.expect(t, `got "world"`, "")

	for _, bad := range []struct {
		as, serverSays string
	}{
		{"stranger", "tls: failed to verify certificate: x509: certificate signed by unknown authority"},
		{"none", "tls: client didn't provide a certificate"},
	} {
		out, err := run(ctx, bin, "client", "-certs", dir, "-connect", srv.endpoint, "-as", bad.as)
		var exit *exec.ExitError
		if !errors.As(err, &exit) || exit.ExitCode() != 1 {
			t.Fatalf("client -as %s: got %v, want exit status 1\n%s", bad.as, err, out)
		}
		if !strings.HasPrefix(out, "refused: handshake-failed "+srv.endpoint) || !strings.Contains(out, "tls: ") {
			t.Errorf("client -as %s printed %q, want a refusal with its TLS reason", bad.as, out)
		}
		srv.expect(t, "event: handshake-failed "+srv.endpoint, bad.serverSays)
	}

	out = runClient(t, ctx, bin, dir, srv.endpoint, "-type", "dealer", "again")
	if want := "connected to " + srv.endpoint + "\nreply \"echo: again\"\n"; out != want {
		t.Fatalf("good client after the refusals printed %q, want %q", out, want)
	}
	srv.expect(t, `got "again"`, "")
	srv.stop(t)
}

// TestPushPull shows another pair of socket types over the same TLS setup.
func TestPushPull(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	bin, dir := setup(t, ctx)
	srv := startServer(t, ctx, bin, dir, "pull")
	out := runClient(t, ctx, bin, dir, srv.endpoint, "-type", "push", "one", "two", "three")
	if want := "connected to " + srv.endpoint + "\ndelivered 3 messages\n"; out != want {
		t.Fatalf("client printed %q, want %q", out, want)
	}
	for _, m := range []string{"one", "two", "three"} {
		srv.expect(t, `got "`+m+`"`, "")
	}
	srv.stop(t)
}

// setup builds the command and runs its certs subcommand.
func setup(t *testing.T, ctx context.Context) (bin, dir string) {
	t.Helper()
	tmp := t.TempDir()
	bin = filepath.Join(tmp, "tlsbridge")
	if out, err := exec.CommandContext(ctx, "go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	dir = filepath.Join(tmp, "certs")
	if out, err := run(ctx, bin, "certs", dir); err != nil {
		t.Fatalf("certs: %v\n%s", err, out)
	}
	for _, f := range []string{"ca.pem", "server.pem", "server-key.pem", "client.pem", "client-key.pem", "stranger.pem", "stranger-key.pem"} {
		if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
			t.Fatalf("certs did not write %s: %v", f, err)
		}
	}
	return bin, dir
}

// run runs the command to its end and returns its standard output.
func run(ctx context.Context, bin string, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, bin, args...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		err = errors.Join(err, errors.New(stderr.String()))
	}
	return string(out), err
}

// runClient runs a client that must succeed.
func runClient(t *testing.T, ctx context.Context, bin, dir, endpoint string, args ...string) string {
	t.Helper()
	out, err := run(ctx, bin, append([]string{"client", "-certs", dir, "-connect", endpoint}, args...)...)
	if err != nil {
		t.Fatalf("client %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return out
}

// serverProc is a running server process.
type serverProc struct {
	endpoint string
	cmd      *exec.Cmd
	out      chan string // its output lines, closed at its end
	lines    []string
	ctx      context.Context
	stderr   bytes.Buffer
	stopped  bool
}

func startServer(t *testing.T, ctx context.Context, bin, dir, typ string) *serverProc {
	t.Helper()
	s := &serverProc{ctx: ctx, out: make(chan string)}
	s.cmd = exec.CommandContext(ctx, bin, "server", "-certs", dir, "-bind", "tcp://127.0.0.1:0", "-type", typ)
	s.cmd.Stderr = &s.stderr
	stdout, err := s.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := s.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		defer close(s.out)
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			select {
			case s.out <- sc.Text():
			case <-ctx.Done():
				return
			}
		}
	}()
	t.Cleanup(func() {
		if !s.stopped {
			s.cmd.Process.Kill()
			for range s.out {
			}
			s.cmd.Wait()
		}
		if t.Failed() {
			t.Logf("server printed:\n%s\nstderr:\n%s", strings.Join(s.lines, "\n"), s.stderr.String())
		}
	})
	first := s.read(t)
	const listening = "listening on "
	if !strings.HasPrefix(first, listening) {
		t.Fatalf("server's first line: got %q, want %q", first, listening+"ENDPOINT ...")
	}
	s.endpoint, _, _ = strings.Cut(strings.TrimPrefix(first, listening), " ")
	return s
}

func (s *serverProc) read(t *testing.T) string {
	t.Helper()
	select {
	case l, ok := <-s.out:
		if !ok {
			t.Fatal("server ended; want more output")
		}
		s.lines = append(s.lines, l)
		return l
	case <-s.ctx.Done():
		t.Fatal("timed out waiting for the server's output")
		return ""
	}
}

// expect waits for the server to print a line that starts with prefix and
// contains part.
func (s *serverProc) expect(t *testing.T, prefix, part string) {
	t.Helper()
	for {
		if l := s.read(t); strings.HasPrefix(l, prefix) && strings.Contains(l, part) {
			return
		}
	}
}

// stop interrupts the server, as Ctrl-C does, and waits for it to exit.
func (s *serverProc) stop(t *testing.T) {
	t.Helper()
	if err := s.cmd.Process.Signal(os.Interrupt); err != nil {
		t.Fatal(err)
	}
	for l := range s.out {
		s.lines = append(s.lines, l)
	}
	s.stopped = true
	if err := s.cmd.Wait(); err != nil {
		t.Fatalf("server exited: got %v, want status 0", err)
	}
}
