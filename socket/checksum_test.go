package socket

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"testing"
)

// The tests in this file corrupt bytes in flight, after TCP has checked
// them (a proxy changes one byte of a payload, as a faulty NIC or a
// middlebox that fixes checksums up would), and check what WithChecksum
// promises: the connection ends with ErrChecksum, and every message arrives
// intact, in order, once.

// corruptMarker is in the payload of the one message the proxy corrupts.
const corruptMarker = "CORRUPT-ME"

// corruptProxy forwards tcp connections to target and, on the first one
// only, flips a bit in the first occurrence of corruptMarker going towards
// the target.
type corruptProxy struct {
	endpoint string
	l        net.Listener
	target   string
	wg       sync.WaitGroup
	mu       sync.Mutex
	done     bool // a byte was flipped
	conns    []net.Conn
}

func newCorruptProxy(t *testing.T, target string) *corruptProxy {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("proxy listen: got error %v, want nil", err)
	}
	p := &corruptProxy{l: l, target: strings.TrimPrefix(target, "tcp://"), endpoint: "tcp://" + l.Addr().String()}
	p.wg.Add(1)
	go p.accept()
	t.Cleanup(func() {
		l.Close()
		p.mu.Lock()
		for _, c := range p.conns {
			c.Close()
		}
		p.mu.Unlock()
		p.wg.Wait()
	})
	return p
}

func (p *corruptProxy) accept() {
	defer p.wg.Done()
	for first := true; ; first = false {
		down, err := p.l.Accept()
		if err != nil {
			return
		}
		up, err := net.Dial("tcp", p.target)
		if err != nil {
			down.Close()
			continue
		}
		p.mu.Lock()
		p.conns = append(p.conns, down, up)
		p.mu.Unlock()
		p.wg.Add(2)
		go p.pump(up, down, first)
		go p.pump(down, up, false)
	}
}

// pump copies src to dst; corrupt flips a bit of the marker once. The
// marker is looked for within each read: the sender writes each small
// message whole, and a marker split across reads is only a missed chance
// the test notices (it asserts the flip happened).
func (p *corruptProxy) pump(dst, src net.Conn, corrupt bool) {
	defer p.wg.Done()
	defer dst.Close()
	defer src.Close()
	buf := make([]byte, 64<<10)
	for {
		n, err := src.Read(buf)
		if corrupt && n > 0 {
			if i := bytes.Index(buf[:n], []byte(corruptMarker)); i >= 0 {
				buf[i+3] ^= 0x01
				corrupt = false
				p.mu.Lock()
				p.done = true
				p.mu.Unlock()
			}
		}
		if n > 0 {
			if _, werr := dst.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}

func (p *corruptProxy) flipped() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.done
}

// checksumPayload is message i: its number, and the marker in message 300.
func checksumPayload(i int) []byte {
	b := binary.BigEndian.AppendUint64(nil, uint64(i))
	if i == 300 {
		return append(b, corruptMarker...)
	}
	return append(b, fmt.Sprintf("message %010d", i)...)
}

// TestChecksumCatchesCorruption: with WithChecksum on the receiver only,
// the corrupted message ends its connection with ErrChecksum and arrives
// again, intact, on the next one.
func TestChecksumCatchesCorruption(t *testing.T) {
	const n = 1000
	ctx := testContext(t)
	nw := newNetwork(t, "tcp")
	pull := newSocket(t, Pull, WithChecksum(true))
	proxy := newCorruptProxy(t, nw.bind(pull))
	push := newSocket(t, Push, rfFastReconnect)
	if err := push.Connect(proxy.endpoint); err != nil {
		t.Fatalf("Connect: got error %v, want nil", err)
	}
	go func() {
		for i := range n {
			if push.Send(ctx, checksumPayload(i)) != nil {
				return
			}
		}
	}()
	for i := range n {
		m, err := pull.Recv(ctx)
		if err != nil {
			t.Fatalf("Recv after %d messages: got error %v, want nil", i, err)
		}
		if want := checksumPayload(i); !bytes.Equal(m.Bytes(), want) {
			t.Fatalf("message %d: got %q, want %q", i, m.Bytes(), want)
		}
	}
	if !proxy.flipped() {
		t.Fatal("the proxy never found the marker to corrupt; the test proved nothing")
	}
	e := waitKind(t, ctx, pull, EventDisconnected)
	if !errors.Is(e.Err, ErrChecksum) || !errors.Is(e.Err, ErrProtocol) {
		t.Fatalf("PULL's first connection ended with %v, want ErrChecksum (and ErrProtocol)", e.Err)
	}
}

// TestChecksumOffDeliversCorruption is the control: without checksums the
// same corruption reaches the application, which is why the option exists.
func TestChecksumOffDeliversCorruption(t *testing.T) {
	const n = 1000
	ctx := testContext(t)
	nw := newNetwork(t, "tcp")
	pull := newSocket(t, Pull)
	proxy := newCorruptProxy(t, nw.bind(pull))
	push := newSocket(t, Push)
	if err := push.Connect(proxy.endpoint); err != nil {
		t.Fatalf("Connect: got error %v, want nil", err)
	}
	go func() {
		for i := range n {
			if push.Send(ctx, checksumPayload(i)) != nil {
				return
			}
		}
	}()
	corrupted := 0
	for i := range n {
		m, err := pull.Recv(ctx)
		if err != nil {
			t.Fatalf("Recv after %d messages: got error %v, want nil", i, err)
		}
		if !bytes.Equal(m.Bytes(), checksumPayload(i)) {
			corrupted++
		}
	}
	if !proxy.flipped() || corrupted != 1 {
		t.Fatalf("flipped %v, corrupted messages delivered %d, want true and 1", proxy.flipped(), corrupted)
	}
}
