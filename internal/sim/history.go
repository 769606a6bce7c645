package sim

import (
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"time"

	"github.com/riskwatch/riskwatch/signals"
)

// Outcome rates of a history: of the customers that drift, churnRate
// leave between three and nine weeks after their drift began, and the rest
// renew once it is over; quietRate of all customers fade out with no sign
// but their usage, the churners the rules find hardest.
const (
	churnRate = 0.6
	quietRate = 0.04
)

// NewHistory is a simulation made for backtests: n customers over days
// days ending at end, their drifts spread over the whole span (after six
// weeks of baseline), and outcome signals: who churned and when, who
// renewed. The same seed gives the same history.
func NewHistory(n, days int, end time.Time, seed uint64) *Simulation {
	s := New(n, days, end, seed)
	// Its own draws, after the base's: the demo's customers stay as they are.
	rng := rand.New(rand.NewPCG(seed^0x5bd1e995, seed))
	first := min(42, days-1)
	for _, c := range s.customers {
		c.churnDay, c.renewDay = -1, -1
		if c.drift == steady && rng.Float64() < quietRate {
			c.drift = usageDropOff // fades out and leaves, nothing else said
		}
		if c.drift == steady {
			continue
		}
		c.driftDay = first + rng.IntN(max(days-first, 1))
		if rng.Float64() < churnRate {
			c.churnDay = c.driftDay + 21 + rng.IntN(43)
		} else {
			c.renewDay = c.driftDay + 45
		}
	}
	return s
}

// WriteHistory writes the whole simulation as the NDJSON of riskctl
// replay and backtest: the profiles, then every day's signals.
func (s *Simulation) WriteHistory(w io.Writer) error {
	enc := json.NewEncoder(w)
	for _, p := range s.Profiles() {
		if err := enc.Encode(map[string]any{"profile": p}); err != nil {
			return fmt.Errorf("write history: %w", err)
		}
	}
	for d := range s.days {
		for _, e := range s.Day(d) {
			if err := enc.Encode(e); err != nil {
				return fmt.Errorf("write history: %w", err)
			}
		}
	}
	return nil
}

// outcome is the customer's outcome signal of day d, if any; gone reports
// that it churned before d and sends nothing more.
func (c *simCustomer) outcome(d int, base time.Time) (e *Envelope, gone bool) {
	id := c.profile.ID
	switch {
	case c.churnDay >= 0 && d > c.churnDay:
		return nil, true
	case d == c.churnDay:
		return &Envelope{ID: id + "-outcome-churned", Kind: string(signals.KindOutcome), Customer: id,
			Time: base.Add(12 * time.Hour), Source: "demo", Data: map[string]any{"type": "churned"}}, false
	case d == c.renewDay:
		return &Envelope{ID: id + "-outcome-renewed", Kind: string(signals.KindOutcome), Customer: id,
			Time: base.Add(12 * time.Hour), Source: "demo", Data: map[string]any{"type": "renewed",
				"renewal_date": base.AddDate(1, 0, 0).Format(time.DateOnly)}}, false
	}
	return nil, false
}
