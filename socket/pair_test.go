package socket

import (
	"strconv"
	"testing"
)

// TestPairBothWays checks that two PAIR sockets exchange multi-frame
// messages in both directions, whole and in order, while both send at
// once.
func TestPairBothWays(t *testing.T) {
	forEachTransport(t, func(t *testing.T, nw *network) {
		ctx := testContext(t)
		a, b := newSocket(t, Pair), newSocket(t, Pair)
		nw.connect(b, nw.bind(a))
		const n = 200
		send := func(s *Socket, from string) <-chan error {
			ch := make(chan error, 1)
			go func() {
				defer close(ch)
				for i := range n {
					if err := s.Send(ctx, []byte(from), []byte(strconv.Itoa(i)), []byte{}, make([]byte, i)); err != nil {
						ch <- err
						return
					}
				}
			}()
			return ch
		}
		aDone, bDone := send(a, "a"), send(b, "b")
		for _, side := range []struct {
			s    *Socket
			from string
		}{{a, "b"}, {b, "a"}} {
			for i := range n {
				m := mustRecv(t, ctx, side.s, "PAIR")
				if len(m) != 4 || string(m[0]) != side.from || string(m[1]) != strconv.Itoa(i) || len(m[2]) != 0 || len(m[3]) != i {
					t.Fatalf("message %d from %s: got %d frames starting %q, want [%s %d \"\" <%d bytes>]", i, side.from, len(m), texts(m[:min(len(m), 3)]), side.from, i, i)
				}
			}
		}
		wait(t, aDone)
		wait(t, bDone)
	})
}
