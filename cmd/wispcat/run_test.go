package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"syscall"
	"testing"
	"testing/synctest"
	"time"

	"github.com/wispmq/wisp/socket"
)

// syncBuffer is a bytes.Buffer safe to read while run writes to it.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func runArgs(ctx context.Context, stdin string, args ...string) (status int, stdout, stderr string) {
	var out, errOut syncBuffer
	status = run(ctx, args, strings.NewReader(stdin), &out, &errOut)
	return status, out.String(), errOut.String()
}

func TestUsageErrors(t *testing.T) {
	tests := []struct {
		name string
		args []string
		want string // in stderr
	}{
		{"no type", []string{"-bind", "inproc://x"}, "-type is required"},
		{"unknown type", []string{"-type", "blah", "-bind", "inproc://x"}, `unknown -type "blah"`},
		{"subscribe on pub", []string{"-type", "pub", "-bind", "inproc://x", "-subscribe", "a"}, "-subscribe is for sub and xsub, not pub"},
		{"subscribe on pull", []string{"-type", "pull", "-bind", "inproc://x", "-subscribe", ""}, "-subscribe is for sub and xsub, not pull"},
		{"subscribe on xpub", []string{"-type", "xpub", "-bind", "inproc://x", "-subscribe", "a"}, "-subscribe is for sub and xsub, not xpub"},
		{"wait subs on sub", []string{"-type", "sub", "-bind", "inproc://x", "-wait-subs", "1"}, "-wait-subs is for pub and xpub, not sub"},
		{"wait subs on push", []string{"-type", "push", "-bind", "inproc://x", "-wait-subs", "0"}, "-wait-subs is for pub and xpub, not push"},
		{"negative wait subs", []string{"-type", "pub", "-bind", "inproc://x", "-wait-subs", "-1"}, "-wait-subs -1: want 0 or more"},
		{"wait peers on dealer", []string{"-type", "dealer", "-bind", "inproc://x", "-wait-peers", "1"}, "-wait-peers is for bus, not dealer"},
		{"negative wait peers", []string{"-type", "bus", "-bind", "inproc://x", "-wait-peers", "-2"}, "-wait-peers -2: want -1 or more"},
		{"bus over zmtp", []string{"-type", "bus", "-bind", "tcp://127.0.0.1:0", "-protocol", "zmtp"}, "zmtp has no bus"},
		{"data on sub", []string{"-type", "sub", "-bind", "inproc://x", "-data", "x"}, "-data is for sending types"},
		{"data on xsub", []string{"-type", "xsub", "-bind", "inproc://x", "-data", "x"}, "-data is for sending types"},
		{"data with count on pub", []string{"-type", "pub", "-bind", "inproc://x", "-data", "x", "-count", "2"}, "-data sends its message once"},
		{"routing id on sub", []string{"-type", "sub", "-bind", "inproc://x", "-routing-id", "a"}, "-routing-id is for the types a router talks to"},
		{"long prefix on sub", []string{"-type", "sub", "-bind", "inproc://x", "-subscribe", strings.Repeat("p", 1024)}, "-subscribe: "},
		{"long prefix on xsub", []string{"-type", "xsub", "-bind", "inproc://x", "-subscribe", "a", "-subscribe", strings.Repeat("p", 1024)}, "-subscribe: "},
		{"no endpoint", []string{"-type", "pull"}, "at least one -bind or -connect"},
		{"spool on pull", []string{"-type", "pull", "-bind", "inproc://x", "-spool", "d"}, "-spool is for push, not pull"},
		{"spool on dealer", []string{"-type", "dealer", "-bind", "inproc://x", "-spool", "d"}, "-spool is for push, not dealer"},
		{"empty spool", []string{"-type", "push", "-bind", "inproc://x", "-spool", ""}, "-spool needs a directory"},
		{"spool sync without spool", []string{"-type", "push", "-bind", "inproc://x", "-spool-sync", "none"}, "-spool-sync and -spool-limit go with -spool"},
		{"spool limit without spool", []string{"-type", "push", "-bind", "inproc://x", "-spool-limit", "100000"}, "-spool-sync and -spool-limit go with -spool"},
		{"bad spool sync", []string{"-type", "push", "-bind", "inproc://x", "-spool", "d", "-spool-sync", "often"}, `-spool-sync "often"`},
		{"negative spool limit", []string{"-type", "push", "-bind", "inproc://x", "-spool", "d", "-spool-limit", "-1"}, "-spool-limit -1"},
		{"empty endpoint", []string{"-type", "pull", "-bind", ""}, "empty endpoint"},
		{"negative count", []string{"-type", "pull", "-bind", "inproc://x", "-count", "-1"}, "-count -1"},
		{"negative timeout", []string{"-type", "pull", "-bind", "inproc://x", "-timeout", "-1s"}, "-timeout -1s"},
		{"negative linger", []string{"-type", "push", "-bind", "inproc://x", "-linger", "-1s"}, "-linger -1s"},
		{"negative hwm", []string{"-type", "push", "-bind", "inproc://x", "-hwm", "-1"}, "-hwm -1"},
		{"data on pull", []string{"-type", "pull", "-bind", "inproc://x", "-data", "x"}, "-data is for sending types"},
		{"data with count", []string{"-type", "push", "-bind", "inproc://x", "-data", "x", "-count", "2"}, "-data sends its message once"},
		{"data on router", []string{"-type", "router", "-bind", "inproc://x", "-data", "x"}, "-data is not for router"},
		{"data with count on req", []string{"-type", "req", "-connect", "inproc://x", "-data", "x", "-count", "2"}, "-data sends its message once"},
		{"retry on rep", []string{"-type", "rep", "-bind", "inproc://x", "-retry", "1s"}, "-retry is for req, not rep"},
		{"checksum over zmtp", []string{"-type", "push", "-bind", "tcp://127.0.0.1:0", "-protocol", "zmtp", "-checksum"}, "-checksum is for the wisp protocol"},
		{"retry on push", []string{"-type", "push", "-bind", "inproc://x", "-retry", "-1s"}, "-retry is for req, not push"},
		{"bad retry", []string{"-type", "req", "-bind", "inproc://x", "-retry", "soon"}, `invalid value "soon" for flag -retry`},
		{"reply timeout on dealer", []string{"-type", "dealer", "-bind", "inproc://x", "-reply-timeout", "1s"}, "-reply-timeout is for req, not dealer"},
		{"negative reply timeout", []string{"-type", "req", "-bind", "inproc://x", "-reply-timeout", "-1s"}, "-reply-timeout -1s"},
		{"routing id on pull", []string{"-type", "pull", "-bind", "inproc://x", "-routing-id", "a"}, "-routing-id is for the types a router talks to"},
		{"routing id on rep", []string{"-type", "rep", "-bind", "inproc://x", "-routing-id", "a"}, "-routing-id is for the types a router talks to"},
		{"empty routing id", []string{"-type", "dealer", "-bind", "inproc://x", "-routing-id", ""}, "got 0 bytes, want 1 to 255"},
		{"long routing id", []string{"-type", "req", "-bind", "inproc://x", "-routing-id", strings.Repeat("r", 256)}, "got 256 bytes, want 1 to 255"},
		{"extra argument", []string{"-type", "pull", "-bind", "inproc://x", "stray"}, `unexpected argument "stray"`},
		{"unknown flag", []string{"-type", "pull", "-bind", "inproc://x", "-nope"}, "flag provided but not defined"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, stdout, stderr := runArgs(t.Context(), "", tt.args...)
			if status != exitUsage {
				t.Errorf("got status %d, want %d", status, exitUsage)
			}
			if !strings.Contains(stderr, tt.want) {
				t.Errorf("got stderr %q, want it to contain %q", stderr, tt.want)
			}
			if stdout != "" {
				t.Errorf("got stdout %q, want none", stdout)
			}
		})
	}
}

