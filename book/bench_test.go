package book_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/riskwatch/riskwatch/alerting"
	"github.com/riskwatch/riskwatch/api"
	"github.com/riskwatch/riskwatch/book"
	"github.com/riskwatch/riskwatch/configs"
	"github.com/riskwatch/riskwatch/signals"
)

// BenchmarkApply is the pure step per signal: usage events of 1,000
// customers with profiles, a few days of event time, the rare alert
// explained.
func BenchmarkApply(b *testing.B) {
	set, err := configs.LoadRules("")
	if err != nil {
		b.Fatal(err)
	}
	bk := book.New(book.Config{Rules: set, Policy: alerting.DefaultPolicy()})
	var fx book.Effects
	seq := uint64(0)
	for i := range 1000 {
		seq++
		body := fmt.Sprintf(`{"id":"c%d","owner":"alice","arr":%d,"renewal_date":"2027-0%d-15"}`, i, 1000*i, 1+i%9)
		bk.Apply(&book.Message{Seq: seq, Subject: "risk.customers.c" + fmt.Sprint(i), Data: []byte(body)}, &fx)
		fx.Reset()
	}
	start := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	msgs := make([]book.Message, 50_000)
	sigs := make([]signals.Signal, len(msgs))
	for i := range msgs {
		c := i % 1000
		at := start.Add(time.Duration(i) * 10 * time.Second)
		body := fmt.Sprintf(`{"id":"u%d","kind":"usage","customer":"c%d","time":%q,"data":{"events":%d}}`, i, c, at.Format(time.RFC3339), 1+i%5)
		subject := signals.Subject(signals.KindUsage, fmt.Sprintf("c%d", c))
		s, err := signals.Decode(subject, []byte(body), time.Time{})
		if err != nil {
			b.Fatal(err)
		}
		sigs[i] = s
		msgs[i] = book.Message{Subject: subject, Data: []byte(body), Signal: &sigs[i]}
	}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		if i == len(msgs) {
			b.StopTimer()
			bk = book.New(book.Config{Rules: set, Policy: alerting.DefaultPolicy()})
			i = 0
			b.StartTimer()
		}
		seq++
		m := msgs[i]
		m.Seq = seq
		bk.Apply(&m, &fx)
		fx.Reset()
		i++
	}
}

// BenchmarkMatching is a list of the top 100, and of the top 10,000
// (MaxLimit), of 100,000 customers: the walk under the engine's lock,
// which builds full views for the kept customers only.
func BenchmarkMatching(b *testing.B) {
	set, err := configs.LoadRules("")
	if err != nil {
		b.Fatal(err)
	}
	bk := book.New(book.Config{Rules: set, Policy: alerting.DefaultPolicy()})
	var fx book.Effects
	seq := uint64(0)
	at := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	for i := range 100_000 {
		id := fmt.Sprintf("c%d", i)
		seq++
		body := fmt.Sprintf(`{"id":%q,"owner":"alice","arr":%d}`, id, 1000+(i*7919)%200000)
		bk.Apply(&book.Message{Seq: seq, Subject: "risk.customers." + id, Data: []byte(body)}, &fx)
		seq++
		sb := fmt.Sprintf(`{"id":"t%d","kind":"ticket","customer":%q,"time":%q,"data":{"ticket_id":"1","status":"opened"}}`, i, id, at.Format(time.RFC3339))
		subject := signals.Subject(signals.KindTicket, id)
		s, err := signals.Decode(subject, []byte(sb), time.Time{})
		if err != nil {
			b.Fatal(err)
		}
		bk.Apply(&book.Message{Seq: seq, Subject: subject, Data: []byte(sb), Signal: &s}, &fx)
		fx.Reset()
	}
	f := api.Filter{Limit: 100}
	b.Run("top-100", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if got := f.Order(bk.Matching(f)); len(got) != 100 {
				b.Fatal(len(got))
			}
		}
	})
	b.Run("before: every view, sorted", func(b *testing.B) {
		// What List did before the heap: a view of every matching customer
		// under the lock, all of them sorted after it.
		b.ReportAllocs()
		for b.Loop() {
			var views []api.CustomerView
			for i := range 100_000 {
				v, _ := bk.View(fmt.Sprintf("c%d", i), false)
				views = append(views, v)
			}
			if got := f.Order(views); len(got) != 100 {
				b.Fatal(len(got))
			}
		}
	})
	b.Run("top-10000", func(b *testing.B) {
		all := api.Filter{Limit: api.MaxLimit}
		b.ReportAllocs()
		for b.Loop() {
			if got := all.Order(bk.Matching(all)); len(got) != api.MaxLimit {
				b.Fatal(len(got))
			}
		}
	})
}
