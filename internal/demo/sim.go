package demo

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

// NewSimulation makes n customers over days days ending at end.
func NewSimulation(n, days int, end time.Time, seed uint64) *Simulation {
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

func (c *simCustomer) day(rng *rand.Rand, d int, base time.Time) []Envelope {
	var out []Envelope
	id := c.profile.ID
	at := func(h int) time.Time {
		return base.Add(time.Duration(h)*time.Hour + time.Duration(rng.IntN(3600))*time.Second)
	}
	emit := func(kind string, t time.Time, key string, data map[string]any) {
		out = append(out, Envelope{ID: fmt.Sprintf("%s-%s-%d-%s", id, kind, d, key), Kind: kind, Customer: id,
			Time: t, Source: "demo", Data: data})
	}
	drifting := c.drift != steady && d >= c.driftDay
	is := func(k drift) bool { return drifting && (c.drift == k || c.drift == everything) }
	since := d - c.driftDay

	// Usage: a daily rollup, on the customer's own cadence.
	use := c.dailyUse * (0.8 + 0.4*rng.Float64())
	if is(usageDropOff) {
		use *= math.Max(0.05, 1-0.08*float64(since))
	}
	if is(everything) {
		use *= 0.4
	}
	if d%c.cadence == 0 && use >= 1 && !(is(usageDropOff) && since > 14) {
		users := int(math.Max(1, use/15))
		emit("usage", at(17), "u", map[string]any{"events": int(use), "active_users": users})
	}
	// Tickets: the usual trickle, or a spike.
	rate := c.tickets / 7
	if is(ticketSpike) && since < 10 {
		rate *= 8
	}
	if rng.Float64() < rate {
		c.ticketSeq++
		tid := fmt.Sprintf("T%s-%d", id[5:], c.ticketSeq)
		prio := "normal"
		if is(ticketSpike) && rng.Float64() < 0.3 {
			prio = "urgent"
		}
		emit("ticket", at(9), "t"+tid, map[string]any{"ticket_id": tid, "status": "opened", "priority": prio,
			"first_response_minutes": 20 + rng.Float64()*40})
		if !is(ticketSpike) {
			emit("ticket", at(15), "s"+tid, map[string]any{"ticket_id": tid, "status": "solved"})
		}
	}
	// NPS: a survey every ~30 days.
	if (d+len(id))%30 == 0 {
		score := 9 + rng.IntN(2)
		if !c.promoter {
			score = 7 + rng.IntN(2)
		}
		if is(passiveNPS) {
			score = 7 + rng.IntN(2)
			if c.drift == everything {
				score = 4
			}
		}
		emit("nps", at(11), "n", map[string]any{"score": score})
	}
	if drifting && since == 3 && is(passiveNPS) {
		emit("nps", at(11), "n2", map[string]any{"score": 7, "comment": "it's ok I guess"})
	}
	if since == 5 && is(discountBeforeRenewal) {
		emit("commercial", at(10), "c", map[string]any{"type": "discount_request", "amount_pct": 20})
	}
	if since == 8 && c.drift == everything {
		emit("commercial", at(10), "c2", map[string]any{"type": "contract_change", "amount_pct": -30})
	}
	if is(negativeMentions) && since < 12 && rng.Float64() < 0.35 {
		texts := []string{"support is slow and the product keeps breaking", "thinking of switching, too expensive",
			"il servizio è pessimo", "aplicația este foarte lentă", "nie polecam, ciągle awarie"}
		emit("mention", at(13), "m", map[string]any{"channel": "twitter", "text": texts[rng.IntN(len(texts))],
			"reach": 200 + rng.IntN(5000)})
	}
	if is(paymentTrouble) && (since == 2 || since == 9) {
		emit("billing", at(6), "b", map[string]any{"type": "payment_failed"})
	}
	if is(championLost) && since == 1 {
		emit("champion", at(12), "ch", map[string]any{"type": "left", "contact": "jane@" + id})
	}
	// The CSM touches base now and then.
	if (d+3*len(id)+int(c.dailyUse))%21 == 0 && !is(everything) {
		emit("contact", at(14), "k", map[string]any{"type": "csm_touch", "by": c.profile.Owner})
	}
	return out
}
