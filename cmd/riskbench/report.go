package main

import (
	"fmt"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/riskwatch/riskwatch/configs"
	"github.com/riskwatch/riskwatch/rules"
)

// results is everything one run measured; the JSON output.
type results struct {
	Options         options         `json:"options"`
	Go              string          `json:"go"`
	CPUs            int             `json:"cpus"`
	GOMAXPROCS      int             `json:"gomaxprocs"`
	Server          string          `json:"nats_server"`
	External        bool            `json:"external_server"`
	Messages        int             `json:"messages"`
	Profiles        int             `json:"profiles"`
	MeanSignalBytes float64         `json:"mean_message_bytes"`
	Publish         rate            `json:"raw_publish"`
	ConsumeFetch    rate            `json:"raw_consume_fetch"`
	ConsumeMessages rate            `json:"raw_consume_messages"`
	Ingest          ingest          `json:"ingest"`
	Core            *coreResults    `json:"core,omitempty"`
	Latency         *latencyResult  `json:"latency,omitempty"`
	Memory          []restartResult `json:"memory,omitempty"`
	Restart         *restartResult  `json:"restart,omitempty"`
	Cluster         *clusterResult  `json:"cluster,omitempty"`
	Targets         []target        `json:"targets"`
}

type rate struct {
	Messages int     `json:"messages"`
	Bytes    int     `json:"bytes"`
	Seconds  float64 `json:"seconds"`
	Rate     float64 `json:"rate"`
}

func newRate(n, bytes int, d time.Duration) rate {
	r := rate{Messages: n, Bytes: bytes, Seconds: d.Seconds()}
	if d > 0 {
		r.Rate = float64(n) / d.Seconds()
	}
	return r
}

type ingest struct {
	rate
	Checkpoints            int     `json:"checkpoints"`
	CheckpointSeconds      float64 `json:"checkpoint_seconds"`
	Alerts                 int     `json:"alerts"`
	Scored                 int     `json:"scored"`
	Rejected               int     `json:"rejected"`
	FinalCheckpointSeconds float64 `json:"final_checkpoint_seconds"`
}

func ingestOf(r *engineRun, n, bytes int, d time.Duration) ingest {
	in := ingest{rate: newRate(n, bytes, d)}
	cps, secs := r.counter("riskwatch_checkpoint_duration_seconds", nil)
	in.Checkpoints, in.CheckpointSeconds = int(cps), secs
	alerts, _ := r.counter("riskwatch_alerts_total", nil)
	in.Alerts = int(alerts)
	scored, _ := r.counter("riskwatch_signals_total", map[string]string{"result": "scored"})
	in.Scored = int(scored)
	dlq, _ := r.counter("riskwatch_dlq_total", nil)
	in.Rejected = int(dlq)
	return in
}

func riskdRules() (*rules.Set, error) { return configs.LoadRules("") }

// target is one of the performance targets, checked.
type target struct {
	Name  string  `json:"name"`
	Value float64 `json:"value"`
	Want  string  `json:"want"`
	OK    bool    `json:"ok"`
}

// ceiling is the best raw consume rate of the stream.
func (r *results) ceiling() float64 { return max(r.ConsumeFetch.Rate, r.ConsumeMessages.Rate) }

const (
	gib = 1 << 30
	kib = 1 << 10
)

// check fills Targets from what was measured.
func (r *results) check() {
	r.Targets = nil
	add := func(name string, v float64, want string, ok bool) {
		r.Targets = append(r.Targets, target{name, v, want, ok})
	}
	c := r.ceiling()
	if c > 0 && r.Ingest.Rate > 0 {
		v := r.Ingest.Rate / c
		add("ingest / raw consume", v, ">= 0.70", v >= 0.70)
	}
	if c > 0 && r.Core != nil {
		v := r.Core.Score.Rate / c
		add("core score / raw consume", v, ">= 5", v >= 5)
	}
	if r.Latency != nil && r.Latency.Alert.Count > 0 {
		add("p99 publish-to-alert ms", r.Latency.Alert.P99, "<= 10", r.Latency.Alert.P99 <= 10)
	}
	for _, m := range r.Memory {
		add(fmt.Sprintf("heap B/customer @%d", m.Customers), m.HeapPerCust, "<= 1024", m.HeapPerCust <= kib)
	}
	if r.Restart != nil {
		gb := float64(r.Restart.TotalRSSBytes) / gib * 1e6 / float64(max(r.Restart.Customers, 1))
		add("RSS GiB per 1M customers", gb, "~1.5", gb <= 1.6)
		add(fmt.Sprintf("restart to ready s @%d", r.Restart.Customers), r.Restart.ReadySeconds, "<= 10", r.Restart.ReadySeconds <= 10)
	}
}

