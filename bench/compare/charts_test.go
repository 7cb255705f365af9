package main

import (
	"bytes"
	"context"
	"encoding/xml"
	"errors"
	"image/color"
	"io"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// svgTexts parses an SVG, failing the test if it is not well-formed XML
// with an <svg> root, and returns its text content, one string per text
// element.
func svgTexts(t *testing.T, svg []byte) []string {
	t.Helper()
	dec := xml.NewDecoder(bytes.NewReader(svg))
	var texts []string
	root := ""
	inText := false
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("svg: got %v, want well-formed XML", err)
		}
		switch tok := tok.(type) {
		case xml.StartElement:
			if root == "" {
				root = tok.Name.Local
			}
			inText = tok.Name.Local == "text"
		case xml.EndElement:
			inText = false
		case xml.CharData:
			if inText {
				texts = append(texts, string(tok))
			}
		}
	}
	if root != "svg" {
		t.Fatalf("svg: got root <%s>, want <svg>", root)
	}
	return texts
}

// thrJSON is testRows as -json prints them.
func thrJSON(t *testing.T) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := writeJSON(&b, testMachine, testRows(), 3); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func TestReadChartsThr(t *testing.T) {
	charts, err := readCharts(bytes.NewReader(thrJSON(t)))
	if err != nil {
		t.Fatalf("readCharts: got %v, want nil", err)
	}
	// testRows: tcp 16 B without wisp, then ipc 4 KiB: a chart each.
	if len(charts) != 2 || charts[0].transport != "tcp" || charts[1].transport != "ipc" {
		t.Fatalf("got %d charts %+v, want tcp then ipc", len(charts), charts)
	}
	c := charts[0]
	if c.mode != modeThr || c.rounds != 3 || c.machine != testMachine || c.file() != "thr-tcp.svg" || len(c.panels) != 1 {
		t.Errorf("tcp chart: got %+v, want thr, 3 rounds, the test machine, thr-tcp.svg, one panel", c)
	}
	p := c.panels[0]
	var names []string
	for _, b := range p.bars {
		names = append(names, b.impl)
	}
	if p.size != 16 || p.count != 1_000_000 || !slices.Equal(names, baseImpls) {
		t.Errorf("tcp panel: got size %d count %d bars %q, want 16, 1000000 and %q", p.size, p.count, names, baseImpls)
	}
	if !math.IsNaN(p.bars[0].value) || p.bars[1].value != 2_000_000 || p.bars[1].okRounds != 1 {
		t.Errorf("tcp bars: got %+v, want wisp NaN (null) and libzmq 2000000 from 1 round", p.bars)
	}
	// wisp has no value anywhere in the tcp chart, so it gets no bar.
	if got := c.shown(); !slices.Equal(got, []string{implLibzmq, implZMQ4}) {
		t.Errorf("tcp shown: got %q, want libzmq and zmq4", got)
	}
	if got := charts[1].shown(); !slices.Equal(got, baseImpls) {
		t.Errorf("ipc shown: got %q, want %q", got, baseImpls)
	}
}

func TestReadChartsLat(t *testing.T) {
	var b bytes.Buffer
	if err := writeLatJSON(&b, testMachine, testLatRows(), 3); err != nil {
		t.Fatal(err)
	}
	charts, err := readCharts(&b)
	if err != nil {
		t.Fatalf("readCharts: got %v, want nil", err)
	}
	if len(charts) != 2 || charts[0].mode != modeLat || charts[0].file() != "lat-tcp.svg" {
		t.Fatalf("got %+v, want two lat charts, lat-tcp.svg first", charts)
	}
	if got := charts[0].panels[0].bars[0]; got.impl != implWisp || got.value != 30 {
		t.Errorf("lat tcp wisp: got %+v, want a mean of 30 µs", got)
	}
}

func TestReadChartsErrors(t *testing.T) {
	thr := strings.TrimSpace(string(thrJSON(t)))
	firstThr, _, _ := strings.Cut(thr, "\n")
	var lat bytes.Buffer
	if err := writeLatJSON(&lat, testMachine, testLatRows(), 3); err != nil {
		t.Fatal(err)
	}
	for name, in := range map[string]string{
		"empty":          "",
		"not JSON":       "transport,size\n",
		"pubsub":         `{"mode":"pubsub","pattern":"pubsub","transport":"tcp","size":16,"count":10,"rounds":1,"results":{}}`,
		"unknown mode":   `{"mode":"pushpull"}`,
		"mixed modes":    firstThr + "\n" + lat.String(),
		"unknown field":  strings.Replace(firstThr, `"transport"`, `"transprot"`, 1),
		"no results":     `{"transport":"tcp","size":16,"count":10,"rounds":1,"results":{}}`,
		"no transport":   `{"size":16,"count":10,"rounds":1,"results":{"wisp":{"ok_rounds":1,"msgs_per_sec":5}}}`,
		"truncated line": firstThr[:len(firstThr)/2],
	} {
		if _, err := readCharts(strings.NewReader(in)); err == nil {
			t.Errorf("%s: readCharts(%q): got nil error, want one", name, in)
		}
	}
}

