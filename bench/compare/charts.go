package main

import (
	"bytes"
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"image/color"
	"io"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/font"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/plotutil"
	"gonum.org/v1/plot/text"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgsvg"
)

// Charts are drawn from -json output and from nothing else: a run with
// -charts writes its rows as JSON first and draws from those, so a chart
// shows exactly what a JSON file of the same run would hold, and
// -from FILE redraws the charts of an earlier run without measuring.

// chartBar is one implementation's bar in a panel.
type chartBar struct {
	impl     string
	value    float64 // NaN: no successful round
	okRounds int
}

// chartPanel is one message size of a chart: a bar per implementation.
type chartPanel struct {
	size  int
	count int64
	bars  []chartBar
}

// chart is one SVG file: one mode and transport, a panel per size.
type chart struct {
	mode      string // modeThr or modeLat
	transport string
	rounds    int
	machine   machine
	panels    []chartPanel
}

// file is the chart's file name: mode-transport.svg.
func (c chart) file() string { return c.mode + "-" + c.transport + ".svg" }

// jsonLine is what every -json line has, whatever its mode: thr lines
// have no mode field, lat and pubsub lines do.
type jsonLine struct {
	Mode string `json:"mode"`
}

// readCharts reads the JSON lines of one -json run (one mode) and groups
// them into charts, one per transport, in the order the transports first
// appear, each with its panels in the order of the lines.
func readCharts(r io.Reader) ([]chart, error) {
	dec := json.NewDecoder(r)
	var charts []chart
	mode := ""
	for n := 1; ; n++ {
		var raw json.RawMessage
		if err := dec.Decode(&raw); err == io.EOF {
			break
		} else if err != nil {
			return nil, fmt.Errorf("row %d: %w", n, err)
		}
		var jl jsonLine
		if err := json.Unmarshal(raw, &jl); err != nil {
			return nil, fmt.Errorf("row %d: %w", n, err)
		}
		m := cmp.Or(jl.Mode, modeThr)
		if m != modeThr && m != modeLat {
			return nil, fmt.Errorf("row %d: got mode %q, want rows of -mode %s or %s: there are no charts for -mode %s", n, m, modeThr, modeLat, m)
		}
		if mode != "" && m != mode {
			return nil, fmt.Errorf("row %d: got mode %s after rows of mode %s, want the rows of one run", n, m, mode)
		}
		mode = m
		transport, rounds, mach, panel, err := chartRow(m, raw)
		if err != nil {
			return nil, fmt.Errorf("row %d: %w", n, err)
		}
		i := slices.IndexFunc(charts, func(c chart) bool { return c.transport == transport })
		if i < 0 {
			charts = append(charts, chart{mode: m, transport: transport, rounds: rounds, machine: mach})
			i = len(charts) - 1
		}
		charts[i].panels = append(charts[i].panels, panel)
	}
	if len(charts) == 0 {
		return nil, errors.New("no rows: want the JSON lines of a -json run")
	}
	return charts, nil
}

// chartRow reads one -json line of mode m: its transport, rounds,
// machine, and its panel, the median msg/s (thr) or mean round trip in µs
// (lat) of each implementation.
func chartRow(m string, raw []byte) (transport string, rounds int, mach machine, p chartPanel, err error) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields() // a line from something else fails rather than draws zeros
	values := map[string]chartBar{}
	if m == modeLat {
		var jr latJSONRow
		if err := dec.Decode(&jr); err != nil {
			return "", 0, machine{}, chartPanel{}, err
		}
		for im, s := range jr.Results {
			values[im] = chartBar{impl: im, value: valueOf(s.RTTMeanUS), okRounds: s.OKRounds}
		}
		transport, rounds, mach, p = jr.Transport, jr.Rounds, jr.Machine, chartPanel{size: jr.Size, count: jr.Count}
	} else {
		var jr jsonRow
		if err := dec.Decode(&jr); err != nil {
			return "", 0, machine{}, chartPanel{}, err
		}
		for im, s := range jr.Results {
			values[im] = chartBar{impl: im, value: valueOf(s.MsgsPerSec), okRounds: s.OKRounds}
		}
		transport, rounds, mach, p = jr.Transport, jr.Rounds, jr.Machine, chartPanel{size: jr.Size, count: jr.Count}
	}
	if transport == "" || p.size <= 0 || p.count <= 0 || rounds <= 0 || len(values) == 0 {
		return "", 0, machine{}, chartPanel{}, fmt.Errorf("got transport %q, size %d, count %d, rounds %d and %d results, want all of them",
			transport, p.size, p.count, rounds, len(values))
	}
	for _, im := range implOrder(values) {
		p.bars = append(p.bars, values[im])
	}
	return transport, rounds, mach, p, nil
}

// valueOf is a JSON number, NaN for null.
func valueOf(p *float64) float64 {
	if p == nil {
		return math.NaN()
	}
	return *p
}

// implOrder is the implementations in roundOrder, the order of the
// tables' columns, then any other name sorted.
func implOrder[V any](m map[string]V) []string {
	var out []string
	for _, im := range roundOrder {
		if _, ok := m[im]; ok {
			out = append(out, im)
		}
	}
	var rest []string
	for im := range m {
		if !slices.Contains(roundOrder, im) {
			rest = append(rest, im)
		}
	}
	slices.Sort(rest)
	return append(out, rest...)
}

