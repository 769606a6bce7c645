// Package sim is a simulated customer base: deterministic for a seed, its
// profiles and its daily signals drifting toward churn, for the demo, the
// benchmarks and the tests; and, as a history with outcomes, for
// backtests. Pure: no I/O but the writer a history is written to.
package sim

import (
	"fmt"
	"math"
	"math/rand/v2"
	"time"

	"github.com/riskwatch/riskwatch/signals"
)

// Envelope is a signal as a producer sends it.
type Envelope struct {
	ID       string         `json:"id"`
	Kind     string         `json:"kind"`
	Customer string         `json:"customer"`
	Time     time.Time      `json:"time"`
	Source   string         `json:"source"`
	Data     map[string]any `json:"data"`
}

// Simulation is a deterministic customer base: the same seed gives the same
// signals, so the demo doubles as a fixture for tests and benchmarks.
type Simulation struct {
	start, end time.Time
	days       int
	customers  []*simCustomer
	rng        *rand.Rand
}

// drift is a way of sliding toward churn, as the seeds describe.
type drift int

const (
	steady drift = iota
	ticketSpike
	passiveNPS
	discountBeforeRenewal
	usageDropOff
	negativeMentions
	paymentTrouble
	championLost
	everything // several at once: the customer the CSM must call today
)

type simCustomer struct {
	profile   signals.Profile
	dailyUse  float64 // usual events per day
	cadence   int     // uses the product every n days
	tickets   float64 // usual tickets per week
	drift     drift
	driftDay  int
	promoter  bool
	ticketSeq int
}

var (
	owners   = []string{"alice", "bob", "carol", "dan", "erin"}
	prefixes = []string{"Acme", "Globex", "Initech", "Umbrella", "Stark", "Wayne", "Hooli", "Vandelay", "Soylent",
		"Tyrell", "Cyberdyne", "Wonka", "Gringotts", "Oscorp", "Pied Piper", "Massive Dynamic", "Aperture", "Monarch"}
	suffixes = []string{"Corp", "Labs", "GmbH", "S.p.A.", "Sp. z o.o.", "SRL", "Inc", "Group", "Systems", "Foods"}
)

// New makes n customers over days days ending at end.
func New(n, days int, end time.Time, seed uint64) *Simulation {
	rng := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	sim := &Simulation{end: end, days: days, start: end.AddDate(0, 0, -days), rng: rng}
	for i := range n {
		c := &simCustomer{}
		id := fmt.Sprintf("cust-%04d", i+1)
		segment, arr := "smb", 5_000+rng.Float64()*25_000
		switch r := rng.Float64(); {
		case r < 0.12:
			segment, arr = "enterprise", 120_000+rng.Float64()*480_000
		case r < 0.42:
			segment, arr = "mid_market", 30_000+rng.Float64()*90_000
		}
		stage := ""
		switch r := rng.Float64(); {
		case r < 0.1:
			stage = "onboarding"
		case r < 0.7:
			stage = "adoption"
		case r < 0.8:
			stage = "renewal"
		}
		renewal := end.AddDate(0, 0, 7+rng.IntN(330))
		c.profile = signals.Profile{ID: id,
			Name: prefixes[rng.IntN(len(prefixes))] + " " + suffixes[rng.IntN(len(suffixes))],
			ARR:  math.Round(arr), Currency: "USD", RenewalDate: renewal.Format(time.DateOnly),
			Segment: segment, Owner: owners[rng.IntN(len(owners))], Plan: map[string]string{"smb": "team",
				"mid_market": "business", "enterprise": "enterprise"}[segment], Stage: stage}
		if i%37 == 5 {
			c.profile.Owner = "" // some accounts have no CSM yet
		}
		c.dailyUse = 20 + rng.ExpFloat64()*200
		if segment == "enterprise" {
			c.dailyUse *= 5
		}
		c.cadence = 1
		if rng.Float64() < 0.15 {
			c.cadence = 3 + rng.IntN(5) // uses it every few days: silence is normal for them
		}
		c.tickets = 0.2 + rng.Float64()*1.5
		c.promoter = rng.Float64() < 0.7
		if rng.Float64() < 0.28 {
			c.drift = drift(1 + rng.IntN(int(everything)))
			c.driftDay = days - 50 + rng.IntN(40)
			if c.drift == discountBeforeRenewal {
				// The request comes about a month before renewal.
				c.profile.RenewalDate = end.AddDate(0, 0, 20+rng.IntN(25)).Format(time.DateOnly)
			}
		}
		sim.customers = append(sim.customers, c)
	}
	return sim
}

// Profiles are the customers' CRM records.
func (s *Simulation) Profiles() []signals.Profile {
	out := make([]signals.Profile, len(s.customers))
	for i, c := range s.customers {
		out[i] = c.profile
	}
	return out
}

// Day returns the signals of simulated day d (0-based), in time order per
// customer.
func (s *Simulation) Day(d int) []Envelope {
	var out []Envelope
	base := s.start.AddDate(0, 0, d)
	for _, c := range s.customers {
		out = append(out, c.day(s.rng, d, base)...)
	}
	return out
}