func TestDrawCharts(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "made", "here")
	files, err := drawCharts(bytes.NewReader(thrJSON(t)), dir)
	if err != nil {
		t.Fatalf("drawCharts: got %v, want nil", err)
	}
	want := []string{filepath.Join(dir, "thr-tcp.svg"), filepath.Join(dir, "thr-ipc.svg")}
	if !slices.Equal(files, want) {
		t.Fatalf("files: got %q, want %q", files, want)
	}
	ipc, err := os.ReadFile(files[1])
	if err != nil {
		t.Fatal(err)
	}
	texts := svgTexts(t, ipc)
	for _, s := range []string{
		"PUSH/PULL throughput over ipc: msg/s, higher is better", "4 KiB, 500,000 messages per run",
		// testRows has one round of each, against 3 asked for.
		"wisp", "libzmq", "zmq4", "300k (1/3)", "200k (1/3)", "30k (1/3)", "msg/s",
		"medians over 3 round(s); (k/3): of k rounds only; wisp with acknowledgements, libzmq and zmq4 without",
		"Test CPU, 2 cores, go1.26.0 linux/amd64, libzmq 4.3.4",
	} {
		if !slices.Contains(texts, s) {
			t.Errorf("ipc chart: got no text %q, want it among %q", s, texts)
		}
	}
	tcp, err := os.ReadFile(files[0])
	if err != nil {
		t.Fatal(err)
	}
	texts = svgTexts(t, tcp)
	// libzmq's median is of 1 round of 3, and the chart says so.
	for _, s := range []string{"2M (1/3)", "40k (1/3)"} {
		if !slices.Contains(texts, s) {
			t.Errorf("tcp chart: got no text %q, want it among %q", s, texts)
		}
	}
	if slices.Contains(texts, "wisp") {
		t.Errorf("tcp chart: got a wisp bar, want none: wisp did not run over tcp")
	}
	if !bytes.Contains(tcp, []byte("font-family:'Liberation Sans',Arial,Helvetica,sans-serif;")) || bytes.Contains(tcp, []byte("font-family:Liberation Sans;")) {
		t.Errorf("tcp chart: want every font-family with its fallbacks")
	}

	// The same input draws the same bytes, so charts redrawn from a
	// committed JSON file show no spurious diff.
	again := t.TempDir()
	if _, err := drawCharts(bytes.NewReader(thrJSON(t)), again); err != nil {
		t.Fatal(err)
	}
	if b, err := os.ReadFile(filepath.Join(again, "thr-tcp.svg")); err != nil || !bytes.Equal(b, tcp) {
		t.Errorf("redrawn thr-tcp.svg: got different bytes (err %v), want the same", err)
	}
}

func TestDrawChartsLat(t *testing.T) {
	var b bytes.Buffer
	if err := writeLatJSON(&b, testMachine, testLatRows(), 3); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if _, err := drawCharts(&b, dir); err != nil {
		t.Fatalf("drawCharts: got %v, want nil", err)
	}
	svg, err := os.ReadFile(filepath.Join(dir, "lat-tcp.svg"))
	if err != nil {
		t.Fatal(err)
	}
	texts := svgTexts(t, svg)
	for _, s := range []string{"REQ/REP round trip over tcp: mean µs, lower is better", "16 B, 20,000 round trips per run",
		"30.0", "40.0", "120.0", "mean round trip, µs"} {
		if !slices.Contains(texts, s) {
			t.Errorf("lat chart: got no text %q, want it among %q", s, texts)
		}
	}
}

// -from draws what -charts draws during the run: both go through the
// JSON lines.
func TestChartsFromFile(t *testing.T) {
	dir := t.TempDir()
	in := filepath.Join(dir, "thr.json")
	if err := os.WriteFile(in, thrJSON(t), 0o644); err != nil {
		t.Fatal(err)
	}
	var progress strings.Builder
	out := filepath.Join(dir, "charts")
	if err := run(context.Background(), []string{"-charts", out, "-from", in}, io.Discard, &progress); err != nil {
		t.Fatalf("run -from: got %v, want nil", err)
	}
	if !strings.Contains(progress.String(), "wrote "+filepath.Join(out, "thr-tcp.svg")) {
		t.Errorf("progress: got %q, want it to name the files written", progress.String())
	}
	during := filepath.Join(dir, "during")
	if err := writeCharts(during, io.Discard, func(w io.Writer) error { return writeJSON(w, testMachine, testRows(), 3) }); err != nil {
		t.Fatalf("writeCharts: got %v, want nil", err)
	}
	for _, f := range []string{"thr-tcp.svg", "thr-ipc.svg"} {
		a, errA := os.ReadFile(filepath.Join(out, f))
		b, errB := os.ReadFile(filepath.Join(during, f))
		if err := errors.Join(errA, errB); err != nil || !bytes.Equal(a, b) {
			t.Errorf("%s: -from and a run's -charts differ (err %v), want the same chart", f, err)
		}
	}
	if err := run(context.Background(), []string{"-charts", out, "-from", filepath.Join(dir, "missing.json")}, io.Discard, io.Discard); err == nil {
		t.Errorf("run -from a missing file: got nil error, want one")
	}
}

