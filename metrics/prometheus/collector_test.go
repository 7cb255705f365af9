package wispprom

import (
	"bytes"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/wispmq/wisp/socket"
)

// transports are the endpoints the tests with real sockets bind, one per
// kind of transport; inproc names are made unique per test.
func transports(t *testing.T) map[string]string {
	return map[string]string{
		"tcp":    "tcp://127.0.0.1:0",
		"inproc": "inproc://wispprom-" + strings.ReplaceAll(t.Name(), "/", "-"),
	}
}

// A PUSH and a PULL exchange n messages; the scrape shows those counts on
// both sides, per socket and per peer.
func TestPushPull(t *testing.T) {
	for tr, ep := range transports(t) {
		t.Run(tr, func(t *testing.T) {
			const n = 100
			ctx := testContext(t)
			pull := newSocket(t, socket.Pull)
			push := newSocket(t, socket.Push)
			real := bind(t, pull, ep)
			connect(t, push, real)

			c := NewCollector()
			c.Add("in", pull)
			c.Add("out", push)

			size := 0
			for i := range n {
				msg := bytes.Repeat([]byte{'x'}, i%7+1)
				size += len(msg)
				if err := push.Send(ctx, msg); err != nil {
					t.Fatalf("Send %d: %v", i, err)
				}
			}
			for i := range n {
				if _, err := pull.Recv(ctx); err != nil {
					t.Fatalf("Recv %d: %v", i, err)
				}
			}
			// Every message is acknowledged, so nothing is held any more.
			if err := push.Flush(ctx); err != nil {
				t.Fatalf("Flush: %v", err)
			}

			// A PULL counts a message before Recv can return it, so its
			// counters are exact now.
			pullPeer := real + "#" + push.Session()
			pushPeer := real + "#" + pull.Session()
			s := gather(t, c)
			s.want(t, map[string]float64{
				of("wisp_messages_received_total", "in", "pull"):  n,
				of("wisp_received_bytes_total", "in", "pull"):     float64(size),
				of("wisp_messages_sent_total", "in", "pull"):      0,
				of("wisp_receive_queue_messages", "in", "pull"):   0,
				of("wisp_receive_queue_bytes", "in", "pull"):      0,
				of("wisp_connected_peers", "in", "pull"):          1,
				of("wisp_known_peers", "in", "pull"):              1,
				of("wisp_duplicate_messages_total", "in", "pull"): 0,

				of("wisp_unacked_messages", "out", "push"):       0,
				of("wisp_send_queue_messages", "out", "push"):    0,
				of("wisp_orphaned_messages", "out", "push"):      0,
				of("wisp_connected_peers", "out", "push"):        1,
				of("wisp_known_peers", "out", "push"):            1,
				of("wisp_dropped_messages_total", "out", "push"): 0,

				peerOf("wisp_peer_messages_received_total", "in", "pull", pullPeer):   n,
				peerOf("wisp_peer_received_bytes_total", "in", "pull", pullPeer):      float64(size),
				peerOf("wisp_peer_connected", "in", "pull", pullPeer):                 1,
				peerOf("wisp_peer_messages_received_total", "in", "pull", OtherPeers): 0,
				peerOf("wisp_peer_connected", "in", "pull", OtherPeers):               0,
				peerOf("wisp_peer_unacked_messages", "out", "push", pushPeer):         0,
				peerOf("wisp_peer_connected", "out", "push", pushPeer):                1,
			})
			s.checkSums(t, "in", "pull", 2)
			// Not the PUSH's yet: see below.

			// A sender counts a message just after writing it, the peer's
			// counter first and then the socket's, so the receiver can have
			// it, and even acknowledge it and let Flush return, before the
			// PUSH's Stats shows it sent. Once Close has returned, every
			// goroutine of the PUSH is done and its counters are final.
			if err := push.Close(); err != nil {
				t.Fatalf("push Close: %v", err)
			}
			s = gather(t, c)
			s.want(t, map[string]float64{
				of("wisp_messages_sent_total", "out", "push"):                      n,
				of("wisp_sent_bytes_total", "out", "push"):                         float64(size),
				of("wisp_messages_received_total", "out", "push"):                  0,
				of("wisp_connected_peers", "out", "push"):                          0,
				peerOf("wisp_peer_messages_sent_total", "out", "push", pushPeer):   n,
				peerOf("wisp_peer_sent_bytes_total", "out", "push", pushPeer):      float64(size),
				peerOf("wisp_peer_messages_sent_total", "out", "push", OtherPeers): 0,
			})
			s.checkSums(t, "out", "push", 2)
		})
	}
}

