// Package alerting decides when a customer's risk score becomes an alert
// for customer-success managers, and what that alert says: raise,
// escalate, remind, resolve, with cooldown, acknowledgements and snoozes;
// the alert payload, its NATS subject, its Slack rendering and the daily
// digest per owner.
//
// The package is pure like the scorer: no I/O, no wall clock (every time
// comes from the scorer's result), so a replay after a crash takes exactly
// the same decisions and produces the same alert ids. Publishing is the
// daemon's job; webhook delivery lives in the webhook subpackage.
package alerting

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"math"
	"slices"
	"strconv"
	"time"

	"github.com/riskwatch/riskwatch/rules"
	"github.com/riskwatch/riskwatch/scorer"
	"github.com/riskwatch/riskwatch/signals"
)

// Names on the wire, shared with the daemon that creates the stream.
const (
	// Stream keeps alerts and digests.
	Stream = "RISK_ALERTS"
	// SubjectPrefix starts every alert subject:
	// risk.alerts.<severity>.<owner-token>.<customer-token>.
	SubjectPrefix = "risk.alerts."
	// DigestPrefix starts every digest subject: risk.digest.<owner-token>.
	DigestPrefix = "risk.digest."
	// Unassigned is the owner token of customers without an owner.
	Unassigned = "unassigned"
	// SeverityResolved is the severity of a resolved alert; the others are
	// tier names.
	SeverityResolved = "resolved"
)

// Type says why an alert was sent.
type Type string

const (
	// Raised: a healthy customer entered watch, at_risk or critical.
	Raised Type = "raised"
	// Escalated: a customer with an open alert moved to a higher tier.
	Escalated Type = "escalated"
	// Reminder: still in the tier, not acknowledged, and the repeat
	// interval of the tier has passed since the last alert.
	Reminder Type = "reminder"
	// Resolved: back to healthy (after hysteresis), or churned.
	Resolved Type = "resolved"
	// Unclaimed: an at_risk or critical alert nobody acknowledged or
	// snoozed within the policy's deadline of its tier; published for the
	// owner's team, on risk.alerts.unclaimed.<team-token>.<customer-token>.
	Unclaimed Type = "unclaimed"
)

// UnclaimedToken is the first token of the subject of an unclaimed alert,
// in the place of the severity.
const UnclaimedToken = "unclaimed"

// Alert is the payload published on risk.alerts.<severity>.<owner>.<customer>
// and sent to generic JSON webhooks. The field names are the wire contract
// of DESIGN.md; severity, currency and churned are extensions.
type Alert struct {
	ID       string  `json:"id"`
	Type     Type    `json:"type"`
	Severity string  `json:"severity"`
	Customer string  `json:"customer"`
	Name     string  `json:"name"`
	Owner    string  `json:"owner"`
	Segment  string  `json:"segment"`
	ARR      float64 `json:"arr"`
	Currency string  `json:"currency,omitempty"`
	// RenewalDate is the profile's date (YYYY-MM-DD); DaysToRenewal is nil
	// when the date is unknown or past.
	RenewalDate   string  `json:"renewal_date,omitempty"`
	DaysToRenewal *int64  `json:"days_to_renewal,omitempty"`
	Score         float64 `json:"score"`
	// PreviousScore and PreviousTier describe what subscribers were last
	// told: the score and tier of the previous alert of the episode, or for
	// a raised alert the previous evaluation and healthy.
	PreviousScore float64    `json:"previous_score"`
	Tier          rules.Tier `json:"tier"`
	PreviousTier  rules.Tier `json:"previous_tier"`
	RevenueAtRisk float64    `json:"revenue_at_risk"`
	// Probability is p(churn within HorizonDays days) of the evaluation
	// behind the alert: its raw score through the rule set's calibration.
	// Both are always present (0 is a value, not "unknown"); an alert
	// from a riskd before them has neither, which a reader takes as
	// unknown.
	Probability float64   `json:"probability"`
	HorizonDays float64   `json:"horizon_days"`
	Time        time.Time `json:"time"`
	Reasons     []Reason  `json:"reasons"`
	Playbook    []string  `json:"playbook,omitempty"`
	// Churned marks the final resolved alert of a customer that churned.
	Churned bool `json:"churned,omitempty"`
	// Team and Parent are the profile's (extensions).
	Team   string `json:"team,omitempty"`
	Parent string `json:"parent,omitempty"`
	// Since is, on an unclaimed alert, when the tier it is about was
	// announced: nobody has claimed it since.
	Since *time.Time `json:"since,omitempty"`
	// Budget is, on a raise under the owner's daily budget, how much of
	// it the day has used, this raise included.
	Budget *Budget `json:"budget,omitempty"`
}

