package scorer

import (
	"math"
	"slices"
	"time"

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
//
// Windowed counts read the newest maxEvents events of the 90 days up to
// at; "latest" values (NPS answers, rating, contact, champion, renewal)
// read the whole list and then Before. Either way the result depends only
// on the signals at or before at, not on what else the state holds.
func Features(st *State, p *signals.Profile, at int64) rules.Features {
	var f rules.Features
	features(&f, st, p, at)
	return f
}

// Renewal is the customer's next renewal as known at at: the profile's
// date, or a later one that a renewed outcome recorded (the CRM may not
// have caught up); zero when neither says.
func Renewal(st *State, p *signals.Profile, at int64) time.Time {
	if r := renewal(st, p, st.Events[:firstAfter(st.Events, at)]); r > 0 {
		return time.Unix(r, 0).UTC()
	}
	return time.Time{}
}

// renewal is Renewal in Unix seconds, from the events up to the moment.
func renewal(st *State, p *signals.Profile, upTo []Event) int64 {
	r := int64(0)
	if p != nil {
		if t := p.Renewal(); !t.IsZero() {
			r = t.Unix()
		}
	}
	if a, ok := latest(st, upTo, codeRenewed); ok && a.V > r {
		r = a.V
	}
	return r
}

// features fills f at time at and returns the renewal it used (Unix
// seconds, 0 when unknown).
func features(f *rules.Features, st *State, p *signals.Profile, at int64) int64 {
	today := dayOf(at)
	hi := firstAfter(st.Events, at)
	lo := max(hi-maxEvents, firstAfter(st.Events[:hi], at-eventWindow-1))
	window, upTo := st.Events[lo:hi], st.Events[:hi]

	usageFeatures(&f.Usage, st, at, today)
	ticketFeatures(&f.Tickets, st, window, at, today)
	npsFeatures(&f.NPS, st, upTo, at)
	f.Profile.DaysToRenewal = -1
	f.Commercial.DaysToRenewal = -1
	if p != nil {
		f.Profile = rules.ProfileFeatures{Known: true, ARR: p.ARR, Segment: p.Segment, Plan: p.Plan,
			Stage: p.Stage, Owner: p.Owner}
	}
	renewal := renewal(st, p, upTo)
	if renewal > 0 && renewal >= at {
		f.Profile.DaysToRenewal = ceilDays(renewal - at)
		f.Commercial.DaysToRenewal = f.Profile.DaysToRenewal
	}
	sparseFeatures(f, window, at, renewal)
	latestFeatures(f, st, upTo, at)
	if st.First > 0 && st.First <= at {
		f.Customer.AgeDays = wholeDays(at - st.First)
	}
	f.Customer.Churned = st.Churned > 0 && st.Churned <= at
	return renewal
}

// firstAfter is the index of the first event later than t.
func firstAfter(evs []Event, t int64) int {
	lo, hi := 0, len(evs)
	for lo < hi {
		m := int(uint(lo+hi) >> 1)
		if evs[m].T > t {
			hi = m
		} else {
			lo = m + 1
		}
	}
	return lo
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
	firstDay := dayOf(st.FirstUsage)
	last := st.LastUsage
	if last > at {
		// Only for a closed day, evaluated at its last second: the start of
		// the latest active day on or before it gives the same whole days
		// as the exact time would.
		last = 0
		oldest := max(st.Usage.Top-int32(len(st.Usage.C))+1, firstDay)
		for d := today; d >= oldest; d-- {
			if st.Usage.get(d) > 0 {
				last = int64(d) * day
				break
			}
		}
		if last == 0 && st.UsageBefore > 0 {
			last = int64(st.UsageBefore) * day
		}
	}
	if last > 0 {
		u.DaysInactive = wholeDays(at - last)
	}
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
	var peak, latestAU uint64
	for d := max(today-35, firstDay); d <= today; d++ {
		if v := st.ActiveUsers.get(d); v > 0 {
			peak = max(peak, v)
			latestAU = v
		}
	}
	u.ActiveUsers = int64(latestAU)
	u.ActiveUsersDrop = pctDrop(float64(peak), float64(latestAU))
	// Cadence: the mean gap between active days over 90 days, long
	// enough for a customer who comes once a month.
	first, prev := int32(-1), int32(-1)
	for d := max(today-89, firstDay); d <= today; d++ {
		if st.Usage.get(d) == 0 {
			continue
		}
		if first < 0 {
			first = d
		}
		prev = d
		u.ActiveDays90d++
		if d > today-35 {
			u.ActiveDays35d++
		}
	}
	if u.ActiveDays90d > 1 {
		u.TypicalGapDays = float64(prev-first) / float64(u.ActiveDays90d-1)
	}
	u.DaysSinceFirst = int64(today - firstDay)
	// Lifetime cadence up to today: the days after it are still in the
	// ring (a closed day is judged while the next ones fill).
	later := 0
	for d := today + 1; d <= st.Usage.Top; d++ {
		if st.Usage.get(d) > 0 {
			later++
		}
	}
	u.LifetimeGapDays = 7
	if n := int64(st.ActiveDays) - int64(later); n > 1 && last > 0 {
		u.LifetimeGapDays = math.Max(float64(dayOf(last)-firstDay)/float64(n-1), 1)
	}
	// The slow fade: the last two weeks against the ten before them.
	if recentTo := today - 1; recentTo >= firstDay {
		from := max(today-14, firstDay)
		u.Recent14Daily = float64(st.Usage.sum(from, recentTo)) / float64(recentTo-from+1)
	}
	longFrom, longTo := max(today-84, firstDay), today-15
	if longTo >= longFrom {
		u.LongDays = int64(longTo - longFrom + 1)
		u.LongDaily = float64(st.Usage.sum(longFrom, longTo)) / float64(u.LongDays)
		u.FadePct = pctDrop(u.LongDaily, u.Recent14Daily)
		u.GrowthPct = pctRise(u.LongDaily, u.Recent14Daily)
	}
}

// pctRise is the percent rise from base to recent, 0 when it fell.
func pctRise(base, recent float64) float64 {
	if base <= 0 || recent <= base {
		return 0
	}
	return math.Round((recent-base)/base*1000) / 10
}

// Peers is what the customers of a segment did together, as the runtime
// keeps it: usage judged against the segment over the same days tells a
// customer's own decline from a dip every customer shares (a holiday, an
// outage).
type Peers interface {
	// Usage is the sum of the segment's usage events over the last days
	// of from..to (inclusive, day numbers) it has figures for, and how
	// many days those are: 0 when it has none of them. The sum includes
	// the customer's own usage, which the features take out.
	Usage(segment string, from, to int32) (events float64, days int32)
}

// peerFeatures fills the drops of the rest of the customer's segment over
// the windows of the customer's own, so a rule can subtract one from the
// other. The customer's own usage is left out: alone in its segment, or
// most of it, a customer would otherwise cancel its own decline.
func peerFeatures(u *rules.UsageFeatures, peers Peers, segment string, st *State, today int32) {
	if peers == nil {
		return
	}
	// others is the mean usage a day of the segment's other customers.
	others := func(from, to int32) (float64, bool) {
		events, days := peers.Usage(segment, from, to)
		if days <= 0 {
			return 0, false
		}
		own := float64(st.Usage.sum(to-days+1, to))
		return max(events-own, 0) / float64(days), true
	}
	recent, ok1 := others(today-7, today-1)
	base, ok2 := others(today-35, today-8)
	if ok1 && ok2 {
		u.SegmentDropPct = pctDrop(base, recent)
	}
	recent14, ok1 := others(today-14, today-1)
	long, ok2 := others(today-84, today-15)
	if ok1 && ok2 {
		u.SegmentFadePct = pctDrop(long, recent14)
	}
}

func ticketFeatures(tf *rules.TicketFeatures, st *State, window []Event, at int64, today int32) {
	tf.Opened7d = int64(st.Opened.sum(today-6, today))
	firstDay := dayOf(st.First)
	weeks := min(max(int64(today-6-firstDay)/7, 1), 7)
	tf.BaselineWeekly = float64(st.Opened.sum(today-6-int32(weeks)*7, today-7)) / float64(weeks)
	tf.SpikeRatio = math.Round(float64(tf.Opened7d)/max(tf.BaselineWeekly, 0.5)*10) / 10

	// The latest status of each ticket, and first-response times. The
	// window is at most maxEvents long, so arrays on the stack do.
	var keys [maxEvents]uint64
	var status [maxEvents]Code
	nKeys := 0
	var sumResp float64
	var nResp int
	for i := range window {
		ev := &window[i]
		if ev.Code.Kind() != signals.KindTicket {
			continue
		}
		k := slices.Index(keys[:nKeys], ev.Key)
		if k < 0 {
			k = nKeys
			keys[k] = ev.Key
			nKeys++
		}
		status[k] = ev.Code // events are in time order: the last one wins
		if ev.Flags&FlagResponse != 0 {
			sumResp += ev.V
			nResp++
			tf.LastFirstResponse = ev.V
		}
		if ev.T < at-7*day {
			continue
		}
		if ev.Flags&FlagUrgent != 0 && (ev.Code == codeTicketOpened || ev.Code == codeTicketReopened) {
			tf.Urgent7d++
		}
		if ev.Code == codeTicketEscalated {
			tf.Escalated7d++
		}
	}
	for _, s := range status[:nKeys] {
		switch s {
		case codeTicketOpened, codeTicketReopened, codeTicketEscalated:
			tf.OpenBacklog++
		}
	}
	if nResp == 0 {
		return
	}
	usual := sumResp / float64(nResp)
	for i := range window {
		ev := &window[i]
		if ev.Flags&FlagResponse != 0 && ev.T >= at-30*day && ev.V > slowResponseMin && ev.V > 2*usual {
			tf.SlowResponses30d++
		}
	}
}

// latest finds the newest event of code at or before at: in the list, else
// among those that left it.
func latest(st *State, upTo []Event, code Code) (Answer, bool) {
	for i := len(upTo) - 1; i >= 0; i-- {
		if ev := &upTo[i]; ev.Code == code {
			return Answer{T: ev.T, V: int64(ev.V), ID: ev.ID}, true
		}
	}
	if st.Before == nil {
		return Answer{}, false
	}
	var t int64
	switch code {
	case codeContact:
		t = st.Before.Contact
	case codeChampionLeft:
		t = st.Before.ChampionLeft
	case codeChampionAdded:
		t = st.Before.ChampionAdded
	case codeRenewed:
		return st.Before.Renewal, st.Before.Renewal.T > 0
	}
	return Answer{T: t}, t > 0
}

// npsAnswers are the latest two answers at or before at, newest first.
func npsAnswers(st *State, upTo []Event) [2]Answer {
	var out [2]Answer
	n := 0
	for i := len(upTo) - 1; i >= 0 && n < 2; i-- {
		if ev := &upTo[i]; ev.Code == codeNPS {
			out[n] = Answer{T: ev.T, V: int64(ev.V), ID: ev.ID}
			n++
		}
	}
	for i := 0; n < 2 && st.Before != nil && i < 2; i++ {
		if a := st.Before.NPS[i]; a.T > 0 {
			out[n] = a
			n++
		}
	}
	return out
}

func npsFeatures(n *rules.NPSFeatures, st *State, upTo []Event, at int64) {
	n.Last, n.Previous, n.DaysSince = -1, -1, -1
	answers := npsAnswers(st, upTo)
	last, prev := answers[0], answers[1]
	if last.T == 0 {
		return
	}
	n.Answered = true
	n.Last = last.V
	n.DaysSince = wholeDays(at - last.T)
	n.Detractor = last.V <= 6
	n.Passive = last.V == 7 || last.V == 8
	if prev.T > 0 {
		n.Previous = prev.V
		n.Drop = max(prev.V-last.V, 0)
	}
}

// ratingAnswer is the CSM's latest rating at or before at; V indexes
// ratingValues.
func ratingAnswer(st *State, upTo []Event) (Answer, bool) {
	for i := len(upTo) - 1; i >= 0; i-- {
		if ev := &upTo[i]; ev.Code >= codeRatingGreen && ev.Code <= codeRatingRed {
			return Answer{T: ev.T, V: int64(ev.Code - codeRatingGreen), ID: ev.ID}, true
		}
	}
	if st.Before != nil && st.Before.Rating.T > 0 {
		return st.Before.Rating, true
	}
	return Answer{}, false
}

func latestFeatures(f *rules.Features, st *State, upTo []Event, at int64) {
	f.Rating.DaysSince = -1
	if a, ok := ratingAnswer(st, upTo); ok && a.V >= 0 && int(a.V) < len(ratingValues) {
		f.Rating = rules.RatingFeatures{Value: ratingValues[a.V], DaysSince: wholeDays(at - a.T)}
	}
	f.Contact.DaysSinceCSM, f.Champion.DaysSinceLost = -1, -1
	if a, ok := latest(st, upTo, codeContact); ok {
		f.Contact.Ever = true
		f.Contact.DaysSinceCSM = wholeDays(at - a.T)
	}
	left, _ := latest(st, upTo, codeChampionLeft)
	added, _ := latest(st, upTo, codeChampionAdded)
	if left.T > 0 && left.T >= added.T {
		f.Champion.Lost = true
		f.Champion.DaysSinceLost = wholeDays(at - left.T)
	}
}

// sparseFeatures counts the events of window, the newest of the last 90
// days up to at.
func sparseFeatures(f *rules.Features, window []Event, at, renewal int64) {
	c, m, b := &f.Commercial, &f.Mentions, &f.Billing
	c.DaysSinceRequest, c.RequestDaysToRenewal, c.OldestUnansweredQuote = -1, -1, -1
	var lastRequest, lastAnswered, lastPaid, lastFailed, lastOverdue, lastExpiring int64
	var sentSum float64
	var sentN int
	for i := range window {
		ev := &window[i]
		in30 := ev.T >= at-30*day
		switch ev.Code {
		case codeDiscount:
			c.DiscountRequests90d++
			lastRequest = ev.T
		case codeDowngrade:
			c.DowngradeRequests90d++
			lastRequest = ev.T
		case codeContractChange:
			// An expansion (a positive change) is not a risk: it protects.
			if ev.V > 0 {
				c.Expansions90d++
			}
			if ev.V < 0 {
				c.ContractShrinks90d++
				c.LargestShrinkPct = max(c.LargestShrinkPct, -ev.V)
				lastRequest = ev.T
			}
		case codeCancellation:
			c.CancellationInquiries++
			lastRequest = ev.T
		case codeQuoteAnswered:
			lastAnswered = ev.T
		case codeMention:
			if !in30 {
				continue
			}
			sentSum += ev.V
			sentN++
			if ev.V <= negativeSentiment {
				m.Negative30d++
				m.NegativeReach30d += float64(ev.W)
			}
		case codePaymentSucceeded:
			lastPaid = ev.T
		case codePaymentFailed:
			lastFailed = ev.T
			if in30 {
				b.Failed30d++
			}
		case codeInvoiceOverdue:
			lastOverdue = ev.T
		case codeCardExpiring:
			if in30 {
				lastExpiring = ev.T
			}
		}
	}
	// Quotes: a quote_answered answers every request before it.
	for i := range window {
		ev := &window[i]
		if ev.Code == codeQuoteRequest && ev.T > lastAnswered {
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
}
