package socket

import (
	"bytes"
	"context"
	"encoding/binary"
	"testing"
	"unsafe"
)

// fillLarge fills b with a pattern of seq, so that a frame read into memory
// that still held another message shows.
func fillLarge(b []byte, seq uint64) {
	for i := 0; i+8 <= len(b); i += 8 {
		binary.LittleEndian.PutUint64(b[i:], seq*0x9e3779b97f4a7c15+uint64(i))
	}
}

// TestReleaseReusesMemory: a PULL that releases every large message gets
// later ones in the released memory, and every message arrives whole and
// right, over each stream transport.
func TestReleaseReusesMemory(t *testing.T) {
	for _, tr := range []string{"tcp", "ipc"} {
		t.Run(tr, func(t *testing.T) {
			t.Parallel()
			ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
			defer cancel()
			nw := newNetwork(t, tr)
			push, pull := newSocket(t, Push), newSocket(t, Pull)
			nw.connect(push, nw.bind(pull))
			const n, size = 300, 64 << 10
			go func() {
				for i := range uint64(n) {
					b := make([]byte, size) // a new one each time: Send keeps it
					fillLarge(b, i)
					if push.Send(ctx, b) != nil {
						return
					}
				}
			}()
			seen := map[*byte]bool{}
			reused := 0
			want := make([]byte, size)
			for i := range uint64(n) {
				m, err := pull.Recv(ctx)
				if err != nil {
					t.Fatalf("recv %d: got %v, want a message", i, err)
				}
				fillLarge(want, i)
				if !bytes.Equal(m.Bytes(), want) {
					t.Fatalf("recv %d: got a frame that differs from what was sent", i)
				}
				p := unsafe.SliceData(m.Bytes())
				if seen[p] {
					reused++
				}
				seen[p] = true
				m.Release()
				if m[0] != nil {
					t.Fatalf("recv %d: after Release got a frame, want nil", i)
				}
			}
			if reused == 0 {
				t.Fatalf("%d messages of %d bytes, each released: got no message in released memory, want most", n, size)
			}
			t.Logf("%d of %d messages were read into released memory", reused, n)
		})
	}
}

// TestReleaseLeavesSendersMemory: an inproc message's frames are the
// sender's memory. Releasing them must not hand that memory to a
// connection that reads into it, even while the sender keeps sending it.
func TestReleaseLeavesSendersMemory(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	inprocPush, inprocPull := newSocket(t, Push), newSocket(t, Pull)
	ip := newNetwork(t, "inproc")
	ip.connect(inprocPush, ip.bind(inprocPull))
	tcpPush, tcpPull := newSocket(t, Push), newSocket(t, Pull)
	tn := newNetwork(t, "tcp")
	tn.connect(tcpPush, tn.bind(tcpPull))

	const n, size = 100, 64 << 10
	shared := make([]byte, size)
	fillLarge(shared, 7)
	orig := bytes.Clone(shared)
	other := make([]byte, size)
	fillLarge(other, 8)
	for i := range n {
		if err := inprocPush.Send(ctx, shared); err != nil {
			t.Fatalf("inproc send %d: got %v, want nil", i, err)
		}
		m, err := inprocPull.Recv(ctx)
		if err != nil {
			t.Fatalf("inproc recv %d: got %v, want a message", i, err)
		}
		m.Release()
		if err := tcpPush.Send(ctx, other); err != nil {
			t.Fatalf("tcp send %d: got %v, want nil", i, err)
		}
		tm, err := tcpPull.Recv(ctx)
		if err != nil {
			t.Fatalf("tcp recv %d: got %v, want a message", i, err)
		}
		if unsafe.SliceData(tm.Bytes()) == unsafe.SliceData(shared) {
			t.Fatalf("tcp recv %d: got a message read into the inproc sender's memory", i)
		}
	}
	if !bytes.Equal(shared, orig) {
		t.Fatal("the inproc sender's buffer changed after its messages were released")
	}
}
