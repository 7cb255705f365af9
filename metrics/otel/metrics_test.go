package wispotel_test

import (
	"bytes"
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"

	"go.opentelemetry.io/otel/attribute"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"

	wispotel "github.com/wispmq/wisp/metrics/otel"
	"github.com/wispmq/wisp/socket"
)

// instrumentSpec is what the package documentation promises of each
// instrument; the test holds its own copy so that a change to the tables
// must be a deliberate change here too.
var instrumentSpec = []struct {
	name      string
	unit      string
	monotonic bool
}{
	{"wisp.messages.received", "{message}", true},
	{"wisp.messages.sent", "{message}", true},
	{"wisp.payload.received", "By", true},
	{"wisp.payload.sent", "By", true},
	{"wisp.messages.resent", "{message}", true},
	{"wisp.messages.dropped", "{message}", true},
	{"wisp.messages.duplicate", "{message}", true},
	{"wisp.messages.unroutable", "{message}", true},
	{"wisp.messages.bad_envelope", "{message}", true},
	{"wisp.replies.stale", "{message}", true},
	{"wisp.requests.retried", "{request}", true},
	{"wisp.handshakes.failed", "{connection}", true},
	{"wisp.protocol.errors", "{connection}", true},
	{"wisp.events.dropped", "{event}", true},
	{"wisp.messages.unacked", "{message}", false},
	{"wisp.send_queue.messages", "{message}", false},
	{"wisp.recv_queue.messages", "{message}", false},
	{"wisp.recv_queue.bytes", "By", false},
	{"wisp.messages.orphaned", "{message}", false},
	{"wisp.peers.connected", "{peer}", false},
}

// perPeer are the instruments WithMaxPeers breaks down.
var perPeer = []string{
	"wisp.messages.received", "wisp.messages.sent", "wisp.payload.received", "wisp.payload.sent",
	"wisp.messages.resent", "wisp.messages.dropped",
	"wisp.messages.unacked", "wisp.send_queue.messages", "wisp.recv_queue.messages",
}

func sock(name string) attribute.KeyValue { return wispotel.SocketKey.String(name) }