func TestHelp(t *testing.T) {
	status, _, stderr := runArgs(t.Context(), "", "-h")
	if status != exitOK {
		t.Errorf("got status %d, want %d", status, exitOK)
	}
	for _, want := range []string{"-type", "-bind", "-connect", "-count", "-timeout", "-linger", "-data", "-hwm", "-v",
		"-retry", "-checksum", "-reply-timeout", "-routing-id", "-subscribe", "-wait-subs", "req", "rep", "dealer", "router", "pair",
		"pub", "sub", "xpub", "xsub", "Examples:", "Exit status"} {
		if !strings.Contains(stderr, want) {
			t.Errorf("usage text lacks %q", want)
		}
	}
}

func TestBadEndpoint(t *testing.T) {
	status, _, stderr := runArgs(t.Context(), "", "-type", "pull", "-bind", "nope://x")
	if status != exitFailure {
		t.Errorf("got status %d, want %d", status, exitFailure)
	}
	if !strings.HasPrefix(stderr, "wispcat: bind nope://x: ") {
		t.Errorf("got stderr %q, want a bind error", stderr)
	}
}

func TestReadLine(t *testing.T) {
	const limit = 40
	long := strings.Repeat("x", limit)
	tests := []struct {
		in   string
		want []string
		err  error
	}{
		{"", nil, nil},
		{"a\nb\r\nc", []string{"a", "b", "c"}, nil},
		{"a\n", []string{"a"}, nil},
		{"\n\r\n", []string{"", ""}, nil},
		{"a\rb\n", []string{"a\rb"}, nil},
		{long + "\r\n" + long, []string{long, long}, nil},
		{long + "x\n", nil, errLineTooLong},
		{long + long + long + "\n", nil, errLineTooLong},
	}
	for _, tt := range tests {
		// A reader smaller than a line exercises lines longer than its buffer.
		br := bufio.NewReaderSize(strings.NewReader(tt.in), 16)
		var got []string
		var err error
		for range 10 {
			var line []byte
			line, err = readLine(br, limit)
			if err != nil {
				break
			}
			got = append(got, string(line))
		}
		if tt.err == nil && err != io.EOF || tt.err != nil && !errors.Is(err, tt.err) {
			t.Errorf("%q: got error %v, want %v", tt.in, err, tt.err)
		}
		if fmt.Sprintf("%q", got) != fmt.Sprintf("%q", tt.want) {
			t.Errorf("%q: got lines %q, want %q", tt.in, got, tt.want)
		}
	}
}