// drawCharts reads one -json run from r and writes a chart per transport
// into dir, which it creates if need be. It returns the files written.
func drawCharts(r io.Reader, dir string) ([]string, error) {
	charts, err := readCharts(r)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	var files []string
	for _, c := range charts {
		var b bytes.Buffer
		if err := c.draw(&b); err != nil {
			return files, fmt.Errorf("%s: %w", c.file(), err)
		}
		name := filepath.Join(dir, c.file())
		if err := os.WriteFile(name, withFontFallback(b.Bytes()), 0o644); err != nil {
			return files, err
		}
		files = append(files, name)
	}
	return files, nil
}

// Chart geometry and fonts. Liberation Sans is among the fonts gonum/plot
// carries, so the text is measured with the font the SVG names; a viewer
// without it substitutes a similar sans-serif.
var (
	chartFont     = font.Font{Typeface: "Liberation", Variant: "Sans"}
	panelWidth    = 3.4 * vg.Inch
	minChartWidth = 7.6 * vg.Inch
	chartHeight   = 4.2 * vg.Inch
	chartHeadroom = 1.18 // the y axis goes this far above the tallest bar, for its label
)

// withFontFallback lets a viewer without Liberation Sans, which the SVG
// names alone, use Arial, whose glyphs are as wide (Liberation Sans was
// made to match it), or any sans-serif, rather than its default serif
// font: the text was laid out with Liberation's widths.
func withFontFallback(svg []byte) []byte {
	return bytes.ReplaceAll(svg, []byte("font-family:Liberation Sans;"), []byte("font-family:'Liberation Sans',Arial,Helvetica,sans-serif;"))
}

// textStyle is a plain text style in chartFont.
func textStyle(size vg.Length, x text.XAlignment, y text.YAlignment) text.Style {
	return text.Style{
		Color: color.Black, Font: font.From(chartFont, size), XAlign: x, YAlign: y,
		Handler: plot.DefaultTextHandler,
	}
}

// implColor gives each implementation the same color in every chart: by
// its place in roundOrder, in implColors.
func implColor(impl string) color.Color {
	i := slices.Index(roundOrder, impl)
	if i < 0 {
		i = len(roundOrder)
	}
	return implColors[i%len(implColors)]
}

// implColors are plotutil's soft colors and then its dark ones: plotutil's
// own palette has seven, fewer than roundOrder's implementations, and the
// eighth would take the first's color.
var implColors = slices.Concat(plotutil.SoftColors, plotutil.DarkColors)

// shown is the implementations that have a value in some panel: one that
// did not run (a null in every row) gets no place on the x axis.
func (c chart) shown() []string {
	var names []string
	for _, p := range c.panels {
		for _, b := range p.bars {
			if !math.IsNaN(b.value) && !slices.Contains(names, b.impl) {
				names = append(names, b.impl)
			}
		}
	}
	// Keep the tables' order whatever panel showed a name first.
	order := map[string]bool{}
	for _, n := range names {
		order[n] = true
	}
	return implOrder(order)
}

// title and caption say what the chart shows and where it was measured.
func (c chart) title() string {
	if c.mode == modeLat {
		return fmt.Sprintf("REQ/REP round trip over %s: mean µs, lower is better", c.transport)
	}
	return fmt.Sprintf("PUSH/PULL throughput over %s: msg/s, higher is better", c.transport)
}

// caption is two lines: the machine, then how the figures were taken.
func (c chart) caption() [2]string {
	how := fmt.Sprintf("medians over %d round(s)", c.rounds)
	if c.partial() {
		how += fmt.Sprintf("; (k/%d): of k rounds only", c.rounds)
	}
	if c.mode == modeThr {
		how += "; wisp with acknowledgements, libzmq and zmq4 without"
	}
	return [2]string{strings.TrimPrefix(c.machine.String(), "machine: "), how}
}

// partial says whether some bar is the median of fewer rounds than asked.
func (c chart) partial() bool {
	for _, p := range c.panels {
		for _, b := range p.bars {
			if !math.IsNaN(b.value) && b.okRounds < c.rounds {
				return true
			}
		}
	}
	return false
}