// TestPushPull sends N messages from a PUSH to a PULL and reads them back
// from the instruments, over each transport.
func TestPushPull(t *testing.T) {
	for _, transport := range []string{"tcp", "inproc"} {
		t.Run(transport, func(t *testing.T) {
			const n, size = 100, 10
			ctx := testContext(t)
			provider, reader := newReader(t)
			m, err := wispotel.New(provider)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { m.Close() })

			pull := newSocket(t, socket.Pull)
			push := newSocket(t, socket.Push)
			connect(t, push, bind(t, pull, transport))
			m.Add("in", pull)
			m.Add("out", push)

			send(t, ctx, push, n, bytes.Repeat([]byte("x"), size))
			recv(t, ctx, pull, n)
			flush(t, ctx, push) // every message acknowledged: the levels are settled
			settleIn(t, ctx, pull, n, n*size)
			settleOut(t, ctx, push, n, n*size)

			pts := collect(t, reader)
			for _, spec := range instrumentSpec {
				for _, name := range []string{"in", "out"} {
					got := match(pts, spec.name, sock(name))
					if len(got) != 1 {
						t.Fatalf("%s of %s: %d points, want 1: %v", spec.name, name, len(got), got)
					}
					p := got[0]
					if p.unit != spec.unit || p.monotonic != spec.monotonic {
						t.Errorf("%s: unit %q monotonic %v, want %q %v", spec.name, p.unit, p.monotonic, spec.unit, spec.monotonic)
					}
					if _, has := p.attrs.Value(wispotel.PeerKey); has {
						t.Errorf("%s: has %s without WithMaxPeers", p, wispotel.PeerKey)
					}
				}
			}
			typ := wispotel.SocketTypeKey
			for _, c := range []struct {
				name string
				kv   []attribute.KeyValue
				want int64
			}{
				{"wisp.messages.sent", []attribute.KeyValue{sock("out"), typ.String("PUSH")}, n},
				{"wisp.payload.sent", []attribute.KeyValue{sock("out")}, n * size},
				{"wisp.messages.received", []attribute.KeyValue{sock("in"), typ.String("PULL")}, n},
				{"wisp.payload.received", []attribute.KeyValue{sock("in")}, n * size},
				{"wisp.messages.received", []attribute.KeyValue{sock("out")}, 0},
				{"wisp.messages.sent", []attribute.KeyValue{sock("in")}, 0},
				{"wisp.messages.resent", []attribute.KeyValue{sock("out")}, 0},
				{"wisp.messages.duplicate", []attribute.KeyValue{sock("in")}, 0},
				{"wisp.messages.dropped", []attribute.KeyValue{sock("in")}, 0},
				{"wisp.messages.unacked", []attribute.KeyValue{sock("out")}, 0},
				{"wisp.send_queue.messages", []attribute.KeyValue{sock("out")}, 0},
				{"wisp.recv_queue.messages", []attribute.KeyValue{sock("in")}, 0},
				{"wisp.peers.connected", []attribute.KeyValue{sock("out")}, 1},
				{"wisp.peers.connected", []attribute.KeyValue{sock("in")}, 1},
			} {
				if got := value(t, pts, c.name, c.kv...); got != c.want {
					t.Errorf("%s %v = %d, want %d", c.name, c.kv, got, c.want)
				}
			}

			// The counters go on from where they were.
			send(t, ctx, push, n, []byte("y"))
			recv(t, ctx, pull, n)
			settleIn(t, ctx, pull, 2*n, n*size+n)
			pts = collect(t, reader)
			if got := value(t, pts, "wisp.messages.received", sock("in")); got != 2*n {
				t.Errorf("after %d more: wisp.messages.received = %d, want %d", n, got, 2*n)
			}
		})
	}
}

// routerWithDealers connects k DEALERs to a ROUTER; DEALER i sends i+1
// messages of 3 bytes, and the ROUTER receives them all.
func routerWithDealers(t *testing.T, transport string, k int) (*socket.Socket, []*socket.Socket) {
	t.Helper()
	ctx := testContext(t)
	router := newSocket(t, socket.Router)
	ep := bind(t, router, transport)
	dealers := make([]*socket.Socket, k)
	total := 0
	for i := range dealers {
		dealers[i] = newSocket(t, socket.Dealer)
		connect(t, dealers[i], ep)
		send(t, ctx, dealers[i], i+1, []byte("abc"))
		total += i + 1
	}
	recv(t, ctx, router, total)
	settleIn(t, ctx, router, uint64(total), 3*uint64(total))
	return router, dealers
}

// peerPoints splits an instrument's points of one socket into those of
// single peers, by label, and _other's value.
func peerPoints(t *testing.T, pts []point, name, socketName string) (map[string]int64, int64) {
	t.Helper()
	peers := map[string]int64{}
	var other int64
	others := 0
	for _, p := range match(pts, name, sock(socketName)) {
		label, has := p.attrs.Value(wispotel.PeerKey)
		switch {
		case !has:
			t.Fatalf("%s: no %s under WithMaxPeers", p, wispotel.PeerKey)
		case label.AsString() == wispotel.OtherPeers:
			other = p.value
			others++
		default:
			peers[label.AsString()] = p.value
		}
	}
	if others != 1 {
		t.Fatalf("%s of %s: %d %s points, want 1", name, socketName, others, wispotel.OtherPeers)
	}
	return peers, other
}

