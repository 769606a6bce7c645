package sim

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"slices"
	"time"

	"github.com/riskwatch/riskwatch/signals"
)

// Base is a kind of customer base a history simulates. Both are made
// to test a score against what fools scores: churners that say nothing
// but fade, and healthy customers that look like churners for a while.
type Base string

const (
	// Realistic is a base of regular users (most of them daily) with
	// churners of five kinds (quiet fades, unhappy customers, price
	// pressure before renewal, a lost champion, payments that keep
	// failing) and benign look-alikes: a segment-wide dip (a holiday, an
	// outage), urgent tickets solved within a day, onboarding bursts that
	// settle, detractors whose usage grows, failed payments retried with
	// success, discounts asked mid-term, champions replaced.
	Realistic Base = "realistic"
	// Sparse is a base whose accounts use the product every one to four
	// weeks: about 9% leave within 90 days, and the accounts that signed
	// up and never came back leave most often.
	Sparse Base = "sparse"
)

// Bases lists the bases NewBase makes.
var Bases = []Base{Realistic, Sparse}

// History is a simulated customer base's history with its outcomes: who
// churned and when, who renewed. The same seed gives the same history.
type History struct {
	start     time.Time
	days      int
	customers []*baseCustomer
	rng       *rand.Rand
	dips      map[string][]dip // per segment
}

// dip is a span of days when every customer of a segment uses the
// product less: a holiday or an outage.
type dip struct {
	from, to int
	factor   float64
}

// fate is how a customer's year goes.
type fate int

const (
	healthy fate = iota
	quietFade
	unhappy
	pricePressure
	championGone
	involuntary
	neverBack // signed up, used it a day or two, never came back
)

// lookAlike is a benign event of a healthy customer that looks like
// trouble for a while.
type lookAlike int

const (
	noLookAlike lookAlike = iota
	solvedUrgent
	growingDetractor
	paymentRetried
	discountMidTerm
	championReplaced
)

type baseCustomer struct {
	profile   signals.Profile
	join      int     // first day of activity
	level     float64 // usual events a day
	cadence   int     // active every cadence days
	phase     int
	tickets   float64 // usual tickets a week
	nps       int     // disposition: the answer it usually gives
	npsPhase  int
	fate      fate
	onset     int // first day of its decline
	churn     int // churn day, -1 when it stays
	renewals  []int
	floor     float64 // what its usage fades to
	look      lookAlike
	lookDay   int
	ticketSeq int
}

// NewBase simulates a base of kind over days days ending at end.
func NewBase(kind Base, n, days int, end time.Time, seed uint64) (*History, error) {
	if n <= 0 || days < 90 {
		return nil, fmt.Errorf("sim: a %s base needs customers and at least 90 days (got %d customers, %d days)", kind, n, days)
	}
	h := &History{start: end.AddDate(0, 0, -days), days: days,
		rng: rand.New(rand.NewPCG(seed, seed^0x2545f4914f6cdd1d)), dips: map[string][]dip{}}
	switch kind {
	case Realistic:
		for _, seg := range []string{"smb", "mid_market", "enterprise"} {
			// Two dips a year per segment, a week or so each.
			for range max(1, days/180) {
				from := 20 + h.rng.IntN(days-40)
				h.dips[seg] = append(h.dips[seg], dip{from: from, to: from + 6 + h.rng.IntN(5), factor: 0.35 + 0.25*h.rng.Float64()})
			}
		}
		for i := range n {
			h.customers = append(h.customers, h.realistic(i))
		}
	case Sparse:
		for i := range n {
			h.customers = append(h.customers, h.sparse(i))
		}
	default:
		return nil, fmt.Errorf("sim: unknown base %q (want realistic or sparse)", kind)
	}
	return h, nil
}

// NewHistory is the realistic base: see NewBase.
func NewHistory(n, days int, end time.Time, seed uint64) *History {
	h, err := NewBase(Realistic, n, max(days, 90), end, seed)
	if err != nil {
		panic(err) // n > 0 and days >= 90: cannot fail
	}
	return h
}

