package main

import (
	"bufio"
	"bytes"
	"context"
	"io"
	"strings"
	"syscall"
	"testing"
	"testing/synctest"

	"github.com/wispmq/wisp/socket"
)

// TestPubSubInProcess runs a pub, a sub with a prefix and an xsub without
// one in this process over inproc: each gets what its prefixes match, and
// -v reports the copies written. The pub's input ends only once the
// subscribers have everything: a pub that exits at once may lose what it
// queued last (see TestSocketPubFlushReturnsBeforeTheWrite).
func TestPubSubInProcess(t *testing.T) {
	ep := "inproc://" + t.Name()
	type result struct {
		status         int
		stdout, stderr string
	}
	subs := []struct {
		args []string
		want string
	}{
		{[]string{"-type", "sub", "-subscribe", "a", "-count", "2"}, "a1\na2\n"},
		{[]string{"-type", "xsub", "-count", "4"}, "a1\nb1\na2\n\n"},
	}
	results := make([]chan result, len(subs))
	for i, sub := range subs {
		results[i] = make(chan result, 1)
		go func() {
			var r result
			r.status, r.stdout, r.stderr = runArgs(t.Context(), "", append(sub.args, "-connect", ep)...)
			results[i] <- r
		}()
	}
	pr, pw := io.Pipe()
	published := make(chan result, 1)
	go func() {
		var out, errOut syncBuffer
		status := run(t.Context(), []string{"-type", "pub", "-bind", ep, "-wait-subs", "2", "-v"}, pr, &out, &errOut)
		published <- result{status, out.String(), errOut.String()}
	}()
	go io.WriteString(pw, "a1\nb1\na2\n\n") // read once both have subscribed
	for i, sub := range subs {
		r := <-results[i]
		if r.status != exitOK || r.stdout != sub.want {
			t.Errorf("%q: got status %d, output %q (stderr %q), want 0, %q", sub.args, r.status, r.stdout, r.stderr, sub.want)
		}
	}
	pw.Close()
	r := <-published
	if r.status != exitOK {
		t.Errorf("pub: got status %d (stderr %q), want 0", r.status, r.stderr)
	}
	if want := "wispcat: sent 4 messages; 6 written to subscribers, 0 dropped\n"; !strings.HasSuffix(r.stderr, want) {
		t.Errorf("pub: got stderr %q, want it to end with %q", r.stderr, want)
	}
}

// TestXPubInProcess has an xpub print the subscriptions of a SUB and
// publish to it.
func TestXPubInProcess(t *testing.T) {
	ep := "inproc://" + t.Name()
	sub, err := socket.New(socket.Sub)
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close()
	if err := sub.Subscribe([]byte("x")); err != nil {
		t.Fatal(err)
	}
	if err := sub.Connect(ep); err != nil {
		t.Fatal(err)
	}
	pr, pw := io.Pipe()
	done := make(chan int, 1)
	var out, errOut syncBuffer
	go func() {
		done <- run(t.Context(), []string{"-type", "xpub", "-bind", ep, "-wait-subs", "1", "-count", "1"}, pr, &out, &errOut)
	}()
	go io.WriteString(pw, "x1\ny1\nx2\n")
	for _, want := range []string{"x1", "x2"} {
		m, err := sub.Recv(t.Context())
		if err != nil || string(m.Bytes()) != want {
			t.Errorf("sub: got %q, %v, want %q", m, err, want)
		}
	}
	pw.Close()
	if status := <-done; status != exitOK {
		t.Fatalf("got status %d (stderr %q), want 0", status, errOut.String())
	}
	if want := "subscribe x\n"; out.String() != want {
		t.Errorf("got output %q, want %q", out.String(), want)
	}
}

// TestPubSignalWhileWaiting stops a pub waiting for subscribers the way
// main does on SIGINT.
func TestPubSignalWhileWaiting(t *testing.T) {
	for _, typ := range []string{"pub", "xpub"} {
		t.Run(typ, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				ctx, cancel := context.WithCancelCause(t.Context())
				done := make(chan int, 1)
				var out, errOut syncBuffer
				go func() {
					done <- run(ctx, []string{"-type", typ, "-bind", "inproc://" + t.Name(), "-wait-subs", "1"}, strings.NewReader("a\n"), &out, &errOut)
				}()
				synctest.Wait() // waiting for a subscriber
				cancel(SignalError{Signal: syscall.SIGINT})
				if status := <-done; status != 130 {
					t.Errorf("got status %d, want 130", status)
				}
				if out.String() != "" || errOut.String() != "" {
					t.Errorf("got output %q and stderr %q, want none", out.String(), errOut.String())
				}
			})
		})
	}
}

func TestWriteSubscription(t *testing.T) {
	tests := []struct {
		m    socket.Message
		want string
	}{
		{socket.Message{{socket.SubscriptionAdd, 'a', 'b'}}, "subscribe ab\n"},
		{socket.Message{{socket.SubscriptionCancel, 'a', ' ', 'b'}}, "cancel a b\n"},
		{socket.Message{{socket.SubscriptionAdd}}, "subscribe \n"},
		{socket.Message{{socket.SubscriptionCancel}}, "cancel \n"},
		// Not subscription messages: written as pull writes them.
		{socket.Message{{7, 'x'}}, "\x07x\n"},
		{socket.Message{{}}, "\n"},
		{socket.Message{{1, 'a'}, {'b'}}, "\x01a b\n"},
	}
	for _, tt := range tests {
		var b bytes.Buffer
		w := bufio.NewWriter(&b)
		formatRaw.subscription(w, tt.m)
		w.Flush()
		if b.String() != tt.want {
			t.Errorf("%q: got %q, want %q", tt.m, b.String(), tt.want)
		}
	}
}
