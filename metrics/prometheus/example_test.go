package wispprom_test

import (
	"context"
	"fmt"
	"log"
	"slices"
	"strconv"
	"strings"

	"github.com/prometheus/client_golang/prometheus"

	wispprom "github.com/wispmq/wisp/metrics/prometheus"
	"github.com/wispmq/wisp/socket"
)

// A PUSH sends three messages to a PULL over inproc, and a registry
// gathers their metrics, as a /metrics handler (promhttp.HandlerFor) would
// serve them. A program registers the Collector once and adds its sockets
// to it.
func ExampleCollector() {
	ctx := context.Background()
	pull, err := socket.New(socket.Pull)
	if err != nil {
		log.Fatal(err)
	}
	defer pull.Close()
	ep, err := pull.Bind("inproc://example-metrics")
	if err != nil {
		log.Fatal(err)
	}
	push, err := socket.New(socket.Push)
	if err != nil {
		log.Fatal(err)
	}
	if err := push.Connect(ep); err != nil {
		log.Fatal(err)
	}

	c := wispprom.NewCollector(wispprom.WithMaxPeers(5))
	c.Add("jobs-in", pull)
	c.Add("jobs-out", push)
	reg := prometheus.NewRegistry()
	reg.MustRegister(c)

	for _, job := range []string{"resize", "upload", "notify"} {
		if err := push.Send(ctx, []byte(job)); err != nil {
			log.Fatal(err)
		}
	}
	for range 3 {
		if _, err := pull.Recv(ctx); err != nil {
			log.Fatal(err)
		}
	}
	// Close returns once every message was acknowledged and the socket's
	// goroutines are done, so its counters are final.
	if err := push.Close(); err != nil {
		log.Fatal(err)
	}

	mfs, err := reg.Gather()
	if err != nil {
		log.Fatal(err)
	}
	var lines []string
	for _, mf := range mfs {
		switch mf.GetName() {
		case "wisp_messages_sent_total", "wisp_messages_received_total",
			"wisp_sent_bytes_total", "wisp_received_bytes_total",
			"wisp_unacked_messages", "wisp_receive_queue_messages":
		default:
			continue
		}
		for _, m := range mf.GetMetric() {
			var labels []string
			for _, l := range m.GetLabel() {
				labels = append(labels, fmt.Sprintf("%s=%q", l.GetName(), l.GetValue()))
			}
			v := m.GetCounter().GetValue() + m.GetGauge().GetValue()
			lines = append(lines, fmt.Sprintf("%s{%s} %s", mf.GetName(), strings.Join(labels, ","), strconv.FormatFloat(v, 'f', -1, 64)))
		}
	}
	slices.Sort(lines)
	for _, l := range lines {
		fmt.Println(l)
	}

	// Output:
	// wisp_messages_received_total{socket="jobs-in",type="pull"} 3
	// wisp_messages_received_total{socket="jobs-out",type="push"} 0
	// wisp_messages_sent_total{socket="jobs-in",type="pull"} 0
	// wisp_messages_sent_total{socket="jobs-out",type="push"} 3
	// wisp_receive_queue_messages{socket="jobs-in",type="pull"} 0
	// wisp_receive_queue_messages{socket="jobs-out",type="push"} 0
	// wisp_received_bytes_total{socket="jobs-in",type="pull"} 18
	// wisp_received_bytes_total{socket="jobs-out",type="push"} 0
	// wisp_sent_bytes_total{socket="jobs-in",type="pull"} 0
	// wisp_sent_bytes_total{socket="jobs-out",type="push"} 18
	// wisp_unacked_messages{socket="jobs-in",type="pull"} 0
	// wisp_unacked_messages{socket="jobs-out",type="push"} 0
}

// A ROUTER's peers labelled by the routing ids its DEALERs chose
// (WithRoutingID) instead of by endpoint and session id, with series for
// the two busiest and _other for the rest. A program whose clients log in
// with PLAIN or CURVE could label them by PeerStats.UserID the same way.
func ExampleWithPeerLabel() {
	ctx := context.Background()
	router, err := socket.New(socket.Router)
	if err != nil {
		log.Fatal(err)
	}
	defer router.Close()
	ep, err := router.Bind("inproc://example-peer-label")
	if err != nil {
		log.Fatal(err)
	}
	for i, name := range []string{"worker-a", "worker-b", "worker-c"} {
		d, err := socket.New(socket.Dealer, socket.WithRoutingID([]byte(name)))
		if err != nil {
			log.Fatal(err)
		}
		defer d.Close()
		if err := d.Connect(ep); err != nil {
			log.Fatal(err)
		}
		for range 3 - i { // worker-a is the busiest
			if err := d.Send(ctx, []byte("ready")); err != nil {
				log.Fatal(err)
			}
		}
	}
	for range 3 + 2 + 1 {
		if _, err := router.Recv(ctx); err != nil {
			log.Fatal(err)
		}
	}

	c := wispprom.NewCollector(
		wispprom.WithMaxPeers(2),
		wispprom.WithPeerLabel(func(p socket.PeerStats) string { return string(p.RoutingID) }),
	)
	c.Add("broker", router)
	reg := prometheus.NewRegistry()
	reg.MustRegister(c)
	mfs, err := reg.Gather()
	if err != nil {
		log.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != "wisp_peer_messages_received_total" {
			continue
		}
		for _, m := range mf.GetMetric() { // sorted by label values already
			for _, l := range m.GetLabel() {
				if l.GetName() == "peer" {
					fmt.Printf("peer=%s %v\n", l.GetValue(), m.GetCounter().GetValue())
				}
			}
		}
	}

	// Output:
	// peer=_other 1
	// peer=worker-a 3
	// peer=worker-b 2
}