// TestMaxPeers gives a ROUTER more peers than the limit: exactly the limit
// of the busiest get a series, the rest add up under _other, and a quiet
// peer that turns busy takes the series of the quietest listed one.
func TestMaxPeers(t *testing.T) {
	for _, transport := range []string{"tcp", "inproc"} {
		t.Run(transport, func(t *testing.T) {
			const k, limit = 7, 3
			ctx := testContext(t)
			provider, reader := newReader(t)
			m, err := wispotel.New(provider, wispotel.WithMaxPeers(limit))
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { m.Close() })

			router, dealers := routerWithDealers(t, transport, k)
			m.Add("router", router)

			pts := collect(t, reader)
			st := router.Stats()
			if len(st.Peers) != k {
				t.Fatalf("router lists %d peers, want %d", len(st.Peers), k)
			}
			// The busiest are the last dealers, each labelled by its session.
			want := map[string]int64{}
			for i := k - limit; i < k; i++ {
				want[dealers[i].Session()] = int64(i + 1)
			}
			peers, other := peerPoints(t, pts, "wisp.messages.received", "router")
			if !mapsEqual(peers, want) {
				t.Errorf("peer series %v, want %v", peers, want)
			}
			if wantOther := int64(1 + 2 + 3 + 4); other != wantOther {
				t.Errorf("_other = %d, want %d", other, wantOther)
			}
			checkAddsUp(t, pts, "router", router.Stats(), limit)

			// Dealer 0, counted under _other so far, sends more than twice
			// the traffic of the quietest listed dealer (dealer 4, 5
			// messages): it takes that series, which counts from here,
			// and dealer 4's 5 move to _other.
			send(t, ctx, dealers[0], 20, []byte("abc"))
			recv(t, ctx, router, 20)
			settleIn(t, ctx, router, 28+20, 3*(28+20))
			pts2 := collect(t, reader)
			peers2, other2 := peerPoints(t, pts2, "wisp.messages.received", "router")
			want2 := map[string]int64{
				dealers[0].Session(): 20,
				dealers[5].Session(): 6,
				dealers[6].Session(): 7,
			}
			if !mapsEqual(peers2, want2) {
				t.Errorf("after dealer 0's burst: peer series %v, want %v", peers2, want2)
			}
			if want := other + 5; other2 != want {
				t.Errorf("after dealer 0's burst: _other = %d, want %d", other2, want)
			}
			checkAddsUp(t, pts2, "router", router.Stats(), limit)
			checkNeverDown(t, pts, pts2)
		})
	}
}

// checkAddsUp checks that each per-peer instrument of the socket has at
// most limit peer series plus _other, and that they add up to the
// socket's total as Stats reports it (the sockets are idle, so Stats then
// is what the collection saw).
func checkAddsUp(t *testing.T, pts []point, socketName string, st socket.Stats, limit int) {
	t.Helper()
	totals := map[string]int64{
		"wisp.messages.received":   int64(st.MsgsIn),
		"wisp.messages.sent":       int64(st.MsgsOut),
		"wisp.payload.received":    int64(st.BytesIn),
		"wisp.payload.sent":        int64(st.BytesOut),
		"wisp.messages.resent":     int64(st.Resends),
		"wisp.messages.dropped":    int64(st.Drops),
		"wisp.messages.unacked":    int64(st.Unacked),
		"wisp.send_queue.messages": int64(st.SendQueue),
		"wisp.recv_queue.messages": int64(st.RecvQueue),
	}
	for _, name := range perPeer {
		peers, other := peerPoints(t, pts, name, socketName)
		if len(peers) != min(limit, len(st.Peers)) {
			t.Errorf("%s: %d peer series, want %d", name, len(peers), min(limit, len(st.Peers)))
		}
		sum := other
		for _, v := range peers {
			sum += v
		}
		if sum != totals[name] {
			t.Errorf("%s: peers %v + _other %d = %d, want the total %d", name, peers, other, sum, totals[name])
		}
	}
}

