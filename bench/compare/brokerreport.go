package main

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
)

// writeBrokerTable prints the machine line, the Markdown table of broker
// medians and any notes.
func writeBrokerTable(w io.Writer, m machine, rows []brokerRow, rounds int, notes []string) error {
	var b strings.Builder
	fmt.Fprintf(&b, "%s\n", m)
	fmt.Fprintf(&b, "Requests through a ROUTER | proxy | DEALER broker, medians over %d round(s): DEALER clients in one process, each keeping window requests in flight, "+
		"REP workers echoing them in another, the broker in a third. requests/s: replies per second at the clients, over all of them; "+
		"MB = 10^6 bytes of request payload (the replies carry as much again); wisp/libzmq: ratio of requests/s, higher is better. "+
		"CPU = user+sys seconds per 1M requests of each process over its whole life: broker/clients/workers, and the three together; RSS = the broker's peak. "+
		"wisp runs with acknowledgements, libzmq without.\n\n", rounds)
	head := []string{"transport", "size", "count", "clients", "workers", "window"}
	for _, im := range brokerImpls {
		head = append(head, im+" req/s")
	}
	head = append(head, "wisp/libzmq")
	for _, im := range brokerImpls {
		head = append(head, im+" MB/s")
	}
	for _, im := range brokerImpls {
		head = append(head, im+" CPU s/1M broker/clients/workers")
	}
	for _, im := range brokerImpls {
		head = append(head, im+" CPU s/1M total")
	}
	for _, im := range brokerImpls {
		head = append(head, im+" broker RSS MiB")
	}
	writeMDHeader(&b, head)

	for _, r := range rows {
		cells := []string{r.transport, fmtSize(r.size), fmtInt(float64(r.count)), fmt.Sprint(r.clients), fmt.Sprint(r.workers), fmt.Sprint(r.window)}
		for _, im := range brokerImpls {
			cells = append(cells, fmtInt(r.stat(im).reqPerSec))
		}
		cells = append(cells, fmtRatio(r.ratio(implLibzmq)))
		for _, im := range brokerImpls {
			cells = append(cells, fmtFloat(r.stat(im).mbPerSec, 1))
		}
		for _, im := range brokerImpls {
			s := r.stat(im)
			cells = append(cells, fmtTriple(s.brokerCPUPM, s.clientsCPUPM, s.workersCPUPM, 2))
		}
		for _, im := range brokerImpls {
			cells = append(cells, fmtFloat(r.stat(im).totalCPUPM, 2))
		}
		for _, im := range brokerImpls {
			cells = append(cells, fmtFloat(r.stat(im).brokerRSSMiB, 1))
		}
		writeMDRow(&b, cells)
	}
	writeNotes(&b, notes)
	_, err := io.WriteString(w, b.String())
	return err
}

// fmtTriple shows "a/b/c", or a single n/a when none is known.
func fmtTriple(a, b, c float64, prec int) string {
	if fmtPair(a, b, prec) == "n/a" && fmtFloat(c, prec) == "n/a" {
		return "n/a"
	}
	return fmtFloat(a, prec) + "/" + fmtFloat(b, prec) + "/" + fmtFloat(c, prec)
}

// brokerJSONStats is brokerStats as JSON; null stands for unknown.
type brokerJSONStats struct {
	OKRounds        int      `json:"ok_rounds"`
	RequestsPerSec  *float64 `json:"requests_per_sec"`
	MBPerSec        *float64 `json:"mb_per_sec"`
	BrokerCPUPer1M  *float64 `json:"broker_cpu_sec_per_1m"`
	ClientsCPUPer1M *float64 `json:"clients_cpu_sec_per_1m"`
	WorkersCPUPer1M *float64 `json:"workers_cpu_sec_per_1m"`
	TotalCPUPer1M   *float64 `json:"total_cpu_sec_per_1m"`
	BrokerMaxRSSMiB *float64 `json:"broker_maxrss_mib"`
}

// brokerJSONRow is one row of -mode broker -json output. The ratio
// compares requests/s, so above 1 wisp is faster.
type brokerJSONRow struct {
	Mode          string                     `json:"mode"`
	Pattern       string                     `json:"pattern"`
	Transport     string                     `json:"transport"`
	Size          int                        `json:"size"`
	Count         int64                      `json:"count"`
	Clients       int                        `json:"clients"`
	Workers       int                        `json:"workers"`
	Window        int                        `json:"window"`
	Rounds        int                        `json:"rounds"`
	WispPerLibzmq *float64                   `json:"wisp_per_libzmq_requests_per_sec"`
	Results       map[string]brokerJSONStats `json:"results"`
	Machine       machine                    `json:"machine"`
}

// writeBrokerJSON prints one JSON object per broker row.
func writeBrokerJSON(w io.Writer, m machine, rows []brokerRow, rounds int) error {
	enc := json.NewEncoder(w)
	for _, r := range rows {
		jr := brokerJSONRow{
			Mode: modeBroker, Pattern: brokerPattern, Transport: r.transport, Size: r.size, Count: r.count,
			Clients: r.clients, Workers: r.workers, Window: r.window, Rounds: rounds,
			WispPerLibzmq: known(r.ratio(implLibzmq)), Results: map[string]brokerJSONStats{}, Machine: m,
		}
		for _, im := range brokerImpls {
			s := r.stat(im)
			jr.Results[im] = brokerJSONStats{
				OKRounds: s.rounds, RequestsPerSec: known(s.reqPerSec), MBPerSec: known(s.mbPerSec),
				BrokerCPUPer1M: known(s.brokerCPUPM), ClientsCPUPer1M: known(s.clientsCPUPM), WorkersCPUPer1M: known(s.workersCPUPM),
				TotalCPUPer1M: known(s.totalCPUPM), BrokerMaxRSSMiB: known(s.brokerRSSMiB),
			}
		}
		if err := enc.Encode(jr); err != nil {
			return err
		}
	}
	return nil
}
