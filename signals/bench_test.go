package signals

import (
	"strings"
	"testing"
)

// benchBodies are the shapes that make up most traffic: a usage event
// (by far the most), a ticket, and a kind decoded without the fast path.
var benchBodies = []struct {
	name    string
	subject string
	body    string
}{
	{"usage", "risk.signals.usage.cust-004217",
		`{"id":"cust-004217-912345","kind":"usage","customer":"cust-004217","time":"2026-11-20T10:04:00Z","source":"segment","data":{"events":3,"user":"u17"}}`},
	{"ticket", "risk.signals.ticket.cust-004217",
		`{"id":"zd-88412-opened","kind":"ticket","customer":"cust-004217","time":"2026-11-20T10:04:00Z","source":"zendesk","data":{"ticket_id":"88412","status":"opened","priority":"urgent","first_response_minutes":42.5}}`},
	{"nps", "risk.signals.nps.cust-004217",
		`{"id":"survey-7","kind":"nps","customer":"cust-004217","time":"2026-11-20T10:04:00Z","source":"delighted","data":{"score":7,"comment":"it's ok I guess"}}`},
	{"escaped", "risk.signals.usage",
		`{"id":"u-1","kind":"usage","customer":"caf\u00e9 \"x\"","time":"2026-11-20T10:04:00Z","data":{"events":1}}`},
}

func BenchmarkDecode(b *testing.B) {
	for _, bb := range benchBodies {
		data := []byte(bb.body)
		b.Run(bb.name, func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(data)))
			for b.Loop() {
				if _, err := Decode(bb.subject, data, testNow); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkDecodeInto decodes into one reused Signal, as the daemon does.
func BenchmarkDecodeInto(b *testing.B) {
	for _, bb := range benchBodies {
		data := []byte(bb.body)
		b.Run(bb.name, func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(data)))
			var s Signal
			for b.Loop() {
				if err := DecodeInto(&s, bb.subject, data, testNow); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkSubjectToken(b *testing.B) {
	for _, id := range []string{"cust-004217", "Acme Corp.", strings.Repeat("x", 100)} {
		b.Run(id[:min(len(id), 12)], func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				_ = SubjectToken(id)
			}
		})
	}
}
