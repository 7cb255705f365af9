package transport

import (
	"context"
	"errors"
	"io"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"testing"
	"time"
)

func TestIPCListenDialClose(t *testing.T) {
	path := filepath.Join(t.TempDir(), "a.sock")
	l, bound := mustListen(t, "ipc://"+path, Config{})
	if got, want := bound.String(), "ipc://"+path; got != want {
		t.Fatalf("bound endpoint: got %q, want %q", got, want)
	}
	exchange(t, l, dialer(bound, Config{}))
	if err := l.Close(); err != nil {
		t.Fatalf("Close: got %v, want nil", err)
	}
	if _, err := os.Lstat(path); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("socket file after Close: got %v, want it removed", err)
	}
}

func TestIPCRelativePath(t *testing.T) {
	t.Chdir(t.TempDir())
	l, bound := mustListen(t, "ipc://rel.sock", Config{})
	if got, want := bound.Address, "rel.sock"; got != want {
		t.Fatalf("bound address: got %q, want %q", got, want)
	}
	exchange(t, l, dialer(bound, Config{}))
	l.Close()
	if _, err := os.Lstat("rel.sock"); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("socket file after Close: got %v, want it removed", err)
	}
}

// staleSocket leaves a socket file at path with nobody listening on it, as a
// process that died without cleaning up would.
func staleSocket(t *testing.T, path string) {
	t.Helper()
	ul, err := net.ListenUnix("unix", &net.UnixAddr{Name: path, Net: "unix"})
	if err != nil {
		t.Fatalf("ListenUnix(%s): got error %v, want nil", path, err)
	}
	ul.SetUnlinkOnClose(false)
	ul.Close()
	fi, err := os.Lstat(path)
	if err != nil || fi.Mode().Type() != fs.ModeSocket {
		t.Fatalf("stale socket file: got %v, %v, want a socket", fi, err)
	}
}

func TestIPCStaleSocketReplaced(t *testing.T) {
	path := filepath.Join(t.TempDir(), "stale.sock")
	staleSocket(t, path)
	l, bound := mustListen(t, "ipc://"+path, Config{})
	exchange(t, l, dialer(bound, Config{}))
}

func TestIPCLiveListenerInUse(t *testing.T) {
	path := filepath.Join(t.TempDir(), "live.sock")
	l, bound := mustListen(t, "ipc://"+path, Config{})

	l2, _, err := Listen(t.Context(), bound, Config{})
	if err == nil {
		l2.Close()
	}
	if !errors.Is(err, ErrAddressInUse) {
		t.Fatalf("second Listen(%s): got %v, want ErrAddressInUse", bound, err)
	}
	// The check connected once; the live listener sees that connection
	// closed, then keeps serving.
	r := <-accept(l)
	if r.err != nil {
		t.Fatalf("accept probe: got error %v, want nil", r.err)
	}
	n, err := r.c.Read(make([]byte, 1))
	r.c.Close()
	if n != 0 || err != io.EOF {
		t.Fatalf("read probe: got %d, %v, want 0, EOF", n, err)
	}
	exchange(t, l, dialer(bound, Config{}))
}

func TestIPCRegularFileUntouched(t *testing.T) {
	path := filepath.Join(t.TempDir(), "not-a-socket")
	content := []byte("precious")
	if err := os.WriteFile(path, content, 0o600); err != nil {
		t.Fatal(err)
	}
	l, _, err := Listen(t.Context(), mustParse(t, "ipc://"+path), Config{})
	if err == nil {
		l.Close()
	}
	if !errors.Is(err, ErrAddressInUse) {
		t.Fatalf("Listen on a regular file: got %v, want ErrAddressInUse", err)
	}
	got, err := os.ReadFile(path)
	if err != nil || string(got) != string(content) {
		t.Fatalf("file after Listen: got %q, %v, want %q, nil", got, err, content)
	}
}

func TestIPCDirectoryUntouched(t *testing.T) {
	path := filepath.Join(t.TempDir(), "dir")
	if err := os.Mkdir(path, 0o700); err != nil {
		t.Fatal(err)
	}
	if _, _, err := Listen(t.Context(), mustParse(t, "ipc://"+path), Config{}); !errors.Is(err, ErrAddressInUse) {
		t.Fatalf("Listen on a directory: got %v, want ErrAddressInUse", err)
	}
	if fi, err := os.Lstat(path); err != nil || !fi.IsDir() {
		t.Fatalf("directory after Listen: got %v, %v, want it kept", fi, err)
	}
}

// A custom Listen whose listener does not remove its file still gets the
// file removed on Close.
func TestIPCCustomListenRemovesFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "custom.sock")
	var network string
	cfg := Config{Listen: func(ctx context.Context, nw, addr string) (net.Listener, error) {
		network = nw
		ul, err := net.ListenUnix(nw, &net.UnixAddr{Name: addr, Net: nw})
		if err != nil {
			return nil, err
		}
		ul.SetUnlinkOnClose(false)
		return ul, nil
	}}
	l, bound := mustListen(t, "ipc://"+path, cfg)
	if network != "unix" {
		t.Fatalf("Config.Listen network: got %q, want \"unix\"", network)
	}
	exchange(t, l, dialer(bound, Config{}))
	if err := l.Close(); err != nil {
		t.Fatalf("Close: got %v, want nil", err)
	}
	if err := l.Close(); err != nil {
		t.Fatalf("second Close: got %v, want nil (the first result)", err)
	}
	if _, err := os.Lstat(path); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("socket file after Close: got %v, want it removed", err)
	}
}

func TestIPCAbstract(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("abstract sockets are Linux only")
	}
	name := "@wisp-transport-test-" + strconv.Itoa(os.Getpid()) + "-" + strconv.FormatInt(time.Now().UnixNano(), 36)
	l, bound := mustListen(t, "ipc://"+name, Config{})
	exchange(t, l, dialer(bound, Config{}))
}

func TestIPCConfigErrors(t *testing.T) {
	ep := mustParse(t, "ipc://"+filepath.Join(t.TempDir(), "c.sock"))
	if _, _, err := Listen(t.Context(), ep, Config{ReusePort: true}); !errors.Is(err, ErrInvalidConfig) {
		t.Errorf("Listen ipc with ReusePort: got %v, want ErrInvalidConfig", err)
	}
	if _, err := Dial(t.Context(), ep, Config{ReusePort: true}); !errors.Is(err, ErrInvalidConfig) {
		t.Errorf("Dial ipc with ReusePort: got %v, want ErrInvalidConfig", err)
	}
	if _, err := Dial(t.Context(), ep, Config{LocalAddr: "127.0.0.1:0"}); !errors.Is(err, ErrInvalidConfig) {
		t.Errorf("Dial ipc with LocalAddr: got %v, want ErrInvalidConfig", err)
	}
}
