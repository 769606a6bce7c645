package book_test

import (
	"fmt"
	"time"

	"github.com/riskwatch/riskwatch/alerting"
	"github.com/riskwatch/riskwatch/book"
	"github.com/riskwatch/riskwatch/configs"
	"github.com/riskwatch/riskwatch/signals"
)

// A book applies the input stream one message at a time, as riskd does,
// and says what to publish.
func ExampleBook_Apply() {
	set, err := configs.LoadRules("") // the built-in rules
	if err != nil {
		panic(err)
	}
	b := book.New(book.Config{Rules: set, Policy: alerting.DefaultPolicy()})
	var fx book.Effects
	seq := uint64(0)
	apply := func(subject, body string) book.Outcome {
		seq++
		m := book.Message{Seq: seq, Subject: subject, Data: []byte(body)}
		if s, err := signals.Decode(subject, m.Data, time.Time{}); err == nil {
			m.Signal = &s
		} else if subject != "risk.customers.acme" {
			m.SignalErr = err
		}
		return b.Apply(&m, &fx)
	}
	apply("risk.customers.acme", `{"id":"acme","owner":"alice","arr":120000,"segment":"enterprise"}`)
	o := apply("risk.signals.champion.acme",
		`{"id":"crm-1","kind":"champion","customer":"acme","time":"2026-11-20T10:00:00Z","data":{"type":"left"}}`)
	fmt.Println(o.Result)
	o = apply("risk.signals.nps.acme",
		`{"id":"nps-1","kind":"nps","customer":"acme","time":"2026-11-20T11:00:00Z","data":{"score":3}}`)
	fmt.Println(o.Result)
	o = apply("risk.signals.commercial.acme",
		`{"id":"crm-2","kind":"commercial","customer":"acme","time":"2026-11-20T12:00:00Z","data":{"type":"cancellation_inquiry"}}`)
	fmt.Println(o.Result)
	for _, a := range fx.Alerts {
		fmt.Println(a.Type, a.Severity, a.Customer, a.Owner, a.Score)
	}
	// Output:
	// scored
	// scored
	// scored
	// raised at_risk acme alice 35
	// escalated critical acme alice 90
}