// table renders the results for a terminal.
func (r *results) table() string {
	var b strings.Builder
	fmt.Fprintf(&b, "riskbench: %s signals + %s profiles over %s customers (%.0f-byte messages on average), %s, %d CPUs, nats-server %s",
		num(float64(r.Options.Signals)), num(float64(r.Profiles)), num(float64(r.Options.Customers)), r.MeanSignalBytes, r.Go, r.CPUs, r.Server)
	if r.External {
		b.WriteString(" (external)")
	} else {
		b.WriteString(" (embedded)")
	}
	b.WriteString("\n\n")
	tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "phase\tresult\tratio to raw consume\tdetail")
	c := r.ceiling()
	ratio := func(v float64) string {
		if c <= 0 || v <= 0 {
			return "-"
		}
		return fmt.Sprintf("%.2fx", v/c)
	}
	if r.Publish.Rate > 0 {
		fmt.Fprintf(tw, "raw publish, JetStream async\t%s msg/s\t-\t%s MB/s\n", num(r.Publish.Rate), mb(r.Publish))
	}
	if r.ConsumeFetch.Rate > 0 {
		fmt.Fprintf(tw, "raw consume, durable pull, Fetch(1000)\t%s msg/s\t%s\t%s MB/s\n", num(r.ConsumeFetch.Rate), ratio(r.ConsumeFetch.Rate), mb(r.ConsumeFetch))
	}
	if r.ConsumeMessages.Rate > 0 {
		fmt.Fprintf(tw, "raw consume, durable pull, Messages()\t%s msg/s\t%s\t%s MB/s\n", num(r.ConsumeMessages.Rate), ratio(r.ConsumeMessages.Rate), mb(r.ConsumeMessages))
	}
	if r.Ingest.Rate > 0 {
		fmt.Fprintf(tw, "ingest, riskd engine drains the stream\t%s msg/s\t%s\t%d checkpoints (%.1f s), %d alerts, %d rejected\n",
			num(r.Ingest.Rate), ratio(r.Ingest.Rate), r.Ingest.Checkpoints, r.Ingest.CheckpointSeconds, r.Ingest.Alerts, r.Ingest.Rejected)
	}
	if r.Core != nil {
		for _, s := range []struct {
			name string
			v    coreResult
		}{{"core, signals.Decode", r.Core.Decode}, {"core, scorer Apply+Score", r.Core.Score},
			{"core, pure step (book.Apply)", r.Core.Step}} {
			fmt.Fprintf(tw, "%s\t%s sig/s\t%s\t%.0f ns, %.1f allocs, %.0f B per signal\n",
				s.name, num(s.v.Rate), ratio(s.v.Rate), s.v.NsPerSignal, s.v.AllocsPer, s.v.BytesPer)
		}
	}
	if l := r.Latency; l != nil {
		fmt.Fprintf(tw, "latency, publish-to-score @%s/s\tp50 %.2f  p99 %.2f  p99.9 %.2f ms\t-\t%s signals, achieved %s/s, max %.1f ms\n",
			num(l.OfferedRate), l.Score.P50, l.Score.P99, l.Score.P999, num(float64(l.Score.Count)), num(l.AchievedRate), l.Score.Max)
		fmt.Fprintf(tw, "latency, publish-to-alert @%s/s\tp50 %.2f  p99 %.2f  p99.9 %.2f ms\t-\t%d alerts (+%d not from a signal), %d sweeps (max %.0f ms), %d checkpoints (mean %.0f ms)\n",
			num(l.OfferedRate), l.Alert.P50, l.Alert.P99, l.Alert.P999, l.Alert.Count, l.Unmatched, l.Sweeps, l.MaxSweepMS, l.Checkpoints, l.MeanCPms)
	}
	for _, m := range r.Memory {
		fmt.Fprintf(tw, "memory @%s customers\t%.0f B heap, %.0f B RSS per customer\t-\tprocess RSS %.2f GiB, peak %.2f GiB\n",
			num(float64(m.Customers)), m.HeapPerCust, m.RSSPerCust, float64(m.TotalRSSBytes)/gib, float64(m.PeakRSSBytes)/gib)
	}
	if rs := r.Restart; rs != nil {
		fmt.Fprintf(tw, "restart @%s customers\t%.1f s to ready\t-\t%s profiles\n", num(float64(rs.Customers)), rs.ReadySeconds, num(float64(rs.Profiles)))
	}
	if cl := r.Cluster; cl != nil {
		// Ratios here are to the cluster's own raw rate: an R3 stream
		// publishes and reads slower than the embedded server's R1.
		cratio := func(v float64) string {
			if cl.Raw.Rate <= 0 {
				return "-"
			}
			return fmt.Sprintf("%.2fx of R3 raw", v/cl.Raw.Rate)
		}
		fmt.Fprintf(tw, "cluster raw, R3 publish+consume (3 servers)\t%s msg/s\t-\t%s MB/s\n", num(cl.Raw.Rate), mb(cl.Raw))
		for _, g := range cl.Groups {
			fmt.Fprintf(tw, "cluster, %d riskd, %d partitions\t%s msg/s\t%s\tpublish to all checkpointed\n", g.Riskd, cl.Partitions, num(g.Rate), cratio(g.Rate))
		}
		fmt.Fprintf(tw, "cluster failover, 1 of 3 riskd killed\t%.1f s leases taken, %.1f s served\t-\tlease TTL %.0f s\n",
			cl.FailoverTaken, cl.FailoverServed, cl.LeaseTTL)
	}
	_ = tw.Flush()
	if len(r.Targets) > 0 {
		b.WriteString("\ntargets\n")
		tw = tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
		for _, t := range r.Targets {
			verdict := "ok"
			if !t.OK {
				verdict = "MISSED"
			}
			fmt.Fprintf(tw, "%s\t%.2f\t%s\t%s\n", t.Name, t.Value, t.Want, verdict)
		}
		_ = tw.Flush()
	}
	return b.String()
}

func mb(r rate) string {
	if r.Seconds <= 0 {
		return "-"
	}
	return fmt.Sprintf("%.1f", float64(r.Bytes)/r.Seconds/1e6)
}

// num formats with thousands separators: 1234567 -> 1,234,567.
func num(v float64) string {
	s := fmt.Sprintf("%.0f", v)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	var b strings.Builder
	for i, ch := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(ch)
	}
	if neg {
		return "-" + b.String()
	}
	return b.String()
}
