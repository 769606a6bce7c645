package scorer

import (
	"math"

	"github.com/riskwatch/riskwatch/rules"
	"github.com/riskwatch/riskwatch/signals"
)

// Thresholds of the detectors that are facts about the data rather than
// policy; policy lives in the rule file.
const (
	negativeSentiment = -0.25
	slowResponseMin   = 60.0
)

// Features derives what the rules see for the customer at time at (Unix
// seconds). Daily counters use the days up to the day of at; sparse events
// only those at or before at, so a closed day is evaluated only on what
// happened before it ended.
func Features(st *State, p *signals.Profile, at int64) rules.Features {
	var f rules.Features
	today := dayOf(at)
	usageFeatures(&f.Usage, st, at, today)
	ticketFeatures(&f.Tickets, st, at, today)
	npsFeatures(&f.NPS, st, at)
	f.Profile.DaysToRenewal = -1
	f.Commercial.DaysToRenewal = -1
	renewal := int64(0)
	if p != nil {
		f.Profile = rules.ProfileFeatures{Known: true, ARR: p.ARR, Segment: p.Segment, Plan: p.Plan,
			Stage: p.Stage, Owner: p.Owner}
		if r := p.Renewal(); !r.IsZero() {
			renewal = r.Unix()
		}
	}
	if st.RenewalDate != "" {
		if r, err := signals.ParseDate(st.RenewalDate); err == nil && r.Unix() > renewal {
			renewal = r.Unix()
		}
	}
	if renewal > 0 && renewal >= at {
		f.Profile.DaysToRenewal = ceilDays(renewal - at)
		f.Commercial.DaysToRenewal = f.Profile.DaysToRenewal
	}
	sparseFeatures(&f, st, at, renewal)
	if st.Rating.T > 0 && st.Rating.T <= at {
		f.Rating = rules.RatingFeatures{Value: st.Rating.S, DaysSince: wholeDays(at - st.Rating.T)}
	} else {
		f.Rating.DaysSince = -1
	}
	if st.First > 0 && st.First <= at {
		f.Customer.AgeDays = wholeDays(at - st.First)
	}
	f.Customer.Churned = st.Churned > 0 && st.Churned <= at
	return f
}

func wholeDays(sec int64) int64 { return sec / day }

func ceilDays(sec int64) int64 { return (sec + day - 1) / day }

func pctDrop(base, recent float64) float64 {
	if base <= 0 || recent >= base {
		return 0
	}
	return math.Round((base-recent)/base*1000) / 10
}

func usageFeatures(u *rules.UsageFeatures, st *State, at int64, today int32) {
	u.DaysInactive = -1
	if st.FirstUsage == 0 || st.FirstUsage > at {
		return
	}
	u.Seen = true
	last := st.LastUsage
	if last > at {
		// Only possible for a closed-day evaluation: find the latest active
		// day on or before at instead.
		last = 0
		for d := today; d > today-usageDays && d >= dayOf(st.FirstUsage); d-- {
			if st.Usage.get(d) > 0 {
				last = int64(d) * day
				break
			}
		}
	}
	if last > 0 {
		u.DaysInactive = wholeDays(at - last)
	}
	firstDay := dayOf(st.FirstUsage)
	// Rates use complete days: today is still filling up.
	recentFrom, recentTo := max(today-7, firstDay), today-1
	if recentTo >= recentFrom {
		u.Events7d = int64(st.Usage.sum(recentFrom, recentTo))
		u.RecentDaily = float64(u.Events7d) / float64(recentTo-recentFrom+1)
	}
	baseFrom, baseTo := max(today-35, firstDay), today-8
	if baseTo >= baseFrom {
		u.BaselineDays = int64(baseTo - baseFrom + 1)
		u.BaselineDaily = float64(st.Usage.sum(baseFrom, baseTo)) / float64(u.BaselineDays)
		u.DropPct = pctDrop(u.BaselineDaily, u.RecentDaily)
	}
	// Cadence: the mean gap between active days over the ring.
	active, span := 0, int32(0)
	prev := int32(-1)
	for d := max(today-35, firstDay); d <= today; d++ {
		if st.Usage.get(d) == 0 {
			continue
		}
		if prev >= 0 {
			span += d - prev
		}
		prev = d
		active++
	}
	if active > 1 {
		u.TypicalGapDays = float64(span) / float64(active-1)
	} else {
		u.TypicalGapDays = 0
	}
	var peak uint64
	var latest uint64
	for d := max(today-35, firstDay); d <= today; d++ {
		if v := st.ActiveUsers.get(d); v > 0 {
			peak = max(peak, v)
			latest = v
		}
	}
	u.ActiveUsers = int64(latest)
	u.ActiveUsersDrop = pctDrop(float64(peak), float64(latest))
}

