package scorer

import (
	"github.com/riskwatch/riskwatch/rules"
	"github.com/riskwatch/riskwatch/signals"
)

// Clocks are the producers' clocks, per signal kind (signals.Kinds order):
// how far in event time each producer is known, 0 for one never heard
// from. A customer's features of a kind are judged at that kind's clock
// when it trails the evaluation, so that a producer's lag (a backfill
// under way, rollups that arrive in the morning) or its silence as a whole
// is not taken for the customer's silence; and the rules of a kind never
// heard from are held. The runtime keeps them (package book); nil clocks
// judge every kind at the evaluation's time.
type Clocks [signals.NumKinds]int64

// lagTolerance is how far a producer's clock may trail an evaluation and
// still count as level with it: the features are in whole days.
const lagTolerance = 3600

// trailing lists the kinds whose clock trails now by more than
// lagTolerance, with the time to judge them at; 0 for the others.
func (c *Clocks) trailing(now int64) (at Clocks, any bool) {
	if c == nil {
		return at, false
	}
	for k, t := range c {
		if t > 0 && t < now-lagTolerance {
			at[k], any = t, true
		}
	}
	return at, any
}

// held reports whether the rules of kind k wait for their producer.
func (c *Clocks) held(k int) bool { return c != nil && k >= 0 && c[k] == 0 }

// judgeAt recomputes the features of the trailing kinds at their clocks,
// each into zero features first: some of them count.
func judgeAt(f *rules.Features, st *State, p *signals.Profile, at *Clocks, renewal int64) {
	for k, t := range at {
		if t == 0 {
			continue
		}
		hi := firstAfter(st.Events, t)
		lo := max(hi-maxEvents, firstAfter(st.Events[:hi], t-eventWindow-1))
		window, upTo := st.Events[lo:hi], st.Events[:hi]
		var g rules.Features
		switch signals.Kinds[k] {
		case signals.KindUsage:
			usageFeatures(&g.Usage, st, t, dayOf(t))
			f.Usage = g.Usage
		case signals.KindTicket:
			ticketFeatures(&g.Tickets, st, window, t, dayOf(t))
			f.Tickets = g.Tickets
		case signals.KindNPS:
			npsFeatures(&g.NPS, st, upTo, t)
			f.NPS = g.NPS
		case signals.KindCommercial:
			sparseFeatures(&g, window, t, renewal)
			g.Commercial.DaysToRenewal = f.Commercial.DaysToRenewal
			f.Commercial = g.Commercial
		case signals.KindMention:
			sparseFeatures(&g, window, t, renewal)
			f.Mentions = g.Mentions
		case signals.KindBilling:
			sparseFeatures(&g, window, t, renewal)
			f.Billing = g.Billing
		case signals.KindContact:
			latestFeatures(&g, st, upTo, t)
			f.Contact = g.Contact
		case signals.KindChampion:
			latestFeatures(&g, st, upTo, t)
			f.Champion = g.Champion
		case signals.KindRating:
			latestFeatures(&g, st, upTo, t)
			f.Rating = g.Rating
		case signals.KindOutcome:
			f.Customer.Churned = st.Churned > 0 && st.Churned <= t
		}
	}
}