// TestPushPullInProcess runs both types in this process over inproc.
func TestPushPullInProcess(t *testing.T) {
	ep := "inproc://" + t.Name()
	type result struct {
		status         int
		stdout, stderr string
	}
	pulled := make(chan result, 1)
	go func() {
		var r result
		r.status, r.stdout, r.stderr = runArgs(t.Context(), "", "-type", "pull", "-bind", ep, "-count", "4")
		pulled <- r
	}()
	status, _, stderr := runArgs(t.Context(), "one\ntwo\r\n\nfour words", "-type", "push", "-connect", ep, "-hwm", "2")
	if status != exitOK {
		t.Errorf("push: got status %d (stderr %q), want 0", status, stderr)
	}
	r := <-pulled
	if r.status != exitOK {
		t.Errorf("pull: got status %d (stderr %q), want 0", r.status, r.stderr)
	}
	if want := "one\ntwo\n\nfour words\n"; r.stdout != want {
		t.Errorf("pull: got output %q, want %q", r.stdout, want)
	}
}

func TestPushCountAndData(t *testing.T) {
	for _, tt := range []struct {
		name  string
		stdin string
		args  []string
		want  []string
	}{
		{"count", "a\nb\nc\nd\n", []string{"-count", "2"}, []string{"a", "b"}},
		{"data", "not read\n", []string{"-data", "hello world"}, []string{"hello world"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			ep := "inproc://" + t.Name()
			pull, err := socket.New(socket.Pull)
			if err != nil {
				t.Fatal(err)
			}
			defer pull.Close()
			if _, err := pull.Bind(ep); err != nil {
				t.Fatal(err)
			}
			got := make(chan string, 10)
			go func() {
				defer close(got)
				for {
					m, err := pull.Recv(t.Context())
					if err != nil {
						return
					}
					got <- string(m.Bytes())
				}
			}()
			status, _, stderr := runArgs(t.Context(), tt.stdin, append([]string{"-type", "push", "-connect", ep}, tt.args...)...)
			if status != exitOK {
				t.Fatalf("got status %d (stderr %q), want 0", status, stderr)
			}
			// Every message was acknowledged, so every one was taken.
			for i, want := range tt.want {
				if g := <-got; g != want {
					t.Errorf("message %d: got %q, want %q", i, g, want)
				}
			}
			pull.Close()
			for g := range got {
				t.Errorf("got extra message %q, want none", g)
			}
		})
	}
}

func TestPullMultiFrame(t *testing.T) {
	ep := "inproc://" + t.Name()
	push, err := socket.New(socket.Push)
	if err != nil {
		t.Fatal(err)
	}
	defer push.Close()
	if err := push.Connect(ep); err != nil {
		t.Fatal(err)
	}
	if err := push.Send(t.Context(), []byte("a"), []byte("b c"), []byte("")); err != nil {
		t.Fatal(err)
	}
	status, stdout, stderr := runArgs(t.Context(), "", "-type", "pull", "-bind", ep, "-count", "1")
	if status != exitOK {
		t.Fatalf("got status %d (stderr %q), want 0", status, stderr)
	}
	if want := "a b c \n"; stdout != want {
		t.Errorf("got %q, want %q", stdout, want)
	}
}