func ticketFeatures(tf *rules.TicketFeatures, st *State, at int64, today int32) {
	tf.Opened7d = int64(st.Opened.sum(today-6, today))
	firstDay := dayOf(st.First)
	weeks := min(max(int64(today-6-firstDay)/7, 1), 7)
	tf.BaselineWeekly = float64(st.Opened.sum(today-6-int32(weeks)*7, today-7)) / float64(weeks)
	tf.SpikeRatio = math.Round(float64(tf.Opened7d)/max(tf.BaselineWeekly, 0.5)*10) / 10

	// Latest status per ticket, and first-response times.
	var sumResp float64
	var nResp int
	type ticket struct {
		status string
		t      int64
	}
	latest := map[string]ticket{}
	for i := range st.Events {
		ev := &st.Events[i]
		if ev.Kind != signals.KindTicket || ev.T > at {
			continue
		}
		if cur, ok := latest[ev.Key]; !ok || ev.T >= cur.t {
			latest[ev.Key] = ticket{ev.Type, ev.T}
		}
		if ev.V >= 0 {
			sumResp += ev.V
			nResp++
		}
		if ev.T < at-7*day {
			continue
		}
		if ev.W > 0 && (ev.Type == signals.TicketOpened || ev.Type == signals.TicketReopened) {
			tf.Urgent7d++
		}
		if ev.Type == signals.TicketEscalated {
			tf.Escalated7d++
		}
	}
	for _, tk := range latest {
		switch tk.status {
		case signals.TicketOpened, signals.TicketReopened, signals.TicketEscalated:
			tf.OpenBacklog++
		}
	}
	if nResp == 0 {
		return
	}
	usual := sumResp / float64(nResp)
	var lastT int64 = -1
	for i := range st.Events {
		ev := &st.Events[i]
		if ev.Kind != signals.KindTicket || ev.T > at || ev.V < 0 {
			continue
		}
		if ev.T >= lastT {
			lastT, tf.LastFirstResponse = ev.T, ev.V
		}
		if ev.T >= at-30*day && ev.V > slowResponseMin && ev.V > 2*usual {
			tf.SlowResponses30d++
		}
	}
}

func npsFeatures(n *rules.NPSFeatures, st *State, at int64) {
	n.Last, n.Previous, n.DaysSince = -1, -1, -1
	last, prev := st.NPS, st.PrevNPS
	if last.T > at { // closed-day evaluation before the latest answer
		last, prev = prev, Answer{}
	}
	if last.T == 0 || last.T > at {
		return
	}
	n.Answered = true
	n.Last = last.V
	n.DaysSince = wholeDays(at - last.T)
	n.Detractor = last.V <= 6
	n.Passive = last.V == 7 || last.V == 8
	if prev.T > 0 && prev.T <= at {
		n.Previous = prev.V
		n.Drop = max(prev.V-last.V, 0)
	}
}

