package main

import (
	"context"
	"errors"
	"io"
	"math"
	"slices"
	"strings"
	"testing"
)

func TestParseFlagsLatOnly(t *testing.T) {
	cfg, err := parseFlags([]string{"-mode", "lat", "-impls", "wisp,wisp-busypoll,libzmq"}, io.Discard)
	if err != nil {
		t.Fatalf("-mode lat -impls wisp,wisp-busypoll,libzmq: got error %v, want nil", err)
	}
	if want := []string{implWisp, implWispBusyPoll, implLibzmq}; !slices.Equal(cfg.impls, want) {
		t.Errorf("impls: got %v, want %v", cfg.impls, want)
	}
	if def, err := parseFlags([]string{"-mode", "lat"}, io.Discard); err != nil || slices.Contains(def.impls, implWispBusyPoll) {
		t.Errorf("default impls: got %v, %v, want no %s", def.impls, err, implWispBusyPoll)
	}
	// Only wisp's REQ/REP has -busy-poll: elsewhere it is refused by name.
	for _, mode := range []string{modeThr, modePubsub, modeBroker} {
		_, err := parseFlags([]string{"-mode", mode, "-impls", "wisp,wisp-busypoll"}, io.Discard)
		if !errors.Is(err, errUsage) || !strings.Contains(err.Error(), "got wisp-busypoll with -mode "+mode+", want it only with -mode lat") {
			t.Errorf("-mode %s -impls wisp,wisp-busypoll: got error %v, want errUsage naming wisp-busypoll and -mode lat", mode, err)
		}
	}
}

// wisp-busypoll runs the very command wisp does, plus -busy-poll.
func TestLatOnlyArgs(t *testing.T) {
	w := &wispRunner{env: newTestEnv(t), path: "/wisp/bench"}
	want := []string{"lat", "-pattern", "reqrep", "-transport", "tcp", "-size", "16", "-count", "20000"}
	if got := w.latArgs("tcp", 16, 20000); !slices.Equal(got, want) {
		t.Errorf("wisp: got %q, want %q", got, want)
	}
	r := w.withLatArgs(latOnly[implWispBusyPoll].args...)
	if got, want := r.latArgs("tcp", 16, 20000), append(want, "-busy-poll", "100us"); !slices.Equal(got, want) {
		t.Errorf("%s: got %q, want %q", implWispBusyPoll, got, want)
	}
	if len(w.latExtra) != 0 || r.path != w.path {
		t.Errorf("withLatArgs: got wisp's extra args %q and path %q, want wisp unchanged and its path", w.latExtra, r.path)
	}
	// The runner keeps its own copy: latOnly's table is shared by every run.
	r.latExtra[0] = "-changed"
	if got := latOnly[implWispBusyPoll].args; !slices.Equal(got, []string{"-busy-poll", "100us"}) {
		t.Errorf("latOnly args after changing the runner's: got %q, want -busy-poll 100us", got)
	}
}

func TestWriteLatTableLatOnly(t *testing.T) {
	rows := testLatRows()
	rows[0].impls[implWispBusyPoll] = latStats{rounds: 3, meanUS: 10, p50US: 9, p99US: 80, clientCPUPM: 5, serverCPUPM: 4.5}
	nan := math.NaN()
	rows[1].impls[implWispBusyPoll] = latStats{meanUS: nan, p50US: nan, p99US: nan, clientCPUPM: nan, serverCPUPM: nan}
	var b strings.Builder
	if err := writeLatTable(&b, testMachine, rows, 3, nil); err != nil {
		t.Fatal(err)
	}
	got := b.String()
	for _, want := range []string{
		"\nwisp-busypoll is wisp whose REQ and REP poll for up to 100us before they sleep (socket.WithBusyPoll, bench lat -busy-poll 100us), " +
			"acknowledged as wisp is; wisp-busypoll/libzmq is its mean over libzmq's (same run): lower is better.\n",
		"| wisp/libzmq | wisp/zmq4 | wisp-busypoll/libzmq |",
		"| tcp | 16 B | 20,000 | 30.0 | 40.0 | 120.0 | 10.0 | 0.75x | 0.25x | 0.25x | 28.2 | 38.0 | 110.0 | 9.0 | 61.0 | 70.5 | 300.0 | 80.0 |",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("writeLatTable: want it to hold %q; got\n%s", want, got)
		}
	}
	if strings.Contains(got, "Over ZMTP") {
		t.Errorf("writeLatTable: got the ZMTP legend without a ZMTP pair:\n%s", got)
	}
}

// The whole program: wisp and wisp-busypoll over tcp, in turn, both with
// their rounds, and wisp-busypoll's ratio to libzmq there, null, since
// libzmq did not run.
func TestRunLatBusyPoll(t *testing.T) {
	var out, progress strings.Builder
	args := []string{"-mode", "lat", "-impls", "wisp-busypoll,wisp", "-sizes", "16", "-transports", "tcp", "-count", "200", "-rounds", "2", "-json"}
	if err := run(context.Background(), args, &out, &progress); err != nil {
		t.Fatalf("run(%q): got error %v, want nil; progress:\n%s", args, err, progress.String())
	}
	if strings.Contains(progress.String(), "skipped") || strings.Contains(progress.String(), "failed") {
		t.Errorf("progress: got a skipped or failed implementation, want none:\n%s", progress.String())
	}
	rows := decodeJSONLines[latJSONRow](t, out.String())
	if len(rows) != 1 {
		t.Fatalf("got %d rows, want 1:\n%s", len(rows), out.String())
	}
	for _, im := range []string{implWisp, implWispBusyPoll} {
		r := rows[0].Results[im]
		if r.OKRounds != 2 || r.RTTMeanUS == nil || !(*r.RTTMeanUS > 0) {
			t.Errorf("results[%s]: got %+v, want 2 good rounds with a mean", im, r)
		}
	}
	if v, ok := rows[0].PerLibzmqRTT[implWispBusyPoll]; !ok || v != nil {
		t.Errorf("per_libzmq_rtt_mean[%s]: got %v (present %v), want null without libzmq", implWispBusyPoll, v, ok)
	}
}
