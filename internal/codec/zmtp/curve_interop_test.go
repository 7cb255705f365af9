package zmtp

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/wispmq/wisp/internal/engine"
	"github.com/wispmq/wisp/internal/pyzmqtest"
	"github.com/wispmq/wisp/wire/z85"
)

// These tests talk CURVE to libzmq through pyzmq, over 127.0.0.1 only.

// curvePython is the interpreter with pyzmq (pyzmqtest.Python); the first python3 on PATH may
// be another one.
const curvePython = pyzmqtest.Python

// curvePyScript is a pyzmq peer:
//
//	server SECRET PUBLIC ALLOWED: a CURVE REP server bound to an ephemeral
//	  port of 127.0.0.1 that prints its endpoint and echoes requests; with
//	  ALLOWED (a Z85 key, else "-") a ZAP handler lets only that client in.
//	client ENDPOINT SERVERKEY ROUNDS: a CURVE REQ client that prints its
//	  public key, makes ROUNDS requests checking each echo, prints "ok".
//	refused ENDPOINT SERVERKEY: a CURVE REQ client that prints its public
//	  key, then the status of the handshake failure it sees.
const curvePyScript = `
import sys
import zmq
from zmq.utils import z85
from zmq.utils.monitor import recv_monitor_message

TIMEOUT_MS = 10000


def server(ctx, secret, public, allowed):
    zap = None
    if allowed != "-":
        # libzmq asks the handler bound here about every CURVE client.
        zap = ctx.socket(zmq.REP)
        zap.bind("inproc://zeromq.zap.01")
    s = ctx.socket(zmq.REP)
    s.curve_server = True
    s.curve_secretkey = secret.encode()
    s.curve_publickey = public.encode()
    s.bind("tcp://127.0.0.1:*")
    print(s.getsockopt_string(zmq.LAST_ENDPOINT), flush=True)
    poller = zmq.Poller()
    poller.register(s, zmq.POLLIN)
    if zap is not None:
        poller.register(zap, zmq.POLLIN)
    while True:
        events = dict(poller.poll(30000))
        if not events:
            return  # the test is gone
        if zap is not None and zap in events:
            req = zap.recv_multipart()
            request_id, mechanism, key = req[1], req[5], req[6]
            ok = mechanism == b"CURVE" and z85.encode(key).decode() == allowed
            if ok:
                zap.send_multipart([b"1.0", request_id, b"200", b"OK", b"py-user", b""])
            else:
                zap.send_multipart([b"1.0", request_id, b"400", b"not allowed", b"", b""])
        if s in events:
            s.send_multipart(s.recv_multipart())


def client_socket(ctx, server_key):
    s = ctx.socket(zmq.REQ)
    public, secret = zmq.curve_keypair()
    s.curve_serverkey = server_key.encode()
    s.curve_publickey = public
    s.curve_secretkey = secret
    s.rcvtimeo = TIMEOUT_MS
    s.sndtimeo = TIMEOUT_MS
    print(public.decode(), flush=True)
    return s


def client(ctx, endpoint, server_key, rounds):
    s = client_socket(ctx, server_key)
    s.connect(endpoint)
    for i in range(int(rounds)):
        body = b"request %d " % i + bytes(range(256)) * (i % 4)
        s.send(body)
        got = s.recv()
        if got != body:
            print("echo %d: got %r" % (i, got[:40]), flush=True)
            sys.exit(1)
    print("ok", flush=True)


def refused(ctx, endpoint, server_key):
    s = client_socket(ctx, server_key)
    mon = s.get_monitor_socket(zmq.EVENT_HANDSHAKE_FAILED_AUTH | zmq.EVENT_HANDSHAKE_SUCCEEDED
                               | zmq.EVENT_HANDSHAKE_FAILED_PROTOCOL | zmq.EVENT_HANDSHAKE_FAILED_NO_DETAIL)
    s.connect(endpoint)
    if not mon.poll(TIMEOUT_MS):
        print("no handshake event", flush=True)
        sys.exit(1)
    ev = recv_monitor_message(mon)
    if ev["event"] == zmq.EVENT_HANDSHAKE_FAILED_AUTH:
        print("auth failed %d" % ev["value"], flush=True)
    else:
        print("event %d value %d" % (ev["event"], ev["value"]), flush=True)
    s.disable_monitor()
    mon.close()


def main():
    ctx = zmq.Context()
    try:
        {"server": server, "client": client, "refused": refused}[sys.argv[1]](ctx, *sys.argv[2:])
    finally:
        ctx.destroy(linger=0)


main()
`

