package main

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"slices"
	"strings"
)

// writePSTable prints the machine line, the Markdown table of pubsub
// medians with columns for the implementations in names, and any notes.
func writePSTable(w io.Writer, m machine, rows []psRow, rounds int, names []string, notes []string) error {
	var b strings.Builder
	fmt.Fprintf(&b, "%s\n", m)
	fmt.Fprintf(&b, "PUB -> SUB fan-out throughput, medians over %d round(s). "+
		"sub msg/s: messages one subscriber received per second, from its first data message to its last; "+
		"median over the subscribers, and min = the slowest subscriber. "+
		"wisp/X: ratio of the median sub msg/s, higher is better: above 1.00x wisp's subscribers receive faster. "+
		"drops: matching messages that reached no subscriber, in %% of what all subscribers should have received. "+
		"pub msg/s: messages published (matching or not) per second, from the first send to the last. "+
		"match: %% of the published messages that match the subscribers' topic. "+
		"Read a rate next to its drops: a subscriber that lost most messages got the rest in bursts, and its rate is how fast it read them. "+
		"CPU = user+sys seconds of each process over its whole life: the publisher's per 1M messages published / "+
		"a subscriber's per 1M messages it received, median over the subscribers.\n", rounds)
	var others []string
	for _, im := range names {
		if im != implWisp && im != implWispNodrop {
			others = append(others, im)
		}
	}
	lossless := slices.Contains(names, implWispNodrop) && slices.Contains(names, implLibzmqNodrop)
	if lossless {
		b.WriteString(implWispNodrop + " is wisp whose PUB waits for a full subscriber instead of dropping (socket.WithNoDrop, bench thr -nodrop); " +
			implWispNodrop + "/" + implLibzmqNodrop + " compares it with libzmq's lossless publisher (ZMQ_XPUB_NODROP=1), higher is better.\n")
	}
	b.WriteString("\n")
	head := []string{"transport", "size", "match", "count", "subs"}
	for _, im := range names {
		head = append(head, im+" sub msg/s")
	}
	for _, im := range others {
		head = append(head, "wisp/"+im)
	}
	if lossless {
		head = append(head, implWispNodrop+"/"+implLibzmqNodrop)
	}
	for _, im := range names {
		head = append(head, im+" min sub msg/s")
	}
	for _, im := range names {
		head = append(head, im+" drops")
	}
	for _, im := range names {
		head = append(head, im+" pub msg/s")
	}
	for _, im := range names {
		head = append(head, im+" CPU s/1M pub/sub")
	}
	writeMDHeader(&b, head)

	for _, r := range rows {
		cells := []string{r.transport, fmtSize(r.size), fmt.Sprintf("%d%%", r.match), fmtInt(float64(r.count)), fmt.Sprint(r.subs)}
		for _, im := range names {
			cells = append(cells, fmtInt(r.stat(im).subMedian))
		}
		for _, im := range others {
			cells = append(cells, fmtRatio(r.ratio(im)))
		}
		if lossless {
			cells = append(cells, fmtRatio(r.ratioOf(implWispNodrop, implLibzmqNodrop)))
		}
		for _, im := range names {
			cells = append(cells, fmtInt(r.stat(im).subMin))
		}
		for _, im := range names {
			cells = append(cells, fmtPct(r.stat(im).dropPct))
		}
		for _, im := range names {
			cells = append(cells, fmtInt(r.stat(im).pubMsgsPerSec))
		}
		for _, im := range names {
			s := r.stat(im)
			cells = append(cells, fmtPair(s.pubCPUPM, s.subCPUPM, 2))
		}
		writeMDRow(&b, cells)
	}
	writeNotes(&b, notes)
	_, err := io.WriteString(w, b.String())
	return err
}

// fmtPct shows a percentage with one decimal, or n/a.
func fmtPct(x float64) string {
	if math.IsNaN(x) || math.IsInf(x, 0) {
		return "n/a"
	}
	return fmtFloat(x, 1) + "%"
}

// psJSONStats is psStats as JSON; null stands for unknown.
type psJSONStats struct {
	OKRounds            int      `json:"ok_rounds"`
	SubMsgsPerSecMedian *float64 `json:"sub_msgs_per_sec_median"`
	SubMsgsPerSecMin    *float64 `json:"sub_msgs_per_sec_min"`
	PubMsgsPerSec       *float64 `json:"pub_msgs_per_sec"`
	Drops               *float64 `json:"drops"`
	DropPct             *float64 `json:"drop_pct"`
	// PubCPUPer1M is the publisher's CPU seconds per million messages
	// published; SubCPUPer1MMedian the median over the subscribers of each
	// one's per million messages it received.
	PubCPUPer1M       *float64 `json:"pub_cpu_sec_per_1m"`
	SubCPUPer1MMedian *float64 `json:"sub_cpu_sec_per_1m_median"`
}

// psJSONRow is one row of -mode pubsub -json output. The ratios compare
// median subscriber rates, so above 1 wisp is faster.
type psJSONRow struct {
	Mode                string   `json:"mode"`
	Pattern             string   `json:"pattern"`
	Transport           string   `json:"transport"`
	Size                int      `json:"size"`
	Match               int      `json:"match"`
	Count               int64    `json:"count"`
	Subs                int      `json:"subs"`
	ExpectedPerSub      int64    `json:"expected_per_sub"`
	Rounds              int      `json:"rounds"`
	WispPerLibzmq       *float64 `json:"wisp_per_libzmq_sub_msgs_per_sec"`
	WispPerLibzmqNodrop *float64 `json:"wisp_per_libzmq_nodrop_sub_msgs_per_sec"`
	WispPerZMQ4         *float64 `json:"wisp_per_zmq4_sub_msgs_per_sec"`
	// WispNodropPerLibzmqNodrop compares the two lossless publishers; null
	// unless both ran (-nodrop).
	WispNodropPerLibzmqNodrop *float64               `json:"wisp_nodrop_per_libzmq_nodrop_sub_msgs_per_sec"`
	Results                   map[string]psJSONStats `json:"results"`
	Machine                   machine                `json:"machine"`
}

// writePSJSON prints one JSON object per pubsub row, with results for the
// implementations in names.
func writePSJSON(w io.Writer, m machine, rows []psRow, rounds int, names []string) error {
	enc := json.NewEncoder(w)
	for _, r := range rows {
		jr := psJSONRow{
			Mode: modePubsub, Pattern: psPattern,
			Transport: r.transport, Size: r.size, Match: r.match, Count: r.count, Subs: r.subs,
			ExpectedPerSub: r.expected(), Rounds: rounds,
			WispPerLibzmq: known(r.ratio(implLibzmq)), WispPerLibzmqNodrop: known(r.ratio(implLibzmqNodrop)),
			WispPerZMQ4: known(r.ratio(implZMQ4)), WispNodropPerLibzmqNodrop: known(r.ratioOf(implWispNodrop, implLibzmqNodrop)),
			Results: map[string]psJSONStats{}, Machine: m,
		}
		for _, im := range names {
			s := r.stat(im)
			jr.Results[im] = psJSONStats{
				OKRounds: s.rounds, SubMsgsPerSecMedian: known(s.subMedian), SubMsgsPerSecMin: known(s.subMin),
				PubMsgsPerSec: known(s.pubMsgsPerSec), Drops: known(s.drops), DropPct: known(s.dropPct),
				PubCPUPer1M: known(s.pubCPUPM), SubCPUPer1MMedian: known(s.subCPUPM),
			}
		}
		if err := enc.Encode(jr); err != nil {
			return err
		}
	}
	return nil
}
