package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/riskwatch/riskwatch/alerting"
	"github.com/riskwatch/riskwatch/api"
)

// latencyProbe matches what the engine reports (a scored signal, a
// published alert) with when the signal was published. Publish times are
// kept by the signal's sequence number in the workload, read back from its
// id.
type latencyProbe struct {
	seqBase int
	pubAt   []atomic.Int64 // by seq - seqBase: unix nanos of the publish call
	// Per customer: the publish time and event time of its latest signal.
	lastPub []atomic.Int64
	lastEvt []atomic.Int64

	mu        sync.Mutex
	score     *hdrhistogram.Histogram
	alert     *hdrhistogram.Histogram
	unmatched int // alerts no signal of this phase explains (a sweep's)
}

// Histograms record microseconds from 1 µs to 5 minutes, 3 significant
// digits.
func newHistogram() *hdrhistogram.Histogram { return hdrhistogram.New(1, 300_000_000, 3) }

func newLatencyProbe(seqBase, n, customers int) *latencyProbe {
	return &latencyProbe{seqBase: seqBase, pubAt: make([]atomic.Int64, n),
		lastPub: make([]atomic.Int64, customers), lastEvt: make([]atomic.Int64, customers),
		score: newHistogram(), alert: newHistogram()}
}

// seqOf is the workload sequence number at the end of a signal id.
func seqOf(id string) (int, bool) {
	i := strings.LastIndexByte(id, '-')
	if i < 0 {
		return 0, false
	}
	n, err := strconv.Atoi(id[i+1:])
	return n, err == nil
}

// scored is the engine's Scored hook.
func (p *latencyProbe) scored(_, id string) {
	seq, ok := seqOf(id)
	if !ok || seq < p.seqBase || seq-p.seqBase >= len(p.pubAt) {
		return
	}
	at := p.pubAt[seq-p.seqBase].Load()
	if at == 0 {
		return
	}
	p.mu.Lock()
	_ = p.score.RecordValue(max(time.Now().UnixNano()-at, 1000) / 1000)
	p.mu.Unlock()
}

// alerted handles an alert from the core NATS subscription. An alert is
// attributed to the customer's latest signal when its evaluation time is
// that signal's event time; anything else (a sweep, a reminder) is counted
// apart.
func (p *latencyProbe) alerted(m *nats.Msg, index func(string) (int, bool)) {
	now := time.Now().UnixNano()
	var a struct {
		Customer string    `json:"customer"`
		Time     time.Time `json:"time"`
	}
	if err := json.Unmarshal(m.Data, &a); err != nil {
		return
	}
	ci, ok := index(a.Customer)
	p.mu.Lock()
	defer p.mu.Unlock()
	if !ok || p.lastPub[ci].Load() == 0 || a.Time.Unix() != p.lastEvt[ci].Load() {
		p.unmatched++
		return
	}
	_ = p.alert.RecordValue(max(now-p.lastPub[ci].Load(), 1000) / 1000)
}

// latencyResult is what the latency phase reports.
type latencyResult struct {
	OfferedRate  float64  `json:"offered_rate"`
	AchievedRate float64  `json:"achieved_rate"`
	Signals      int      `json:"signals"`
	Score        quantile `json:"publish_to_score_ms"`
	Alert        quantile `json:"publish_to_alert_ms"`
	Unmatched    int      `json:"alerts_unmatched"`
	Sweeps       int      `json:"sweeps"`
	MaxSweepMS   float64  `json:"max_sweep_ms"`
	Checkpoints  int      `json:"checkpoints"`
	MeanCPms     float64  `json:"mean_checkpoint_ms"`
}

type quantile struct {
	Count int64   `json:"count"`
	P50   float64 `json:"p50"`
	P99   float64 `json:"p99"`
	P999  float64 `json:"p99_9"`
	Max   float64 `json:"max"`
}

func quantiles(h *hdrhistogram.Histogram) quantile {
	ms := func(us int64) float64 { return float64(us) / 1000 }
	return quantile{Count: h.TotalCount(), P50: ms(h.ValueAtQuantile(50)), P99: ms(h.ValueAtQuantile(99)),
		P999: ms(h.ValueAtQuantile(99.9)), Max: ms(h.Max())}
}