// Budget is an owner's daily budget of raised customers: Limit a day,
// Used so far on Date.
type Budget struct {
	Date  string `json:"date,omitempty"`
	Limit int    `json:"limit"`
	Used  int    `json:"used"`
}

// Reason is one rule's contribution to the score, as the alert shows it.
type Reason struct {
	Rule         string   `json:"rule"`
	Category     string   `json:"category"`
	Contribution float64  `json:"contribution"`
	Detail       string   `json:"detail"`
	Signals      []string `json:"signals,omitempty"`
}

// RevenueAtRisk is ARR × score / 100, rounded to cents: the design's
// measure until calibration turns scores into probabilities.
func RevenueAtRisk(arr, score float64) float64 {
	if arr <= 0 || score <= 0 || math.IsNaN(arr) || math.IsNaN(score) {
		return 0
	}
	return math.Round(arr*min(score, 100)) / 100
}

// Chance phrases p(churn within days) for a person: "18% chance of
// churn within 90 days". A probability that rounds to 0% or 100% but is
// neither says "<1%" or ">99%"; "" when days is not positive (an alert
// or entry that carries no probability).
func Chance(p, days float64) string {
	if days <= 0 || math.IsNaN(p) {
		return ""
	}
	return Percent(p) + " chance of churn within " + strconv.FormatFloat(days, 'f', -1, 64) + " days"
}

// Percent writes a probability as a whole percentage, "<1%" and ">99%"
// for those that would round to a certainty they are not.
func Percent(p float64) string {
	switch {
	case p > 0 && p < 0.005:
		return "<1%"
	case p < 1 && p >= 0.995:
		return ">99%"
	}
	return strconv.FormatFloat(math.Round(p*100), 'f', 0, 64) + "%"
}

// Subject is where a is published:
// risk.alerts.<severity>.<owner-token>.<customer-token>. Owner and
// customer go through signals.SubjectToken, so an ID such as "a.b.>"
// stays one literal token and never becomes a wildcard.
func Subject(a *Alert) string {
	if a.Type == Unclaimed {
		return SubjectPrefix + UnclaimedToken + "." + ownerToken(a.Team) + "." + signals.SubjectToken(a.Customer)
	}
	return SubjectPrefix + severityOf(a) + "." + ownerToken(a.Owner) + "." + signals.SubjectToken(a.Customer)
}

// severityOf tolerates alerts built by hand without a severity.
func severityOf(a *Alert) string {
	switch {
	case a.Severity != "":
		return a.Severity
	case a.Type == Resolved:
		return SeverityResolved
	}
	return a.Tier.String()
}

func ownerToken(owner string) string {
	if owner == "" {
		return Unassigned
	}
	return signals.SubjectToken(owner)
}

// newAlert fills an alert of type t from the scorer's result and profile.
func (p Policy) newAlert(t Type, st *State, r scorer.Result, prof *signals.Profile, cause Cause) *Alert {
	a := &Alert{Type: t, Customer: r.Customer, Score: r.Score, Tier: r.Tier,
		PreviousTier: st.Tier, PreviousScore: st.Score, Time: r.Time.UTC(),
		Probability: r.Probability, HorizonDays: r.Horizon.Hours() / 24}
	if t == Raised {
		a.PreviousTier, a.PreviousScore = rules.Healthy, r.PreviousScore
	}
	a.Severity = a.Tier.String()
	if t == Resolved {
		a.Tier, a.Severity = rules.Healthy, SeverityResolved
	}
	p.Describe(a, r)
	if prof != nil {
		a.Name, a.Owner, a.Segment, a.ARR, a.Currency = prof.Name, prof.Owner, prof.Segment, prof.ARR, prof.Currency
		a.Team, a.Parent = prof.Team, prof.Parent
	}
	a.RenewalDate, a.DaysToRenewal = renewalOf(r, prof, a.Time)
	a.RevenueAtRisk = RevenueAtRisk(a.ARR, a.Score)
	a.ID = alertID(a.Customer, a.Type, a.Severity, cause.String(), a.Time)
	return a
}