// TestPullSignal stops a pull the way main does on SIGINT: what it received
// is written out and it exits with 130.
func TestPullSignal(t *testing.T) {
	ep := "inproc://" + t.Name()
	push, err := socket.New(socket.Push)
	if err != nil {
		t.Fatal(err)
	}
	defer push.Close()
	if err := push.Connect(ep); err != nil {
		t.Fatal(err)
	}
	for _, m := range []string{"x", "y"} {
		if err := push.Send(t.Context(), []byte(m)); err != nil {
			t.Fatal(err)
		}
	}
	ctx, cancel := context.WithCancelCause(t.Context())
	pr, pw := io.Pipe()
	done := make(chan int, 1)
	var errOut syncBuffer
	go func() {
		done <- run(ctx, []string{"-type", "pull", "-bind", ep}, strings.NewReader(""), pw, &errOut)
		pw.Close()
	}()
	br := bufio.NewReader(pr)
	var got []string
	for range 2 {
		line, err := br.ReadString('\n')
		if err != nil {
			t.Fatalf("reading output: %v", err)
		}
		got = append(got, line)
	}
	cancel(SignalError{Signal: syscall.SIGINT})
	if rest, _ := io.ReadAll(br); len(rest) > 0 {
		t.Errorf("got extra output %q, want none", rest)
	}
	if status := <-done; status != 130 {
		t.Errorf("got status %d (stderr %q), want 130", status, errOut.String())
	}
	if want := []string{"x\n", "y\n"}; fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("got %q, want %q", got, want)
	}
	if err := push.Flush(t.Context()); err != nil {
		t.Errorf("push flush: got %v, want nil (both messages taken)", err)
	}
}

