package main

import (
	"errors"
	"fmt"
	"runtime"
	"runtime/metrics"
	"strings"
	"time"

	"github.com/riskwatch/riskwatch/rules"
	"github.com/riskwatch/riskwatch/scorer"
	"github.com/riskwatch/riskwatch/signals"
)

// coreResult is the cost of one step of the pipeline with no NATS at all.
type coreResult struct {
	Signals     int     `json:"signals"`
	Seconds     float64 `json:"seconds"`
	Rate        float64 `json:"rate"`
	NsPerSignal float64 `json:"ns_per_signal"`
	AllocsPer   float64 `json:"allocs_per_signal"`
	BytesPer    float64 `json:"bytes_per_signal"`
}

func (r *coreResult) finish(d time.Duration, allocs, bytes uint64) {
	r.Seconds = d.Seconds()
	if r.Signals > 0 && d > 0 {
		r.Rate = float64(r.Signals) / d.Seconds()
		r.NsPerSignal = float64(d.Nanoseconds()) / float64(r.Signals)
		r.AllocsPer = float64(allocs) / float64(r.Signals)
		r.BytesPer = float64(bytes) / float64(r.Signals)
	}
}

// allocCounter reads the runtime's cumulative allocation counters without
// stopping the world, so it can be read around every chunk.
type allocCounter struct{ s []metrics.Sample }

func newAllocCounter() *allocCounter {
	return &allocCounter{s: []metrics.Sample{{Name: "/gc/heap/allocs:objects"}, {Name: "/gc/heap/allocs:bytes"}}}
}

func (a *allocCounter) read() (objects, bytes uint64) {
	metrics.Read(a.s)
	return a.s[0].Value.Uint64(), a.s[1].Value.Uint64()
}

// coreResults are the two steps the engine runs per message besides NATS.
type coreResults struct {
	Decode coreResult `json:"decode"`
	Score  coreResult `json:"score"`
}

// runCore decodes every signal of c (signals.DecodeInto, as the engine does)
// and scores it (scorer.Model Apply then Score, the engine's calls per
// signal: it explains a score only for the rare alert) on fresh
// per-customer states, timing the two steps apart. Signals are
// decoded a chunk at a time outside the score timing, so the score timing
// holds only the scorer and the per-customer map lookup the engine also
// does.
func runCore(c *corpus, set *rules.Set, now time.Time) (coreResults, error) {
	var res coreResults
	profiles := map[string]*signals.Profile{}
	var sigIdx []int
	for i := range c.Len() {
		subj := c.Subject(i)
		if strings.HasPrefix(subj, signals.CustomerPrefix) {
			p, err := signals.DecodeProfile(subj, c.Data(i))
			if err != nil {
				return res, fmt.Errorf("profile %d: %w", i, err)
			}
			profiles[p.ID] = &p
			continue
		}
		sigIdx = append(sigIdx, i)
	}
	ac := newAllocCounter()

	// Decode alone, over everything.
	runtime.GC()
	o0, b0 := ac.read()
	start := time.Now()
	var slot signals.Signal // reused, as the engine's slots are
	for _, i := range sigIdx {
		if err := signals.DecodeInto(&slot, c.Subject(i), c.Data(i), now); err != nil {
			return res, fmt.Errorf("signal %d does not decode: %w", i, err)
		}
	}
	o1, b1 := ac.read()
	res.Decode.Signals = len(sigIdx)
	res.Decode.finish(time.Since(start), o1-o0, b1-b0)

	// Score, a chunk at a time.
	model := scorer.NewModel(set)
	states := make(map[string]*scorer.State, len(profiles))
	const chunk = 4096
	buf := make([]signals.Signal, 0, chunk)
	var took time.Duration
	var objs, bytes uint64
	var dups, late int
	// One result reused for every signal, as the engine does.
	var scored scorer.Result
	runtime.GC()
	for from := 0; from < len(sigIdx); from += chunk {
		buf = buf[:0]
		for _, i := range sigIdx[from:min(from+chunk, len(sigIdx))] {
			s, err := signals.Decode(c.Subject(i), c.Data(i), now)
			if err != nil {
				return res, err
			}
			buf = append(buf, s)
		}
		o0, b0 := ac.read()
		t0 := time.Now()
		for i := range buf {
			s := &buf[i]
			st, ok := states[s.Customer]
			if !ok {
				st = scorer.NewState(s.Customer)
				states[s.Customer] = st
			}
			p := profiles[s.Customer]
			if err := model.Apply(st, s, p); err != nil {
				if errors.Is(err, scorer.ErrDuplicate) {
					dups++
				} else {
					late++
				}
				continue
			}
			model.ScoreInto(&scored, st, p, time.Unix(st.Watermark, 0))
		}
		took += time.Since(t0)
		o1, b1 := ac.read()
		objs += o1 - o0
		bytes += b1 - b0
	}
	res.Score.Signals = len(sigIdx)
	res.Score.finish(took, objs, bytes)
	if dups+late > 0 {
		return res, fmt.Errorf("the workload should be clean: %d duplicates and %d late signals", dups, late)
	}
	runtime.KeepAlive(states)
	return res, nil
}