func sparseFeatures(f *rules.Features, st *State, at, renewal int64) {
	c, m, b := &f.Commercial, &f.Mentions, &f.Billing
	c.DaysSinceRequest, c.RequestDaysToRenewal, c.OldestUnansweredQuote = -1, -1, -1
	f.Contact.DaysSinceCSM, f.Champion.DaysSinceLost = -1, -1
	var lastRequest, lastAnswered, lastPaid, lastFailed, lastOverdue, lastExpiring, lastLeft, lastAdded, lastContact int64
	var sentSum float64
	var sentN int
	for i := range st.Events {
		ev := &st.Events[i]
		if ev.T > at {
			break // sorted by time
		}
		in90, in30 := ev.T >= at-90*day, ev.T >= at-30*day
		switch ev.Kind {
		case signals.KindCommercial:
			request := false
			switch ev.Type {
			case signals.DiscountRequest:
				if in90 {
					c.DiscountRequests90d++
					request = true
				}
			case signals.DowngradeRequest:
				if in90 {
					c.DowngradeRequests90d++
					request = true
				}
			case signals.ContractChange:
				if in90 && ev.V < 0 {
					c.ContractShrinks90d++
					c.LargestShrinkPct = max(c.LargestShrinkPct, -ev.V)
					request = true
				}
			case signals.CancellationInquiry:
				if in90 {
					c.CancellationInquiries++
					request = true
				}
			case signals.QuoteAnswered:
				lastAnswered = ev.T
			}
			if request {
				lastRequest = ev.T
			}
		case signals.KindMention:
			if !in30 {
				continue
			}
			sentSum += ev.V
			sentN++
			if ev.V <= negativeSentiment {
				m.Negative30d++
				m.NegativeReach30d += ev.W
			}
		case signals.KindBilling:
			switch ev.Type {
			case "payment_succeeded":
				lastPaid = ev.T
			case "payment_failed":
				lastFailed = ev.T
				if in30 {
					b.Failed30d++
				}
			case "invoice_overdue":
				lastOverdue = ev.T
			case "card_expiring":
				if in30 {
					lastExpiring = ev.T
				}
			}
		case signals.KindContact:
			lastContact = ev.T
		case signals.KindChampion:
			if ev.Type == "left" {
				lastLeft = ev.T
			} else {
				lastAdded = ev.T
			}
		}
	}
	// Quotes: a quote_answered answers every request before it.
	for i := range st.Events {
		ev := &st.Events[i]
		if ev.T > at {
			break
		}
		if ev.Kind == signals.KindCommercial && ev.Type == signals.QuoteRequest && ev.T > lastAnswered {
			c.UnansweredQuotes++
			if c.OldestUnansweredQuote < 0 {
				c.OldestUnansweredQuote = wholeDays(at - ev.T)
			}
		}
	}
	if lastRequest > 0 {
		c.DaysSinceRequest = wholeDays(at - lastRequest)
		if renewal > 0 && renewal >= lastRequest {
			c.RequestDaysToRenewal = ceilDays(renewal - lastRequest)
		}
	}
	if sentN > 0 {
		m.Sentiment30d = math.Round(sentSum/float64(sentN)*100) / 100
	}
	b.UnresolvedFailure = lastFailed > lastPaid
	b.CardExpiring = lastExpiring > 0 && lastExpiring > lastPaid
	b.InvoiceOverdue = lastOverdue > lastPaid
	// The list forgets after 90 days; the state fields do not.
	if lastContact == 0 && st.LastContact <= at {
		lastContact = st.LastContact
	}
	if lastLeft == 0 && st.ChampionLeft <= at {
		lastLeft = st.ChampionLeft
	}
	if lastAdded == 0 && st.ChampionAdded <= at {
		lastAdded = st.ChampionAdded
	}
	if lastContact > 0 {
		f.Contact.Ever = true
		f.Contact.DaysSinceCSM = wholeDays(at - lastContact)
	}
	if lastLeft > 0 && lastLeft >= lastAdded {
		f.Champion.Lost = true
		f.Champion.DaysSinceLost = wholeDays(at - lastLeft)
	}
}
