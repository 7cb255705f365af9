package discovery

import (
	"errors"
	"net/netip"
	"testing"
	"time"
)

func TestConfig(t *testing.T) {
	for _, c := range []Config{
		{},
		{Group: string(make([]byte, MaxGroupLen+1))},
		{Group: "g", Port: 70000},
		{Group: "g", Port: -1},
		{Group: "g", Interval: -time.Second},
		{Group: "g", Interval: time.Second, Timeout: time.Second},
		{Group: "g", MaxPeers: -1},
		{Group: "g", Broadcast: "ff02::1"},
		{Group: "g", Broadcast: "nonsense"},
		{Group: "g", Interface: "no-such-interface0"},
	} {
		if _, err := New(c); err == nil || !errors.Is(err, ErrInvalidConfig) {
			t.Errorf("New(%+v): got %v, want ErrInvalidConfig", c, err)
		}
	}
	s, err := Config{Group: "g"}.resolve()
	if err != nil {
		t.Fatal(err)
	}
	if s.Port != DefaultPort || s.Interval != DefaultInterval || s.Timeout != DefaultSilence*DefaultInterval ||
		s.MaxPeers != DefaultMaxPeers || s.dest.String() != "255.255.255.255:5689" {
		t.Errorf("defaults: got port %d, interval %v, timeout %v, max %d, dest %v", s.Port, s.Interval, s.Timeout, s.MaxPeers, s.dest)
	}
	// The loopback interface broadcasts to 127.255.255.255 and hears only
	// its own network.
	s, err = Config{Group: "g", Interface: "lo"}.resolve()
	if err != nil {
		t.Skipf("no interface lo: %v", err)
	}
	if s.dest.Addr().String() != LoopbackBroadcast {
		t.Errorf("Interface lo: got destination %v, want %s", s.dest, LoopbackBroadcast)
	}
	if len(s.nets) == 0 || !s.nets[0].Contains(netip.MustParseAddr("127.0.0.1")) {
		t.Errorf("Interface lo: got networks %v, want 127.0.0.0/8", s.nets)
	}
}
