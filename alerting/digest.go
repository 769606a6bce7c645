package alerting

import (
	"cmp"
	"crypto/sha256"
	"encoding/hex"
	"iter"
	"maps"
	"math"
	"slices"
	"time"

	"github.com/riskwatch/riskwatch/rules"
	"github.com/riskwatch/riskwatch/scorer"
)

// DigestEntry is one customer of an owner, today and yesterday.
type DigestEntry struct {
	Customer       string     `json:"customer"`
	Name           string     `json:"name,omitempty"`
	Score          float64    `json:"score"`
	ScoreYesterday float64    `json:"score_yesterday"`
	Tier           rules.Tier `json:"tier"`
	TierYesterday  rules.Tier `json:"tier_yesterday"`
	ARR            float64    `json:"arr"`
	RevenueAtRisk  float64    `json:"revenue_at_risk"`
	// Probability is p(churn within the digest's HorizonDays) as of the
	// customer's last evaluation; HorizonDays is the calibration's, which
	// the digest shows once.
	Probability float64 `json:"probability"`
	HorizonDays float64 `json:"-"`
	// DaysToRenewal is -1 when the renewal date is unknown or past.
	DaysToRenewal int64 `json:"days_to_renewal"`
	// Outcomes are the customer's outcomes of the period the digest
	// covers; the digest lists them apart, not in the entry.
	Outcomes []DigestOutcome `json:"-"`
	// Deferred: its raise waits for room in the owner's daily budget.
	// Inhibited: its alert is muted by a parent account's bigger one.
	// The digest lists them apart.
	Deferred  bool `json:"-"`
	Inhibited bool `json:"-"`
}

// DigestOutcome is one outcome of the period in an owner's digest, with
// what it made of the customer's warnings.
type DigestOutcome struct {
	Customer string      `json:"customer"`
	Name     string      `json:"name,omitempty"`
	Type     string      `json:"type"`
	Time     time.Time   `json:"time"`
	Fate     scorer.Fate `json:"fate"`
	// ARRChange is the change of ARR, when known (all of it for a churn).
	ARRChange *float64 `json:"arr_change,omitempty"`
	// LeadTimeDays runs from the first at_risk-or-worse day of the
	// episode to the outcome, when there was one.
	LeadTimeDays *float64 `json:"lead_time_days,omitempty"`
}

// NewDigestOutcome is o of customer (named name) in a digest.
func NewDigestOutcome(customer, name string, o *scorer.Outcome) DigestOutcome {
	d := DigestOutcome{Customer: customer, Name: name, Type: o.Type.String(), Time: time.Unix(o.T, 0).UTC(), Fate: o.Fate()}
	if c, ok := o.Change(); ok {
		d.ARRChange = &c
	}
	if o.Alert != 0 {
		lead := math.Round(o.LeadTime().Hours()/24*10) / 10
		d.LeadTimeDays = &lead
	}
	return d
}

// Digest is an owner's daily summary, published on risk.digest.<owner-token>.
type Digest struct {
	Owner string `json:"owner"`
	Date  string `json:"date"`
	// Entries are the customers above healthy today, by probability of
	// churn, largest first, then by id.
	Entries []DigestEntry `json:"entries"`
	// HorizonDays is the horizon of the entries' probabilities: each is
	// p(churn within HorizonDays days). Absent in a digest with no entry.
	HorizonDays float64 `json:"horizon_days,omitempty"`
	// RevenueAtRisk is the sum over Entries.
	RevenueAtRisk float64 `json:"revenue_at_risk"`
	// New entered a tier above healthy since yesterday; Worse moved to a
	// higher tier; Better moved to a lower one, healthy included.
	New    []string `json:"new"`
	Worse  []string `json:"worse"`
	Better []string `json:"better"`
	// Total is how many customers are above healthy; Entries and the lists
	// hold at most MaxDigestEntries of them, so a digest stays far below
	// NATS's payload limit however large the book.
	Total int `json:"total"`
	// Outcomes are the outcome signals of the period since the last
	// digest, oldest first, at most MaxDigestEntries; Fates counts all of
	// them by fate (saved, churned after or without an alert, ...).
	Outcomes []DigestOutcome     `json:"outcomes"`
	Fates    map[scorer.Fate]int `json:"fates,omitempty"`
	// Deferred are the customers above healthy whose raise the owner's
	// daily budget holds back (the digest is where they are told);
	// Inhibited those whose alert a parent account's bigger open alert
	// mutes. Both by id, at most MaxDigestEntries.
	Deferred  []string `json:"deferred,omitempty"`
	Inhibited []string `json:"inhibited,omitempty"`
	// Budget is the owner's daily budget of raised customers and how much
	// of it the digest's day has used so far; absent without a budget.
	Budget *Budget `json:"budget,omitempty"`
}