// runLatency publishes signals at a fixed offered rate for d while the
// engine runs, and waits until the engine has scored the last of them.
func runLatency(ctx context.Context, nc *nats.Conn, run *engineRun, w *workload, probe *latencyProbe,
	rate float64, d time.Duration) (latencyResult, error) {
	res := latencyResult{OfferedRate: rate}
	sub, err := nc.Subscribe(alerting.SubjectPrefix+">", func(m *nats.Msg) { probe.alerted(m, w.index) })
	if err != nil {
		return res, fmt.Errorf("subscribe to alerts: %w", err)
	}
	defer func() { _ = sub.Unsubscribe() }()
	if err := sub.SetPendingLimits(-1, -1); err != nil {
		return res, fmt.Errorf("alert subscription limits: %w", err)
	}
	js, err := jetstream.New(nc, jetstream.WithPublishAsyncMaxPending(8192))
	if err != nil {
		return res, fmt.Errorf("jetstream: %w", err)
	}
	sweepsBefore := len(run.logged("sweep"))
	cpBefore, cpSumBefore := run.counter("riskwatch_checkpoint_duration_seconds", nil)

	n := len(probe.pubAt)
	start, err := publishAtRate(ctx, js, w, probe, rate)
	if err != nil {
		return res, err
	}
	select {
	case <-js.PublishAsyncComplete():
	case <-time.After(time.Minute):
		return res, errors.New("publish acks of the latency phase did not arrive within a minute")
	}
	res.AchievedRate = float64(n) / time.Since(start).Seconds()
	res.Signals = n
	last, err := lastSeq(ctx, js)
	if err != nil {
		return res, err
	}
	wctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
	defer cancel()
	if err := run.eng.WaitApplied(wctx, last); err != nil {
		return res, err
	}
	// Alerts are published asynchronously after the score: give the last
	// ones time to arrive.
	time.Sleep(500 * time.Millisecond)
	sweeps := run.logged("sweep")[sweepsBefore:]
	res.Sweeps = len(sweeps)
	for _, s := range sweeps {
		res.MaxSweepMS = max(res.MaxSweepMS, float64(s)/float64(time.Millisecond))
	}
	cpAfter, cpSumAfter := run.counter("riskwatch_checkpoint_duration_seconds", nil)
	res.Checkpoints = int(cpAfter - cpBefore)
	if res.Checkpoints > 0 {
		res.MeanCPms = (cpSumAfter - cpSumBefore) / float64(res.Checkpoints) * 1000
	}
	probe.mu.Lock()
	res.Score, res.Alert, res.Unmatched = quantiles(probe.score), quantiles(probe.alert), probe.unmatched
	probe.mu.Unlock()
	return res, nil
}

// publishAtRate publishes as many signals of w as probe has room for, at
// rate, noting in probe when each was published, and returns the time it
// started.
func publishAtRate(ctx context.Context, js jetstream.JetStream, w *workload, probe *latencyProbe, rate float64) (time.Time, error) {
	n := len(probe.pubAt)
	interval := time.Duration(float64(time.Second) / rate)
	start := time.Now()
	for i := range n {
		due := start.Add(time.Duration(i) * interval)
		if wait := time.Until(due); wait > 200*time.Microsecond {
			time.Sleep(wait)
		}
		now := time.Now()
		evt := now.Truncate(time.Second)
		g := w.next(evt)
		msg := &nats.Msg{Subject: g.subject, Data: append([]byte(nil), g.data...),
			Header: nats.Header{jetstream.MsgIDHeader: []string{g.id}}}
		pubAt := time.Now().UnixNano()
		probe.pubAt[g.seq-probe.seqBase].Store(pubAt)
		probe.lastEvt[g.customer].Store(evt.Unix())
		probe.lastPub[g.customer].Store(pubAt)
		for {
			_, err := js.PublishMsgAsync(msg)
			if err == nil {
				break
			}
			if !errors.Is(err, jetstream.ErrTooManyStalledMsgs) {
				return start, fmt.Errorf("publish: %w", err)
			}
		}
		if ctx.Err() != nil {
			return start, ctx.Err()
		}
	}
	return start, nil
}

func lastSeq(ctx context.Context, js jetstream.JetStream) (uint64, error) {
	s, err := js.Stream(ctx, api.SignalsStream)
	if err != nil {
		return 0, fmt.Errorf("stream info: %w", err)
	}
	return s.CachedInfo().State.LastSeq, nil
}
