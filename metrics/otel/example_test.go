package wispotel_test

import (
	"context"
	"fmt"
	"log"
	"slices"
	"time"

	"go.opentelemetry.io/otel/attribute"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"

	wispotel "github.com/wispmq/wisp/metrics/otel"
	"github.com/wispmq/wisp/socket"
)

// A PUSH and a PULL reported through an OpenTelemetry MeterProvider. A
// real program gives the provider a periodic reader and an exporter (OTLP,
// Prometheus); the ManualReader here collects when told to.
func Example() {
	ctx := context.Background()
	reader := sdkmetric.NewManualReader()
	provider := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	defer provider.Shutdown(ctx)

	m, err := wispotel.New(provider)
	if err != nil {
		log.Fatal(err)
	}
	defer m.Close()

	pull, err := socket.New(socket.Pull)
	if err != nil {
		log.Fatal(err)
	}
	defer pull.Close()
	ep, err := pull.Bind("inproc://wispotel-example")
	if err != nil {
		log.Fatal(err)
	}
	push, err := socket.New(socket.Push)
	if err != nil {
		log.Fatal(err)
	}
	defer push.Close()
	if err := push.Connect(ep); err != nil {
		log.Fatal(err)
	}
	m.Add("jobs-in", pull)
	m.Add("jobs-out", push)

	for range 3 {
		if err := push.Send(ctx, []byte("job")); err != nil {
			log.Fatal(err)
		}
	}
	for range 3 {
		if _, err := pull.Recv(ctx); err != nil {
			log.Fatal(err)
		}
	}
	// Wait until the PULL has acknowledged all three, so that the PUSH's
	// levels have settled, and until both sockets have counted them: a
	// socket raises its counters just after it hands a message on, so they
	// can trail Recv and Flush by a moment.
	if err := push.Flush(ctx); err != nil {
		log.Fatal(err)
	}
	for pull.Stats().BytesIn < 9 || push.Stats().BytesOut < 9 {
		time.Sleep(time.Millisecond)
	}

	var rm metricdata.ResourceMetrics
	if err := reader.Collect(ctx, &rm); err != nil {
		log.Fatal(err)
	}
	show := []string{"wisp.messages.sent", "wisp.messages.received", "wisp.payload.sent", "wisp.messages.unacked", "wisp.peers.connected"}
	var lines []string
	for _, sm := range rm.ScopeMetrics {
		for _, md := range sm.Metrics {
			if !slices.Contains(show, md.Name) {
				continue
			}
			for _, dp := range md.Data.(metricdata.Sum[int64]).DataPoints {
				lines = append(lines, fmt.Sprintf("%s{%s} %d %s",
					md.Name, dp.Attributes.Encoded(attribute.DefaultEncoder()), dp.Value, md.Unit))
			}
		}
	}
	slices.Sort(lines)
	for _, l := range lines {
		fmt.Println(l)
	}
	// Output:
	// wisp.messages.received{wisp.socket=jobs-in,wisp.socket.type=PULL} 3 {message}
	// wisp.messages.received{wisp.socket=jobs-out,wisp.socket.type=PUSH} 0 {message}
	// wisp.messages.sent{wisp.socket=jobs-in,wisp.socket.type=PULL} 0 {message}
	// wisp.messages.sent{wisp.socket=jobs-out,wisp.socket.type=PUSH} 3 {message}
	// wisp.messages.unacked{wisp.socket=jobs-in,wisp.socket.type=PULL} 0 {message}
	// wisp.messages.unacked{wisp.socket=jobs-out,wisp.socket.type=PUSH} 0 {message}
	// wisp.payload.sent{wisp.socket=jobs-in,wisp.socket.type=PULL} 0 By
	// wisp.payload.sent{wisp.socket=jobs-out,wisp.socket.type=PUSH} 9 By
	// wisp.peers.connected{wisp.socket=jobs-in,wisp.socket.type=PULL} 1 {peer}
	// wisp.peers.connected{wisp.socket=jobs-out,wisp.socket.type=PUSH} 1 {peer}
}

// WithMaxPeers breaks a socket's traffic down by peer, bounded: here a
// ROUTER with three DEALERs and room for one peer series. The busiest
// DEALER gets the series, labelled by its session id; the other two add up
// under _other.
func ExampleWithMaxPeers() {
	ctx := context.Background()
	reader := sdkmetric.NewManualReader()
	provider := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	defer provider.Shutdown(ctx)

	m, err := wispotel.New(provider, wispotel.WithMaxPeers(1))
	if err != nil {
		log.Fatal(err)
	}
	defer m.Close()

	router, err := socket.New(socket.Router)
	if err != nil {
		log.Fatal(err)
	}
	defer router.Close()
	ep, err := router.Bind("inproc://wispotel-example-peers")
	if err != nil {
		log.Fatal(err)
	}
	m.Add("api", router)

	names := map[string]string{} // session id -> a name to print
	sent := 0
	for i, name := range []string{"quiet", "busy", "medium"} {
		d, err := socket.New(socket.Dealer)
		if err != nil {
			log.Fatal(err)
		}
		defer d.Close()
		if err := d.Connect(ep); err != nil {
			log.Fatal(err)
		}
		names[d.Session()] = name
		n := []int{1, 5, 3}[i]
		for range n {
			if err := d.Send(ctx, []byte("request")); err != nil {
				log.Fatal(err)
			}
		}
		sent += n
	}
	for range sent {
		if _, err := router.Recv(ctx); err != nil {
			log.Fatal(err)
		}
	}
	for router.Stats().BytesIn < uint64(sent*len("request")) { // counters trail Recv by a moment
		time.Sleep(time.Millisecond)
	}

	var rm metricdata.ResourceMetrics
	if err := reader.Collect(ctx, &rm); err != nil {
		log.Fatal(err)
	}
	for _, sm := range rm.ScopeMetrics {
		for _, md := range sm.Metrics {
			if md.Name != "wisp.messages.received" {
				continue
			}
			var lines []string
			for _, dp := range md.Data.(metricdata.Sum[int64]).DataPoints {
				peer, _ := dp.Attributes.Value(wispotel.PeerKey)
				label := peer.AsString()
				if n, ok := names[label]; ok {
					label = "session of " + n
				}
				lines = append(lines, fmt.Sprintf("%s %s=%q %d", md.Name, wispotel.PeerKey, label, dp.Value))
			}
			slices.Sort(lines)
			for _, l := range lines {
				fmt.Println(l)
			}
		}
	}
	// Output:
	// wisp.messages.received wisp.peer="_other" 4
	// wisp.messages.received wisp.peer="session of busy" 5
}
