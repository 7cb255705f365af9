package main

import (
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strings"
)

// writeLatTable prints the machine line, the Markdown table of latency
// medians and any notes.
func writeLatTable(w io.Writer, m machine, rows []latRow, rounds int, notes []string) error {
	extras := latExtras(rows)
	names := slices.Concat(baseImpls, extras)
	var b strings.Builder
	fmt.Fprintf(&b, "%s\n", m)
	fmt.Fprintf(&b, "REQ/REP round-trip latency in µs, medians over %d round(s) of each run's mean, p50 and p99; "+
		"wisp/libzmq and wisp/zmq4 are ratios of the mean: lower is better, below 1.00x wisp is faster. "+
		"Each run times count round trips after min(1000, count/10) untimed ones. "+
		"CPU = user+sys seconds per 1M round trips (timed and untimed) of the client's and the server's process over its whole life.\n", rounds)
	if slices.ContainsFunc(extras, func(im string) bool { return slices.Contains(zmtpImpls, im) }) {
		b.WriteString("Over ZMTP (no acknowledgements, which ZMTP does not have): wisp-zmtp is a wisp REQ asking a wisp REP, " +
			"wisp-libzmq a wisp REQ asking a libzmq REP, libzmq-wisp a libzmq REQ asking a wisp REP; " +
			"X/libzmq is X's mean over libzmq's (libzmq to libzmq, same run): lower is better.\n")
	}
	for _, im := range extras {
		if v, ok := latOnly[im]; ok {
			fmt.Fprintf(&b, "%s is %s; %s/libzmq is its mean over libzmq's (same run): lower is better.\n", im, v.what, im)
		}
	}
	b.WriteString("\n")
	head := []string{"transport", "size", "count"}
	for _, im := range names {
		head = append(head, im+" mean µs")
	}
	head = append(head, "wisp/libzmq", "wisp/zmq4")
	for _, im := range extras {
		head = append(head, im+"/libzmq")
	}
	for _, im := range names {
		head = append(head, im+" p50 µs")
	}
	for _, im := range names {
		head = append(head, im+" p99 µs")
	}
	for _, im := range names {
		head = append(head, im+" CPU s/1M client/server")
	}
	writeMDHeader(&b, head)

	for _, r := range rows {
		cells := []string{r.transport, fmtSize(r.size), fmtInt(float64(r.count))}
		for _, im := range names {
			cells = append(cells, fmtFloat(r.stat(im).meanUS, 1))
		}
		cells = append(cells, fmtRatio(r.ratio(implLibzmq)), fmtRatio(r.ratio(implZMQ4)))
		for _, im := range extras {
			cells = append(cells, fmtRatio(r.perLibzmq(im)))
		}
		for _, im := range names {
			cells = append(cells, fmtFloat(r.stat(im).p50US, 1))
		}
		for _, im := range names {
			cells = append(cells, fmtFloat(r.stat(im).p99US, 1))
		}
		for _, im := range names {
			s := r.stat(im)
			cells = append(cells, fmtPair(s.clientCPUPM, s.serverCPUPM, 2))
		}
		writeMDRow(&b, cells)
	}
	writeNotes(&b, notes)
	_, err := io.WriteString(w, b.String())
	return err
}

// latJSONStats is latStats as JSON; null stands for unknown.
type latJSONStats struct {
	OKRounds  int      `json:"ok_rounds"`
	RTTMeanUS *float64 `json:"rtt_mean_us"`
	RTTP50US  *float64 `json:"rtt_p50_us"`
	RTTP99US  *float64 `json:"rtt_p99_us"`
	// CPU seconds per million round trips (timed and untimed) of the
	// client's and the server's process.
	ClientCPUPer1M *float64 `json:"client_cpu_sec_per_1m"`
	ServerCPUPer1M *float64 `json:"server_cpu_sec_per_1m"`
}

// latJSONRow is one row of -mode lat -json output. The ratios compare mean
// round-trip times, so below 1 wisp is faster.
type latJSONRow struct {
	Mode             string                  `json:"mode"`
	Pattern          string                  `json:"pattern"`
	Transport        string                  `json:"transport"`
	Size             int                     `json:"size"`
	Count            int64                   `json:"count"`
	Warmup           int64                   `json:"warmup"`
	Rounds           int                     `json:"rounds"`
	WispPerLibzmqRTT *float64                `json:"wisp_per_libzmq_rtt_mean"`
	WispPerZMQ4RTT   *float64                `json:"wisp_per_zmq4_rtt_mean"`
	Results          map[string]latJSONStats `json:"results"`
	Machine          machine                 `json:"machine"`

	// PerLibzmqRTT is, for each ZMTP pair and each of latOnlyImpls that
	// ran, its mean round trip over libzmq's (null when unknown); absent
	// when none ran.
	PerLibzmqRTT map[string]*float64 `json:"per_libzmq_rtt_mean,omitempty"`
}

// writeLatJSON prints one JSON object per latency row.
func writeLatJSON(w io.Writer, m machine, rows []latRow, rounds int) error {
	extras := latExtras(rows)
	enc := json.NewEncoder(w)
	for _, r := range rows {
		jr := latJSONRow{
			Mode: modeLat, Pattern: latPattern,
			Transport: r.transport, Size: r.size, Count: r.count, Warmup: r.warmup, Rounds: rounds,
			WispPerLibzmqRTT: known(r.ratio(implLibzmq)), WispPerZMQ4RTT: known(r.ratio(implZMQ4)),
			Results: map[string]latJSONStats{}, Machine: m,
		}
		for _, im := range extras {
			if jr.PerLibzmqRTT == nil {
				jr.PerLibzmqRTT = map[string]*float64{}
			}
			jr.PerLibzmqRTT[im] = known(r.perLibzmq(im))
		}
		for _, im := range slices.Concat(baseImpls, extras) {
			s := r.stat(im)
			jr.Results[im] = latJSONStats{
				OKRounds: s.rounds, RTTMeanUS: known(s.meanUS), RTTP50US: known(s.p50US), RTTP99US: known(s.p99US),
				ClientCPUPer1M: known(s.clientCPUPM), ServerCPUPer1M: known(s.serverCPUPM),
			}
		}
		if err := enc.Encode(jr); err != nil {
			return err
		}
	}
	return nil
}

// latExtras are the implementations outside the default that ran in rows,
// in roundOrder.
func latExtras(rows []latRow) []string {
	return shownOf(slices.Concat(zmtpImpls, latOnlyImpls), rows, func(r latRow, im string) bool { _, ok := r.impls[im]; return ok })
}
