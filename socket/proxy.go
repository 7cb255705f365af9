package socket

import (
	"context"
	"errors"
	"fmt"
	"sync"
)

// Proxy joins two sockets: every message frontend receives is sent on
// backend and, when backend receives and frontend sends (ROUTER and DEALER,
// say), every message backend receives is sent on frontend. It is the
// broker of ZeroMQ's patterns: ROUTER↔DEALER shares requests from many REQ
// clients among many REP workers and routes each reply back to its client;
// PULL→PUSH forwards a pipeline.
//
// If capture is not nil, each forwarded message is also sent on it, in
// either direction, for monitoring; a capture socket that blocks (a PUSH at
// its high-water mark) paces the proxy.
//
// Proxy runs until ctx ends, returning ctx's error, or until a socket fails
// (is closed, say), returning that error. It does not close the sockets. A
// message taken from one socket when ctx ends, and not yet accepted by the
// other, is lost: end a proxy by closing its clients first when that
// matters.
func Proxy(ctx context.Context, frontend, backend, capture *Socket) error {
	if frontend == nil || backend == nil {
		return fmt.Errorf("%w: Proxy needs a frontend and a backend socket", ErrInvalidOption)
	}
	if !frontend.e.CanRecv() || !backend.e.CanSend() {
		return fmt.Errorf("%w: Proxy cannot forward from %v to %v", ErrNotSupported, frontend.typ, backend.typ)
	}
	if capture != nil && !capture.e.CanSend() {
		return fmt.Errorf("%w: Proxy capture socket %v cannot send", ErrNotSupported, capture.typ)
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var (
		wg       sync.WaitGroup
		errOnce  sync.Once
		firstErr error
	)
	run := func(from, to *Socket) {
		defer wg.Done()
		if err := forward(ctx, from, to, capture); err != nil {
			errOnce.Do(func() { firstErr = err })
			cancel()
		}
	}
	wg.Add(1)
	go run(frontend, backend)
	if backend.e.CanRecv() && frontend.e.CanSend() {
		wg.Add(1)
		go run(backend, frontend)
	}
	wg.Wait()
	// The first error is the cause; a context error that only follows it
	// comes from our own cancel.
	return firstErr
}

// forward moves messages from one socket to another until an error.
func forward(ctx context.Context, from, to, capture *Socket) error {
	for {
		m, err := from.Recv(ctx)
		if err != nil {
			return proxyError(ctx, "receiving from", from, err)
		}
		if capture != nil {
			if err := capture.Send(ctx, m...); err != nil {
				return proxyError(ctx, "capturing from", from, err)
			}
		}
		if err := to.forward(ctx, m); err != nil {
			return proxyError(ctx, "sending to", to, err)
		}
	}
}

// forward sends a message Recv returned, which nothing else holds: it
// needs no copy of its frame list (a spooling socket copies it to disk).
func (s *Socket) forward(ctx context.Context, m Message) error {
	if s.spool != nil {
		return s.spool.send(ctx, m)
	}
	return s.e.SendOwned(ctx, m)
}

func proxyError(ctx context.Context, doing string, s *Socket, err error) error {
	if ctx.Err() != nil && errors.Is(err, ctx.Err()) {
		return ctx.Err()
	}
	return fmt.Errorf("proxy %s %v: %w", doing, s.typ, err)
}