// checkNeverDown checks that no counter series present in both collections
// went down, _other's included.
func checkNeverDown(t *testing.T, before, after []point) {
	t.Helper()
	for _, a := range after {
		if !a.monotonic {
			continue
		}
		for _, b := range before {
			if b.name == a.name && b.attrs.Equals(&a.attrs) && a.value < b.value {
				t.Errorf("%s went down from %d", a, b.value)
			}
		}
	}
}

func mapsEqual(a, b map[string]int64) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}

// TestPeerLabel labels a PUSH's peers by the endpoints it connects, which
// tell them apart because this socket dialed each.
func TestPeerLabel(t *testing.T) {
	const k, perPull = 3, 4
	ctx := testContext(t)
	provider, reader := newReader(t)
	m, err := wispotel.New(provider, wispotel.WithMaxPeers(k),
		wispotel.WithPeerLabel(func(p socket.PeerStats) string { return p.Endpoint }))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })

	push := newSocket(t, socket.Push)
	var eps []string
	pulls := make([]*socket.Socket, k)
	for i := range pulls {
		pulls[i] = newSocket(t, socket.Pull)
		ep := bind(t, pulls[i], "inproc")
		connect(t, push, ep)
		eps = append(eps, ep)
	}
	if err := push.WaitPeers(ctx, k); err != nil {
		t.Fatal(err)
	}
	send(t, ctx, push, k*perPull, []byte("m")) // round-robin: perPull each
	for _, p := range pulls {
		recv(t, ctx, p, perPull)
	}
	flush(t, ctx, push)
	settleOut(t, ctx, push, k*perPull, k*perPull)
	m.Add("push", push)

	pts := collect(t, reader)
	peers, other := peerPoints(t, pts, "wisp.messages.sent", "push")
	var labels []string
	for l, v := range peers {
		labels = append(labels, l)
		if v != perPull {
			t.Errorf("%s sent %d, want %d", l, v, perPull)
		}
	}
	slices.Sort(labels)
	slices.Sort(eps)
	if !slices.Equal(labels, eps) {
		t.Errorf("labels %v, want the endpoints %v", labels, eps)
	}
	if other != 0 {
		t.Errorf("_other = %d, want 0", other)
	}
	checkAddsUp(t, pts, "push", push.Stats(), k)
}

// TestRemoveClose checks that Remove stops one socket's series, Add under
// a name in use replaces the socket, and Close stops them all.
func TestRemoveClose(t *testing.T) {
	for _, maxPeers := range []int{0, 2} {
		t.Run(fmt.Sprintf("maxPeers=%d", maxPeers), func(t *testing.T) {
			ctx := testContext(t)
			provider, reader := newReader(t)
			m, err := wispotel.New(provider, wispotel.WithMaxPeers(maxPeers))
			if err != nil {
				t.Fatal(err)
			}
			pull := newSocket(t, socket.Pull)
			push := newSocket(t, socket.Push)
			connect(t, push, bind(t, pull, "inproc"))
			send(t, ctx, push, 5, []byte("m"))
			recv(t, ctx, pull, 5)
			flush(t, ctx, push)
			settleOut(t, ctx, push, 5, 5)
			m.Add("a", push)
			m.Add("b", pull)

			sockets := func(pts []point) []string {
				var names []string
				for _, p := range pts {
					if v, ok := p.attrs.Value(wispotel.SocketKey); ok && !slices.Contains(names, v.AsString()) {
						names = append(names, v.AsString())
					}
				}
				slices.Sort(names)
				return names
			}
			if got := sockets(collect(t, reader)); !slices.Equal(got, []string{"a", "b"}) {
				t.Fatalf("reported %v, want [a b]", got)
			}

			m.Remove("a")
			m.Remove("never added")
			if got := sockets(collect(t, reader)); !slices.Equal(got, []string{"b"}) {
				t.Fatalf("after Remove(a): reported %v, want [b]", got)
			}

			// "b" now names the PUSH: its series are the PUSH's.
			m.Add("b", push)
			pts := collect(t, reader)
			var sent int64
			for _, p := range match(pts, "wisp.messages.sent", sock("b"), wispotel.SocketTypeKey.String("PUSH")) {
				sent += p.value
			}
			if sent != 5 {
				t.Errorf("b replaced by the PUSH: sent %d, want 5", sent)
			}
			if got := match(pts, "wisp.messages.sent", sock("b"), wispotel.SocketTypeKey.String("PULL")); len(got) != 0 {
				t.Errorf("b replaced by the PUSH still reports the PULL: %v", got)
			}

			if err := m.Close(); err != nil {
				t.Fatalf("Close: %v", err)
			}
			if got := collect(t, reader); len(got) != 0 {
				t.Fatalf("after Close: %d points, want none: %v", len(got), got)
			}
			if err := m.Close(); err != nil {
				t.Fatalf("second Close: %v", err)
			}
			m.Add("c", pull) // after Close: accepted, never reported
			if got := collect(t, reader); len(got) != 0 {
				t.Fatalf("Add after Close: %d points, want none", len(got))
			}
		})
	}
}