// A ROUTER with more peers than WithMaxPeers has exactly that many peer
// series, the busiest peers', plus _other, and they add up to its totals.
func TestRouterMaxPeers(t *testing.T) {
	for tr, ep := range transports(t) {
		t.Run(tr, func(t *testing.T) {
			const (
				dealers  = 7
				maxPeers = 3
			)
			ctx := testContext(t)
			router := newSocket(t, socket.Router)
			real := bind(t, router, ep)
			c := NewCollector(WithMaxPeers(maxPeers))
			c.Add("broker", router)

			// Dealer i sends i+1 messages of i+1 bytes, so the busiest are
			// the last ones, by clear margins.
			ds := make([]*socket.Socket, dealers)
			sent, size := 0, 0
			for i := range ds {
				ds[i] = newSocket(t, socket.Dealer)
				connect(t, ds[i], real)
				for range i + 1 {
					if err := ds[i].Send(ctx, bytes.Repeat([]byte{byte('a' + i)}, i+1)); err != nil {
						t.Fatalf("dealer %d Send: %v", i, err)
					}
					sent++
					size += i + 1
				}
			}
			label := func(i int) string { return real + "#" + ds[i].Session() }
			var received []socket.Message
			for range sent {
				m, err := router.Recv(ctx)
				if err != nil {
					t.Fatalf("router Recv: %v", err)
				}
				received = append(received, m)
			}

			// A receiver's counters are exact as soon as Recv has returned.
			s := gather(t, c)
			s.checkSums(t, "broker", "router", maxPeers+1)
			want := map[string]float64{
				of("wisp_messages_received_total", "broker", "router"): float64(sent),
				of("wisp_received_bytes_total", "broker", "router"):    float64(size),
				of("wisp_connected_peers", "broker", "router"):         dealers,
				of("wisp_known_peers", "broker", "router"):             dealers,
			}
			rest, restBytes := float64(sent), float64(size)
			for i := dealers - maxPeers; i < dealers; i++ {
				n := float64(i + 1)
				want[peerOf("wisp_peer_messages_received_total", "broker", "router", label(i))] = n
				want[peerOf("wisp_peer_received_bytes_total", "broker", "router", label(i))] = n * n
				want[peerOf("wisp_peer_connected", "broker", "router", label(i))] = 1
				rest -= n
				restBytes -= n * n
			}
			want[peerOf("wisp_peer_messages_received_total", "broker", "router", OtherPeers)] = rest
			want[peerOf("wisp_peer_received_bytes_total", "broker", "router", OtherPeers)] = restBytes
			want[peerOf("wisp_peer_connected", "broker", "router", OtherPeers)] = dealers - maxPeers
			s.want(t, want)

			// Every request answered, and the answers taken.
			for _, m := range received {
				if err := router.Send(ctx, m[0], m[1], m[1]); err != nil { // twice the bytes back
					t.Fatalf("router Send: %v", err)
				}
			}
			for i, d := range ds {
				for range i + 1 {
					if _, err := d.Recv(ctx); err != nil {
						t.Fatalf("dealer %d Recv: %v", i, err)
					}
				}
			}
			// Close waits until the dealers have acknowledged every answer
			// and the router's goroutines are done: its counters are final.
			if err := router.Close(); err != nil {
				t.Fatalf("router Close: %v", err)
			}
			s = gather(t, c)
			s.checkSums(t, "broker", "router", maxPeers+1)
			want = map[string]float64{
				of("wisp_messages_sent_total", "broker", "router"): float64(sent),
				of("wisp_sent_bytes_total", "broker", "router"):    float64(2 * size),
				of("wisp_unacked_messages", "broker", "router"):    0,
			}
			for i := dealers - maxPeers; i < dealers; i++ {
				n := float64(i + 1)
				want[peerOf("wisp_peer_messages_sent_total", "broker", "router", label(i))] = n
				want[peerOf("wisp_peer_sent_bytes_total", "broker", "router", label(i))] = 2 * n * n
				want[peerOf("wisp_peer_messages_received_total", "broker", "router", label(i))] = n
			}
			s.want(t, want)
		})
	}
}

