package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"

	"github.com/wispmq/wisp/socket"
)

// scaleClients is one client process of a scale run: -peers sockets of the
// pattern's client type (SUB subscribed to everything, DEALER or PUSH), all
// dialing the server from -local's address. It makes them, prints
// clientsReady, and runs the parent's commands until stdin closes.
func scaleClients(args []string, stdout io.Writer, stdin io.Reader) error {
	f, err := parseScaleChildFlags(scaleClientsCmd, args)
	if err != nil {
		return err
	}
	if f.endpoint == "" || f.local == "" {
		return fmt.Errorf("%w: got endpoint %q local %q, want both", errBadConfig, f.endpoint, f.local)
	}
	if err := checkLocalAddr(f.local); err != nil {
		return err
	}
	if err := raiseFileLimit(uint64(f.peers + fileMargin)); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), f.timeout)
	defer cancel()
	t := scalePatterns[f.pattern][1]
	opts := append(scaleOptions(f, t), socket.WithLocalAddr(f.local))
	socks := make([]*socket.Socket, 0, f.peers)
	defer func() { closeAll(socks) }() // on failure; Close is idempotent
	for range f.peers {
		s, err := socket.New(t, opts...)
		if err != nil {
			return err
		}
		socks = append(socks, s)
		if t == socket.Sub {
			// Before Connect, so that it goes out with the handshake.
			if err := s.Subscribe(nil); err != nil {
				return err
			}
		}
	}
	if _, err := fmt.Fprintln(stdout, clientsReady); err != nil {
		return err
	}
	lines := commandLines(stdin)
	for {
		cmd, ok, err := nextCommand(ctx, lines, "(clients)")
		if err != nil {
			return err
		}
		if !ok {
			return closeAll(socks)
		}
		if err := clientCommand(ctx, socks, f, cmd); err != nil {
			return fmt.Errorf("%s: %w", cmd, err)
		}
		if _, err := fmt.Fprintln(stdout, answerOK); err != nil {
			return err
		}
	}
}

// checkLocalAddr fails early, and clearly, if this host cannot dial from
// addr: the sockets would otherwise retry their dials in the background
// until the run timed out. Only Linux routes all of 127/8 to loopback by
// default.
func checkLocalAddr(addr string) error {
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("cannot use %s as a source address (%w); on systems other than Linux, add loopback aliases (macOS: sudo ifconfig lo0 alias 127.0.0.2 up) or use -procs 1", addr, err)
	}
	return l.Close()
}

// clientCommand runs one of the parent's commands on every socket at once.
func clientCommand(ctx context.Context, socks []*socket.Socket, f scaleChildFlags, cmd string) error {
	switch cmd {
	case cmdConnect:
		for i, s := range socks {
			if err := s.Connect(f.endpoint); err != nil {
				return fmt.Errorf("socket %d: %w", i+1, err)
			}
		}
		return nil
	case cmdExchange:
		payload := bytes.Repeat([]byte{'x'}, exchangeSize)
		return forEach(ctx, socks, func(ctx context.Context, s *socket.Socket) error {
			switch f.pattern {
			case "pub":
				return receiveN(ctx, s, 1, exchangeSize)
			case "router":
				if err := s.Send(ctx, payload); err != nil {
					return err
				}
				return receiveN(ctx, s, 1, exchangeSize)
			}
			if err := s.Send(ctx, payload); err != nil {
				return err
			}
			return s.Flush(ctx)
		})
	case cmdBurst:
		payload := bytes.Repeat([]byte{'b'}, f.burstSize) // shared, never modified: see sendAll
		return forEach(ctx, socks, func(ctx context.Context, s *socket.Socket) error {
			if f.pattern == "pub" {
				return receiveN(ctx, s, f.burst, f.burstSize)
			}
			for i := range f.burst {
				if err := s.Send(ctx, payload); err != nil {
					return fmt.Errorf("sending message %d of %d: %w", i+1, f.burst, err)
				}
			}
			// Delivered means taken by the server's Recv, so the server
			// is done too when every client is.
			return s.Flush(ctx)
		})
	case cmdClose:
		return forEach(ctx, socks, func(_ context.Context, s *socket.Socket) error { return s.Close() })
	}
	return fmt.Errorf("unknown command %q", cmd)
}

// receiveN receives n messages of one frame of size bytes.
func receiveN(ctx context.Context, s *socket.Socket, n, size int) error {
	for i := range n {
		m, err := s.Recv(ctx)
		if err != nil {
			return fmt.Errorf("receiving message %d of %d: %w", i+1, n, err)
		}
		if len(m) != 1 || len(m[0]) != size {
			return fmt.Errorf("%w: message %d: got %d frames of %d bytes, want 1 frame of %d bytes",
				errWrongMessages, i+1, len(m), m.Size(), size)
		}
	}
	return nil
}

// forEach runs fn on every socket at once, each in its own goroutine: the
// peers of a real server act independently, and a socket waiting for its
// turn would be counted in the phase's time. The first error stops the
// others and is returned, naming its socket.
func forEach(ctx context.Context, socks []*socket.Socket, fn func(context.Context, *socket.Socket) error) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	errs := make([]error, len(socks))
	for i, s := range socks {
		wg.Go(func() {
			if err := fn(ctx, s); err != nil {
				errs[i] = fmt.Errorf("socket %d: %w", i+1, err)
				cancel()
			}
		})
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil && !errors.Is(err, context.Canceled) {
			return err
		}
	}
	return errors.Join(errs...)
}
