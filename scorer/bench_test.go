package scorer_test

import (
	"encoding/json"
	"fmt"
	"runtime"
	"slices"
	"testing"
	"time"

	"github.com/riskwatch/riskwatch/scorer"
	"github.com/riskwatch/riskwatch/signals"
)

var benchStart = time.Date(2026, 5, 4, 0, 0, 0, 0, time.UTC)

// fourWeeks is a typical customer's month: a daily usage rollup with an
// active-users snapshot, a ticket a week (opened with a first response,
// then solved), one survey answer, a QBR and a quote that was answered.
func fourWeeks(customer string) []signals.Signal {
	var out []signals.Signal
	add := func(s signals.Signal) {
		s.ID = fmt.Sprintf("%s-%s-%d", customer, s.Kind, len(out))
		s.Customer = customer
		out = append(out, s)
	}
	for d := range 28 {
		at := benchStart.AddDate(0, 0, d).Add(20 * time.Hour)
		add(signals.Signal{Kind: signals.KindUsage, Time: at,
			Usage: signals.Usage{Events: int64(40 + d%7), ActiveUsers: 12}})
		if d%7 == 3 {
			mins := 30.0
			key := fmt.Sprintf("zd-%d", d)
			add(signals.Signal{Kind: signals.KindTicket, Time: at.Add(-8 * time.Hour),
				Ticket: signals.Ticket{TicketID: key, Status: signals.TicketOpened, Priority: "normal", FirstResponseMinutes: &mins}})
			add(signals.Signal{Kind: signals.KindTicket, Time: at.Add(2 * time.Hour),
				Ticket: signals.Ticket{TicketID: key, Status: signals.TicketSolved}})
		}
	}
	score := int64(9)
	add(signals.Signal{Kind: signals.KindNPS, Time: benchStart.AddDate(0, 0, 10), NPS: signals.NPS{Score: &score}})
	add(signals.Signal{Kind: signals.KindContact, Time: benchStart.AddDate(0, 0, 12), Contact: signals.Contact{Type: "qbr", By: "alice"}})
	add(signals.Signal{Kind: signals.KindCommercial, Time: benchStart.AddDate(0, 0, 15), Commercial: signals.Commercial{Type: signals.QuoteRequest}})
	add(signals.Signal{Kind: signals.KindCommercial, Time: benchStart.AddDate(0, 0, 17), Commercial: signals.Commercial{Type: signals.QuoteAnswered}})
	slices.SortStableFunc(out, func(a, b signals.Signal) int { return a.Time.Compare(b.Time) })
	return out
}

func benchProfile(customer string) *signals.Profile {
	return &signals.Profile{ID: customer, ARR: 48000, Segment: "mid_market", Owner: "alice",
		RenewalDate: benchStart.AddDate(0, 5, 0).Format(time.DateOnly)}
}

// warmState is a customer after fourWeeks, ready for the next signal.
func warmState(b *testing.B, m *scorer.Model, customer string) (*scorer.State, *signals.Profile) {
	b.Helper()
	st, p := scorer.NewState(customer), benchProfile(customer)
	sigs := fourWeeks(customer)
	for i := range sigs {
		if err := m.Apply(st, &sigs[i], p); err != nil {
			b.Fatal(err)
		}
	}
	return st, p
}

// BenchmarkApply is the hot path: one usage rollup with a new id, event
// time moving a minute per signal, so day boundaries are crossed and
// committed at the rate of a busy customer.
func BenchmarkApply(b *testing.B) {
	m := defaultModel(b)
	st, p := warmState(b, m, "acme")
	sigs := make([]signals.Signal, b.N)
	t0 := st.Watermark
	for i := range sigs {
		sigs[i] = signals.Signal{ID: fmt.Sprintf("u-%d", i), Kind: signals.KindUsage, Customer: "acme",
			Time: time.Unix(t0+int64(i)*60, 0), Usage: signals.Usage{Events: 3, User: "u1"}}
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := range sigs {
		if err := m.Apply(st, &sigs[i], p); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkApplyTicket applies ticket events, which also go into the
// bounded event list.
func BenchmarkApplyTicket(b *testing.B) {
	m := defaultModel(b)
	st, p := warmState(b, m, "acme")
	sigs := make([]signals.Signal, b.N)
	t0 := st.Watermark
	statuses := []string{signals.TicketOpened, signals.TicketSolved}
	for i := range sigs {
		sigs[i] = signals.Signal{ID: fmt.Sprintf("t-%d", i), Kind: signals.KindTicket, Customer: "acme",
			Time:   time.Unix(t0+int64(i)*600, 0),
			Ticket: signals.Ticket{TicketID: fmt.Sprintf("zd-%d", i/2), Status: statuses[i%2], Priority: "normal"}}
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := range sigs {
		if err := m.Apply(st, &sigs[i], p); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkEvaluate scores a warm customer against the default rules.
func BenchmarkEvaluate(b *testing.B) {
	m := defaultModel(b)
	st, p := warmState(b, m, "acme")
	at := time.Unix(st.Watermark, 0)
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		m.Evaluate(st, p, at.Add(time.Duration(i)*time.Second))
	}
}

// BenchmarkScore is Evaluate without the explanation: what the engine
// runs on every signal.
func BenchmarkScore(b *testing.B) {
	m := defaultModel(b)
	st, p := warmState(b, m, "acme")
	at := time.Unix(st.Watermark, 0)
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		m.Score(st, p, at.Add(time.Duration(i)*time.Second))
	}
}

// BenchmarkStateBytes reports the memory a typical customer costs: the
// live heap of 10,000 states (or b.N, when larger) after four weeks of
// signals each, the size of one JSON checkpoint, and the time to build one
// customer's month.
func BenchmarkStateBytes(b *testing.B) {
	customers := max(b.N, 10_000)
	m := defaultModel(b)
	p := benchProfile("any")
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	b.ResetTimer()
	states := make([]*scorer.State, customers)
	for i := range states {
		// The signals are built here and dropped after use, as the
		// decoder's would be: the strings a state keeps (signal ids) stay
		// alive through it and are counted.
		sigs := fourWeeks(fmt.Sprintf("customer-%05d", i))
		states[i] = scorer.NewState(sigs[0].Customer)
		for j := range sigs {
			if err := m.Apply(states[i], &sigs[j], p); err != nil {
				b.Fatal(err)
			}
		}
		m.Evaluate(states[i], p, sigs[len(sigs)-1].Time)
	}
	b.StopTimer()
	runtime.GC()
	runtime.ReadMemStats(&after)
	data, err := json.Marshal(states[0])
	if err != nil {
		b.Fatal(err)
	}
	// The slice of pointers is the caller's, not the states'.
	heap := float64(after.HeapAlloc-before.HeapAlloc)/float64(customers) - 8
	b.ReportMetric(heap, "heap-B/customer")
	b.ReportMetric(float64(len(data)), "json-B/customer")
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(customers), "ns/customer")
	runtime.KeepAlive(states)
}
