package quic

import (
	"context"
	"errors"
	"net"
	"testing"
	"time"

	quicgo "github.com/quic-go/quic-go"
	"go.uber.org/goleak"

	"github.com/wispmq/wisp/transport"
	"github.com/wispmq/wisp/transport/devcert"
)

// TestSilentPeerDropped: a peer that completes the QUIC handshake and
// opens no stream is closed after streamTimeout, with codeNoStream, and
// never handed out; then closing the listener leaves no goroutine behind.
func TestSilentPeerDropped(t *testing.T) {
	before := goleak.IgnoreCurrent()
	defer func(d time.Duration) { streamTimeout = d }(streamTimeout)
	streamTimeout = 200 * time.Millisecond
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	tc, err := devcert.Config("wisp quic test")
	if err != nil {
		t.Fatal(err)
	}
	ep, _ := transport.ParseEndpoint("quic://127.0.0.1:0")
	l, bound, err := quicTransport{}.Listen(ctx, ep, transport.Config{TLS: tc})
	if err != nil {
		t.Fatal(err)
	}
	accepted := make(chan net.Conn, 1)
	go func() {
		if c, err := l.Accept(); err == nil {
			accepted <- c
		}
		close(accepted)
	}()
	ctc := tc.Clone()
	ctc.NextProtos, ctc.ServerName = []string{ALPN}, "127.0.0.1"
	_, port, _ := net.SplitHostPort(bound.Address)
	qc, err := quicgo.DialAddr(ctx, "127.0.0.1:"+port, ctc, nil)
	if err != nil {
		t.Fatalf("QUIC handshake: got %v, want it to complete", err)
	}
	select {
	case <-qc.Context().Done():
	case <-ctx.Done():
		t.Fatal("a peer without a stream is still connected")
	}
	var ae *quicgo.ApplicationError
	if err := context.Cause(qc.Context()); !errors.As(err, &ae) || ae.ErrorCode != codeNoStream || !ae.Remote {
		t.Errorf("the silent peer's end: got %v, want the listener's application error %d", err, codeNoStream)
	}

	// A second silent peer is pending when the listener closes.
	qc2, err := quicgo.DialAddr(ctx, "127.0.0.1:"+port, ctc, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := l.Close(); err != nil {
		t.Errorf("Close: got %v, want nil", err)
	}
	if c, ok := <-accepted; ok {
		c.Close()
		t.Fatal("the listener handed out a connection without a stream")
	}
	<-qc2.Context().Done() // told at Close
	qc.CloseWithError(0, "")
	qc2.CloseWithError(0, "")
	goleak.VerifyNone(t, before)
}

// TestCloseFreesThePort: a connection whose stream is open but that no
// Accept took is ended by Close without lingering, so the endpoint can be
// bound again as soon as Close returns.
func TestCloseFreesThePort(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	tc, err := devcert.Config("wisp quic test")
	if err != nil {
		t.Fatal(err)
	}
	cfg := transport.Config{TLS: tc}
	ep, _ := transport.ParseEndpoint("quic://127.0.0.1:0")
	ln, bound, err := quicTransport{}.Listen(ctx, ep, cfg)
	if err != nil {
		t.Fatal(err)
	}
	c, err := quicTransport{}.Dial(ctx, bound, cfg)
	if err != nil {
		t.Fatalf("Dial: got error %v, want nil", err)
	}
	defer c.Close()
	if _, err := c.Write([]byte("hello")); err != nil { // opens the stream on the listener's side
		t.Fatal(err)
	}
	l := ln.(*listener)
	for held := false; !held; {
		l.mu.Lock()
		held = l.refs == 2 // the connection is admitted, waiting for an Accept
		l.mu.Unlock()
		select {
		case <-ctx.Done():
			t.Fatal("the connection was never admitted")
		case <-time.After(time.Millisecond):
		}
	}
	if err := l.Close(); err != nil {
		t.Fatalf("Close: got %v, want nil", err)
	}
	again, _, err := quicTransport{}.Listen(ctx, bound, cfg)
	if err != nil {
		t.Fatalf("Listen on %s again right after Close: got %v, want nil", bound, err)
	}
	again.Close()
}