// profile draws a customer's CRM record and its renewal days.
func (h *History) profile(i int) (signals.Profile, []int) {
	rng := h.rng
	id := fmt.Sprintf("cust-%05d", i+1)
	segment, arr := "smb", 5_000+rng.Float64()*25_000
	switch r := rng.Float64(); {
	case r < 0.12:
		segment, arr = "enterprise", 120_000+rng.Float64()*480_000
	case r < 0.42:
		segment, arr = "mid_market", 30_000+rng.Float64()*90_000
	}
	first := rng.IntN(365)
	var renewals []int
	for d := first; d < h.days; d += 365 {
		renewals = append(renewals, d)
	}
	renewal := h.start.AddDate(0, 0, first)
	stage := "adoption"
	if rng.Float64() < 0.2 {
		stage = ""
	}
	p := signals.Profile{ID: id, Name: prefixes[rng.IntN(len(prefixes))] + " " + suffixes[rng.IntN(len(suffixes))],
		ARR: math.Round(arr), Currency: "USD", RenewalDate: renewal.Format(time.DateOnly), Segment: segment,
		Owner: owners[rng.IntN(len(owners))], Plan: map[string]string{"smb": "team", "mid_market": "business",
			"enterprise": "enterprise"}[segment], Stage: stage}
	return p, renewals
}

// realistic draws a customer of the realistic base.
func (h *History) realistic(i int) *baseCustomer {
	rng := h.rng
	p, renewals := h.profile(i)
	c := &baseCustomer{profile: p, renewals: renewals, churn: -1, cadence: 1,
		level: 15 * math.Exp(rng.NormFloat64()*0.8), tickets: 0.2 + rng.Float64()*1.2, npsPhase: rng.IntN(90)}
	if p.Segment == "enterprise" {
		c.level *= 5
	}
	if rng.Float64() < 0.2 {
		c.cadence = 2 + rng.IntN(4)
	}
	c.phase = rng.IntN(c.cadence)
	switch r := rng.Float64(); {
	case r < 0.55:
		c.nps = 9
	case r < 0.87:
		c.nps = 7
	default:
		c.nps = 5
	}
	if rng.Float64() < 0.15 {
		// Signed up during the span: onboarding, with the burst of a
		// new team trying everything.
		c.join = rng.IntN(h.days - 90)
		c.profile.Stage = "onboarding"
		c.renewals = nil
		for d := c.join + 365; d < h.days; d += 365 {
			c.renewals = append(c.renewals, d)
		}
		c.profile.RenewalDate = h.start.AddDate(0, 0, c.join+365).Format(time.DateOnly)
	}
	// About one customer in five leaves within the year.
	if rng.Float64() < 0.22 {
		c.fate = []fate{quietFade, quietFade, quietFade, unhappy, unhappy, pricePressure, pricePressure,
			championGone, involuntary, involuntary}[rng.IntN(10)]
		churn := -1
		if c.fate == pricePressure || rng.Float64() < 0.5 {
			// At a renewal inside the span, after a decline's time.
			for _, r := range c.renewals {
				if r >= c.join+100 {
					churn = r
					break
				}
			}
		}
		if churn < 0 {
			churn = c.join + 100 + rng.IntN(max(h.days-c.join-100, 1))
		}
		if churn < h.days {
			c.churn = churn
			// Signs come months before the end: the decision to leave is
			// made long before the renewal it is announced at.
			length := 60 + rng.IntN(120)
			if c.fate == involuntary {
				length = 45 + rng.IntN(30)
			}
			c.onset = max(churn-length, c.join+14)
			c.floor = 0.05 + 0.3*rng.Float64()
		} else {
			c.fate = healthy
		}
	}
	if c.fate == healthy && rng.Float64() < 0.4 {
		c.look = lookAlike(1 + rng.IntN(int(championReplaced)))
		c.lookDay = c.join + 30 + rng.IntN(max(h.days-c.join-40, 1))
	}
	return c
}

