package main

import (
	"errors"
	"fmt"
	"runtime"
	"runtime/metrics"
	"strings"
	"time"

	"github.com/riskwatch/riskwatch/alerting"
	"github.com/riskwatch/riskwatch/book"
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

// coreResults are the steps the engine runs per message besides NATS:
// decoding, and the pure step, timed as the scorer alone (as the first
// rounds measured it) and whole (what the engine runs now).
type coreResults struct {
	Decode coreResult `json:"decode"`
	Score  coreResult `json:"score"`
	Step   coreResult `json:"step"`
}

// runCore times the steps on the signals of c, on fresh states, one
// goroutine. Signals are decoded a chunk at a time outside the timings of
// the other steps, so that those hold only what the engine does with a
// decoded signal.
func runCore(c *corpus, set *rules.Set, now time.Time) (coreResults, error) {
	var res coreResults
	profiles, sigIdx, err := coreInput(c)
	if err != nil {
		return res, err
	}
	if res.Decode, err = timeDecode(c, sigIdx, now); err != nil {
		return res, err
	}
	if res.Score, err = timeScore(c, sigIdx, profiles, set, now); err != nil {
		return res, err
	}
	res.Step, err = timeStep(c, set, now)
	return res, err
}

// coreInput splits the corpus into its profiles, decoded, and the indexes
// of its signals.
func coreInput(c *corpus) (map[string]*signals.Profile, []int, error) {
	profiles := map[string]*signals.Profile{}
	var sigIdx []int
	for i := range c.Len() {
		subj := c.Subject(i)
		if strings.HasPrefix(subj, signals.CustomerPrefix) {
			p, err := signals.DecodeProfile(subj, c.Data(i))
			if err != nil {
				return nil, nil, fmt.Errorf("profile %d: %w", i, err)
			}
			profiles[p.ID] = &p
			continue
		}
		sigIdx = append(sigIdx, i)
	}
	return profiles, sigIdx, nil
}

// timeDecode decodes every signal into a reused slot, as the engine does.
func timeDecode(c *corpus, sigIdx []int, now time.Time) (coreResult, error) {
	ac := newAllocCounter()
	runtime.GC()
	o0, b0 := ac.read()
	start := time.Now()
	var slot signals.Signal
	for _, i := range sigIdx {
		if err := signals.DecodeInto(&slot, c.Subject(i), c.Data(i), now); err != nil {
			return coreResult{}, fmt.Errorf("signal %d does not decode: %w", i, err)
		}
	}
	o1, b1 := ac.read()
	r := coreResult{Signals: len(sigIdx)}
	r.finish(time.Since(start), o1-o0, b1-b0)
	return r, nil
}

// coreChunk is how many signals are decoded ahead of a timed run.
const coreChunk = 4096

// timed runs fn over the messages idx of c in chunks of coreChunk, each
// chunk's signals decoded outside the timing, and measures fn alone: its
// time and allocations.
func timed(c *corpus, idx []int, now time.Time, fn func(i int, s *signals.Signal) error) (time.Duration, uint64, uint64, error) {
	ac := newAllocCounter()
	sigs := make([]signals.Signal, coreChunk)
	var took time.Duration
	var objs, bytes uint64
	runtime.GC()
	for from := 0; from < len(idx); from += coreChunk {
		part := idx[from:min(from+coreChunk, len(idx))]
		for k, i := range part {
			if strings.HasPrefix(c.Subject(i), signals.SignalPrefix) {
				if err := signals.DecodeInto(&sigs[k], c.Subject(i), c.Data(i), now); err != nil {
					return 0, 0, 0, err
				}
			}
		}
		o0, b0 := ac.read()
		t0 := time.Now()
		for k, i := range part {
			if err := fn(i, &sigs[k]); err != nil {
				return 0, 0, 0, err
			}
		}
		took += time.Since(t0)
		o1, b1 := ac.read()
		objs += o1 - o0
		bytes += b1 - b0
	}
	return took, objs, bytes, nil
}

// timeScore scores every signal with the scorer alone: scorer.Model Apply
// then ScoreInto a reused result, looking the state and the profile up by
// customer, as the first rounds of this benchmark did.
func timeScore(c *corpus, sigIdx []int, profiles map[string]*signals.Profile, set *rules.Set, now time.Time) (coreResult, error) {
	model := scorer.NewModel(set)
	states := make(map[string]*scorer.State, len(profiles))
	var scored scorer.Result
	var dups, late int
	took, objs, bytes, err := timed(c, sigIdx, now, func(_ int, s *signals.Signal) error {
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
			return nil
		}
		model.ScoreInto(&scored, st, p, time.Unix(st.Watermark, 0))
		return nil
	})
	if err == nil && dups+late > 0 {
		err = fmt.Errorf("the workload should be clean: %d duplicates and %d late signals", dups, late)
	}
	runtime.KeepAlive(states)
	r := coreResult{Signals: len(sigIdx)}
	r.finish(took, objs, bytes)
	return r, err
}

// timeStep runs every message, profiles included, through the pure step
// the engine runs (book.Apply: the scorer, the alert decision and the
// explanation of the alerts), and drains its effects as the engine hands
// them to the outbox.
func timeStep(c *corpus, set *rules.Set, now time.Time) (coreResult, error) {
	b := book.New(book.Config{Rules: set, Policy: alerting.DefaultPolicy()})
	var fx book.Effects
	all := make([]int, c.Len())
	for i := range all {
		all[i] = i
	}
	n := 0
	took, objs, bytes, err := timed(c, all, now, func(i int, s *signals.Signal) error {
		m := book.Message{Seq: uint64(i + 1), Subject: c.Subject(i), Data: c.Data(i)}
		if strings.HasPrefix(m.Subject, signals.SignalPrefix) {
			m.Signal = s
			n++
		}
		if o := b.Apply(&m, &fx); o.Result != book.Scored && o.Result != book.Accepted {
			return fmt.Errorf("message %d: %s: %v", i, o.Result, o.Err)
		}
		fx.Reset()
		return nil
	})
	// Per signal, as the other rows: the profiles' steps are in the time.
	r := coreResult{Signals: n}
	r.finish(took, objs, bytes)
	return r, err
}
