package socket

import (
	"errors"
	"fmt"
	"testing"
)

// TestReqRepRoundTrips checks strict alternation and that every reply
// reaches the REQ that asked, over every transport.
func TestReqRepRoundTrips(t *testing.T) {
	forEachTransport(t, func(t *testing.T, nw *network) {
		ctx := testContext(t)
		rep := newSocket(t, Rep)
		req := newSocket(t, Req)
		nw.connect(req, nw.bind(rep))
		done := make(chan error, 1)
		go func() {
			for i := 0; i < 100; i++ {
				m, err := rep.Recv(ctx)
				if err != nil {
					done <- err
					return
				}
				if err := rep.Send(ctx, append([]byte("re:"), m[0]...), []byte("x")); err != nil {
					done <- err
					return
				}
			}
			done <- nil
		}()
		for i := 0; i < 100; i++ {
			body := fmt.Sprintf("q%d", i)
			if err := req.Send(ctx, []byte(body)); err != nil {
				t.Fatalf("Send %d: got error %v, want nil", i, err)
			}
			if i == 0 {
				if err := req.Send(ctx, []byte("again")); !errors.Is(err, ErrState) {
					t.Fatalf("second Send before the reply: got %v, want ErrState", err)
				}
			}
			m, err := req.Recv(ctx)
			if err != nil {
				t.Fatalf("Recv %d: got error %v, want nil", i, err)
			}
			if len(m) != 2 || string(m[0]) != "re:"+body || string(m[1]) != "x" {
				t.Fatalf("reply %d: got %q, want [re:%s x]", i, m, body)
			}
		}
		if err := <-done; err != nil {
			t.Fatalf("REP loop: got error %v, want nil", err)
		}
		if _, err := req.Recv(ctx); !errors.Is(err, ErrState) {
			t.Fatalf("Recv with no request: got %v, want ErrState", err)
		}
		if err := rep.Send(ctx, []byte("unasked")); !errors.Is(err, ErrState) {
			t.Fatalf("REP Send with no request: got %v, want ErrState", err)
		}
	})
}
