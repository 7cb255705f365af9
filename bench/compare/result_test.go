package main

import (
	"errors"
	"math"
	"testing"
)

func TestParsePeerLineLibzmq(t *testing.T) {
	pl, err := parsePeerLine([]byte("{\"seconds\":0.5,\"count\":1000,\"size\":16}\n"))
	if err != nil {
		t.Fatalf("got error %v, want nil", err)
	}
	if *pl.Seconds != 0.5 || *pl.Count != 1000 || *pl.Size != 16 {
		t.Errorf("got seconds %v count %d size %d, want 0.5 1000 16", *pl.Seconds, *pl.Count, *pl.Size)
	}
	if pl.SenderCPUSec != nil || pl.ReceiverMaxRSSKB != nil {
		t.Errorf("got CPU/RSS fields set, want nil for a line without them")
	}
	if err := pl.checkShape(16, 1000); err != nil {
		t.Errorf("checkShape(16, 1000): got %v, want nil", err)
	}
	if err := pl.checkShape(16, 999); err == nil {
		t.Errorf("checkShape(16, 999): got nil, want an error")
	}
}

func TestParsePeerLineWisp(t *testing.T) {
	out := "starting peer\n" +
		`{"pattern":"pushpull","transport":"tcp","size":4096,"count":500000,"seconds":1.25,` +
		`"msgs_per_sec":400000,"mb_per_sec":1638.4,"sender_cpu_sec":0.9,"receiver_cpu_sec":1.1,` +
		`"sender_maxrss_kb":10240,"receiver_maxrss_kb":20480}` + "\n\n"
	pl, err := parsePeerLine([]byte(out))
	if err != nil {
		t.Fatalf("got error %v, want nil", err)
	}
	if pl.Pattern != "pushpull" || pl.Transport != "tcp" || *pl.Size != 4096 || *pl.Count != 500000 || *pl.Seconds != 1.25 {
		t.Errorf("got %+v, want pushpull tcp 4096 500000 1.25", pl)
	}
	if orNaN(pl.SenderCPUSec) != 0.9 || orNaN(pl.ReceiverCPUSec) != 1.1 ||
		orNaN(pl.SenderMaxRSSKB) != 10240 || orNaN(pl.ReceiverMaxRSSKB) != 20480 {
		t.Errorf("got cpu %v/%v rss %v/%v, want 0.9/1.1 10240/20480",
			orNaN(pl.SenderCPUSec), orNaN(pl.ReceiverCPUSec), orNaN(pl.SenderMaxRSSKB), orNaN(pl.ReceiverMaxRSSKB))
	}
	if !math.IsNaN(orNaN[float64](nil)) {
		t.Errorf("orNaN(nil): got a number, want NaN")
	}
}

func TestParsePeerLineErrors(t *testing.T) {
	for _, out := range []string{
		"",
		"no json here\n",
		"{not json}\n",
		`{"seconds":1,"count":10}`,
		`{"seconds":0,"count":10,"size":1}`,
		`{"seconds":-1,"count":10,"size":1}`,
		`{"seconds":1,"count":0,"size":1}`,
		`{"seconds":1,"count":10,"size":-1}`,
		`{"seconds":"1","count":10,"size":1}`,
	} {
		if _, err := parsePeerLine([]byte(out)); err == nil {
			t.Errorf("parsePeerLine(%q): got nil error, want one", out)
		}
	}
	if _, err := parsePeerLine(nil); !errors.Is(err, errNoPeerLine) {
		t.Errorf("parsePeerLine(nil): got %v, want errNoPeerLine", err)
	}
}
