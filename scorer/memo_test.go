package scorer

import (
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/riskwatch/riskwatch/configs"
	"github.com/riskwatch/riskwatch/rules"
	"github.com/riskwatch/riskwatch/signals"
)

func memoModel(tb testing.TB) *Model {
	tb.Helper()
	set, err := rules.Parse("rules.yaml", configs.DefaultRules)
	require.NoError(tb, err)
	return NewModel(set)
}

var memoStart = time.Date(2026, 3, 2, 0, 0, 0, 0, time.UTC)

// memoSignals is two months of a customer sliding toward churn: usage
// events several times a day that thin out, a ticket spike, survey
// answers, requests, payments and a lost champion.
func memoSignals() []signals.Signal {
	r := rand.New(rand.NewPCG(3, 4))
	var out []signals.Signal
	add := func(at time.Time, s signals.Signal) {
		s.ID, s.Customer, s.Time = fmt.Sprintf("s%d", len(out)), "acme", at
		out = append(out, s)
	}
	for d := range 60 {
		day := memoStart.AddDate(0, 0, d)
		per := 6
		if d > 40 {
			per = 1 + r.IntN(2)
		}
		for i := range per {
			add(day.Add(time.Duration(8+i)*time.Hour+time.Duration(r.IntN(3600))*time.Second),
				signals.Signal{Kind: signals.KindUsage, Usage: signals.Usage{Events: int64(1 + r.IntN(5)), ActiveUsers: int64(i)}})
		}
		if d > 45 && d < 52 {
			mins := float64(30 + r.IntN(200))
			add(day.Add(7*time.Hour), signals.Signal{Kind: signals.KindTicket, Ticket: signals.Ticket{
				TicketID: fmt.Sprintf("T%d", d), Status: signals.TicketOpened, Priority: "urgent", FirstResponseMinutes: &mins}})
		}
		switch d {
		case 10, 50:
			score := int64(9 - d/10)
			add(day.Add(12*time.Hour), signals.Signal{Kind: signals.KindNPS, NPS: signals.NPS{Score: &score}})
		case 20:
			add(day.Add(13*time.Hour), signals.Signal{Kind: signals.KindContact, Contact: signals.Contact{Type: "qbr"}})
		case 48:
			add(day.Add(14*time.Hour), signals.Signal{Kind: signals.KindCommercial, Commercial: signals.Commercial{Type: signals.DiscountRequest}})
		case 53:
			add(day.Add(15*time.Hour), signals.Signal{Kind: signals.KindBilling, Billing: signals.Billing{Type: "payment_failed"}})
		case 55:
			add(day.Add(16*time.Hour), signals.Signal{Kind: signals.KindChampion, Champion: signals.Champion{Type: "left"}})
		}
	}
	return out
}

// The memo is a cache: every evaluation gives exactly what an evaluation
// without it gives, and it is actually used.
func TestMemoChangesNoResult(t *testing.T) {
	m := memoModel(t)
	p := &signals.Profile{ID: "acme", ARR: 80000, Segment: "mid_market", Owner: "alice",
		RenewalDate: memoStart.AddDate(0, 3, 0).Format(time.DateOnly)}
	st := NewState("acme")
	hits, misses, firing := 0, 0, 0
	sigs := memoSignals()
	for i := range sigs {
		s := &sigs[i]
		require.NoError(t, m.Apply(st, s, p))
		// Evaluate at the signal and, now and then, at a later sweep.
		for _, at := range []time.Time{s.Time, s.Time.Add(time.Duration(i%3) * 9 * time.Hour)} {
			// Explain changes nothing in st: without the memo, it is
			// the answer of running every rule.
			memo := st.memo
			st.memo = ruleMemo{}
			want := m.Explain(st, p, at, nil)
			st.memo = memo
			f := Features(st, p, max(at.Unix(), st.Evaluated, st.Watermark))
			if m.memoKey(&f) == st.memo.key {
				hits++
			} else {
				misses++
			}
			got := m.Evaluate(st, p, at)
			require.Equal(t, want, got, "signal %d (%s) at %s", i, s.Kind, at)
			if len(got.Contributions) > 0 {
				firing++
			}
		}
	}
	assert.Greater(t, hits, len(sigs)/2, "most evaluations find the rules' outcomes unchanged")
	assert.Positive(t, misses)
	assert.Positive(t, firing, "a history that fires no rule tests little")
}

// A memo made under one model is never taken by another, even with the
// same rules: the rule set may have been reloaded with other conditions.
func TestMemoIsPerModel(t *testing.T) {
	a, b := memoModel(t), memoModel(t)
	f := rules.Features{}
	f.Usage.DaysInactive = 3
	assert.NotEqual(t, a.memoKey(&f), b.memoKey(&f))
	assert.Equal(t, a.memoKey(&f), a.memoKey(&f))
	g := f
	g.Profile.Segment = "smb"
	assert.NotEqual(t, a.memoKey(&f), a.memoKey(&g))
}

// BenchmarkEvaluateMemo is the cost of a rescore when a signal changed
// none of the features (hit) and when it changed one (miss), with the
// explanation (Evaluate) and without it (Score, what the engine pays per
// signal), for a customer with much to explain.
func BenchmarkEvaluateMemo(b *testing.B) {
	m := memoModel(b)
	p := &signals.Profile{ID: "acme", ARR: 80000, Segment: "mid_market", Owner: "alice",
		RenewalDate: memoStart.AddDate(0, 3, 0).Format(time.DateOnly)}
	st := NewState("acme")
	sigs := memoSignals()
	for i := range sigs {
		if err := m.Apply(st, &sigs[i], p); err != nil {
			b.Fatal(err)
		}
	}
	at := time.Unix(st.Watermark, 0)
	if r := m.Score(st, p, at); len(r.Contributions) < 3 {
		b.Fatalf("%d contributions: the customer should be one with much to explain", len(r.Contributions))
	}
	for _, call := range []struct {
		name string
		run  func()
	}{
		{"evaluate", func() { m.Evaluate(st, p, at) }},
		{"score", func() { m.Score(st, p, at) }},
	} {
		b.Run(call.name+"/hit", func(b *testing.B) {
			call.run()
			b.ReportAllocs()
			for b.Loop() {
				call.run()
			}
		})
		b.Run(call.name+"/miss", func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				st.memo = ruleMemo{}
				call.run()
			}
		})
	}
}