// curvePy is a running pyzmq peer.
type curvePy struct {
	cmd    *exec.Cmd
	lines  chan string // its stdout, line by line; closed at EOF
	done   chan struct{}
	err    error // cmd.Wait's, once done is closed
	stderr pyzmqtest.Buffer
}

// curveStartPy runs curvePyScript with args, or skips the test when pyzmq
// is missing or lacks CURVE.
func curveStartPy(t *testing.T, args ...string) *curvePy {
	t.Helper()
	pyzmqtest.Need(t)
	script := filepath.Join(t.TempDir(), "curve_peer.py")
	if err := os.WriteFile(script, []byte(curvePyScript), 0o600); err != nil {
		t.Fatal(err)
	}
	p := &curvePy{lines: make(chan string, 16), done: make(chan struct{})}
	p.cmd = exec.Command(curvePython, append([]string{script}, args...)...)
	p.cmd.Stderr = &p.stderr
	out, err := p.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			p.lines <- sc.Text()
		}
		close(p.lines)
		// Wait only once stdout is drained, as exec asks.
		p.err = p.cmd.Wait()
		close(p.done)
	}()
	return p
}

// line returns the peer's next line of output.
func (p *curvePy) line(t *testing.T) string {
	t.Helper()
	select {
	case l, ok := <-p.lines:
		if !ok {
			p.stop()
			t.Fatalf("the python peer ended: %v\n%s", p.err, p.stderr.String())
		}
		return l
	case <-time.After(curveTestTimeout):
		p.stop()
		t.Fatalf("no output from the python peer in %v\n%s", curveTestTimeout, p.stderr.String())
		return ""
	}
}

// exit waits for the peer to end by itself and returns how it did.
func (p *curvePy) exit(t *testing.T) error {
	t.Helper()
	select {
	case <-p.done:
		return p.err
	case <-time.After(curveTestTimeout):
		p.stop()
		return fmt.Errorf("the python peer did not end in %v", curveTestTimeout)
	}
}

// stop kills the peer, if it still runs, and waits for it.
func (p *curvePy) stop() {
	p.cmd.Process.Kill()
	for range p.lines { // unblock the reader, should lines be pending
	}
	<-p.done
}

