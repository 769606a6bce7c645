package book_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/riskwatch/riskwatch/alerting"
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
