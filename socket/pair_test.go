package socket

import (
	"errors"
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

// TestPairRefusesSecondPeer checks that a PAIR with a peer refuses another
// one, telling why on its side, and keeps talking to the first.
func TestPairRefusesSecondPeer(t *testing.T) {
	forEachTransport(t, func(t *testing.T, nw *network) {
		ctx := testContext(t)
		bound, first := newSocket(t, Pair), newSocket(t, Pair)
		ep := nw.bind(bound)
		nw.connect(first, ep)
		mustSend(t, ctx, first, "first PAIR", "hello")
		expectFrames(t, ctx, bound, "bound PAIR", "hello")

		second := newSocket(t, Pair)
		nw.connect(second, ep)
		e, _ := waitEvent(t, ctx, bound, "the second PAIR refused", func(e Event) bool {
			return e.Kind == EventHandshakeFailed && errors.Is(e.Err, ErrAlreadyPaired)
		})
		if e.Session != second.Session() {
			t.Errorf("refusal: got %v, want it for session %s", e, second.Session())
		}

		mustSend(t, ctx, bound, "bound PAIR", "still", "you")
		expectFrames(t, ctx, first, "first PAIR", "still", "you")
		mustSend(t, ctx, first, "first PAIR", "and", "you")
		expectFrames(t, ctx, bound, "bound PAIR", "and", "you")
		if err := second.Close(); err != nil {
			t.Fatalf("second PAIR Close: got error %v, want nil", err)
		}
		if st := second.Stats(); st.MsgsIn != 0 {
			t.Errorf("refused PAIR: got %d messages, want 0", st.MsgsIn)
		}
	})
}