// sparse draws a customer of the sparse base.
func (h *History) sparse(i int) *baseCustomer {
	rng := h.rng
	p, renewals := h.profile(i)
	p.Stage = ""
	c := &baseCustomer{profile: p, renewals: renewals, churn: -1, level: 3 + rng.ExpFloat64()*10,
		cadence: 7 + rng.IntN(22), tickets: 0.02 + rng.Float64()*0.1, nps: 9, npsPhase: rng.IntN(180)}
	c.phase = rng.IntN(c.cadence)
	if rng.Float64() < 0.2 {
		c.nps = 6
	}
	if rng.Float64() < 0.25 {
		c.join = rng.IntN(h.days - 60)
	}
	switch r := rng.Float64(); {
	case r < 0.12:
		// Signed up, came a day or two, never again.
		c.fate = neverBack
		c.join = rng.IntN(h.days - 60)
		if rng.Float64() < 0.45 {
			c.churn = c.join + 30 + rng.IntN(150)
		}
	case r < 0.12+0.18:
		// A regular that drifts away: its visits thin out, then stop.
		c.fate = quietFade
		c.churn = c.join + 60 + rng.IntN(max(h.days-c.join-60, 1))
		c.onset = max(c.churn-40-rng.IntN(80), c.join+21)
		c.floor = 0.2
	}
	if c.churn >= h.days {
		c.churn = -1
	}
	return c
}

// WriteHistory writes the history as the NDJSON of riskctl replay and
// backtest: the profiles, then every day's signals in time order.
func (h *History) WriteHistory(w io.Writer) error {
	enc := json.NewEncoder(w)
	for _, c := range h.customers {
		if err := enc.Encode(map[string]any{"profile": c.profile}); err != nil {
			return fmt.Errorf("write history: %w", err)
		}
	}
	var day []Envelope
	for d := range h.days {
		day = day[:0]
		base := h.start.AddDate(0, 0, d)
		for _, c := range h.customers {
			day = h.emit(c, d, base, day)
		}
		slices.SortStableFunc(day, func(a, b Envelope) int { return a.Time.Compare(b.Time) })
		for _, e := range day {
			if err := enc.Encode(e); err != nil {
				return fmt.Errorf("write history: %w", err)
			}
		}
	}
	return nil
}

// baseDay is one customer's day while it is simulated.
type baseDay struct {
	h    *History
	c    *baseCustomer
	d    int
	base time.Time
	out  []Envelope
}

func (s *baseDay) at(hour int) time.Time {
	return s.base.Add(time.Duration(hour)*time.Hour + time.Duration(s.h.rng.IntN(3600))*time.Second)
}

func (s *baseDay) emit(kind string, t time.Time, key string, data map[string]any) {
	id := s.c.profile.ID
	s.out = append(s.out, Envelope{ID: fmt.Sprintf("%s-%s-%d-%s", id, kind, s.d, key), Kind: kind, Customer: id,
		Time: t, Source: "sim", Data: data})
}

// decline is how far into its decline the customer is, 0 to 1.
func (c *baseCustomer) decline(d int) float64 {
	if c.churn < 0 || d < c.onset {
		return 0
	}
	return math.Min(1, float64(d-c.onset)/float64(max(c.churn-c.onset, 1)))
}

// emit appends the customer's signals of day d to out.
func (h *History) emit(c *baseCustomer, d int, base time.Time, out []Envelope) []Envelope {
	if d < c.join || (c.churn >= 0 && d > c.churn) {
		return out
	}
	s := &baseDay{h: h, c: c, d: d, base: base, out: out}
	if c.fate == neverBack {
		if d-c.join < 3 && (d == c.join || h.rng.Float64() < 0.5) {
			s.emit("usage", s.at(15), "u", map[string]any{"events": 1 + h.rng.IntN(8), "active_users": 1})
		}
	} else {
		s.usage()
		s.tickets()
		s.nps()
		s.sparse()
	}
	s.outcome()
	return s.out
}