func TestTimeouts(t *testing.T) {
	tests := []struct {
		name       string
		args       []string
		stdin      string
		wantStatus int
		wantErr    string
	}{
		{"pull timeout", []string{"-type", "pull", "-bind", "inproc://tp", "-count", "5", "-timeout", "2s"}, "",
			exitFailure, "wispcat: timeout after 2s: received 0 of 5 messages\n"},
		{"push timeout", []string{"-type", "push", "-connect", "inproc://nobody", "-timeout", "2s"}, "a\nb\n",
			exitFailure, "wispcat: timeout after 2s: sent 2 messages, 2 unacknowledged\n"},
		{"push linger", []string{"-type", "push", "-connect", "inproc://nobody", "-linger", "200ms"}, "a\nb\nc\n",
			exitFailure, "wispcat: 3 messages undelivered\n"},
		{"push linger zero", []string{"-type", "push", "-connect", "inproc://nobody", "-linger", "0", "-data", "x"}, "",
			exitFailure, "wispcat: 1 messages undelivered\n"},
		{"req timeout", []string{"-type", "req", "-connect", "inproc://nobody", "-count", "3", "-timeout", "2s"}, "a\nb\nc\n",
			exitFailure, "wispcat: timeout after 2s: received 0 of 3 replies\n"},
		{"req reply timeout", []string{"-type", "req", "-connect", "inproc://nobody", "-reply-timeout", "2s", "-timeout", "1h"}, "a\nb\n",
			exitFailure, "wispcat: no reply within 2s to request 1 (0 replies received)\n"},
		{"req without retries", []string{"-type", "req", "-connect", "inproc://nobody", "-retry", "-1ns", "-reply-timeout", "2s", "-data", "x"}, "",
			exitFailure, "wispcat: no reply within 2s to request 1 (0 replies received)\n"},
		{"rep timeout", []string{"-type", "rep", "-bind", "inproc://trep", "-count", "2", "-timeout", "2s"}, "",
			exitFailure, "wispcat: timeout after 2s: answered 0 of 2 requests, 0 replies unacknowledged\n"},
		{"dealer timeout", []string{"-type", "dealer", "-connect", "inproc://nobody", "-count", "1", "-timeout", "2s"}, "a\nb\n",
			exitFailure, "wispcat: timeout after 2s: sent 2 messages, 2 unacknowledged; received 0 of 1 messages\n"},
		{"pair linger", []string{"-type", "pair", "-connect", "inproc://nobody", "-linger", "200ms"}, "a\n",
			exitFailure, "wispcat: 1 messages undelivered\n"},
		{"pub waiting for subscribers", []string{"-type", "pub", "-bind", "inproc://tpub", "-wait-subs", "2", "-timeout", "2s"}, "a\n",
			exitFailure, "wispcat: timeout after 2s: 0 of 2 subscribers, sent 0 messages\n"},
		{"xpub waiting for subscribers", []string{"-type", "xpub", "-bind", "inproc://txpub", "-wait-subs", "1", "-timeout", "2s"}, "a\n",
			exitFailure, "wispcat: timeout after 2s: 0 of 1 subscribers, sent 0 messages\n"},
		{"xpub timeout", []string{"-type", "xpub", "-bind", "inproc://txpub", "-count", "1", "-timeout", "2s"}, "a\nb\n",
			exitFailure, "wispcat: timeout after 2s: sent 2 messages, 0 dropped; received 0 of 1 messages\n"},
		{"sub timeout", []string{"-type", "sub", "-connect", "inproc://nobody", "-subscribe", "a", "-count", "3", "-timeout", "2s"}, "",
			exitFailure, "wispcat: timeout after 2s: received 0 of 3 messages\n"},
		{"xsub timeout", []string{"-type", "xsub", "-connect", "inproc://nobody", "-count", "3", "-timeout", "2s"}, "",
			exitFailure, "wispcat: timeout after 2s: received 0 of 3 messages\n"},
		{"pub to nobody", []string{"-type", "pub", "-bind", "inproc://tpub"}, "a\nb\n", exitOK, ""},
		{"router bad lines", []string{"-type", "router", "-bind", "inproc://trouter"}, "0g\tx\nnotab\n\t\nab\tnobody\n",
			exitOK, "wispcat: stdin line 1: want \"HEXID<TAB>text\": routing id \"0g\": encoding/hex: invalid byte: U+0067 'g'\n" +
				"wispcat: stdin line 2: want \"HEXID<TAB>text\"\n" +
				"wispcat: stdin line 3: want \"HEXID<TAB>text\"\n" +
				"wispcat: stdin line 4: wisp: no peer with this routing id: ab\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				start := time.Now()
				status, _, stderr := runArgs(t.Context(), tt.stdin, tt.args...)
				if status != tt.wantStatus {
					t.Errorf("got status %d, want %d", status, tt.wantStatus)
				}
				if stderr != tt.wantErr {
					t.Errorf("got stderr %q, want %q", stderr, tt.wantErr)
				}
				t.Logf("ended after %v", time.Since(start))
			})
		})
	}
}

func TestPushSignalReportsUndelivered(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx, cancel := context.WithCancelCause(t.Context())
		pr, pw := io.Pipe()
		done := make(chan int, 1)
		var errOut syncBuffer
		go func() {
			done <- run(ctx, []string{"-type", "push", "-connect", "inproc://nobody", "-linger", "1s"}, pr, io.Discard, &errOut)
		}()
		io.WriteString(pw, "a\nb\n")
		synctest.Wait() // both lines sent, the next read blocks
		cancel(SignalError{Signal: syscall.SIGTERM})
		if status := <-done; status != 143 {
			t.Errorf("got status %d, want 143", status)
		}
		if want := "wispcat: 2 messages undelivered\n"; errOut.String() != want {
			t.Errorf("got stderr %q, want %q", errOut.String(), want)
		}
		pw.Close() // ends the stdin reader
	})
}

func TestVerboseEvents(t *testing.T) {
	status, _, stderr := runArgs(t.Context(), "", "-type", "push", "-bind", "inproc://"+t.Name(), "-linger", "0", "-v")
	if status != exitOK {
		t.Errorf("got status %d, want 0", status)
	}
	if !strings.Contains(stderr, "wispcat: event: listening") || !strings.Contains(stderr, "wispcat: event: closed") {
		t.Errorf("got stderr %q, want listening and closed events", stderr)
	}
}