func curveZ85(t *testing.T, b []byte) string {
	t.Helper()
	s, err := z85.Encode(b)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// curveDialPy starts a pyzmq CURVE server and dials it.
func curveDialPy(t *testing.T, serverKeys curveTestKeyPair, allowed string) (*curvePy, net.Conn) {
	t.Helper()
	p := curveStartPy(t, "server", curveZ85(t, serverKeys.sec[:]), serverKeys.z85(t), allowed)
	endpoint := p.line(t)
	addr, ok := strings.CutPrefix(endpoint, "tcp://")
	if !ok || !strings.HasPrefix(addr, "127.0.0.1:") {
		p.stop()
		t.Fatalf("python server bound %q, want tcp://127.0.0.1:port", endpoint)
	}
	nc, err := net.DialTimeout("tcp", addr, curveTestTimeout)
	if err != nil {
		p.stop()
		t.Fatal(err)
	}
	nc.SetDeadline(time.Now().Add(3 * curveTestTimeout))
	return p, nc
}

// A libzmq CURVE server's greeting says as-server 0, whatever its role
// (zmtp_engine.cpp zeroes the bytes after the mechanism name); a Go
// client takes it.
func TestCurveInteropLibzmqGreeting(t *testing.T) {
	defer goleak.VerifyNone(t)
	serverKeys, clientKeys := curveTestKeys(t), curveTestKeys(t)
	p, nc := curveDialPy(t, serverKeys, "-")
	defer p.stop()
	defer nc.Close()
	if _, err := curveTestClient(clientKeys, serverKeys.pub).Handshake(nc, &engine.PeerInfo{Type: engine.Req}); err != nil {
		t.Fatalf("handshake with libzmq: %v\n%s", err, p.stderr.String())
	}
}

// A Go REQ client talks to a libzmq REP server.
func TestCurveInteropGoClient(t *testing.T) {
	defer goleak.VerifyNone(t)
	serverKeys, clientKeys := curveTestKeys(t), curveTestKeys(t)
	p, nc := curveDialPy(t, serverKeys, clientKeys.z85(t))
	defer p.stop()
	defer nc.Close()

	hs, err := curveTestClient(clientKeys, serverKeys.pub).Handshake(nc, &engine.PeerInfo{Type: engine.Req})
	if err != nil {
		t.Fatalf("handshake with libzmq: %v\n%s", err, p.stderr.String())
	}
	if hs.Peer.Type != engine.Rep {
		t.Fatalf("peer type %v, want REP", hs.Peer.Type)
	}
	r := newCurveTestReader(nc, hs)
	var out []byte
	for i := range 100 {
		// Some requests need a long frame header once sealed.
		body := bytes.Repeat([]byte(fmt.Sprintf("request %d;", i)), 1+i%4*40)
		out = hs.Codec.AppendFrame(out[:0], true, nil) // REQ's envelope delimiter
		out = hs.Codec.AppendFrame(out, false, body)
		if _, err := nc.Write(out); err != nil {
			t.Fatalf("request %d: %v", i, err)
		}
		for j, want := range [][]byte{{}, body} {
			it, err := r.item()
			if err != nil || it.IsCommand || !bytes.Equal(it.Frame, want) || it.More != (j == 0) {
				t.Fatalf("reply %d frame %d: %+v, %v; want %d bytes, more %v", i, j, it, err, len(want), j == 0)
			}
		}
	}
}

// A Go client with the wrong server key, and one that libzmq's ZAP
// handler refuses, both fail with ErrAuth.
func TestCurveInteropGoClientRefused(t *testing.T) {
	defer goleak.VerifyNone(t)
	serverKeys, clientKeys, other := curveTestKeys(t), curveTestKeys(t), curveTestKeys(t)

	t.Run("wrong-server-key", func(t *testing.T) {
		p, nc := curveDialPy(t, serverKeys, "-")
		defer p.stop()
		defer nc.Close()
		_, err := curveTestClient(clientKeys, other.pub).Handshake(nc, &engine.PeerInfo{Type: engine.Req})
		if !errors.Is(err, engine.ErrAuth) || !strings.Contains(err.Error(), "public key") {
			t.Errorf("handshake: %v, want ErrAuth about the server's key", err)
		}
	})
	t.Run("zap-denied", func(t *testing.T) {
		p, nc := curveDialPy(t, serverKeys, other.z85(t))
		defer p.stop()
		defer nc.Close()
		_, err := curveTestClient(clientKeys, serverKeys.pub).Handshake(nc, &engine.PeerInfo{Type: engine.Req})
		if !errors.Is(err, engine.ErrAuth) || !strings.Contains(err.Error(), "400") {
			t.Errorf("handshake: %v, want ErrAuth with status 400", err)
		}
	})
}

// curveServePy accepts one connection from a pyzmq REQ client on ln and
// runs a Go CURVE server's handshake on it.
func curveServePy(t *testing.T, ln net.Listener, proto *Protocol) (engine.Handshake, net.Conn, error) {
	t.Helper()
	ln.(*net.TCPListener).SetDeadline(time.Now().Add(curveTestTimeout))
	nc, err := ln.Accept()
	if err != nil {
		return engine.Handshake{}, nil, err
	}
	nc.SetDeadline(time.Now().Add(3 * curveTestTimeout))
	hs, err := proto.Handshake(nc, &engine.PeerInfo{Type: engine.Rep})
	return hs, nc, err
}

// A libzmq REQ client talks to a Go REP server.
func TestCurveInteropGoServer(t *testing.T) {
	defer goleak.VerifyNone(t)
	serverKeys := curveTestKeys(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	var mu sync.Mutex
	var asked []string
	auth := func(ctx context.Context, r AuthRequest) (string, error) {
		mu.Lock()
		defer mu.Unlock()
		asked = append(asked, r.PublicKey)
		return "", nil
	}

	p := curveStartPy(t, "client", "tcp://"+ln.Addr().String(), serverKeys.z85(t), "100")
	defer p.stop()
	clientKey := p.line(t)
	hs, nc, err := curveServePy(t, ln, curveTestServer(serverKeys, auth))
	if err != nil {
		t.Fatalf("handshake with libzmq: %v\n%s", err, p.stderr.String())
	}
	defer nc.Close()
	if hs.Peer.Type != engine.Req || hs.Peer.UserID != clientKey {
		t.Errorf("peer %v with UserID %q, want REQ %q", hs.Peer.Type, hs.Peer.UserID, clientKey)
	}
	mu.Lock()
	if len(asked) != 1 || asked[0] != clientKey {
		t.Errorf("Authenticator asked about %q, want %q", asked, clientKey)
	}
	mu.Unlock()

	r := newCurveTestReader(nc, hs)
	var out []byte
	for i := range 100 {
		frames, more, err := r.data(2)
		if err != nil || len(frames) != 2 || len(frames[0]) != 0 || !more[0] || more[1] || !bytes.HasPrefix(frames[1], fmt.Appendf(nil, "request %d ", i)) {
			t.Fatalf("request %d: %q, more %v, %v\n%s", i, frames, more, err, p.stderr.String())
		}
		out = hs.Codec.AppendFrame(out[:0], true, nil)
		out = hs.Codec.AppendFrame(out, false, frames[1])
		if _, err := nc.Write(out); err != nil {
			t.Fatalf("reply %d: %v", i, err)
		}
	}
	if l := p.line(t); l != "ok" {
		t.Errorf("python client says %q", l)
	}
	if err := p.exit(t); err != nil {
		t.Errorf("python client: %v\n%s", err, p.stderr.String())
	}
	// The client hung up after its last request.
	if _, err := r.item(); !errors.Is(err, io.EOF) {
		t.Errorf("after the last request: %v, want EOF", err)
	}
}

// A libzmq client refused by a Go server's Authenticator reports an
// authentication failure with ZAP's status 400.
func TestCurveInteropGoServerRefuses(t *testing.T) {
	defer goleak.VerifyNone(t)
	serverKeys := curveTestKeys(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	auth := func(ctx context.Context, r AuthRequest) (string, error) { return "", errors.New("not on the list") }

	p := curveStartPy(t, "refused", "tcp://"+ln.Addr().String(), serverKeys.z85(t))
	defer p.stop()
	p.line(t) // its key
	_, nc, err := curveServePy(t, ln, curveTestServer(serverKeys, auth))
	if nc != nil {
		defer nc.Close()
	}
	if !errors.Is(err, engine.ErrAuth) {
		t.Errorf("Go server: %v, want ErrAuth", err)
	}
	if nc != nil {
		nc.Close() // libzmq reads the ERROR, then sees us hang up
	}
	if l := p.line(t); l != "auth failed 400" {
		t.Errorf("python client saw %q, want auth failed 400\n%s", l, p.stderr.String())
	}
}
