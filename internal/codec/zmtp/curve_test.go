package zmtp

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"
	naclbox "golang.org/x/crypto/nacl/box"

	"github.com/wispmq/wisp/internal/engine"
	"github.com/wispmq/wisp/wire/z85"
	"github.com/wispmq/wisp/wire/zmtp"
)

// The helpers here are named curveTest... so as not to collide with other
// tests of the package.

// curveTestTimeout bounds every wait of these tests.
const curveTestTimeout = 10 * time.Second

type curveTestKeyPair struct{ pub, sec [32]byte }

func curveTestKeys(t testing.TB) curveTestKeyPair {
	t.Helper()
	pub, sec, err := naclbox.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return curveTestKeyPair{pub: *pub, sec: *sec}
}

func (k curveTestKeyPair) z85(t testing.TB) string {
	t.Helper()
	s, err := z85.Encode(k.pub[:])
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func curveTestServer(k curveTestKeyPair, auth Authenticator) *Protocol {
	return &Protocol{Security: Security{Mechanism: zmtp.MechanismCurve, Server: true, PublicKey: k.pub, SecretKey: k.sec, Authenticate: auth}}
}

func curveTestClient(k curveTestKeyPair, serverKey [32]byte) *Protocol {
	return &Protocol{Security: Security{Mechanism: zmtp.MechanismCurve, PublicKey: k.pub, SecretKey: k.sec, ServerKey: serverKey}}
}

type curveTestOutcome struct {
	hs  engine.Handshake
	err error
}

// curveTestHandshake runs the client's and the server's Handshake against
// each other over a net.Pipe, and returns both outcomes and the client's
// and the server's end. Both ends are closed when the test ends.
func curveTestHandshake(t *testing.T, client, server *Protocol, clientInfo, serverInfo *engine.PeerInfo) (c, s curveTestOutcome, cc, sc net.Conn) {
	t.Helper()
	cc, sc = net.Pipe()
	t.Cleanup(func() { cc.Close(); sc.Close() })
	deadline := time.Now().Add(curveTestTimeout)
	cc.SetDeadline(deadline)
	sc.SetDeadline(deadline)
	done := make(chan curveTestOutcome, 1)
	go func() {
		hs, err := server.Handshake(sc, serverInfo)
		if err != nil {
			sc.Close() // as the engine would: unblocks the client
		}
		done <- curveTestOutcome{hs, err}
	}()
	hs, err := client.Handshake(cc, clientInfo)
	if err != nil {
		cc.Close()
	}
	c = curveTestOutcome{hs, err}
	s = <-done
	return c, s, cc, sc
}

// curveTestReader reads one connection's frames through its codec, as
// the engine would.
type curveTestReader struct {
	nc  net.Conn
	c   engine.Codec
	buf []byte
}

func newCurveTestReader(nc net.Conn, hs engine.Handshake) *curveTestReader {
	return &curveTestReader{nc: nc, c: hs.Codec, buf: append([]byte(nil), hs.Rest...)}
}

// more reads until buf holds at least n bytes.
func (r *curveTestReader) more(n int) error {
	for len(r.buf) < n {
		if cap(r.buf)-len(r.buf) < 4096 {
			r.buf = append(r.buf, make([]byte, 64<<10)...)[:len(r.buf)]
		}
		k, err := r.nc.Read(r.buf[len(r.buf):cap(r.buf)])
		r.buf = r.buf[:len(r.buf)+k]
		if err != nil && k == 0 {
			return err
		}
	}
	return nil
}

// item decodes the next frame or command with Decode. Its payload stays
// valid: consumed bytes are never written again.
func (r *curveTestReader) item() (engine.Item, error) {
	for {
		it, n, err := r.c.Decode(r.buf)
		if err == io.ErrUnexpectedEOF {
			if err := r.more(r.c.Need()); err != nil {
				return engine.Item{}, err
			}
			continue
		}
		if err != nil {
			return engine.Item{}, err
		}
		r.buf = r.buf[n:]
		return it, nil
	}
}

// data decodes data frames with DecodeData until want of them arrived or
// it stops at a command. It returns copies of their payloads and MORE
// flags.
func (r *curveTestReader) data(want int) (frames [][]byte, more []bool, err error) {
	for len(frames) < want {
		refs, n, err := r.c.DecodeData(r.buf, 0, nil)
		for _, ref := range refs {
			frames = append(frames, append([]byte{}, r.buf[ref.Start:ref.End]...))
			more = append(more, ref.More)
		}
		r.buf = r.buf[n:]
		switch {
		case err == io.ErrUnexpectedEOF:
			if err := r.more(r.c.Need()); err != nil {
				return frames, more, err
			}
		case err != nil:
			return frames, more, err
		case len(frames) < want && len(r.buf) > 0:
			return frames, more, nil // stopped at a command
		case len(frames) < want:
			if err := r.more(1); err != nil {
				return frames, more, err
			}
		}
	}
	return frames, more, nil
}

// curveTestWrite writes b on nc from a goroutine, since a net.Pipe's
// writer waits for its reader; the returned function waits for it.
func curveTestWrite(nc net.Conn, b []byte) func() error {
	done := make(chan error, 1)
	go func() {
		_, err := nc.Write(b)
		done <- err
	}()
	return func() error { return <-done }
}

func TestCurveHandshakeAndTraffic(t *testing.T) {
	defer goleak.VerifyNone(t)
	serverKeys, clientKeys := curveTestKeys(t), curveTestKeys(t)
	var asked []AuthRequest
	auth := func(ctx context.Context, r AuthRequest) (string, error) {
		asked = append(asked, r)
		return "", nil
	}
	c, s, cc, sc := curveTestHandshake(t,
		curveTestClient(clientKeys, serverKeys.pub), curveTestServer(serverKeys, auth),
		&engine.PeerInfo{Type: engine.Req, RoutingID: []byte("me")}, &engine.PeerInfo{Type: engine.Rep})
	if c.err != nil || s.err != nil {
		t.Fatalf("handshake: client %v, server %v", c.err, s.err)
	}
	if s.hs.Peer.Type != engine.Req || !bytes.Equal(s.hs.Peer.RoutingID, []byte("me")) {
		t.Errorf("server sees peer %+v, want a REQ named me", s.hs.Peer)
	}
	if c.hs.Peer.Type != engine.Rep || c.hs.Peer.UserID != "" {
		t.Errorf("client sees peer %+v, want a REP with no user id", c.hs.Peer)
	}
	if want := clientKeys.z85(t); s.hs.Peer.UserID != want {
		t.Errorf("server: peer UserID %q, want the client's Z85 key %q", s.hs.Peer.UserID, want)
	}
	if len(asked) != 1 || asked[0].Mechanism != zmtp.MechanismCurve || asked[0].PublicKey != clientKeys.z85(t) || asked[0].Address == "" {
		t.Errorf("Authenticator asked %+v, want one CURVE request for %s from an address", asked, clientKeys.z85(t))
	}
	if s.hs.Codec.Vectored() || c.hs.Codec.Vectored() {
		t.Error("a CURVE codec says Vectored")
	}
	// libzmq's numbering: the client's HELLO and INITIATE took 1 and 2,
	// the server's READY 1.
	if cb, sb := c.hs.Codec.(*codec).box, s.hs.Codec.(*codec).box; cb.sendNonce != 3 || cb.recvNonce != 1 || sb.sendNonce != 2 || sb.recvNonce != 2 {
		t.Errorf("nonces after the handshake: client send %d recv %d, server send %d recv %d; want 3 1 2 2", cb.sendNonce, cb.recvNonce, sb.sendNonce, sb.recvNonce)
	}

	// Client to server: a two-frame message with a long frame, a command,
	// then more data and an empty frame.
	big := bytes.Repeat([]byte("0123456789abcdef"), 8<<10)
	var out []byte
	out = c.hs.Codec.AppendFrame(out, true, []byte("hello"))
	out = c.hs.Codec.AppendFrame(out, false, big)
	out = c.hs.Codec.AppendCommand(out, engine.Command{Kind: engine.CmdPing, Data: []byte("ctx")})
	out = c.hs.Codec.AppendFrame(out, false, []byte("after"))
	out = c.hs.Codec.AppendFrame(out, false, nil)
	if bytes.Contains(out, []byte("hello")) || bytes.Contains(out, []byte("0123456789abcdef")) || bytes.Contains(out, []byte("after")) {
		t.Error("plaintext on the wire")
	}
	wait := curveTestWrite(cc, out)
	r := newCurveTestReader(sc, s.hs)
	frames, more, err := r.data(3)
	if err != nil || len(frames) != 2 || string(frames[0]) != "hello" || !more[0] || !bytes.Equal(frames[1], big) || more[1] {
		t.Fatalf("server DecodeData: %d frames, more %v, %v; want hello (more) and %d bytes, stopping at the PING", len(frames), more, err, len(big))
	}
	it, err := r.item()
	if err != nil || !it.IsCommand || it.Command.Kind != engine.CmdPing || string(it.Command.Data) != "ctx" {
		t.Fatalf("server Decode: %+v, %v; want PING ctx", it, err)
	}
	frames, more, err = r.data(2)
	if err != nil || len(frames) != 2 || string(frames[0]) != "after" || more[0] || len(frames[1]) != 0 || more[1] {
		t.Fatalf("server DecodeData: %q, more %v, %v; want after and an empty frame", frames, more, err)
	}
	if err := wait(); err != nil {
		t.Fatal(err)
	}

	// Server to client, through Decode.
	out = s.hs.Codec.AppendFrame(nil, true, nil)
	out = s.hs.Codec.AppendFrame(out, false, []byte("reply"))
	out = s.hs.Codec.AppendCommand(out, engine.Command{Kind: engine.CmdError, Data: []byte("bye")})
	wait = curveTestWrite(sc, out)
	r = newCurveTestReader(cc, c.hs)
	for i, want := range []engine.Item{
		{Frame: []byte{}, More: true},
		{Frame: []byte("reply")},
		{IsCommand: true, Command: engine.Command{Kind: engine.CmdError, Data: []byte("bye")}},
	} {
		it, err := r.item()
		if err != nil || it.IsCommand != want.IsCommand || it.More != want.More || !bytes.Equal(it.Frame, want.Frame) ||
			it.Command.Kind != want.Command.Kind || !bytes.Equal(it.Command.Data, want.Command.Data) {
			t.Fatalf("client item %d: %+v, %v; want %+v", i, it, err, want)
		}
	}
	if err := wait(); err != nil {
		t.Fatal(err)
	}
}

func TestCurveAuthenticatorUserID(t *testing.T) {
	defer goleak.VerifyNone(t)
	serverKeys, clientKeys := curveTestKeys(t), curveTestKeys(t)
	auth := func(ctx context.Context, r AuthRequest) (string, error) { return "alice", nil }
	c, s, _, _ := curveTestHandshake(t,
		curveTestClient(clientKeys, serverKeys.pub), curveTestServer(serverKeys, auth),
		&engine.PeerInfo{Type: engine.Dealer}, &engine.PeerInfo{Type: engine.Router})
	if c.err != nil || s.err != nil {
		t.Fatalf("handshake: client %v, server %v", c.err, s.err)
	}
	if s.hs.Peer.UserID != "alice" {
		t.Errorf("UserID %q, want the Authenticator's alice", s.hs.Peer.UserID)
	}
}

// The server takes its role from Security.Server, whichever side dialed:
// here the "client" end of the pipe is the CURVE server.
func TestCurveRolesIndependentOfDirection(t *testing.T) {
	defer goleak.VerifyNone(t)
	serverKeys, clientKeys := curveTestKeys(t), curveTestKeys(t)
	c, s, _, _ := curveTestHandshake(t,
		curveTestServer(serverKeys, nil), curveTestClient(clientKeys, serverKeys.pub),
		&engine.PeerInfo{Type: engine.Push}, &engine.PeerInfo{Type: engine.Pull})
	if c.err != nil || s.err != nil {
		t.Fatalf("handshake: %v, %v", c.err, s.err)
	}
	if c.hs.Peer.UserID != clientKeys.z85(t) {
		t.Errorf("server's UserID %q, want %q", c.hs.Peer.UserID, clientKeys.z85(t))
	}
}

func TestCurveWrongServerKey(t *testing.T) {
	defer goleak.VerifyNone(t)
	serverKeys, clientKeys, other := curveTestKeys(t), curveTestKeys(t), curveTestKeys(t)
	called := false
	auth := func(ctx context.Context, r AuthRequest) (string, error) { called = true; return "", nil }
	c, s, _, _ := curveTestHandshake(t,
		curveTestClient(clientKeys, other.pub), curveTestServer(serverKeys, auth),
		&engine.PeerInfo{Type: engine.Req}, &engine.PeerInfo{Type: engine.Rep})
	if !errors.Is(c.err, engine.ErrAuth) || !strings.Contains(c.err.Error(), "public key") {
		t.Errorf("client: %v, want ErrAuth about the server's public key", c.err)
	}
	if !errors.Is(s.err, engine.ErrAuth) {
		t.Errorf("server: %v, want ErrAuth", s.err)
	}
	if called {
		t.Error("the Authenticator was asked about a client that failed HELLO")
	}
	t.Logf("client: %v\nserver: %v", c.err, s.err)
}

func TestCurveAuthenticatorRefuses(t *testing.T) {
	defer goleak.VerifyNone(t)
	serverKeys, clientKeys := curveTestKeys(t), curveTestKeys(t)
	notListed := errors.New("not on the list")
	auth := func(ctx context.Context, r AuthRequest) (string, error) { return "", notListed }
	c, s, _, _ := curveTestHandshake(t,
		curveTestClient(clientKeys, serverKeys.pub), curveTestServer(serverKeys, auth),
		&engine.PeerInfo{Type: engine.Req}, &engine.PeerInfo{Type: engine.Rep})
	if !errors.Is(c.err, engine.ErrAuth) || !strings.Contains(c.err.Error(), "400") {
		t.Errorf("client: %v, want ErrAuth with status 400", c.err)
	}
	if !errors.Is(s.err, engine.ErrAuth) || !errors.Is(s.err, notListed) {
		t.Errorf("server: %v, want ErrAuth wrapping the Authenticator's error", s.err)
	}
	t.Logf("client: %v\nserver: %v", c.err, s.err)
}

// curveTestFake runs fn as the far end of a net.Pipe whose near end a
// mechanism's cmdStream reads; the returned function closes both and
// waits for fn.
func curveTestFake(t *testing.T, fn func(nc net.Conn)) (*cmdStream, func()) {
	t.Helper()
	near, far := net.Pipe()
	deadline := time.Now().Add(curveTestTimeout)
	near.SetDeadline(deadline)
	far.SetDeadline(deadline)
	done := make(chan struct{})
	go func() {
		defer close(done)
		defer far.Close()
		fn(far)
	}()
	return &cmdStream{nc: near}, func() { near.Close(); <-done }
}

// curveTestReadCommand reads one command from nc, returning its name and
// data.
func curveTestReadCommand(nc net.Conn) (string, []byte, error) {
	var buf []byte
	var d zmtp.Decoder
	chunk := make([]byte, 4096)
	for {
		f, _, err := d.Decode(buf)
		if err == nil {
			return zmtp.ParseCommand(f.Body)
		}
		if err != io.ErrUnexpectedEOF {
			return "", nil, err
		}
		n, err := nc.Read(chunk)
		buf = append(buf, chunk[:n]...)
		if err != nil && n == 0 {
			return "", nil, err
		}
	}
}

// A WELCOME that does not open means the server does not hold the secret
// key of the public key we were given.
func TestCurveClientWelcome(t *testing.T) {
	defer goleak.VerifyNone(t)
	serverKeys, clientKeys := curveTestKeys(t), curveTestKeys(t)
	for _, c := range []struct {
		name    string
		welcome []byte // nil: hang up
		want    error
		text    string
	}{
		{"forged", bytes.Repeat([]byte{7}, curveWelcomeLen), engine.ErrAuth, "not the one configured"},
		{"short", make([]byte, curveWelcomeLen-1), engine.ErrProtocol, "WELCOME"},
		{"long", make([]byte, curveWelcomeLen+1), engine.ErrProtocol, "WELCOME"},
		{"empty", []byte{}, engine.ErrProtocol, "WELCOME"},
		{"hang-up", nil, engine.ErrAuth, "public key"},
	} {
		t.Run(c.name, func(t *testing.T) {
			cs, stop := curveTestFake(t, func(nc net.Conn) {
				if name, data, err := curveTestReadCommand(nc); err != nil || name != zmtp.CmdHello || len(data) != curveHelloLen {
					t.Errorf("fake server got %q of %d bytes, %v; want a %d-byte HELLO", name, len(data), err, curveHelloLen)
					return
				}
				if c.welcome != nil {
					nc.Write(zmtp.AppendCommand(nil, zmtp.CmdWelcome, c.welcome))
				}
			})
			defer stop()
			m := newCurve(&curveTestClient(clientKeys, serverKeys.pub).Security, "")
			_, _, err := m.handshake(context.Background(), cs, metadataOf(&engine.PeerInfo{Type: engine.Req}))
			if !errors.Is(err, c.want) || !strings.Contains(err.Error(), c.text) {
				t.Errorf("client: %v, want %v mentioning %q", err, c.want, c.text)
			}
			if m.box() != nil {
				t.Error("a box after a failed handshake")
			}
		})
	}
}

// curveTestHello builds a valid HELLO from transient keys tPub, tSec to a
// server whose key is server.
func curveTestHello(tPub, tSec, server *[32]byte) []byte {
	hello := append([]byte{1, 0}, make([]byte, curveHelloPadding)...)
	hello = append(hello, tPub[:]...)
	nonce := curveShortNonce(curveNonceHello, 1)
	hello = append(hello, nonce[16:]...)
	return naclbox.Seal(hello, make([]byte, 64), &nonce, server, tSec)
}

// A server holds a client to the sizes RFC 26 fixes, and never panics on
// what does not open.
func TestCurveServerMalformed(t *testing.T) {
	defer goleak.VerifyNone(t)
	serverKeys := curveTestKeys(t)
	tPub, tSec, _ := naclbox.GenerateKey(rand.Reader)
	good := curveTestHello(tPub, tSec, &serverKeys.pub)
	badVersion := append([]byte{}, good...)
	badVersion[0] = 2
	forged := append([]byte{}, good...)
	forged[len(forged)-1] ^= 1
	for _, c := range []struct {
		name     string
		hello    []byte
		initiate []byte // sent after WELCOME when HELLO is good
		want     error
	}{
		{"hello-short", good[:len(good)-1], nil, engine.ErrProtocol},
		{"hello-long", append(append([]byte{}, good...), 0), nil, engine.ErrProtocol},
		{"hello-empty", []byte{}, nil, engine.ErrProtocol},
		{"hello-version", badVersion, nil, engine.ErrIncompatiblePeer},
		{"hello-forged", forged, nil, engine.ErrAuth},
		{"initiate-empty", good, []byte{}, engine.ErrProtocol},
		{"initiate-short", good, make([]byte, curveInitiateMin-1), engine.ErrProtocol},
		{"initiate-zeros", good, make([]byte, curveInitiateMin), engine.ErrProtocol},
		{"initiate-garbage", good, bytes.Repeat([]byte{0xa5}, curveInitiateMin+100), engine.ErrProtocol},
	} {
		t.Run(c.name, func(t *testing.T) {
			cs, stop := curveTestFake(t, func(nc net.Conn) {
				// Drain what the server sends, until stop closes its end.
				drained := make(chan struct{})
				go func() { io.Copy(io.Discard, nc); close(drained) }()
				defer func() { <-drained }()
				if _, err := nc.Write(zmtp.AppendCommand(nil, zmtp.CmdHello, c.hello)); err != nil || c.initiate == nil {
					return
				}
				nc.Write(zmtp.AppendCommand(nil, zmtp.CmdInitiate, c.initiate))
			})
			defer stop()
			m := newCurve(&curveTestServer(serverKeys, nil).Security, "test")
			_, _, err := m.handshake(context.Background(), cs, metadataOf(&engine.PeerInfo{Type: engine.Rep}))
			if !errors.Is(err, c.want) {
				t.Errorf("server: %v, want %v", err, c.want)
			}
		})
	}
}

// curveTestBoxes returns the two ends of one connection's MESSAGE boxes,
// numbered as after a handshake.
func curveTestBoxes(t testing.TB) (client, server *curveBox) {
	a, b := curveTestKeys(t), curveTestKeys(t)
	client = &curveBox{sendPrefix: curveNonceToServer, recvPrefix: curveNonceToClient, sendNonce: 3, recvNonce: 1}
	server = &curveBox{sendPrefix: curveNonceToClient, recvPrefix: curveNonceToServer, sendNonce: 2, recvNonce: 2}
	naclbox.Precompute(&client.key, &b.pub, &a.sec)
	naclbox.Precompute(&server.key, &a.pub, &b.sec)
	return client, server
}

// curveTestBody returns the body of the one frame in b, which must be a
// data frame without MORE, as libzmq sends MESSAGE.
func curveTestBody(t testing.TB, b []byte) []byte {
	t.Helper()
	var d zmtp.Decoder
	f, n, err := d.Decode(b)
	if err != nil || n != len(b) || f.Command || f.More {
		t.Fatalf("sealed frame: %+v, %d of %d bytes, %v; want one data frame without MORE", f, n, len(b), err)
	}
	return f.Body
}

func TestCurveBoxSealOpen(t *testing.T) {
	client, server := curveTestBoxes(t)
	for _, n := range []int{0, 1, 255 - curveMessageOverhead, 256 - curveMessageOverhead, 1000, 1 << 20} {
		for _, flags := range []struct{ more, command bool }{{false, false}, {true, false}, {false, true}} {
			payload := make([]byte, n)
			rand.Read(payload)
			orig := append([]byte{}, payload...)
			prefix := []byte("prefix")
			out := client.seal(append([]byte{}, prefix...), flags.more, flags.command, payload)
			if !bytes.Equal(payload, orig) {
				t.Fatal("seal modified its payload")
			}
			if !bytes.HasPrefix(out, prefix) {
				t.Fatal("seal did not append")
			}
			body := curveTestBody(t, out[len(prefix):])
			if len(body) != curveMessageOverhead+n || !zmtp.IsCommand(body, zmtp.CmdMessage) {
				t.Fatalf("%d-byte payload sealed in a %d-byte body, want %d bytes named MESSAGE", n, len(body), curveMessageOverhead+n)
			}
			more, command, off, err := server.open(body)
			if err != nil || more != flags.more || command != flags.command || !bytes.Equal(body[off:], orig) {
				t.Fatalf("open(%d bytes, %+v): more %v command %v, %v; payload equal %v", n, flags, more, command, err, bytes.Equal(body[off:], orig))
			}
		}
	}
	// And the other way.
	body := curveTestBody(t, server.seal(nil, false, false, []byte("back")))
	if _, _, off, err := client.open(body); err != nil || string(body[off:]) != "back" {
		t.Fatalf("client open: %q, %v", body[off:], err)
	}
}

func TestCurveBoxTampered(t *testing.T) {
	client, server := curveTestBoxes(t)
	sealed := curveTestBody(t, client.seal(nil, true, false, []byte("some payload")))
	for i := range sealed {
		body := append([]byte{}, sealed...)
		body[i] ^= 0x10
		if _, _, _, err := server.open(body); err == nil {
			t.Errorf("open accepted a MESSAGE with byte %d flipped", i)
		} else if !errors.Is(err, zmtp.ErrMalformed) {
			t.Errorf("byte %d flipped: %v, want ErrMalformed", i, err)
		}
	}
	// The untouched MESSAGE still opens: failures changed nothing.
	if _, _, _, err := server.open(append([]byte{}, sealed...)); err != nil {
		t.Fatalf("the original MESSAGE: %v", err)
	}
}

func TestCurveBoxReplay(t *testing.T) {
	client, server := curveTestBoxes(t)
	first := curveTestBody(t, client.seal(nil, false, false, []byte("one")))
	second := curveTestBody(t, client.seal(nil, false, false, []byte("two")))
	replay := append([]byte{}, first...)
	if _, _, _, err := server.open(first); err != nil {
		t.Fatal(err)
	}
	if _, _, _, err := server.open(replay); err == nil || !strings.Contains(err.Error(), "replayed") {
		t.Errorf("a replayed MESSAGE: %v, want an error", err)
	}
	if _, _, _, err := server.open(second); err != nil {
		t.Fatalf("the next MESSAGE: %v", err)
	}

	// Reordered: the later nonce first, then the earlier one.
	third := curveTestBody(t, client.seal(nil, false, false, []byte("3")))
	fourth := curveTestBody(t, client.seal(nil, false, false, []byte("4")))
	if _, _, _, err := server.open(fourth); err != nil {
		t.Fatal(err)
	}
	if _, _, _, err := server.open(third); err == nil {
		t.Error("a MESSAGE older than the last one opened")
	}

	// Reflected: our own MESSAGE sent back to us has the wrong prefix.
	mine := curveTestBody(t, server.seal(nil, false, false, []byte("mine")))
	if _, _, _, err := server.open(mine); err == nil {
		t.Error("a server opened its own MESSAGE")
	}
}

// Whatever the network sends, open fails cleanly.
func TestCurveBoxGarbage(t *testing.T) {
	_, server := curveTestBoxes(t)
	for n := 0; n <= curveMessageOverhead+2; n++ {
		for _, body := range [][]byte{make([]byte, n), append([]byte(curveMessageName+"\xff\xff\xff\xff\xff\xff\xff\xff"), make([]byte, max(0, n-16))...)[:n]} {
			if _, _, _, err := server.open(body); err == nil {
				t.Errorf("open accepted %d bytes %x", n, body)
			}
		}
	}
	body := append([]byte(curveMessageName), make([]byte, 100)...)
	body[15] = 9 // a fresh nonce, a forged box
	if _, _, _, err := server.open(body); err == nil || !errors.Is(err, zmtp.ErrMalformed) {
		t.Errorf("forged box: %v", err)
	}
	if _, _, _, err := server.open([]byte("\x05READY")); err == nil {
		t.Error("open accepted a READY")
	}
}

// FuzzCurveOpen checks that open never panics, whatever the body, and
// that what opens is exactly what seal makes of its plaintext.
func FuzzCurveOpen(f *testing.F) {
	client, _ := curveTestBoxes(f)
	for _, p := range []string{"", "x", strings.Repeat("payload", 50)} {
		f.Add(curveTestBody(f, client.seal(nil, true, false, []byte(p))))
	}
	f.Add(curveTestBody(f, client.seal(nil, false, true, []byte("\x04PING\x00\x00"))))
	f.Add([]byte(curveMessageName))
	f.Fuzz(func(t *testing.T, body []byte) {
		server := &curveBox{key: client.key, recvPrefix: curveNonceToServer, recvNonce: 2}
		orig := append([]byte{}, body...)
		more, command, off, err := server.open(body)
		if err != nil {
			if !errors.Is(err, zmtp.ErrMalformed) {
				t.Fatalf("open: %v, want ErrMalformed", err)
			}
			return
		}
		if off != curveMessageOverhead {
			t.Fatalf("open gave the payload at %d, want %d", off, curveMessageOverhead)
		}
		// Sealing is deterministic: the same key, nonce and plaintext give
		// the same bytes back.
		resealer := &curveBox{key: client.key, sendPrefix: curveNonceToServer, sendNonce: binary.BigEndian.Uint64(orig[8:16])}
		if again := curveTestBody(t, resealer.seal(nil, more, command, body[off:])); !bytes.Equal(again, orig) {
			t.Fatalf("open(%x) then seal gave %x", orig, again)
		}
	})
}

func BenchmarkCurveSealOpen(b *testing.B) {
	for _, n := range []int{64, 64 << 10} {
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			client, server := curveTestBoxes(b)
			payload := make([]byte, n)
			var out []byte
			var d zmtp.Decoder
			b.SetBytes(int64(n))
			for b.Loop() {
				out = client.seal(out[:0], false, false, payload)
				f, _, err := d.Decode(out)
				if err != nil {
					b.Fatal(err)
				}
				if _, _, _, err := server.open(f.Body); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