// usage sends the day's usage rollup on the customer's cadence.
func (s *baseDay) usage() {
	c, rng, d := s.c, s.h.rng, s.d
	active := (d+c.phase)%c.cadence == 0
	if c.cadence >= 7 {
		// Sparse users come roughly on their cadence, not like clockwork.
		active = rng.Float64() < 1/float64(c.cadence)
	}
	x := c.decline(d)
	if c.cadence >= 7 && x > 0 {
		// Visits thin out, then stop a few weeks before the end.
		if x > 0.6 || rng.Float64() < x*1.5 {
			active = false
		}
	}
	if !active {
		return
	}
	use := c.level * (0.75 + 0.5*rng.Float64())
	if wd := s.base.Weekday(); wd == time.Saturday || wd == time.Sunday {
		use *= 0.5
	}
	for _, dp := range s.h.dips[c.profile.Segment] {
		if d >= dp.from && d <= dp.to {
			use *= dp.factor
		}
	}
	if since := d - c.join; c.profile.Stage == "onboarding" && since < 28 {
		// The burst of a new team, settling over four weeks.
		use *= 1 + 1.5*float64(28-since)/28
	}
	// Disengagement shows early and then lingers: a team stops, the rest
	// of the account slowly follows.
	x = math.Sqrt(x)
	switch c.fate {
	case quietFade:
		use *= 1 - (1-c.floor)*x
	case unhappy, pricePressure, championGone:
		use *= 1 - (1-c.floor)*0.7*x
	case involuntary:
		if c.churn-d < 10 {
			use *= 0.3
		}
	}
	if c.look == growingDetractor && d >= c.lookDay-60 {
		use *= 1 + 0.6*math.Min(1, float64(d-c.lookDay+60)/60)
	}
	if use < 1 {
		return
	}
	users := max(1, int(use/12))
	if c.fate == championGone && x > 0 {
		users = max(1, int(float64(users)*(1-0.5*x)))
	}
	s.emit("usage", s.at(17), "u", map[string]any{"events": int(use), "active_users": users})
}

// tickets opens the customer's tickets and solves them.
func (s *baseDay) tickets() {
	c, rng := s.c, s.h.rng
	rate := c.tickets / 7
	x := c.decline(s.d)
	if c.fate == unhappy && x > 0.1 {
		rate *= 4
	}
	urgentEpisode := c.look == solvedUrgent && s.d >= c.lookDay && s.d < c.lookDay+3
	if urgentEpisode {
		rate = 0.7
	}
	if rng.Float64() >= rate {
		return
	}
	c.ticketSeq++
	tid := fmt.Sprintf("T%s-%d", c.profile.ID[5:], c.ticketSeq)
	prio, minutes := "normal", 20+rng.Float64()*40
	unhappyNow := c.fate == unhappy && x > 0.1
	if (unhappyNow && rng.Float64() < 0.4) || urgentEpisode {
		prio = "urgent"
	}
	if unhappyNow && rng.Float64() < 0.5 {
		minutes = 300 + rng.Float64()*900
	}
	s.emit("ticket", s.at(9), "t"+tid, map[string]any{"ticket_id": tid, "status": "opened", "priority": prio,
		"first_response_minutes": minutes})
	if unhappyNow && rng.Float64() < 0.3 {
		s.emit("ticket", s.at(12), "e"+tid, map[string]any{"ticket_id": tid, "status": "escalated", "priority": prio})
	}
	if !unhappyNow || rng.Float64() < 0.3 {
		s.emit("ticket", s.at(16), "s"+tid, map[string]any{"ticket_id": tid, "status": "solved"})
	}
}

// nps sends the quarterly survey's answer (twice a year in the sparse
// base, whose customers rarely answer).
func (s *baseDay) nps() {
	c, rng := s.c, s.h.rng
	every := 90
	if c.cadence >= 7 {
		every = 180
	}
	if (s.d+c.npsPhase)%every != 0 || rng.Float64() < 0.3 {
		return
	}
	score := c.nps + rng.IntN(2)
	x := c.decline(s.d)
	switch {
	case c.fate == unhappy && x > 0.1:
		score = 2 + rng.IntN(5)
	case c.fate == championGone && x > 0.1, c.fate == pricePressure && x > 0.3:
		score = 5 + rng.IntN(3)
	case c.fate == quietFade && x > 0.3:
		score = 6 + rng.IntN(3)
	case c.look == growingDetractor && s.d >= c.lookDay-30:
		score = 4 + rng.IntN(3)
	}
	s.emit("nps", s.at(11), "n", map[string]any{"score": min(score, 10)})
}

