package main

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"slices"
	"strconv"
	"strings"
)

// machine describes where the numbers were taken.
type machine struct {
	CPU    string `json:"cpu"`
	Cores  int    `json:"cores"`
	Go     string `json:"go"`
	OSArch string `json:"os_arch"`
	Libzmq string `json:"libzmq"`
}

func (m machine) String() string {
	return fmt.Sprintf("machine: %s, %d cores, %s %s, libzmq %s", m.CPU, m.Cores, m.Go, m.OSArch, m.Libzmq)
}

// writeTable prints the machine line, the Markdown table of medians and any
// notes (skipped implementations, failed rounds).
func writeTable(w io.Writer, m machine, rows []row, rounds int, notes []string) error {
	extras := shownOf(extraImpls, rows, func(r row, im string) bool { _, ok := r.impls[im]; return ok })
	names := slices.Concat(baseImpls, extras)
	var b strings.Builder
	fmt.Fprintf(&b, "%s\n", m)
	fmt.Fprintf(&b, "PUSH/PULL throughput, medians over %d round(s); MB = 10^6 bytes; CPU = user+sys seconds per 1M messages; RSS = peak.\n", rounds)
	if slices.ContainsFunc(extras, func(im string) bool { return slices.Contains(zmtpImpls, im) }) {
		b.WriteString("Over ZMTP (no acknowledgements, which ZMTP does not have): wisp-zmtp is wisp to wisp, wisp-libzmq a wisp PUSH to a libzmq PULL, " +
			"libzmq-wisp a libzmq PUSH to a wisp PULL; X/libzmq is X's msg/s over libzmq's (libzmq to libzmq, same run): higher is better.\n")
	}
	for _, im := range extras {
		if t, ok := thrOnly[im]; ok {
			fmt.Fprintf(&b, "%s is %s; %s/libzmq is its msg/s over libzmq's (same run): higher is better.\n", im, t.what, im)
		}
	}
	b.WriteString("\n")
	head := []string{"transport", "size", "count"}
	for _, im := range names {
		head = append(head, im+" msg/s")
	}
	head = append(head, "wisp/libzmq", "wisp/zmq4")
	for _, im := range extras {
		head = append(head, im+"/libzmq")
	}
	for _, im := range names {
		head = append(head, im+" MB/s")
	}
	for _, im := range names {
		head = append(head, im+" CPU s/1M send/recv")
	}
	for _, im := range names {
		head = append(head, im+" RSS MiB send/recv")
	}
	writeMDHeader(&b, head)

	for _, r := range rows {
		cells := []string{r.transport, fmtSize(r.size), fmtInt(float64(r.count))}
		for _, im := range names {
			cells = append(cells, fmtInt(r.stat(im).msgsPerSec))
		}
		cells = append(cells, fmtRatio(r.ratio(implLibzmq)), fmtRatio(r.ratio(implZMQ4)))
		for _, im := range extras {
			cells = append(cells, fmtRatio(r.perLibzmq(im)))
		}
		for _, im := range names {
			cells = append(cells, fmtFloat(r.stat(im).mbPerSec, 1))
		}
		for _, im := range names {
			s := r.stat(im)
			cells = append(cells, fmtPair(s.sendCPUPM, s.recvCPUPM, 2))
		}
		for _, im := range names {
			s := r.stat(im)
			cells = append(cells, fmtPair(s.sendRSSMiB, s.recvRSSMiB, 1))
		}
		writeMDRow(&b, cells)
	}
	writeNotes(&b, notes)
	_, err := io.WriteString(w, b.String())
	return err
}

// shownOf returns those of impls (extraImpls, or a mode's share of them)
// that ran in any row, in the order of impls. A report has their columns
// only then, so a run without them prints what it always did.
func shownOf[R any](impls []string, rows []R, ran func(r R, impl string) bool) []string {
	var out []string
	for _, im := range impls {
		if slices.ContainsFunc(rows, func(r R) bool { return ran(r, im) }) {
			out = append(out, im)
		}
	}
	return out
}

// writeMDHeader writes a Markdown table's header row and the separator
// row under it (the first column left-aligned, the others right).
func writeMDHeader(b *strings.Builder, head []string) {
	writeMDRow(b, head)
	seps := make([]string, len(head))
	for i := range seps {
		seps[i] = "---:"
	}
	seps[0] = "---"
	writeMDRow(b, seps)
}

// writeNotes writes the notes under a table, one item each.
func writeNotes(b *strings.Builder, notes []string) {
	if len(notes) == 0 {
		return
	}
	b.WriteString("\nNotes:\n")
	for _, n := range notes {
		fmt.Fprintf(b, "- %s\n", strings.ReplaceAll(strings.TrimSpace(n), "\n", "\n  "))
	}
}

