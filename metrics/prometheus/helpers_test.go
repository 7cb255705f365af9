package wispprom

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/wispmq/wisp/socket"
)

// hangGuard bounds a blocking call that should return at once, so that a
// bug fails the test instead of hanging it; no test depends on it being
// short.
const hangGuard = time.Minute

func testContext(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), hangGuard)
	t.Cleanup(cancel)
	return ctx
}

// scrape is one gathered scrape: each series' value by its text form,
// name{label="value",...} with the labels in name order, as Prometheus
// prints it.
type scrape map[string]float64

// gather registers c alone in a pedantic registry, which also checks that
// every metric collected matches a descriptor Describe sent, and gathers.
func gather(t *testing.T, c prometheus.Collector) scrape {
	t.Helper()
	reg := prometheus.NewPedanticRegistry()
	if err := reg.Register(c); err != nil {
		t.Fatalf("Register: %v", err)
	}
	s, err := gatherFrom(reg)
	if err != nil {
		t.Fatalf("Gather: %v", err)
	}
	return s
}

func gatherFrom(g prometheus.Gatherer) (scrape, error) {
	mfs, err := g.Gather()
	if err != nil {
		return nil, err
	}
	s := make(scrape)
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			var labels []string
			for _, l := range m.GetLabel() {
				labels = append(labels, l.GetName(), l.GetValue())
			}
			v := m.GetCounter().GetValue() + m.GetGauge().GetValue() // the other is nil, and reads 0
			s[series(mf.GetName(), labels...)] = v
		}
	}
	return s, nil
}

// series is the text form of a series; labels are name, value pairs in
// name order.
func series(name string, labels ...string) string {
	var b strings.Builder
	b.WriteString(name)
	b.WriteByte('{')
	for i := 0; i < len(labels); i += 2 {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, "%s=%q", labels[i], labels[i+1])
	}
	b.WriteByte('}')
	return b.String()
}

// of is the series of a per-socket metric.
func of(name, sock, typ string) string { return series(name, "socket", sock, "type", typ) }

// peerOf is the series of a per-peer metric.
func peerOf(name, sock, typ, peer string) string {
	return series(name, "peer", peer, "socket", sock, "type", typ)
}

// peers returns the per-peer series of metric for socket sock, by peer
// label.
func (s scrape) peers(metric, sock string) map[string]float64 {
	out := make(map[string]float64)
	prefix := metric + `{peer="`
	for k, v := range s {
		rest, ok := strings.CutPrefix(k, prefix)
		if !ok || !strings.Contains(k, `,socket=`+strconv.Quote(sock)+`,`) {
			continue
		}
		peer, err := strconv.Unquote(`"` + rest[:strings.Index(rest, `",socket=`)] + `"`)
		if err != nil {
			panic(err)
		}
		out[peer] = v
	}
	return out
}

// names returns the metric names in s, sorted.
func (s scrape) names() []string {
	set := make(map[string]bool)
	for k := range s {
		set[k[:strings.IndexByte(k, '{')]] = true
	}
	return slices.Sorted(maps.Keys(set))
}

// want checks that s has each series with the value given.
func (s scrape) want(t *testing.T, want map[string]float64) {
	t.Helper()
	for _, k := range slices.Sorted(maps.Keys(want)) {
		got, ok := s[k]
		switch {
		case !ok:
			t.Errorf("%s: missing", k)
		case got != want[k]:
			t.Errorf("%s = %v, want %v", k, got, want[k])
		}
	}
}

func sum(m map[string]float64) float64 {
	total := 0.0
	for _, v := range m {
		total += v
	}
	return total
}

// newSocket makes a socket that the test closes when it ends, if it has
// not itself.
func newSocket(t *testing.T, typ socket.Type, opts ...socket.Option) *socket.Socket {
	t.Helper()
	s, err := socket.New(typ, opts...)
	if err != nil {
		t.Fatalf("New(%v): %v", typ, err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func bind(t *testing.T, s *socket.Socket, ep string) string {
	t.Helper()
	real, err := s.Bind(ep)
	if err != nil {
		t.Fatalf("Bind(%s): %v", ep, err)
	}
	return real
}

func connect(t *testing.T, s *socket.Socket, ep string) {
	t.Helper()
	if err := s.Connect(ep); err != nil {
		t.Fatalf("Connect(%s): %v", ep, err)
	}
}

// perPeerMetrics are the names of the per-peer metrics, and
// socketTotalOf the per-socket metric each adds up to.
var socketTotalOf = map[string]string{
	"wisp_peer_messages_received_total": "wisp_messages_received_total",
	"wisp_peer_messages_sent_total":     "wisp_messages_sent_total",
	"wisp_peer_received_bytes_total":    "wisp_received_bytes_total",
	"wisp_peer_sent_bytes_total":        "wisp_sent_bytes_total",
	"wisp_peer_unacked_messages":        "wisp_unacked_messages",
	"wisp_peer_send_queue_messages":     "wisp_send_queue_messages",
	"wisp_peer_connected":               "wisp_connected_peers",
}

// checkSums checks that, for socket sock, every per-peer metric has
// exactly wantSeries series, _other among them, and that they add up to the
// socket's total.
func (s scrape) checkSums(t *testing.T, sock, typ string, wantSeries int) {
	t.Helper()
	for _, metric := range slices.Sorted(maps.Keys(socketTotalOf)) {
		p := s.peers(metric, sock)
		if len(p) != wantSeries {
			t.Errorf("%s of %s: %d series (%v), want %d", metric, sock, len(p), slices.Sorted(maps.Keys(p)), wantSeries)
		}
		if _, ok := p[OtherPeers]; !ok {
			t.Errorf("%s of %s: no peer=%q series", metric, sock, OtherPeers)
		}
		total := s[of(socketTotalOf[metric], sock, typ)]
		if got := sum(p); got != total {
			t.Errorf("%s of %s: series add up to %v, want %s = %v", metric, sock, got, socketTotalOf[metric], total)
		}
	}
}
