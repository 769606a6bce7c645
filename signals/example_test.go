package signals_test

import (
	"fmt"
	"time"

	"github.com/riskwatch/riskwatch/signals"
)

func ExampleSubjectToken() {
	// A plain ID is its own token, so subjects stay readable.
	fmt.Println(signals.SubjectToken("acme-corp"))
	// Anything else is '=' and base64url: never a wildcard, never a '.'.
	fmt.Println(signals.SubjectToken("a.b.>"))
	fmt.Println(signals.SubjectToken("x *"))
	fmt.Println(signals.SubjectToken(""))

	id, err := signals.ParseSubjectToken("=YS5iLj4")
	fmt.Printf("%q %v\n", id, err)
	// Output:
	// acme-corp
	// =YS5iLj4
	// =eCAq
	// =
	// "a.b.>" <nil>
}

func ExampleSubject() {
	fmt.Println(signals.Subject(signals.KindTicket, "acme-corp"))
	fmt.Println(signals.Subject(signals.KindNPS, "Globex Ltd."))
	// Output:
	// risk.signals.ticket.acme-corp
	// risk.signals.nps.=R2xvYmV4IEx0ZC4
}

func ExampleDecode() {
	now := time.Date(2026, 11, 20, 12, 0, 0, 0, time.UTC)
	body := []byte(`{"id":"zd-88412-opened","kind":"ticket","customer":"acme-corp",
		"time":"2026-11-20T10:04:00Z","source":"zendesk",
		"data":{"ticket_id":"88412","status":"opened"}}`)

	s, err := signals.Decode("risk.signals.ticket.acme-corp", body, now)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(s.Kind, s.Customer, s.Time.Format(time.RFC3339), s.Ticket.Status, s.Ticket.Priority)

	// A rejected signal carries the reason that goes to the DLQ.
	_, err = signals.Decode("risk.signals.nps", []byte(`{"id":"n1","kind":"nps","customer":"acme-corp",
		"time":"2026-11-20T10:04:00Z","data":{"score":11}}`), now)
	fmt.Println(signals.ReasonOf(err))
	fmt.Println(err)
	// Output:
	// ticket acme-corp 2026-11-20T10:04:00Z opened normal
	// out_of_range
	// out_of_range: data.score: 11 is outside [0, 10]
}
