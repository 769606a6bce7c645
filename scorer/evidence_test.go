package scorer_test

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/riskwatch/riskwatch/rules"
	"github.com/riskwatch/riskwatch/scorer"
	"github.com/riskwatch/riskwatch/signals"
)

// TestEvidenceCitesWhatMadeTheConditionTrue: each contribution lists the
// signals its condition counted, not the newest of its kind.
func TestEvidenceCitesWhatMadeTheConditionTrue(t *testing.T) {
	set, err := rules.Parse("rules.yaml", []byte(`
rules:
  - {name: cancel, category: commercial, kind: commercial, when: "commercial.cancellation_inquiries_90d >= 1", weight: 30, half_life: 30d}
  - {name: unpaid, category: billing, kind: billing, when: "billing.unresolved_failure", weight: 20, half_life: 14d}
  - {name: backlog, category: support, kind: ticket, when: "tickets.open_backlog >= 2", weight: 10, half_life: 14d}
`))
	require.NoError(t, err)
	m := scorer.NewModel(set)
	st := scorer.NewState("acme")
	pct := -20.0
	for _, s := range []signals.Signal{
		{ID: "old-failure", Kind: signals.KindBilling, Time: on(1), Billing: signals.Billing{Type: "payment_failed"}},
		{ID: "paid", Kind: signals.KindBilling, Time: on(2), Billing: signals.Billing{Type: "payment_succeeded"}},
		{ID: "new-failure", Kind: signals.KindBilling, Time: on(5), Billing: signals.Billing{Type: "payment_failed"}},
		{ID: "cancel-q", Kind: signals.KindCommercial, Time: on(6), Commercial: signals.Commercial{Type: "cancellation_inquiry"}},
		{ID: "shrink", Kind: signals.KindCommercial, Time: on(7), Commercial: signals.Commercial{Type: "contract_change", AmountPct: &pct}},
		{ID: "t1-open", Kind: signals.KindTicket, Time: on(7.1), Ticket: signals.Ticket{TicketID: "t1", Status: "opened"}},
		{ID: "t2-open", Kind: signals.KindTicket, Time: on(7.2), Ticket: signals.Ticket{TicketID: "t2", Status: "opened"}},
		{ID: "t3-open", Kind: signals.KindTicket, Time: on(7.3), Ticket: signals.Ticket{TicketID: "t3", Status: "opened"}},
		{ID: "t2-solved", Kind: signals.KindTicket, Time: on(7.4), Ticket: signals.Ticket{TicketID: "t2", Status: "solved"}},
	} {
		require.NoError(t, m.Apply(st, &s, nil), s.ID)
	}
	res := m.Explain(st, nil, on(8), nil)
	cited := map[string][]string{}
	for _, c := range res.Contributions {
		cited[c.Rule] = c.Signals
	}
	assert.Equal(t, []string{"cancel-q"}, cited["cancel"], "the inquiry, not the newer contract change")
	assert.Equal(t, []string{"new-failure"}, cited["unpaid"], "the failure after the last payment only")
	assert.Equal(t, []string{"t3-open", "t1-open"}, cited["backlog"], "the tickets still open, not the solved one")
}
