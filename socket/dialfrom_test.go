package socket

import (
	"context"
	"crypto/tls"
	"errors"
	"net"
	"strings"
	"testing"
)

// The tests in this file check WithDialFromBind: a socket's dials start
// from its bound port, so its peers see one address for it.

// TestDialFromBindAddress: the peer a socket dials sees the dialer's bound
// address as the connection's remote address.
func TestDialFromBindAddress(t *testing.T) {
	ctx := testContext(t)
	a := newSocket(t, Dealer, WithDialFromBind(true))
	epA, err := a.Bind("tcp://127.0.0.1:0")
	if err != nil {
		t.Fatalf("Bind: got error %v, want nil", err)
	}
	b := newSocket(t, Dealer)
	epB, err := b.Bind("tcp://127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	if err := a.Connect(epB); err != nil {
		t.Fatal(err)
	}
	e := waitKind(t, ctx, b, EventConnected)
	if want := strings.TrimPrefix(epA, "tcp://"); e.Peer != want {
		t.Fatalf("B sees the connection from %q, want A's bound address %q", e.Peer, want)
	}
	if err := a.Send(ctx, []byte("from my own port")); err != nil {
		t.Fatal(err)
	}
	if m, err := b.Recv(ctx); err != nil || string(m.Bytes()) != "from my own port" {
		t.Fatalf("Recv: got %q, %v", m, err)
	}
}

func TestDialFromBindConflicts(t *testing.T) {
	dial := func(ctx context.Context, network, address string) (net.Conn, error) {
		return (&net.Dialer{}).DialContext(ctx, network, address)
	}
	listen := func(ctx context.Context, network, address string) (net.Listener, error) {
		return (&net.ListenConfig{}).Listen(ctx, network, address)
	}
	for _, opt := range []Option{WithLocalAddr("127.0.0.1:0"), WithDialer(dial), WithListener(listen)} {
		if _, err := New(Dealer, WithDialFromBind(true), opt); !errors.Is(err, ErrInvalidOption) {
			t.Errorf("New with WithDialFromBind and a conflicting option: got %v, want ErrInvalidOption", err)
		}
	}
}

// TestDialFromBindMutualTLS: a mutual-TLS mesh on one port per peer.
// Each of three DEALERs binds tls://127.0.0.1:0 with a certificate from
// one CA and dials the peers after it in the ring from that port; every
// peer sees every other at its bound address, and messages cross.
func TestDialFromBindMutualTLS(t *testing.T) {
	ctx := testContext(t)
	ca := newTestCA(t, "mesh CA")
	var peers []*Socket
	var eps []string
	for i := range 3 {
		cfg := &tls.Config{
			Certificates: []tls.Certificate{ca.issue(t, "peer")},
			RootCAs:      ca.pool, ClientCAs: ca.pool,
			ClientAuth: tls.RequireAndVerifyClientCert, MinVersion: tls.VersionTLS13,
		}
		s := newSocket(t, Dealer, WithTLS(cfg), WithDialFromBind(true))
		ep, err := s.Bind("tls://127.0.0.1:0")
		if err != nil {
			t.Fatalf("peer %d Bind: got error %v, want nil", i, err)
		}
		peers, eps = append(peers, s), append(eps, ep)
	}
	// One dial per pair: 0 dials 1 and 2, 1 dials 2.
	for i := range peers {
		for j := i + 1; j < len(peers); j++ {
			if err := peers[i].Connect(eps[j]); err != nil {
				t.Fatal(err)
			}
		}
	}
	for i, s := range peers {
		waitConnected(t, ctx, s, len(peers)-1)
		for _, p := range s.Stats().Peers {
			if !p.Connected {
				continue
			}
			if p.TLS == nil {
				t.Errorf("peer %d: connection to %s without TLS", i, p.Remote)
			}
			found := false
			for _, ep := range eps {
				found = found || "tls://"+p.Remote == ep
			}
			if !found {
				t.Errorf("peer %d sees a peer at %s, want one of the bound addresses %v", i, p.Remote, eps)
			}
		}
	}
	// A DEALER deals in turn: two messages, one to each of the others.
	for range 2 {
		if err := peers[2].Send(ctx, []byte("from the last")); err != nil {
			t.Fatal(err)
		}
	}
	for i, s := range peers[:2] {
		if m, err := s.Recv(ctx); err != nil || string(m.Bytes()) != "from the last" {
			t.Fatalf("peer %d: got %q, %v, want the last peer's message", i, m, err)
		}
	}
}