// renewalOf is the renewal an alert at time at announces: the scorer's
// (a renewed outcome moves the profile's date), written as the profile
// writes it when it is the profile's; the days to it, nil when unknown or
// past.
func renewalOf(r scorer.Result, prof *signals.Profile, at time.Time) (string, *int64) {
	date, text := r.Renewal, ""
	if prof != nil {
		if pr := prof.Renewal(); date.IsZero() || date.Equal(pr) {
			date, text = pr, prof.RenewalDate
		}
	}
	if text == "" && !date.IsZero() {
		text = date.Format(time.DateOnly)
	}
	if d := signals.DaysUntil(date, at); d >= 0 {
		return text, &d
	}
	return text, nil
}

// Describe sets what a says about why, its reasons and, unless it is a
// resolution, its playbook, from r. Decide takes them from the result it
// is given; a caller that decides on a scorer.Model.Score result, which
// has no explanation, describes that result once an alert comes of it and
// completes the alert with Describe. Nothing else of the alert, its id
// included, depends on the explanation.
func (p Policy) Describe(a *Alert, r scorer.Result) {
	a.Reasons = reasons(r.Contributions, p.maxReasons())
	if a.Type != Resolved {
		a.Playbook = slices.Clone(r.Playbook)
	}
}

// reasons keeps the n largest contributions. The scorer sorts them
// already; sorting again keeps the payload right for hand-built results.
func reasons(cs []scorer.Contribution, n int) []Reason {
	cs = slices.Clone(cs)
	slices.SortStableFunc(cs, func(a, b scorer.Contribution) int {
		switch {
		case a.Contribution > b.Contribution:
			return -1
		case a.Contribution < b.Contribution:
			return 1
		}
		return 0
	})
	out := make([]Reason, 0, min(len(cs), n))
	for _, c := range cs[:min(len(cs), n)] {
		out = append(out, Reason{Rule: c.Rule, Category: c.Category, Contribution: c.Contribution,
			Detail: c.Detail, Signals: slices.Clone(c.Signals)})
	}
	return out
}

// Cause is what triggered an evaluation: a signal, another message of the
// input stream (a profile), or a sweep at a time. It is part of the alert
// id, so that a replay that takes the same decision for the same cause
// sends an alert JetStream drops as a duplicate. A signal is named by its
// id, not its place in the stream, so that the ids depend on the stream's
// contents alone. It is a value, not a string, because almost no
// evaluation sends an alert: the text is made only for those that do.
type Cause struct {
	kind byte // 's' a signal, 'm' a message, 'w' a sweep
	n    int64
	id   string
}

// SignalCause is the signal with that id.
func SignalCause(id string) Cause { return Cause{kind: 's', id: id} }

// MessageCause is the message at stream sequence seq.
func MessageCause(seq uint64) Cause { return Cause{kind: 'm', n: int64(seq)} }

// SweepCause is a sweep at unix time at.
func SweepCause(at int64) Cause { return Cause{kind: 'w', n: at} }

// String is "sig:<id>", "seq:<sequence>" or "sweep:<unix time>".
func (c Cause) String() string {
	switch c.kind {
	case 's':
		return "sig:" + c.id
	case 'w':
		return "sweep:" + strconv.FormatInt(c.n, 10)
	}
	return "seq:" + strconv.FormatInt(c.n, 10)
}

// alertID hashes what makes an alert unique. Each field is length-prefixed
// so that no two different inputs (a customer ID may hold any byte) can
// produce the same hashed string.
func alertID(customer string, t Type, severity, cause string, at time.Time) string {
	h := sha256.New()
	var n [binary.MaxVarintLen64]byte
	for _, f := range []string{customer, string(t), severity, cause, strconv.FormatInt(at.UnixNano(), 10)} {
		h.Write(n[:binary.PutUvarint(n[:], uint64(len(f)))])
		h.Write([]byte(f))
	}
	return hex.EncodeToString(h.Sum(nil))[:32]
}
