package main

import (
	"errors"
	"io"
	"slices"
	"testing"
	"time"
)

func TestParseFlagsDefaults(t *testing.T) {
	cfg, err := parseFlags(nil, io.Discard)
	if err != nil {
		t.Fatalf("parseFlags(nil): got error %v, want nil", err)
	}
	if want := []int{16, 256, 4096, 65536}; !slices.Equal(cfg.sizes, want) {
		t.Errorf("sizes: got %v, want %v", cfg.sizes, want)
	}
	if want := []string{"tcp", "ipc"}; !slices.Equal(cfg.transports, want) {
		t.Errorf("transports: got %v, want %v", cfg.transports, want)
	}
	if want := []string{"wisp", "libzmq", "zmq4"}; !slices.Equal(cfg.impls, want) {
		t.Errorf("impls: got %v, want %v", cfg.impls, want)
	}
	if cfg.count != 0 || cfg.rounds != 3 || cfg.json || cfg.wispRoot != "../.." || cfg.timeout != 120*time.Second {
		t.Errorf("got count %d rounds %d json %v wisp-root %q timeout %v, want 0 3 false ../.. 2m0s",
			cfg.count, cfg.rounds, cfg.json, cfg.wispRoot, cfg.timeout)
	}
}

func TestParseFlags(t *testing.T) {
	cfg, err := parseFlags([]string{"-sizes", "16, 4096", "-transports", "ipc,tcp,ipc", "-count", "1000", "-rounds", "1", "-json", "-impls", "zmq4,libzmq"}, io.Discard)
	if err != nil {
		t.Fatalf("got error %v, want nil", err)
	}
	if !slices.Equal(cfg.sizes, []int{16, 4096}) || !slices.Equal(cfg.transports, []string{"ipc", "tcp"}) ||
		!slices.Equal(cfg.impls, []string{"zmq4", "libzmq"}) || cfg.count != 1000 || cfg.rounds != 1 || !cfg.json {
		t.Errorf("got %+v, want sizes [16 4096] transports [ipc tcp] impls [zmq4 libzmq] count 1000 rounds 1 json", cfg)
	}
}

func TestParseFlagsErrors(t *testing.T) {
	for _, args := range [][]string{
		{"-sizes", "0"},
		{"-sizes", "16,x"},
		{"-sizes", ""},
		{"-transports", "inproc"},
		{"-impls", "mangos"},
		{"-count", "-1"},
		{"-rounds", "0"},
		{"-timeout", "0s"},
		{"-nosuchflag"},
		{"extra"},
	} {
		_, err := parseFlags(args, io.Discard)
		if !errors.Is(err, errUsage) {
			t.Errorf("parseFlags(%q): got error %v, want errUsage", args, err)
		}
	}
}

func TestDefaultCount(t *testing.T) {
	for _, tc := range []struct {
		size int
		want int64
	}{
		{1, 1_000_000},
		{16, 1_000_000},
		{256, 1_000_000},
		{257, 500_000},
		{4096, 500_000},
		{65536, 50_000},
		{131072, 25_000},
		{256 << 20, 1000},
	} {
		if got := defaultCount(tc.size); got != tc.want {
			t.Errorf("defaultCount(%d): got %d, want %d", tc.size, got, tc.want)
		}
	}
}

// Every implementation that only -mode thr or only -mode lat runs has its
// arguments and its legend: without them it would run as plain wisp under
// another name.
func TestWispVariantTables(t *testing.T) {
	for _, tc := range []struct {
		table map[string]wispVariant
		impls []string
	}{{thrOnly, thrOnlyImpls}, {latOnly, latOnlyImpls}} {
		if len(tc.table) != len(tc.impls) {
			t.Errorf("got %d entries, want one for each of %q", len(tc.table), tc.impls)
		}
		for _, im := range tc.impls {
			if d, ok := tc.table[im]; !ok || len(d.args) == 0 || d.what == "" {
				t.Errorf("%s: got %+v (present %v), want its arguments and legend", im, d, ok)
			}
		}
	}
}
