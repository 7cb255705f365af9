package socket

import (
	"net"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// TestReqRepRedialIntoBlackHole: a REQ under WithRequestRetry whose dial
// goes into a black hole (a listener whose accept queue is full drops
// SYNs, as a partition does) abandons the attempt at every retry interval
// and dials again, instead of waiting for the kernel's SYN backoff; once a
// server listens, the request is answered.
func TestReqRepRedialIntoBlackHole(t *testing.T) {
	ctx := testContext(t)
	stopListening, port := fullListener(t)

	req := newSocket(t, Req, WithRequestRetry(50*time.Millisecond))
	ep := "tcp://127.0.0.1:" + strconv.Itoa(port)
	if err := req.Connect(ep); err != nil {
		t.Fatalf("Connect: got error %v, want nil", err)
	}
	if err := req.Send(ctx, []byte("q")); err != nil {
		t.Fatalf("Send: got error %v, want nil", err)
	}
	replies := rtRecvAsync(ctx, req)
	for abandoned := 0; abandoned < 3; {
		e := waitKind(t, ctx, req, EventRetrying)
		if e.Err != nil && strings.Contains(e.Err.Error(), "abandoned to dial again") {
			abandoned++
		}
	}

	// The black hole goes away and a server takes its port.
	stopListening()
	rep := newSocket(t, Rep)
	if _, err := rep.Bind(ep); err != nil {
		t.Fatalf("REP Bind(%s): got error %v, want nil", ep, err)
	}
	m, err := rep.Recv(ctx)
	if err != nil {
		t.Fatalf("REP Recv: got error %v, want nil", err)
	}
	if err := rep.Send(ctx, append([]byte("re:"), m.Bytes()...)); err != nil {
		t.Fatalf("REP Send: got error %v, want nil", err)
	}
	select {
	case r := <-replies:
		rtWantReply(t, r, "re:q")
	case <-ctx.Done():
		t.Fatalf("reply: got %v, want re:q", ctx.Err())
	}
}

// fullListener listens on a loopback port with an accept queue of one and
// fills it, so that the kernel drops every further SYN to the port. It
// returns a function that closes the listening socket (also called when
// the test ends), and the port.
func fullListener(t *testing.T) (func(), int) {
	t.Helper()
	fd, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_STREAM, 0)
	if err != nil {
		t.Fatalf("socket: got error %v, want nil", err)
	}
	var once sync.Once
	stop := func() { once.Do(func() { syscall.Close(fd) }) }
	t.Cleanup(stop)
	if err := syscall.Bind(fd, &syscall.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}); err != nil {
		t.Fatalf("bind: got error %v, want nil", err)
	}
	if err := syscall.Listen(fd, 0); err != nil {
		t.Fatalf("listen: got error %v, want nil", err)
	}
	sa, err := syscall.Getsockname(fd)
	if err != nil {
		t.Fatalf("getsockname: got error %v, want nil", err)
	}
	port := sa.(*syscall.SockaddrInet4).Port
	filler, err := net.DialTimeout("tcp", "127.0.0.1:"+strconv.Itoa(port), 5*time.Second)
	if err != nil {
		t.Fatalf("filling the accept queue: got error %v, want nil", err)
	}
	t.Cleanup(func() { filler.Close() })
	return stop, port
}