// day simulates one day of the customer: d is its number, base its
// midnight.
func (c *simCustomer) day(rng *rand.Rand, d int, base time.Time) []Envelope {
	s := &simDay{c: c, rng: rng, d: d, base: base, id: c.profile.ID,
		drifting: c.drift != steady && d >= c.driftDay, since: d - c.driftDay}
	s.emitUsage()
	s.emitTickets()
	s.emitNPS()
	s.emitDrift()
	// The CSM touches base now and then.
	if (d+3*len(s.id)+int(c.dailyUse))%21 == 0 && !s.is(everything) {
		s.emit("contact", s.at(14), "k", map[string]any{"type": "csm_touch", "by": c.profile.Owner})
	}
	return s.out
}

// simDay is one customer's day while it is simulated: the signals so far
// and where the customer is in its drift.
type simDay struct {
	c        *simCustomer
	rng      *rand.Rand
	d        int
	base     time.Time
	id       string
	drifting bool
	since    int // days since the drift began
	out      []Envelope
}

// at is a random time within hour h of the day.
func (s *simDay) at(h int) time.Time {
	return s.base.Add(time.Duration(h)*time.Hour + time.Duration(s.rng.IntN(3600))*time.Second)
}

// emit adds a signal of the day; key tells it from the others of its kind.
func (s *simDay) emit(kind string, t time.Time, key string, data map[string]any) {
	s.out = append(s.out, Envelope{ID: fmt.Sprintf("%s-%s-%d-%s", s.id, kind, s.d, key), Kind: kind, Customer: s.id,
		Time: t, Source: "demo", Data: data})
}

// is reports whether the customer is drifting by way of k today.
func (s *simDay) is(k drift) bool { return s.drifting && (s.c.drift == k || s.c.drift == everything) }

// emitUsage sends the day's usage rollup, if the customer used the product.
func (s *simDay) emitUsage() {
	c := s.c
	// Usage: a daily rollup, on the customer's own cadence.
	use := c.dailyUse * (0.8 + 0.4*s.rng.Float64())
	if s.is(usageDropOff) {
		use *= math.Max(0.05, 1-0.08*float64(s.since))
	}
	if s.is(everything) {
		use *= 0.4
	}
	if s.d%c.cadence == 0 && use >= 1 && !(s.is(usageDropOff) && s.since > 14) {
		users := int(math.Max(1, use/15))
		s.emit("usage", s.at(17), "u", map[string]any{"events": int(use), "active_users": users})
	}
}

// emitTickets opens a ticket now and then, and solves it unless the
// customer's tickets are spiking.
func (s *simDay) emitTickets() {
	c, rng := s.c, s.rng
	// Tickets: the usual trickle, or a spike.
	rate := c.tickets / 7
	if s.is(ticketSpike) && s.since < 10 {
		rate *= 8
	}
	if rng.Float64() < rate {
		c.ticketSeq++
		tid := fmt.Sprintf("T%s-%d", s.id[5:], c.ticketSeq)
		prio := "normal"
		if s.is(ticketSpike) && rng.Float64() < 0.3 {
			prio = "urgent"
		}
		s.emit("ticket", s.at(9), "t"+tid, map[string]any{"ticket_id": tid, "status": "opened", "priority": prio,
			"first_response_minutes": 20 + rng.Float64()*40})
		if !s.is(ticketSpike) {
			s.emit("ticket", s.at(15), "s"+tid, map[string]any{"ticket_id": tid, "status": "solved"})
		}
	}
}

// emitNPS sends the customer's survey answers: the periodic one, and a
// lukewarm extra one from a customer drifting to passive.
func (s *simDay) emitNPS() {
	c, rng := s.c, s.rng
	// NPS: a survey every ~30 days.
	if (s.d+len(s.id))%30 == 0 {
		score := 9 + rng.IntN(2)
		if !c.promoter {
			score = 7 + rng.IntN(2)
		}
		if s.is(passiveNPS) {
			score = 7 + rng.IntN(2)
			if c.drift == everything {
				score = 4
			}
		}
		s.emit("nps", s.at(11), "n", map[string]any{"score": score})
	}
	if s.drifting && s.since == 3 && s.is(passiveNPS) {
		s.emit("nps", s.at(11), "n2", map[string]any{"score": 7, "comment": "it's ok I guess"})
	}
}

// emitDrift sends the commercial, social, billing and champion signals of
// the customer's drift, on the days they come.
func (s *simDay) emitDrift() {
	since := s.since
	if since == 5 && s.is(discountBeforeRenewal) {
		s.emit("commercial", s.at(10), "c", map[string]any{"type": "discount_request", "amount_pct": 20})
	}
	if since == 8 && s.c.drift == everything {
		s.emit("commercial", s.at(10), "c2", map[string]any{"type": "contract_change", "amount_pct": -30})
	}
	if s.is(negativeMentions) && since < 12 && s.rng.Float64() < 0.35 {
		texts := []string{"support is slow and the product keeps breaking", "thinking of switching, too expensive",
			"il servizio è pessimo", "aplicația este foarte lentă", "nie polecam, ciągle awarie"}
		s.emit("mention", s.at(13), "m", map[string]any{"channel": "twitter", "text": texts[s.rng.IntN(len(texts))],
			"reach": 200 + s.rng.IntN(5000)})
	}
	if s.is(paymentTrouble) && (since == 2 || since == 9) {
		s.emit("billing", s.at(6), "b", map[string]any{"type": "payment_failed"})
	}
	if s.is(championLost) && since == 1 {
		s.emit("champion", s.at(12), "ch", map[string]any{"type": "left", "contact": "jane@" + s.id})
	}
}