// MaxDigestEntries bounds each list of a digest: a person reads the top of
// it, and RevenueAtRisk and Total still cover everyone.
const MaxDigestEntries = 200

// Digests are the day's digests, one per owner ("" for customers without
// one), in owner order, of the customers worth a look: above healthy
// today or yesterday, or with an outcome in the period. owners yields
// every customer's owner and entry.
func Digests(date time.Time, owners iter.Seq2[string, DigestEntry]) []Digest {
	byOwner := map[string][]DigestEntry{}
	for owner, e := range owners {
		if e.Tier == rules.Healthy && e.TierYesterday == rules.Healthy && len(e.Outcomes) == 0 {
			continue
		}
		byOwner[owner] = append(byOwner[owner], e)
	}
	out := make([]Digest, 0, len(byOwner))
	for _, owner := range slices.Sorted(maps.Keys(byOwner)) {
		out = append(out, BuildDigest(owner, date, byOwner[owner]))
	}
	return out
}

// BuildDigest summarises entries (every customer of owner worth a look:
// above healthy today or yesterday) for the day of date. Entries are
// ordered by their probability of churn, then by id, so the order is
// stable from one day to the next and customers the score ties at 100
// keep the order of their raw scores.
func BuildDigest(owner string, date time.Time, entries []DigestEntry) Digest {
	d := Digest{Owner: owner, Date: date.UTC().Format(time.DateOnly),
		Entries: []DigestEntry{}, New: []string{}, Worse: []string{}, Better: []string{}, Outcomes: []DigestOutcome{}}
	for _, e := range entries {
		for _, o := range e.Outcomes {
			d.Outcomes = append(d.Outcomes, o)
			if d.Fates == nil {
				d.Fates = map[scorer.Fate]int{}
			}
			d.Fates[o.Fate]++
		}
		switch {
		case e.Tier > rules.Healthy && e.TierYesterday == rules.Healthy:
			d.New = append(d.New, e.Customer)
		case e.Tier > e.TierYesterday:
			d.Worse = append(d.Worse, e.Customer)
		case e.Tier < e.TierYesterday:
			d.Better = append(d.Better, e.Customer)
		}
		if e.Tier > rules.Healthy {
			if e.Deferred {
				d.Deferred = append(d.Deferred, e.Customer)
			}
			if e.Inhibited {
				d.Inhibited = append(d.Inhibited, e.Customer)
			}
			d.Entries = append(d.Entries, e)
			d.RevenueAtRisk += e.RevenueAtRisk
			d.HorizonDays = max(d.HorizonDays, e.HorizonDays)
		}
	}
	d.RevenueAtRisk = math.Round(d.RevenueAtRisk*100) / 100
	slices.SortFunc(d.Entries, func(a, b DigestEntry) int {
		if c := cmp.Compare(b.Probability, a.Probability); c != 0 {
			return c
		}
		return cmp.Compare(a.Customer, b.Customer)
	})
	d.Total = len(d.Entries)
	d.Entries = d.Entries[:min(len(d.Entries), MaxDigestEntries)]
	slices.SortFunc(d.Outcomes, func(a, b DigestOutcome) int {
		if c := a.Time.Compare(b.Time); c != 0 {
			return c
		}
		return cmp.Compare(a.Customer, b.Customer)
	})
	d.Outcomes = d.Outcomes[:min(len(d.Outcomes), MaxDigestEntries)]
	for _, l := range []*[]string{&d.New, &d.Worse, &d.Better, &d.Deferred, &d.Inhibited} {
		slices.Sort(*l)
		*l = (*l)[:min(len(*l), MaxDigestEntries)]
	}
	return d
}

// DigestSubject is where an owner's digest is published:
// risk.digest.<owner-token>, "unassigned" for customers without owner.
func DigestSubject(owner string) string { return DigestPrefix + ownerToken(owner) }

// DigestID is the digest's Nats-Msg-Id: one digest per owner and day, so
// a replay of the day's sweep does not send it twice.
func DigestID(d Digest) string {
	h := sha256.Sum256([]byte("digest\x00" + d.Date + "\x00" + d.Owner))
	return hex.EncodeToString(h[:])[:32]
}