// sparse sends the commercial, social, billing, champion and contact
// signals of the day.
func (s *baseDay) sparse() {
	c, rng, d := s.c, s.h.rng, s.d
	if c.cadence < 7 && c.profile.Owner != "" && (d+c.npsPhase)%30 == 0 {
		s.emit("contact", s.at(14), "k", map[string]any{"type": "csm_touch", "by": c.profile.Owner})
	}
	toChurn := c.churn - d
	switch c.fate {
	case pricePressure:
		if toChurn == 60 || toChurn == 35 {
			typ := []string{"discount_request", "downgrade_request"}[rng.IntN(2)]
			s.emit("commercial", s.at(10), "c", map[string]any{"type": typ, "amount_pct": 20})
		}
		if toChurn == 20 && rng.Float64() < 0.5 {
			s.emit("commercial", s.at(10), "x", map[string]any{"type": "cancellation_inquiry"})
		}
	case unhappy:
		if d > c.onset && d < c.churn-5 && rng.Float64() < 0.03 {
			s.emit("mention", s.at(13), "m", map[string]any{"channel": "twitter",
				"text": "support is slow and the product keeps breaking", "reach": 100 + rng.IntN(3000)})
		}
	case championGone:
		if d == c.onset {
			s.emit("champion", s.at(12), "ch", map[string]any{"type": "left", "contact": "lead@" + c.profile.ID})
		}
	case involuntary:
		if d == c.onset {
			s.emit("billing", s.at(6), "e", map[string]any{"type": "card_expiring"})
		}
		if d > c.onset+7 && (d-c.onset)%7 == 0 {
			s.emit("billing", s.at(6), "b", map[string]any{"type": "payment_failed"})
		}
	}
	switch {
	case c.look == paymentRetried && (d == c.lookDay || d == c.lookDay+60):
		s.emit("billing", s.at(6), "b", map[string]any{"type": "payment_failed"})
	case c.look == paymentRetried && (d == c.lookDay+2 || d == c.lookDay+62):
		s.emit("billing", s.at(8), "p", map[string]any{"type": "payment_succeeded"})
	case c.look == discountMidTerm && d == c.lookDay:
		s.emit("commercial", s.at(10), "c", map[string]any{"type": "discount_request", "amount_pct": 10})
	case c.look == championReplaced && d == c.lookDay:
		s.emit("champion", s.at(12), "ch", map[string]any{"type": "left", "contact": "lead@" + c.profile.ID})
	case c.look == championReplaced && d == c.lookDay+10:
		s.emit("champion", s.at(12), "ca", map[string]any{"type": "added", "contact": "new@" + c.profile.ID})
	}
}

// outcome sends the customer's churn, or its renewals.
func (s *baseDay) outcome() {
	c, id := s.c, s.c.profile.ID
	if s.d == c.churn {
		s.out = append(s.out, Envelope{ID: id + "-outcome-churned", Kind: string(signals.KindOutcome), Customer: id,
			Time: s.base.Add(20 * time.Hour), Source: "sim", Data: map[string]any{"type": "churned", "arr": c.profile.ARR}})
		return
	}
	for _, r := range c.renewals {
		if r == s.d && (c.churn < 0 || r < c.churn) && r > c.join {
			typ, arr := "renewed", c.profile.ARR
			switch x := s.h.rng.Float64(); {
			case x < 0.1:
				typ, arr = "expanded", math.Round(arr*1.2)
			case x < 0.15:
				typ, arr = "downgraded", math.Round(arr*0.8)
			}
			s.out = append(s.out, Envelope{ID: fmt.Sprintf("%s-outcome-%d", id, r), Kind: string(signals.KindOutcome),
				Customer: id, Time: s.base.Add(20 * time.Hour), Source: "sim", Data: map[string]any{"type": typ, "arr": arr,
					"renewal_date": s.base.AddDate(1, 0, 0).Format(time.DateOnly)}})
		}
	}
}
