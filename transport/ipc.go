package transport

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"sync"
	"syscall"
)

// isAbstract reports a Linux abstract socket name, which has no file to
// check or remove.
func isAbstract(path string) bool { return path[0] == '@' }

func listenIPC(ctx context.Context, ep Endpoint, cfg Config) (net.Listener, error) {
	if cfg.ReusePort {
		return nil, fmt.Errorf("%w: ReusePort is tcp only, got %s", ErrInvalidConfig, ep)
	}
	path := ep.Address
	if !isAbstract(path) {
		if err := clearStale(ctx, ep); err != nil {
			return nil, err
		}
	}
	var l net.Listener
	var err error
	if cfg.Listen != nil {
		l, err = cfg.Listen(ctx, "unix", path)
	} else {
		var lc net.ListenConfig
		l, err = lc.Listen(ctx, "unix", path)
	}
	if err = checkListen(ep, l, err); err != nil {
		return nil, err
	}
	// A *net.UnixListener from net.Listen already removes its own file on
	// Close. A custom Listen may not (or may hide it in a wrapper), so wrap
	// it with a listener that does.
	if cfg.Listen == nil || isAbstract(path) {
		return l, nil
	}
	fi, err := os.Lstat(path)
	if err != nil {
		// The file is not where we bound it (the custom Listen used another
		// path?); there is nothing of ours to remove.
		return l, nil
	}
	return &ipcListener{Listener: l, path: path, file: fi}, nil
}

// clearStale makes way for a new listener at ep's path: nothing there is
// fine, a socket nobody accepts on is removed, anything else is an error and
// is left alone.
func clearStale(ctx context.Context, ep Endpoint) error {
	path := ep.Address
	fi, err := os.Lstat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("transport: listen %s: %w", ep, err)
	}
	if fi.Mode().Type() != fs.ModeSocket {
		return fmt.Errorf("%w: %s: path exists and is not a socket (%s)", ErrAddressInUse, ep, fi.Mode().Type())
	}
	var d net.Dialer
	c, err := d.DialContext(ctx, "unix", path)
	switch {
	case err == nil:
		c.Close()
		return fmt.Errorf("%w: %s: a live listener holds it", ErrAddressInUse, ep)
	case errors.Is(err, fs.ErrNotExist):
		return nil // removed since Lstat: the way is clear
	case !errors.Is(err, syscall.ECONNREFUSED):
		if ctxErr := ctx.Err(); ctxErr != nil {
			return ctxErr
		}
		// Busy, permission denied, ...: it may be live, so keep it.
		return fmt.Errorf("%w: %s: cannot tell whether a listener holds it: %w", ErrAddressInUse, ep, err)
	}
	// Refused: the socket is stale. Remove it only if it is still the very
	// file we probed, not one a new listener created in the meantime.
	now, err := os.Lstat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("transport: listen %s: %w", ep, err)
	}
	if !os.SameFile(fi, now) {
		return fmt.Errorf("%w: %s: replaced while checking it", ErrAddressInUse, ep)
	}
	if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("transport: listen %s: removing stale socket: %w", ep, err)
	}
	return nil
}

// ipcListener removes its socket file on Close, for listeners that do not
// do it themselves.
type ipcListener struct {
	net.Listener
	path string
	file fs.FileInfo // the socket file as bound, to remove only that one

	once     sync.Once
	closeErr error
}

// Close closes the listener and removes its socket file if that is still
// the file it bound. It keeps and returns the first Close error.
func (l *ipcListener) Close() error {
	l.once.Do(func() {
		l.closeErr = l.Listener.Close()
		if now, err := os.Lstat(l.path); err == nil && os.SameFile(l.file, now) {
			os.Remove(l.path)
		}
	})
	return l.closeErr
}

// Unwrap returns the listener that Config.Listen returned.
func (l *ipcListener) Unwrap() net.Listener { return l.Listener }