// A tiny real run with -charts: the zmq4 latency pair over ipc, which
// needs neither libzmq nor a build of wisp.
func TestRunLatCharts(t *testing.T) {
	dir := t.TempDir()
	var out, progress strings.Builder
	args := []string{"-mode", "lat", "-impls", "zmq4", "-sizes", "16", "-transports", "ipc", "-count", "20", "-rounds", "1", "-charts", dir}
	if err := run(context.Background(), args, &out, &progress); err != nil {
		t.Fatalf("run(%q): got error %v, want nil; progress:\n%s", args, err, progress.String())
	}
	if !strings.Contains(out.String(), "| transport |") {
		t.Errorf("stdout: got %q, want the table as without -charts", out.String())
	}
	svg, err := os.ReadFile(filepath.Join(dir, "lat-ipc.svg"))
	if err != nil {
		t.Fatalf("lat-ipc.svg: %v", err)
	}
	if texts := svgTexts(t, svg); !slices.Contains(texts, "zmq4") || slices.Contains(texts, "wisp") {
		t.Errorf("lat-ipc.svg: got texts %q, want a zmq4 bar and no wisp one", texts)
	}
}

func TestParseFlagsCharts(t *testing.T) {
	cfg, err := parseFlags([]string{"-charts", "out", "-from", "thr.json"}, io.Discard)
	if err != nil || cfg.charts != "out" || cfg.from != "thr.json" {
		t.Errorf("-charts out -from thr.json: got %+v, %v, want both set", cfg, err)
	}
	cfg, err = parseFlags([]string{"-mode", "lat", "-charts", "out"}, io.Discard)
	if err != nil || cfg.charts != "out" || cfg.from != "" || cfg.mode != modeLat {
		t.Errorf("-mode lat -charts out: got %+v, %v, want charts while measuring", cfg, err)
	}
	for _, args := range [][]string{
		{"-from", "thr.json"}, // nowhere to draw
		{"-charts", "out", "-from", "x.json", "-rounds", "5"}, // would measure nothing
		{"-charts", "out", "-from", "x.json", "-mode", "lat"}, // the file says its mode
		{"-mode", "pubsub", "-charts", "out"},                 // no fan-out charts
	} {
		if _, err := parseFlags(args, io.Discard); !errors.Is(err, errUsage) {
			t.Errorf("parseFlags(%q): got %v, want errUsage", args, err)
		}
	}
}

func TestSIString(t *testing.T) {
	for _, tc := range []struct {
		v      float64
		digits int
		want   string
	}{
		{4015804, 3, "4.02M"}, {123704, 3, "124k"}, {8171, 3, "8.17k"}, {999.6e3, 3, "1M"}, {54.66, 3, "54.7"},
		{0, 6, "0"}, {2.5e6, 6, "2.5M"}, {500000, 6, "500k"}, {3e9, 3, "3G"},
	} {
		if got := siString(tc.v, tc.digits); got != tc.want {
			t.Errorf("siString(%v, %d): got %q, want %q", tc.v, tc.digits, got, tc.want)
		}
	}
}

// A chart that cannot be written fails the run, but after the report:
// the figures of a long run are not lost to it.
func TestRunChartsFailAfterReport(t *testing.T) {
	file := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(file, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	var out strings.Builder
	args := []string{"-mode", "lat", "-impls", "zmq4", "-sizes", "16", "-transports", "ipc", "-count", "20", "-rounds", "1", "-json",
		"-charts", filepath.Join(file, "charts")} // under a file: no directory can be made there
	if err := run(context.Background(), args, &out, io.Discard); err == nil {
		t.Errorf("run(%q): got nil error, want the charts' error", args)
	}
	if rows := decodeJSONLines[latJSONRow](t, out.String()); len(rows) != 1 {
		t.Errorf("stdout: got %d JSON rows, want the report's 1 before the error", len(rows))
	}
}

// Every implementation a run can show has a color of its own.
func TestImplColorsDistinct(t *testing.T) {
	seen := map[color.Color]string{}
	for _, im := range roundOrder {
		c := implColor(im)
		if other, ok := seen[c]; ok {
			t.Errorf("%s has %s's color %v", im, other, c)
		}
		seen[c] = im
	}
}