// TestConcurrent collects from two readers at once while a name is added
// and removed and messages flow, for the race detector. The socket that
// stays must still add up, and its _other series never go down from one
// collection of a reader to its next.
func TestConcurrent(t *testing.T) {
	const rounds, n = 200, 200
	ctx := testContext(t)
	r1, r2 := sdkmetric.NewManualReader(), sdkmetric.NewManualReader()
	provider := sdkmetric.NewMeterProvider(sdkmetric.WithReader(r1), sdkmetric.WithReader(r2))
	t.Cleanup(func() { provider.Shutdown(context.Background()) })
	m, err := wispotel.New(provider, wispotel.WithMaxPeers(1))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })

	pull := newSocket(t, socket.Pull)
	ep := bind(t, pull, "inproc")
	pushes := make([]*socket.Socket, 3)
	for i := range pushes {
		pushes[i] = newSocket(t, socket.Push)
		connect(t, pushes[i], ep)
	}
	m.Add("pull", pull)

	// Only the pull's socket-wide and _other series: a peer series may end
	// and begin again from zero, and "push" changes sockets.
	steady := func(pts []point) []point {
		var out []point
		for _, p := range match(pts, "", sock("pull")) {
			if v, ok := p.attrs.Value(wispotel.PeerKey); !ok || v.AsString() == wispotel.OtherPeers {
				out = append(out, p)
			}
		}
		return out
	}
	var wg sync.WaitGroup
	for _, r := range []*sdkmetric.ManualReader{r1, r2} {
		wg.Go(func() {
			var prev []point
			for range rounds {
				pts, err := collectPoints(r)
				if err != nil {
					t.Error(err)
					return
				}
				pts = steady(pts)
				checkNeverDown(t, prev, pts)
				prev = pts
			}
		})
	}
	wg.Go(func() {
		for i := range rounds {
			m.Add("push", pushes[i%len(pushes)])
			m.Remove("push")
		}
	})
	for _, push := range pushes {
		wg.Go(func() {
			for range n {
				if err := push.Send(ctx, []byte("m")); err != nil {
					t.Errorf("Send: %v", err)
					return
				}
			}
		})
	}
	recv(t, ctx, pull, len(pushes)*n)
	wg.Wait()
	settleIn(t, ctx, pull, uint64(len(pushes)*n), uint64(len(pushes)*n))

	pts := collect(t, r1)
	var got int64
	for _, p := range match(pts, "wisp.messages.received", sock("pull")) {
		got += p.value
	}
	if got != int64(len(pushes)*n) {
		t.Errorf("received %d over the series, want %d", got, len(pushes)*n)
	}
	if ps := match(pts, "wisp.messages.received", sock("push")); len(ps) != 0 {
		t.Errorf("removed push still reported: %v", ps)
	}
}