// Remove stops reporting a socket at once; Add under a name in use
// replaces the socket.
func TestAddRemove(t *testing.T) {
	pull := newSocket(t, socket.Pull)
	push := newSocket(t, socket.Push)
	c := NewCollector()
	c.Add("a", pull)
	c.Add("b", push)
	sockets := func(s scrape) []string {
		set := make(map[string]bool)
		for k := range s {
			if strings.HasPrefix(k, "wisp_messages_received_total{") {
				set[k] = true
			}
		}
		return slices.Sorted(maps.Keys(set))
	}
	check := func(want ...string) {
		t.Helper()
		if got := sockets(gather(t, c)); !slices.Equal(got, want) {
			t.Errorf("series %q, want %q", got, want)
		}
	}
	check(of("wisp_messages_received_total", "a", "pull"), of("wisp_messages_received_total", "b", "push"))
	c.Remove("a")
	check(of("wisp_messages_received_total", "b", "push"))
	c.Remove("a") // again: nothing there
	c.Remove("never added")
	check(of("wisp_messages_received_total", "b", "push"))
	c.Add("b", pull)
	check(of("wisp_messages_received_total", "b", "pull"))
	c.Remove("b")
	if s := gather(t, c); len(s) != 0 {
		t.Errorf("no sockets: got series %v", slices.Sorted(maps.Keys(s)))
	}
}

// WithMaxPeers(0) leaves out every per-peer series, _other too.
func TestNoPeerSeries(t *testing.T) {
	ctx := testContext(t)
	pull := newSocket(t, socket.Pull)
	push := newSocket(t, socket.Push)
	connect(t, push, bind(t, pull, "inproc://wispprom-nopeers"))
	if err := push.Send(ctx, []byte("x")); err != nil {
		t.Fatal(err)
	}
	if _, err := pull.Recv(ctx); err != nil {
		t.Fatal(err)
	}
	for _, n := range []int{0, -1} {
		c := NewCollector(WithMaxPeers(n))
		c.Add("in", pull)
		s := gather(t, c)
		for _, name := range s.names() {
			if strings.HasPrefix(name, "wisp_peer_") {
				t.Errorf("WithMaxPeers(%d): got %s", n, name)
			}
		}
		s.want(t, map[string]float64{of("wisp_messages_received_total", "in", "pull"): 1})
	}
}

// Every metric follows Prometheus' naming conventions (promlint), and the
// Collector reports every metric it describes.
func TestLint(t *testing.T) {
	ctx := testContext(t)
	pull := newSocket(t, socket.Pull)
	push := newSocket(t, socket.Push)
	connect(t, push, bind(t, pull, "tcp://127.0.0.1:0"))
	if err := push.Send(ctx, []byte("x")); err != nil {
		t.Fatal(err)
	}
	if _, err := pull.Recv(ctx); err != nil {
		t.Fatal(err)
	}
	c := NewCollector()
	c.Add("in", pull)
	c.Add("out", push)
	problems, err := testutil.CollectAndLint(c)
	if err != nil {
		t.Fatalf("CollectAndLint: %v", err)
	}
	for _, p := range problems {
		t.Errorf("%s: %s", p.Metric, p.Text)
	}

	described := make(map[string]bool)
	ch := make(chan *prometheus.Desc)
	go func() { c.Describe(ch); close(ch) }()
	for d := range ch {
		name := d.String()
		name = name[strings.Index(name, `fqName: "`)+len(`fqName: "`):]
		described[name[:strings.IndexByte(name, '"')]] = true
	}
	got := gather(t, c).names()
	if want := slices.Sorted(maps.Keys(described)); !slices.Equal(got, want) {
		t.Errorf("collected %q,\nwant the described %q", got, want)
	}
	if len(got) != 28 {
		t.Errorf("%d metrics, want 28 (14 counters, 7 gauges, 7 per peer)", len(got))
	}
}