func writeMDRow(b *strings.Builder, cells []string) {
	b.WriteString("| ")
	b.WriteString(strings.Join(cells, " | "))
	b.WriteString(" |\n")
}

// fmtSize shows whole KiB as KiB and anything else in bytes.
func fmtSize(n int) string {
	if n >= 1024 && n%1024 == 0 {
		return fmt.Sprintf("%d KiB", n/1024)
	}
	return fmt.Sprintf("%d B", n)
}

// fmtInt rounds to an integer with thousands separators, or n/a for NaN.
func fmtInt(x float64) string {
	if math.IsNaN(x) || math.IsInf(x, 0) {
		return "n/a"
	}
	s := strconv.FormatInt(int64(math.Round(x)), 10)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	if neg {
		return "-" + b.String()
	}
	return b.String()
}

func fmtFloat(x float64, prec int) string {
	if math.IsNaN(x) || math.IsInf(x, 0) {
		return "n/a"
	}
	return strconv.FormatFloat(x, 'f', prec, 64)
}

func fmtRatio(x float64) string {
	if math.IsNaN(x) || math.IsInf(x, 0) {
		return "n/a"
	}
	return strconv.FormatFloat(x, 'f', 2, 64) + "x"
}

// fmtPair shows "send/recv", or a single n/a when neither is known.
func fmtPair(a, b float64, prec int) string {
	if math.IsNaN(a) && math.IsNaN(b) {
		return "n/a"
	}
	return fmtFloat(a, prec) + "/" + fmtFloat(b, prec)
}

// jsonStats is implStats as JSON; null stands for unknown.
type jsonStats struct {
	OKRounds          int      `json:"ok_rounds"`
	MsgsPerSec        *float64 `json:"msgs_per_sec"`
	MBPerSec          *float64 `json:"mb_per_sec"`
	SenderCPUPer1M    *float64 `json:"sender_cpu_sec_per_1m"`
	ReceiverCPUPer1M  *float64 `json:"receiver_cpu_sec_per_1m"`
	SenderMaxRSSMiB   *float64 `json:"sender_maxrss_mib"`
	ReceiverMaxRSSMiB *float64 `json:"receiver_maxrss_mib"`
}

// jsonRow is one row of -json output.
type jsonRow struct {
	Transport     string               `json:"transport"`
	Size          int                  `json:"size"`
	Count         int64                `json:"count"`
	Rounds        int                  `json:"rounds"`
	WispPerLibzmq *float64             `json:"wisp_per_libzmq"`
	WispPerZMQ4   *float64             `json:"wisp_per_zmq4"`
	Results       map[string]jsonStats `json:"results"`
	Machine       machine              `json:"machine"`

	// PerLibzmq is, for each implementation outside the default that ran
	// (the ZMTP pairs, wisp-release, wisp-batch), its msg/s over libzmq's
	// (null when unknown); absent when none ran.
	PerLibzmq map[string]*float64 `json:"per_libzmq,omitempty"`
}

// known turns NaN into nil so JSON gets null instead of an encoding error.
func known(x float64) *float64 {
	if math.IsNaN(x) || math.IsInf(x, 0) {
		return nil
	}
	return &x
}

// writeJSON prints one JSON object per row.
func writeJSON(w io.Writer, m machine, rows []row, rounds int) error {
	extras := shownOf(extraImpls, rows, func(r row, im string) bool { _, ok := r.impls[im]; return ok })
	enc := json.NewEncoder(w)
	for _, r := range rows {
		jr := jsonRow{
			Transport: r.transport, Size: r.size, Count: r.count, Rounds: rounds,
			WispPerLibzmq: known(r.ratio(implLibzmq)), WispPerZMQ4: known(r.ratio(implZMQ4)),
			Results: map[string]jsonStats{}, Machine: m,
		}
		for _, im := range extras {
			if jr.PerLibzmq == nil {
				jr.PerLibzmq = map[string]*float64{}
			}
			jr.PerLibzmq[im] = known(r.perLibzmq(im))
		}
		for _, im := range slices.Concat(baseImpls, extras) {
			s := r.stat(im)
			jr.Results[im] = jsonStats{
				OKRounds: s.rounds, MsgsPerSec: known(s.msgsPerSec), MBPerSec: known(s.mbPerSec),
				SenderCPUPer1M: known(s.sendCPUPM), ReceiverCPUPer1M: known(s.recvCPUPM),
				SenderMaxRSSMiB: known(s.sendRSSMiB), ReceiverMaxRSSMiB: known(s.recvRSSMiB),
			}
		}
		if err := enc.Encode(jr); err != nil {
			return err
		}
	}
	return nil
}