// TestReqRepInProcess runs a rep and a req in this process over inproc,
// with an empty line and a multi-word one.
func TestReqRepInProcess(t *testing.T) {
	ep := "inproc://" + t.Name()
	type result struct {
		status         int
		stdout, stderr string
	}
	served := make(chan result, 1)
	go func() {
		var r result
		r.status, r.stdout, r.stderr = runArgs(t.Context(), "", "-type", "rep", "-bind", ep, "-count", "3")
		served <- r
	}()
	status, stdout, stderr := runArgs(t.Context(), "one\n\nthree words\n", "-type", "req", "-connect", ep, "-routing-id", "me")
	if status != exitOK {
		t.Errorf("req: got status %d (stderr %q), want 0", status, stderr)
	}
	want := "one\n\nthree words\n"
	if stdout != want {
		t.Errorf("req: got output %q, want %q", stdout, want)
	}
	r := <-served
	if r.status != exitOK || r.stdout != want {
		t.Errorf("rep: got status %d, output %q (stderr %q), want 0, %q", r.status, r.stdout, r.stderr, want)
	}
}

// TestRouterMultiFrame prints what a ROUTER receives from a REQ: the
// routing id in hex, a tab, then the frames joined by spaces as pull joins
// them, envelope included.
func TestRouterMultiFrame(t *testing.T) {
	ep := "inproc://" + t.Name()
	req, err := socket.New(socket.Req, socket.WithRoutingID([]byte("q")))
	if err != nil {
		t.Fatal(err)
	}
	defer req.Close()
	if err := req.Connect(ep); err != nil {
		t.Fatal(err)
	}
	if err := req.Send(t.Context(), []byte("a"), []byte("b c")); err != nil {
		t.Fatal(err)
	}
	status, stdout, stderr := runArgs(t.Context(), "", "-type", "router", "-bind", ep, "-count", "1")
	if status != exitOK {
		t.Fatalf("got status %d (stderr %q), want 0", status, stderr)
	}
	id, rest, ok := strings.Cut(stdout, "\t")
	if !ok || id != "71" {
		t.Fatalf("got %q, want the routing id 71 and a tab first", stdout)
	}
	// The REQ envelope: a 4-byte request id and the empty delimiter.
	if len(rest) < 4 || !strings.HasSuffix(rest, "  a b c\n") || len(rest) != 4+len("  a b c\n") {
		t.Errorf("got %q after the tab, want a 4-byte request id, an empty frame, then %q", rest, "a b c")
	}
}

func TestParseRouted(t *testing.T) {
	tests := []struct {
		line string
		want []string // nil: an error
	}{
		{"6431\thello", []string{"d1", "hello"}},
		{"6431\t", []string{"d1", ""}},
		{"6431\ta\tb", []string{"d1", "a\tb"}},
		{"FF\tx", []string{"\xff", "x"}},
		{"\tx", nil},
		{"6431", nil},
		{"643\tx", nil},
		{"zz\tx", nil},
	}
	for _, tt := range tests {
		got, err := parseRouted([]byte(tt.line))
		if tt.want == nil {
			if !errors.Is(err, errRoutedLine) {
				t.Errorf("%q: got %q, %v, want an error wrapping errRoutedLine", tt.line, got, err)
			}
			continue
		}
		if err != nil || fmt.Sprintf("%q", got) != fmt.Sprintf("%q", tt.want) {
			t.Errorf("%q: got %q, %v, want %q", tt.line, got, err, tt.want)
		}
	}
}

// TestRepSignal stops a rep the way main does on SIGINT after it answered
// a request: it exits with 130, its reply delivered.
func TestRepSignal(t *testing.T) {
	ep := "inproc://" + t.Name()
	req, err := socket.New(socket.Req)
	if err != nil {
		t.Fatal(err)
	}
	defer req.Close()
	if err := req.Connect(ep); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancelCause(t.Context())
	done := make(chan int, 1)
	var out, errOut syncBuffer
	go func() {
		done <- run(ctx, []string{"-type", "rep", "-bind", ep, "-data", "pong"}, strings.NewReader(""), &out, &errOut)
	}()
	if err := req.Send(t.Context(), []byte("ping")); err != nil {
		t.Fatal(err)
	}
	m, err := req.Recv(t.Context())
	if err != nil || string(m.Bytes()) != "pong" {
		t.Fatalf("got reply %q, %v, want %q", m, err, "pong")
	}
	cancel(SignalError{Signal: syscall.SIGINT})
	if status := <-done; status != 130 {
		t.Errorf("got status %d (stderr %q), want 130", status, errOut.String())
	}
	if out.String() != "ping\n" {
		t.Errorf("got output %q, want %q", out.String(), "ping\n")
	}
	if errOut.String() != "" {
		t.Errorf("got stderr %q, want none", errOut.String())
	}
}
