package wispotel_test

import (
	"context"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"go.opentelemetry.io/otel/attribute"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"

	"github.com/wispmq/wisp/socket"
)

// testTimeout bounds every blocking call of a test, so that a bug shows up
// as a failure naming the call instead of a hung package. It is a safety
// net, not a performance threshold (the core module's tests do the same).
const testTimeout = 30 * time.Second

func testContext(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), testTimeout)
	t.Cleanup(cancel)
	return ctx
}

// point is one collected data point.
type point struct {
	name      string
	unit      string
	monotonic bool
	attrs     attribute.Set
	value     int64
}

func (p point) String() string {
	return fmt.Sprintf("%s{%s} %d", p.name, p.attrs.Encoded(attribute.DefaultEncoder()), p.value)
}

// newReader makes a MeterProvider that only t's collections read.
func newReader(t *testing.T) (*sdkmetric.MeterProvider, *sdkmetric.ManualReader) {
	reader := sdkmetric.NewManualReader()
	provider := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	t.Cleanup(func() {
		if err := provider.Shutdown(context.Background()); err != nil {
			t.Errorf("provider.Shutdown: %v", err)
		}
	})
	return provider, reader
}

// collect reads every int64 sum the reader has, flattened.
func collect(t *testing.T, r *sdkmetric.ManualReader) []point {
	t.Helper()
	pts, err := collectPoints(r)
	if err != nil {
		t.Fatal(err)
	}
	return pts
}

// collectPoints is collect for a goroutine other than the test's.
func collectPoints(r *sdkmetric.ManualReader) ([]point, error) {
	var rm metricdata.ResourceMetrics
	if err := r.Collect(context.Background(), &rm); err != nil {
		return nil, fmt.Errorf("Collect: %w", err)
	}
	var pts []point
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			sum, ok := m.Data.(metricdata.Sum[int64])
			if !ok {
				return nil, fmt.Errorf("%s: data %T, want metricdata.Sum[int64]", m.Name, m.Data)
			}
			if sum.Temporality != metricdata.CumulativeTemporality {
				return nil, fmt.Errorf("%s: temporality %v, want cumulative", m.Name, sum.Temporality)
			}
			for _, dp := range sum.DataPoints {
				pts = append(pts, point{m.Name, m.Unit, sum.IsMonotonic, dp.Attributes, dp.Value})
			}
		}
	}
	return pts, nil
}

// match returns the points of the instrument name ("": of every
// instrument) whose attributes include every kv.
func match(pts []point, name string, kv ...attribute.KeyValue) []point {
	var out []point
	for _, p := range pts {
		if name != "" && p.name != name {
			continue
		}
		ok := true
		for _, want := range kv {
			if got, has := p.attrs.Value(want.Key); !has || got != want.Value {
				ok = false
				break
			}
		}
		if ok {
			out = append(out, p)
		}
	}
	return out
}

// value returns the value of the one point match finds.
func value(t *testing.T, pts []point, name string, kv ...attribute.KeyValue) int64 {
	t.Helper()
	m := match(pts, name, kv...)
	if len(m) != 1 {
		t.Fatalf("%s %v: %d points, want 1: %v", name, kv, len(m), m)
	}
	return m[0].value
}

var uniq atomic.Uint64

// endpoint returns a fresh endpoint of the transport to Bind.
func endpoint(t *testing.T, transport string) string {
	switch transport {
	case "tcp":
		return "tcp://127.0.0.1:0"
	case "inproc":
		return fmt.Sprintf("inproc://wispotel-%s-%d", strings.ReplaceAll(t.Name(), "/", "-"), uniq.Add(1))
	}
	t.Fatalf("unknown transport %q", transport)
	return ""
}

// newSocket makes a socket that t closes, checking Close's result.
func newSocket(t *testing.T, typ socket.Type) *socket.Socket {
	t.Helper()
	s, err := socket.New(typ)
	if err != nil {
		t.Fatalf("socket.New(%v): %v", typ, err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("%v Close: %v", typ, err)
		}
	})
	return s
}

// bind binds s to a fresh endpoint of the transport and returns it.
func bind(t *testing.T, s *socket.Socket, transport string) string {
	t.Helper()
	ep, err := s.Bind(endpoint(t, transport))
	if err != nil {
		t.Fatalf("Bind: %v", err)
	}
	return ep
}

func connect(t *testing.T, s *socket.Socket, ep string) {
	t.Helper()
	if err := s.Connect(ep); err != nil {
		t.Fatalf("Connect(%s): %v", ep, err)
	}
}

func send(t *testing.T, ctx context.Context, s *socket.Socket, n int, payload []byte) {
	t.Helper()
	for i := range n {
		if err := s.Send(ctx, payload); err != nil {
			t.Fatalf("Send %d: %v", i, err)
		}
	}
}

func recv(t *testing.T, ctx context.Context, s *socket.Socket, n int) {
	t.Helper()
	for i := range n {
		if _, err := s.Recv(ctx); err != nil {
			t.Fatalf("Recv %d of %d: %v", i, n, err)
		}
	}
}

func flush(t *testing.T, ctx context.Context, s *socket.Socket) {
	t.Helper()
	if err := s.Flush(ctx); err != nil {
		t.Fatalf("Flush: %v", err)
	}
}

// settle waits until s's Stats satisfy ok. A socket raises its counters
// just after it hands a message on (to Recv, or to the connection), so
// right after Recv or Flush returns they may still be short by the last
// messages; the tests wait for them rather than for a time.
func settle(t *testing.T, ctx context.Context, s *socket.Socket, ok func(socket.Stats) bool) {
	t.Helper()
	for {
		st := s.Stats()
		if ok(st) {
			return
		}
		select {
		case <-ctx.Done():
			t.Fatalf("Stats never settled: %+v", st)
		case <-time.After(time.Millisecond):
		}
	}
}

// settleIn waits until s has counted msgs messages of bytes bytes received.
func settleIn(t *testing.T, ctx context.Context, s *socket.Socket, msgs, bytes uint64) {
	t.Helper()
	settle(t, ctx, s, func(st socket.Stats) bool { return st.MsgsIn >= msgs && st.BytesIn >= bytes })
}

// settleOut waits until s has counted msgs messages of bytes bytes sent.
func settleOut(t *testing.T, ctx context.Context, s *socket.Socket, msgs, bytes uint64) {
	t.Helper()
	settle(t, ctx, s, func(st socket.Stats) bool { return st.MsgsOut >= msgs && st.BytesOut >= bytes })
}
