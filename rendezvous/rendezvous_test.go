package rendezvous

import (
	"context"
	"encoding/binary"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/wispmq/wisp/socket"
)

// The tests in this file run an introducer and peers over loopback, where
// there is no NAT: the punch succeeds at once and the relay is used only
// when asked for. The NAT cases are in internal/faulttest (punch_test.go),
// in network namespaces.

func testContext(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// startIntroducer binds an introducer on loopback and serves it until the
// test ends.
func startIntroducer(t *testing.T) (*Introducer, string) {
	t.Helper()
	in, err := NewIntroducer()
	if err != nil {
		t.Fatal(err)
	}
	ep, err := in.Bind("tcp://127.0.0.1:0")
	if err != nil {
		in.Close()
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	wg.Go(func() { in.Serve(context.Background()) })
	t.Cleanup(func() {
		in.Close()
		wg.Wait()
	})
	return in, ep
}

func register(t *testing.T, ctx context.Context, intro, name string, opts ...Option) *Peer {
	t.Helper()
	p, err := Register(ctx, intro, name, append([]Option{WithLocalAddr("127.0.0.1:0")}, opts...)...)
	if err != nil {
		t.Fatalf("Register %s: got error %v, want nil", name, err)
	}
	t.Cleanup(func() { p.Close() })
	return p
}

// link connects a to b through the introducer, b accepting.
func link(t *testing.T, ctx context.Context, a, b *Peer) (la, lb *Link) {
	t.Helper()
	var errB error
	var wg sync.WaitGroup
	wg.Go(func() { lb, errB = b.Accept(ctx) })
	la, errA := a.Connect(ctx, b.Name())
	wg.Wait()
	if errA != nil || errB != nil {
		t.Fatalf("Connect: %v; Accept: %v; want no errors", errA, errB)
	}
	return la, lb
}

// exchange sends n numbered messages each way at once and checks that each
// side receives the other's, in order.
func exchange(t *testing.T, ctx context.Context, a, b *Link, n int) {
	t.Helper()
	var wg sync.WaitGroup
	errs := make(chan error, 4)
	for _, l := range []*Link{a, b} {
		wg.Go(func() {
			for i := range n {
				if err := l.Send(ctx, binary.BigEndian.AppendUint64(nil, uint64(i)), []byte("payload")); err != nil {
					errs <- err
					return
				}
			}
		})
		wg.Go(func() {
			for i := range n {
				m, err := l.Recv(ctx)
				if err != nil {
					errs <- err
					return
				}
				if len(m) != 2 || len(m[0]) != 8 || binary.BigEndian.Uint64(m[0]) != uint64(i) || string(m[1]) != "payload" {
					errs <- errors.New("out of order or changed: got " + string(m.Bytes()))
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
}

// TestDirectLink: the introducer sees each peer at its bound port, and the
// link between them is a direct connection between those ports; no
// message passes through the introducer.
func TestDirectLink(t *testing.T) {
	ctx := testContext(t)
	in, ep := startIntroducer(t)
	a := register(t, ctx, ep, "alice")
	b := register(t, ctx, ep, "bob")
	for _, p := range []*Peer{a, b} {
		if p.Public() != p.Local() {
			t.Fatalf("%s: introducer saw %s, want its bound address %s (no NAT on loopback)", p.Name(), p.Public(), p.Local())
		}
	}
	la, lb := link(t, ctx, a, b)
	for _, c := range []struct {
		l    *Link
		want *Peer
	}{{la, b}, {lb, a}} {
		if c.l.Path() != Direct {
			t.Fatalf("link to %s: got path %v, want direct", c.want.Name(), c.l.Path())
		}
		if c.l.Remote() != c.want.Local() || c.l.Name() != c.want.Name() {
			t.Fatalf("link to %s: got %s at %s, want %s", c.want.Name(), c.l.Name(), c.l.Remote(), c.want.Local())
		}
		if c.l.Attempts() < 1 {
			t.Fatalf("link to %s: %d attempts, want at least 1", c.want.Name(), c.l.Attempts())
		}
	}
	// The data socket's one connection is to the other's bound port
	// (the endpoint it dialed may be listed too, unconnected, when the
	// other's dial arrived first).
	var remotes []string
	for _, ps := range a.data.Stats().Peers {
		if ps.Connected {
			remotes = append(remotes, ps.Remote)
		}
	}
	if len(remotes) != 1 || remotes[0] != b.Local() {
		t.Fatalf("alice's data socket is connected to %v, want only bob's %s", remotes, b.Local())
	}
	exchange(t, ctx, la, lb, 200)
	if st := in.Stats(); st.Relayed != 0 || st.Introductions != 1 || st.Registered != 2 {
		t.Fatalf("introducer stats %+v, want 1 introduction, 2 registered, nothing relayed", st)
	}
}

// TestRelayedLink: with punching skipped, every message goes through the
// introducer, which counts them.
func TestRelayedLink(t *testing.T) {
	ctx := testContext(t)
	in, ep := startIntroducer(t)
	a := register(t, ctx, ep, "alice", WithPunchTimeout(0))
	b := register(t, ctx, ep, "bob")
	la, lb := link(t, ctx, a, b)
	if la.Path() != Relayed || lb.Path() != Relayed {
		t.Fatalf("got paths %v and %v, want relayed on both sides", la.Path(), lb.Path())
	}
	const n = 200
	exchange(t, ctx, la, lb, n)
	if st := in.Stats(); st.Relayed != 2*n || st.RelayedBytes != 2*n*(8+7) {
		t.Fatalf("introducer stats %+v, want %d messages of 15 bytes relayed", st, 2*n)
	}
	if err := la.Send(ctx); !errors.Is(err, ErrEmptyMessage) {
		t.Fatalf("Send of no frames: got %v, want ErrEmptyMessage", err)
	}
}

// TestRefusals: the introducer's refusals reach the peer as sentinels, and
// the peer can go on.
func TestRefusals(t *testing.T) {
	ctx := testContext(t)
	_, ep := startIntroducer(t)
	a := register(t, ctx, ep, "alice")
	if _, err := Register(ctx, ep, "alice", WithLocalAddr("127.0.0.1:0")); !errors.Is(err, ErrNameTaken) {
		t.Fatalf("second Register as alice: got %v, want ErrNameTaken", err)
	}
	if _, err := a.Connect(ctx, "nobody"); !errors.Is(err, ErrUnknownPeer) {
		t.Fatalf("Connect to an unknown name: got %v, want ErrUnknownPeer", err)
	}
	if _, err := a.Connect(ctx, "alice"); !errors.Is(err, ErrBusy) {
		t.Fatalf("Connect to itself: got %v, want ErrBusy", err)
	}
	if _, err := Register(ctx, ep, "bad\nname"); err == nil {
		t.Fatal("Register with a control character in the name: got nil error")
	}
	if _, err := Register(ctx, ep, "x", WithPunchTimeout(-1)); !errors.Is(err, ErrInvalidOption) {
		t.Fatalf("negative punch timeout: got %v, want ErrInvalidOption", err)
	}
	// After the refusals, the link is still to be made.
	b := register(t, ctx, ep, "bob")
	la, lb := link(t, ctx, a, b)
	exchange(t, ctx, la, lb, 10)
	if _, err := a.Connect(ctx, "bob"); !errors.Is(err, ErrLinked) {
		t.Fatalf("second Connect: got %v, want ErrLinked", err)
	}
}

// TestIntroducerBadInput: a peer that sends garbage gets an ERROR and is
// forgotten; the introducer keeps serving the others.
func TestIntroducerBadInput(t *testing.T) {
	ctx := testContext(t)
	in, ep := startIntroducer(t)
	bad, err := socket.New(socket.Dealer)
	if err != nil {
		t.Fatal(err)
	}
	defer bad.Close()
	if err := bad.Connect(ep); err != nil {
		t.Fatal(err)
	}
	for _, frames := range [][][]byte{
		{[]byte("HELLO")},
		{[]byte("REGISTER")},
		{[]byte("REGISTER"), make([]byte, MaxNameLen+1)},
		{[]byte("PEER"), []byte("x"), []byte("not an endpoint")},
		{[]byte("RELAY")},
	} {
		if err := bad.Send(ctx, frames...); err != nil {
			t.Fatal(err)
		}
		m, err := bad.Recv(ctx)
		if err != nil {
			t.Fatal(err)
		}
		got, err := parse(m)
		if err != nil || got.kind != kindError {
			t.Fatalf("answer to %q: got %q (%v), want an ERROR", frames, m, err)
		}
		if e := errorOf(got); !errors.Is(e, ErrProtocol) && !errors.Is(e, ErrNotRegistered) {
			t.Fatalf("answer to %q: got %v, want a protocol error", frames, e)
		}
	}
	a := register(t, ctx, ep, "alice")
	b := register(t, ctx, ep, "bob")
	la, lb := link(t, ctx, a, b)
	exchange(t, ctx, la, lb, 10)
	if st := in.Stats(); st.Refused < 5 {
		t.Fatalf("introducer refused %d requests, want at least 5", st.Refused)
	}
}

// hostileIntroducer is a ROUTER that answers each request of a peer with
// the next of the given groups of replies, whatever it asked.
func hostileIntroducer(t *testing.T, ctx context.Context, replies ...[][][]byte) string {
	t.Helper()
	r, err := socket.New(socket.Router)
	if err != nil {
		t.Fatal(err)
	}
	ep, err := r.Bind("tcp://127.0.0.1:0")
	if err != nil {
		r.Close()
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	wg.Go(func() {
		for _, group := range replies {
			m, err := r.Recv(ctx)
			if err != nil {
				return
			}
			for _, reply := range group {
				if err := r.Send(ctx, append([][]byte{m[0]}, reply...)...); err != nil {
					return
				}
			}
		}
	})
	t.Cleanup(func() {
		r.Close()
		wg.Wait()
	})
	return ep
}

// TestPeerBadInput: a peer treats what the introducer sends as untrusted:
// a malformed or unexpected answer is an ErrProtocol, not a panic, and
// leaves nothing running.
func TestPeerBadInput(t *testing.T) {
	ctx := testContext(t)
	registered := [][][]byte{frames("REGISTERED", "127.0.0.1:9")}
	for _, c := range []struct {
		name    string
		replies [][][][]byte
		connect bool // else Accept
	}{
		{"garbage to REGISTER", [][][][]byte{{frames("HELLO")}}, false},
		{"bad endpoint", [][][][]byte{{frames("REGISTERED", "127.0.0.1:0")}}, false},
		{"PEER to REGISTER", [][][][]byte{{frames("PEER", "x", "127.0.0.1:1")}}, false},
		{"PEER for someone else", [][][][]byte{registered, {frames("PEER", "mallory", "127.0.0.1:1")}}, true},
		{"RELAY while waiting for a peer", [][][][]byte{registered, {frames("RELAY", "x")}}, false},
		{"bad verdict while punching", [][][][]byte{registered, {frames("PEER", "bob", "127.0.0.1:1"), frames("PATH", "maybe")}}, false},
		{"RELAY instead of a verdict", [][][][]byte{registered, {frames("PEER", "bob", "127.0.0.1:1"), frames("RELAY", "early")}}, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			ep := hostileIntroducer(t, ctx, c.replies...)
			p, err := Register(ctx, ep, "alice", WithLocalAddr("127.0.0.1:0"))
			if len(c.replies) == 1 {
				if !errors.Is(err, ErrProtocol) {
					t.Fatalf("Register: got %v, want ErrProtocol", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			defer p.Close()
			if c.connect {
				_, err = p.Connect(ctx, "bob")
			} else {
				// The hostile introducer answers a request; Accept
				// sends none, so give it one to answer.
				p.intro.Send(ctx, frames("PING")...)
				_, err = p.Accept(ctx)
			}
			if !errors.Is(err, ErrProtocol) {
				t.Fatalf("got %v, want ErrProtocol", err)
			}
		})
	}
}

// TestVerdictMismatch: an accepting peer told "direct" by an initiator it
// never connected to fails with ErrPathMismatch once its wait is over, and
// one told nothing fails with a deadline, rather than using a link that
// does not exist.
func TestVerdictMismatch(t *testing.T) {
	ctx := testContext(t)
	registered := [][][]byte{frames("REGISTERED", "127.0.0.1:9")}
	for _, c := range []struct {
		verdict [][][]byte
		want    error
	}{
		{[][][]byte{frames("PEER", "bob", "127.0.0.1:1"), frames("PATH", "direct")}, ErrPathMismatch},
		{[][][]byte{frames("PEER", "bob", "127.0.0.1:1")}, context.DeadlineExceeded},
	} {
		ep := hostileIntroducer(t, ctx, registered, c.verdict)
		p, err := Register(ctx, ep, "alice", WithLocalAddr("127.0.0.1:0"), WithPunchTimeout(50*time.Millisecond))
		if err != nil {
			t.Fatal(err)
		}
		defer p.Close()
		p.o.verdictWait = 50 * time.Millisecond
		p.intro.Send(ctx, frames("PING")...)
		if _, err := p.Accept(ctx); !errors.Is(err, c.want) {
			t.Fatalf("Accept: got %v, want %v", err, c.want)
		}
	}
}

// TestCloseDuringAccept: Close ends a waiting Accept with ErrClosed.
func TestCloseDuringAccept(t *testing.T) {
	ctx := testContext(t)
	_, ep := startIntroducer(t)
	p := register(t, ctx, ep, "alice")
	done := make(chan error, 1)
	go func() {
		_, err := p.Accept(ctx)
		done <- err
	}()
	time.Sleep(20 * time.Millisecond) // usually in Accept by then; either way it must end
	p.Close()
	if err := <-done; !errors.Is(err, socket.ErrClosed) {
		t.Fatalf("Accept after Close: got %v, want ErrClosed", err)
	}
}