// draw renders c as SVG into w.
func (c chart) draw(w io.Writer) error {
	names := c.shown()
	if len(names) == 0 {
		return errors.New("no implementation has a value in any row")
	}
	row := make([]*plot.Plot, len(c.panels))
	for i, p := range c.panels {
		pl, err := c.panelPlot(p, names)
		if err != nil {
			return err
		}
		row[i] = pl
	}
	// At least wide enough for the caption, even in a wider fallback font.
	width := max(panelWidth*vg.Length(len(c.panels)), minChartWidth)
	canvas := vgsvg.New(width, chartHeight)
	dc := draw.New(canvas)
	tiles := draw.Tiles{
		Rows: 1, Cols: len(c.panels),
		PadTop: 0.45 * vg.Inch, PadBottom: 0.5 * vg.Inch, PadLeft: 0.1 * vg.Inch, PadRight: 0.25 * vg.Inch,
		PadX: 0.25 * vg.Inch,
	}
	for i, cv := range plot.Align([][]*plot.Plot{row}, tiles, dc)[0] {
		row[i].Draw(cv)
	}
	dc.FillText(textStyle(13, draw.XCenter, draw.YTop), vg.Point{X: width / 2, Y: chartHeight - 0.12*vg.Inch}, c.title())
	capt := c.caption()
	dc.FillText(textStyle(8, draw.XCenter, draw.YBottom), vg.Point{X: width / 2, Y: 0.22 * vg.Inch}, capt[0])
	dc.FillText(textStyle(8, draw.XCenter, draw.YBottom), vg.Point{X: width / 2, Y: 0.07 * vg.Inch}, capt[1])
	_, err := canvas.WriteTo(w)
	return err
}

// panelPlot is one size's bar chart: a bar per implementation in names,
// in its own color, with its value written above it; an implementation
// without a value in this row gets "n/a" where its bar would be.
func (c chart) panelPlot(p chartPanel, names []string) (*plot.Plot, error) {
	pl := plot.New()
	what := "messages"
	if c.mode == modeLat {
		what = "round trips"
	}
	pl.Title.Text = fmt.Sprintf("%s, %s %s per run", fmtSize(p.size), fmtInt(float64(p.count)), what)
	pl.Title.TextStyle = textStyle(11, draw.XCenter, draw.YTop)
	pl.Title.Padding = 0.1 * vg.Inch
	for _, a := range []*plot.Axis{&pl.X, &pl.Y} {
		a.Label.TextStyle.Font = font.From(chartFont, 10)
		a.Tick.Label.Font = font.From(chartFont, 9)
	}
	pl.Y.Label.Text = "msg/s"
	if c.mode == modeLat {
		pl.Y.Label.Text = "mean round trip, µs"
	}
	pl.Y.Tick.Marker = plot.TickerFunc(siTicks)

	var labels plotter.XYLabels
	top := 0.0
	for i, im := range names {
		b := barOf(p, im)
		if math.IsNaN(b.value) {
			labels.XYs = append(labels.XYs, plotter.XY{X: float64(i), Y: 0})
			labels.Labels = append(labels.Labels, "n/a")
			continue
		}
		bar, err := plotter.NewBarChart(plotter.Values{b.value}, 0.6*panelWidth/vg.Length(len(names)+1))
		if err != nil {
			return nil, err
		}
		bar.XMin = float64(i)
		bar.Color = implColor(im)
		bar.LineStyle.Width = 0
		pl.Add(bar)
		label := c.valueLabel(b.value)
		if b.okRounds < c.rounds {
			// A median of fewer rounds than asked says so; the caption
			// explains the mark.
			label += fmt.Sprintf(" (%d/%d)", b.okRounds, c.rounds)
		}
		labels.XYs = append(labels.XYs, plotter.XY{X: float64(i), Y: b.value})
		labels.Labels = append(labels.Labels, label)
		top = max(top, b.value)
	}
	ls, err := plotter.NewLabels(labels)
	if err != nil {
		return nil, err
	}
	for i := range ls.TextStyle {
		ls.TextStyle[i] = textStyle(9, draw.XCenter, draw.YBottom)
	}
	ls.Offset = vg.Point{Y: 2}
	pl.Add(ls)
	pl.NominalX(names...)
	pl.Y.Min = 0
	pl.Y.Max = max(top*chartHeadroom, 1)
	return pl, nil
}

// barOf is im's bar in p, NaN when the row has none.
func barOf(p chartPanel, im string) chartBar {
	for _, b := range p.bars {
		if b.impl == im {
			return b
		}
	}
	return chartBar{impl: im, value: math.NaN()}
}

// valueLabel writes a bar's value: msg/s with an SI prefix and three
// significant digits, a round trip in µs with one decimal.
func (c chart) valueLabel(v float64) string {
	if c.mode == modeLat {
		return fmtFloat(v, 1)
	}
	return siString(v, 3)
}

// siTicks are gonum's default ticks with their labels written with SI
// prefixes (2M rather than 2e+06).
func siTicks(lo, hi float64) []plot.Tick {
	ts := plot.DefaultTicks{}.Ticks(lo, hi)
	for i := range ts {
		if ts[i].Label != "" {
			ts[i].Label = siString(ts[i].Value, 6)
		}
	}
	return ts
}

// siString writes v with an SI prefix (k, M, G) and at most digits
// significant digits.
func siString(v float64, digits int) string {
	// Round first, so that 999,600 at three digits is 1M, not 1e+03k.
	v, _ = strconv.ParseFloat(strconv.FormatFloat(v, 'g', digits, 64), 64)
	for _, p := range []struct {
		scale float64
		name  string
	}{{1e9, "G"}, {1e6, "M"}, {1e3, "k"}} {
		if math.Abs(v) >= p.scale {
			return strconv.FormatFloat(v/p.scale, 'g', digits, 64) + p.name
		}
	}
	return strconv.FormatFloat(v, 'g', digits, 64)
}