// Peers that WithPeerLabel gives one label share a series, without the
// duplicate series a registry would refuse; a label that is not UTF-8 is
// mended rather than making Collect panic; and peers labelled "" or
// "_other" count in _other.
func TestPeerLabel(t *testing.T) {
	ctx := testContext(t)
	pull := newSocket(t, socket.Pull)
	ep := bind(t, pull, "tcp://127.0.0.1:0")
	pushes := make([]*socket.Socket, 4)
	for i := range pushes {
		pushes[i] = newSocket(t, socket.Push)
		connect(t, pushes[i], ep)
		for range i + 1 {
			if err := pushes[i].Send(ctx, []byte("m")); err != nil {
				t.Fatal(err)
			}
		}
	}
	for range 1 + 2 + 3 + 4 {
		if _, err := pull.Recv(ctx); err != nil {
			t.Fatal(err)
		}
	}
	labels := map[string]string{
		pushes[0].Session(): "same",
		pushes[1].Session(): "same",
		pushes[2].Session(): "bad\xff",
		pushes[3].Session(): OtherPeers,
	}
	c := NewCollector(WithPeerLabel(func(p socket.PeerStats) string { return labels[p.Session] }))
	c.Add("in", pull)
	s := gather(t, c)
	got := s.peers("wisp_peer_messages_received_total", "in")
	want := map[string]float64{"same": 1 + 2, "bad\uFFFD": 3, OtherPeers: 4}
	if !maps.Equal(got, want) {
		t.Errorf("series %v, want %v", got, want)
	}
	s.checkSums(t, "in", "pull", 3)
}

// Scrapes, Add and Remove, and traffic, all at once: the race detector
// and the registry's consistency checks find nothing, no counter ever
// goes down from one scrape to the next, and once the traffic stops the
// series add up.
func TestConcurrent(t *testing.T) {
	const n = 2000
	ctx := testContext(t)
	pull := newSocket(t, socket.Pull)
	ep := bind(t, pull, "inproc://wispprom-concurrent")
	c := NewCollector(WithMaxPeers(2))
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(c)
	c.Add("in", pull)

	var wg sync.WaitGroup
	errs := make(chan error, 16)
	for i := range 4 {
		push := newSocket(t, socket.Push)
		connect(t, push, ep)
		wg.Go(func() {
			for j := range n / 4 {
				if err := push.Send(ctx, []byte("m")); err != nil {
					errs <- fmt.Errorf("push %d Send %d: %w", i, j, err)
					return
				}
			}
		})
	}
	wg.Go(func() {
		for j := range n {
			if _, err := pull.Recv(ctx); err != nil {
				errs <- fmt.Errorf("Recv %d: %w", j, err)
				return
			}
		}
	})
	done := make(chan struct{})
	var scrapers sync.WaitGroup
	for range 3 {
		scrapers.Go(func() {
			last := make(scrape)
			for {
				select {
				case <-done:
					return
				default:
				}
				s, err := gatherFrom(reg)
				if err != nil {
					errs <- err
					return
				}
				// One goroutine's scrapes follow each other, so each of
				// its counters can only grow. (A peer's series can end and
				// start again at 0 between two of them, by design; the
				// socket's and _other cannot.)
				for k, v := range s {
					mayRestart := strings.Contains(k, `{peer=`) && !strings.Contains(k, `{peer="_other"`)
					if strings.Contains(k, `_total{`) && strings.Contains(k, `socket="in"`) && !mayRestart && v < last[k] {
						errs <- fmt.Errorf("%s went down from %v to %v", k, last[k], v)
						return
					}
				}
				last = s
			}
		})
	}
	other := newSocket(t, socket.Dealer)
	scrapers.Go(func() {
		for {
			select {
			case <-done:
				return
			default:
			}
			c.Add("other", other)
			c.Remove("other")
		}
	})
	wg.Wait()
	close(done)
	scrapers.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	s, err := gatherFrom(reg)
	if err != nil {
		t.Fatal(err)
	}
	s.want(t, map[string]float64{of("wisp_messages_received_total", "in", "pull"): n})
	s.checkSums(t, "in", "pull", 3)
}

// A registry takes one Collector: a second, with the same metrics, is
// refused rather than reporting every socket twice.
func TestOnePerRegistry(t *testing.T) {
	reg := prometheus.NewRegistry()
	if err := reg.Register(NewCollector()); err != nil {
		t.Fatalf("first Register: %v", err)
	}
	if err := reg.Register(NewCollector(WithMaxPeers(1))); err == nil {
		t.Fatal("second Register: got nil error, want a duplicate-descriptor error")
	}
}
