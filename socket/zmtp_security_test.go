package socket

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"testing"
)

// The ZMTP security mechanisms, between wisp sockets and against libzmq
// (pyzmq) both ways: CURVE and PLAIN, served and refused.

func newKeypair(t *testing.T) (public, secret string) {
	t.Helper()
	public, secret, err := NewCurveKeypair()
	if err != nil {
		t.Fatal(err)
	}
	return public, secret
}

// allowKeys is an Authenticator that lets in the CURVE clients with the
// given public keys, known by the name given with each.
func allowKeys(names map[string]string) Authenticator {
	return func(_ context.Context, r AuthRequest) (string, error) {
		name, ok := names[r.PublicKey]
		if !ok {
			return "", fmt.Errorf("key %s is not on the list", r.PublicKey)
		}
		return name, nil
	}
}

// echoRouter answers every message on a ROUTER with itself, until ctx ends.
func echoRouter(ctx context.Context, r *Socket) {
	go func() {
		for {
			m, err := r.Recv(ctx)
			if err != nil || r.Send(ctx, m...) != nil {
				return
			}
		}
	}()
}

func TestZMTPCurveBetweenWispSockets(t *testing.T) {
	ctx := testContext(t)
	serverPub, serverSec := newKeypair(t)
	alicePub, aliceSec := newKeypair(t)
	evePub, eveSec := newKeypair(t)
	allow := allowKeys(map[string]string{alicePub: "alice"})
	identities := make(chan string, 8)
	router := zmtpSocket(t, Router, WithSecurity(CurveServer(serverSec, func(ctx context.Context, r AuthRequest) (string, error) {
		identities <- string(r.Identity)
		return allow(ctx, r)
	})))
	ep, err := router.Bind("tcp://127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}

	alice := zmtpSocket(t, Dealer, WithSecurity(CurveClient(serverPub, alicePub, aliceSec)), WithRoutingID([]byte("a")))
	if err := alice.Connect(ep); err != nil {
		t.Fatal(err)
	}
	if err := alice.Send(ctx, []byte("hello")); err != nil {
		t.Fatal(err)
	}
	m, err := router.Recv(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(m) != 2 || string(m[0]) != "a" || string(m[1]) != "hello" {
		t.Fatalf("ROUTER got %q", m)
	}
	if id := <-identities; id != "a" {
		t.Fatalf("the authenticator was told Identity %q, want the client's routing id a", id)
	}
	ps, err := router.Peer(m[0])
	if err != nil || ps.UserID != "alice" {
		t.Fatalf("Peer(%q): got UserID %q, %v; want alice", m[0], ps.UserID, err)
	}
	ev, _ := waitEvent(t, ctx, router, "alice's connection", func(e Event) bool { return e.Kind == EventConnected })
	if ev.UserID != "alice" {
		t.Fatalf("EventConnected UserID %q, want alice", ev.UserID)
	}
	if err := router.Send(ctx, []byte("a"), []byte("big"), make([]byte, 100<<10)); err != nil {
		t.Fatal(err)
	}
	if m, err := alice.Recv(ctx); err != nil || len(m) != 2 || len(m[1]) != 100<<10 {
		t.Fatalf("alice got %d frames, %v", len(m), err)
	}

	// Eve's key is not on the list; Mallory does not know the server's.
	eve := zmtpSocket(t, Dealer, WithSecurity(CurveClient(serverPub, evePub, eveSec)))
	if err := eve.Connect(ep); err != nil {
		t.Fatal(err)
	}
	ev = waitKind(t, ctx, eve, EventHandshakeFailed)
	if !errors.Is(ev.Err, ErrAuth) {
		t.Fatalf("refused client: got %v, want ErrAuth", ev.Err)
	}
	ev, _ = waitEvent(t, ctx, router, "eve's refusal", func(e Event) bool { return e.Kind == EventHandshakeFailed })
	if !errors.Is(ev.Err, ErrAuth) || !strings.Contains(ev.Err.Error(), "key "+evePub+" is not on the list") {
		t.Fatalf("server: got %v, want ErrAuth with the authenticator's reason", ev.Err)
	}
	otherPub, _ := newKeypair(t)
	mallory := zmtpSocket(t, Dealer, WithSecurity(CurveClient(otherPub, evePub, eveSec)))
	if err := mallory.Connect(ep); err != nil {
		t.Fatal(err)
	}
	if ev := waitKind(t, ctx, mallory, EventHandshakeFailed); !errors.Is(ev.Err, ErrAuth) {
		t.Fatalf("client with the wrong server key: got %v, want ErrAuth", ev.Err)
	}
}

func TestZMTPPlainBetweenWispSockets(t *testing.T) {
	ctx := testContext(t)
	auth := func(_ context.Context, r AuthRequest) (string, error) {
		if r.Mechanism != "PLAIN" || r.Username != "admin" || r.Password != "secret" {
			return "", fmt.Errorf("wrong password for %q", r.Username)
		}
		return "", nil
	}
	rep := zmtpSocket(t, Rep, WithSecurity(PlainServer(auth)))
	ep, err := rep.Bind("tcp://127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	req := zmtpSocket(t, Req, WithSecurity(PlainClient("admin", "secret")))
	if err := req.Connect(ep); err != nil {
		t.Fatal(err)
	}
	if err := req.Send(ctx, []byte("q")); err != nil {
		t.Fatal(err)
	}
	if _, err := rep.Recv(ctx); err != nil {
		t.Fatal(err)
	}
	if st := rep.Stats(); len(st.Peers) != 1 || st.Peers[0].UserID != "admin" {
		t.Fatalf("PeerStats: got %+v, want one peer with UserID admin", st.Peers)
	}
	bad := zmtpSocket(t, Req, WithSecurity(PlainClient("admin", "guess")))
	if err := bad.Connect(ep); err != nil {
		t.Fatal(err)
	}
	if ev := waitKind(t, ctx, bad, EventHandshakeFailed); !errors.Is(ev.Err, ErrAuth) {
		t.Fatalf("wrong password: client got %v, want ErrAuth", ev.Err)
	}
	ev, _ := waitEvent(t, ctx, rep, "the refusal", func(e Event) bool { return e.Kind == EventHandshakeFailed })
	if !errors.Is(ev.Err, ErrAuth) || !strings.Contains(ev.Err.Error(), `wrong password for "admin"`) {
		t.Fatalf("server: got %v", ev.Err)
	}
	// A client without security is refused too: the mechanisms differ.
	open := zmtpSocket(t, Req)
	if err := open.Connect(ep); err != nil {
		t.Fatal(err)
	}
	if ev := waitKind(t, ctx, open, EventHandshakeFailed); !errors.Is(ev.Err, ErrAuth) {
		t.Fatalf("NULL client to a PLAIN server: got %v, want ErrAuth", ev.Err)
	}
}

func TestZMTPInteropCurve(t *testing.T) {
	t.Run("wisp client, libzmq server", func(t *testing.T) {
		ctx := testContext(t)
		serverPub, serverSec := newKeypair(t)
		alicePub, aliceSec := newKeypair(t)
		evePub, eveSec := newKeypair(t)
		py := startPy(t, ctx, "--type", "REP", "--bind", "tcp://127.0.0.1:0", "--job", "echo", "--count", strconv.Itoa(interopRoundTrips),
			"--curve-server="+serverSec, "--curve-allow="+alicePub)
		eve := zmtpSocket(t, Req, WithSecurity(CurveClient(serverPub, evePub, eveSec)))
		if err := eve.Connect(py.Endpoint); err != nil {
			t.Fatal(err)
		}
		if ev := waitKind(t, ctx, eve, EventHandshakeFailed); !errors.Is(ev.Err, ErrAuth) {
			t.Fatalf("a key libzmq's ZAP handler refuses: got %v, want ErrAuth", ev.Err)
		}
		eve.Close()
		alice := zmtpSocket(t, Req, WithSecurity(CurveClient(serverPub, alicePub, aliceSec)))
		if err := alice.Connect(py.Endpoint); err != nil {
			t.Fatal(err)
		}
		for i := range interopRoundTrips {
			if err := alice.Send(ctx, []byte(strconv.Itoa(i))); err != nil {
				t.Fatal(err)
			}
			m, err := alice.Recv(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if n := number(t, m); n != i {
				t.Fatalf("reply %d: got %d", i, n)
			}
		}
		py.finish(ctx)
	})
	t.Run("libzmq client, wisp server", func(t *testing.T) {
		ctx := testContext(t)
		serverPub, serverSec := newKeypair(t)
		alicePub, aliceSec := newKeypair(t)
		evePub, eveSec := newKeypair(t)
		router := zmtpSocket(t, Router, WithSecurity(CurveServer(serverSec, allowKeys(map[string]string{alicePub: "alice"}))))
		ep, err := router.Bind("tcp://127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		echoRouter(ctx, router)
		py := startPy(t, ctx, append([]string{"--type", "REQ", "--connect", ep, "--job", "reqecho", "--count", strconv.Itoa(interopRoundTrips)}, curveClientArgs(serverPub, alicePub, aliceSec)...)...)
		py.expect(ctx, fmt.Sprintf("REQ_OK %d", interopRoundTrips))
		py.finish(ctx)
		refused := startPy(t, ctx, append([]string{"--type", "REQ", "--connect", ep, "--job", "reqecho", "--count", "1", "--timeout-ms", "1000"}, curveClientArgs(serverPub, evePub, eveSec)...)...)
		refused.expect(ctx, "ERROR timeout")
		ev, _ := waitEvent(t, ctx, router, "the refusal", func(e Event) bool { return e.Kind == EventHandshakeFailed })
		if !errors.Is(ev.Err, ErrAuth) || !strings.Contains(ev.Err.Error(), evePub) {
			t.Fatalf("got %v, want ErrAuth naming eve's key", ev.Err)
		}
	})
}

func TestZMTPInteropPlain(t *testing.T) {
	t.Run("wisp client, libzmq server", func(t *testing.T) {
		ctx := testContext(t)
		py := startPy(t, ctx, "--type", "REP", "--bind", "tcp://127.0.0.1:0", "--job", "echo", "--count", "100", "--plain-server")
		bad := zmtpSocket(t, Req, WithSecurity(PlainClient("admin", "guess")))
		if err := bad.Connect(py.Endpoint); err != nil {
			t.Fatal(err)
		}
		if ev := waitKind(t, ctx, bad, EventHandshakeFailed); !errors.Is(ev.Err, ErrAuth) {
			t.Fatalf("wrong password: got %v, want ErrAuth", ev.Err)
		}
		bad.Close()
		req := zmtpSocket(t, Req, WithSecurity(PlainClient("admin", "secret")))
		if err := req.Connect(py.Endpoint); err != nil {
			t.Fatal(err)
		}
		for i := range 100 {
			if err := req.Send(ctx, []byte(strconv.Itoa(i))); err != nil {
				t.Fatal(err)
			}
			if m, err := req.Recv(ctx); err != nil || number(t, m) != i {
				t.Fatalf("reply %d: %q, %v", i, m, err)
			}
		}
		py.finish(ctx)
	})
	t.Run("libzmq client, wisp server", func(t *testing.T) {
		ctx := testContext(t)
		auth := func(_ context.Context, r AuthRequest) (string, error) {
			if r.Username != "admin" || r.Password != "secret" {
				return "", fmt.Errorf("wrong password for %q", r.Username)
			}
			return "", nil
		}
		router := zmtpSocket(t, Router, WithSecurity(PlainServer(auth)))
		ep, err := router.Bind("tcp://127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		echoRouter(ctx, router)
		py := startPy(t, ctx, "--type", "REQ", "--connect", ep, "--job", "reqecho", "--count", "100", "--plain-client", "admin", "secret")
		py.expect(ctx, "REQ_OK 100")
		py.finish(ctx)
		refused := startPy(t, ctx, "--type", "REQ", "--connect", ep, "--job", "reqecho", "--count", "1", "--timeout-ms", "1000", "--plain-client", "admin", "guess")
		refused.expect(ctx, "ERROR timeout")
		ev, _ := waitEvent(t, ctx, router, "the refusal", func(e Event) bool { return e.Kind == EventHandshakeFailed })
		if !errors.Is(ev.Err, ErrAuth) || !strings.Contains(ev.Err.Error(), `wrong password for "admin"`) {
			t.Fatalf("got %v", ev.Err)
		}
	})
}
