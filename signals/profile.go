package signals

import (
	"math"
	"strings"
	"time"
	"unicode/utf8"
	"unique"
)

// Profile is what CRM knows about a customer: value, renewal, ownership and
// lifecycle. Signals for a customer without a profile are scored all the
// same; the profile adds segment weights, days to renewal and routing.
type Profile struct {
	ID          string  `json:"id"`
	Name        string  `json:"name,omitempty"`
	ARR         float64 `json:"arr,omitempty"`
	Currency    string  `json:"currency,omitempty"`
	RenewalDate string  `json:"renewal_date,omitempty"`
	Segment     string  `json:"segment,omitempty"`
	Owner       string  `json:"owner,omitempty"`
	Plan        string  `json:"plan,omitempty"`
	Stage       string  `json:"stage,omitempty"`
	// Parent is the id of the parent account (a group, a holding): its
	// open alert mutes the lesser alerts of its children (alerting.md,
	// inhibition). Team is the owner's team, whose subject hears of an
	// at_risk or critical alert nobody claimed in time.
	Parent string `json:"parent,omitempty"`
	Team   string `json:"team,omitempty"`

	// renewal is RenewalDate parsed (Unix seconds, 0 when unknown) once
	// parsed is set: Intern parses it, since scoring asks for it on every
	// signal of the customer.
	renewal int64
	parsed  bool
}

// Stages a profile may carry; empty means unknown.
var Stages = []string{"onboarding", "adoption", "escalation", "renewal"}

// Renewal is the parsed renewal date, zero when unknown.
func (p Profile) Renewal() time.Time {
	if p.parsed {
		if p.renewal == 0 {
			return time.Time{}
		}
		return time.Unix(p.renewal, 0).UTC()
	}
	t, err := ParseDate(p.RenewalDate)
	if err != nil {
		return time.Time{}
	}
	return t
}

// DaysToRenewal counts whole days from now to the renewal date, -1 when the
// date is unknown or past.
func (p Profile) DaysToRenewal(now time.Time) int64 { return DaysUntil(p.Renewal(), now) }

// DaysUntil counts whole days from now to date, rounded up; -1 when date
// is zero (unknown) or past.
func DaysUntil(date, now time.Time) int64 {
	if date.IsZero() {
		return -1
	}
	d := int64(math.Ceil(date.Sub(now).Hours() / 24))
	if d < 0 {
		return -1
	}
	return d
}

// DecodeProfile parses and validates a profile received on subject
// (risk.customers.<token>, or "" when it came another way, e.g. HTTP with
// the id from the path already checked by the caller).
func DecodeProfile(subject string, data []byte) (Profile, error) {
	var p Profile
	if len(data) > MaxEnvelope {
		return p, reject(ReasonOversize, "", "%d bytes, the limit is %d", len(data), MaxEnvelope)
	}
	if !utf8.Valid(data) {
		return p, reject(ReasonInvalidUTF8, "", "the payload is not valid UTF-8")
	}
	if err := strictUnmarshal(data, &p); err != nil {
		return Profile{}, err
	}
	if subject != "" {
		tok, ok := strings.CutPrefix(subject, CustomerPrefix)
		if !ok || tok == "" || strings.Contains(tok, ".") {
			return Profile{}, reject(ReasonBadSubject, "", "subject %q: want %s<customer-token>", truncate(subject, 80), CustomerPrefix)
		}
		if p.ID == "" {
			id, err := ParseSubjectToken(tok)
			if err != nil {
				return Profile{}, reject(ReasonBadSubject, "", "%v", err)
			}
			p.ID = id
		}
		if SubjectToken(p.ID) != tok {
			return Profile{}, reject(ReasonBadSubject, "id", "subject token %q is not the token of id %q", truncate(tok, 80), truncate(p.ID, 80))
		}
	}
	if err := p.Validate(); err != nil {
		return Profile{}, err
	}
	p.Intern()
	return p, nil
}

// Intern makes the fields that take few distinct values across a customer
// base share one copy each: a million profiles hold a handful of
// currencies, segments, plans, stages and owners, and a few hundred
// renewal dates. DecodeProfile does it; so should any other decoder of
// profiles kept in memory.
func (p *Profile) Intern() {
	for _, f := range []*string{&p.Currency, &p.RenewalDate, &p.Segment, &p.Owner, &p.Plan, &p.Stage, &p.Team} {
		if *f != "" {
			*f = unique.Make(*f).Value()
		}
	}
	p.parsed = false
	if r := p.Renewal(); !r.IsZero() {
		p.renewal = r.Unix()
	} else {
		p.renewal = 0
	}
	p.parsed = true
}

// Validate applies the contract's bounds to a profile.
func (p Profile) Validate() error {
	switch {
	case p.ID == "":
		return reject(ReasonMissingField, "id", "required")
	case len(p.ID) > MaxCustomer:
		return reject(ReasonTooLong, "id", "%d bytes, the limit is %d", len(p.ID), MaxCustomer)
	case math.IsNaN(p.ARR) || p.ARR < 0 || p.ARR > 1e12:
		return reject(ReasonOutOfRange, "arr", "%v is outside [0, 1e12]", p.ARR)
	case p.Currency != "" && !isCurrencyCode(p.Currency):
		return reject(ReasonOutOfRange, "currency", "%q is not an ISO 4217 code such as EUR", truncate(p.Currency, 16))
	case len(p.Parent) > MaxCustomer:
		return reject(ReasonTooLong, "parent", "%d bytes, the limit is %d", len(p.Parent), MaxCustomer)
	case p.Parent != "" && p.Parent == p.ID:
		return reject(ReasonOutOfRange, "parent", "a customer cannot be its own parent")
	}
	// DecodeProfile has checked the payload already; this catches profiles
	// built in code, e.g. from an HTTP path, before they reach KV or alerts.
	for _, f := range []struct{ name, v string }{{"id", p.ID}, {"name", p.Name},
		{"renewal_date", p.RenewalDate}, {"segment", p.Segment}, {"owner", p.Owner}, {"plan", p.Plan}, {"stage", p.Stage},
		{"parent", p.Parent}, {"team", p.Team}} {
		if !utf8.ValidString(f.v) {
			return reject(ReasonInvalidUTF8, f.name, "not valid UTF-8")
		}
	}
	for _, f := range []struct{ name, v string }{{"name", p.Name}, {"segment", p.Segment}, {"owner", p.Owner}, {"plan", p.Plan}, {"team", p.Team}} {
		if err := maxLen(f.name, f.v, MaxField); err != nil {
			return err
		}
	}
	if p.Stage != "" {
		if err := oneOf("stage", p.Stage, Stages); err != nil {
			return err
		}
	}
	return checkDate("renewal_date", p.RenewalDate)
}

// isCurrencyCode reports whether c has the shape of an ISO 4217 code: three
// ASCII capital letters. Upper-casing alone would let "12$" through.
func isCurrencyCode(c string) bool {
	if len(c) != 3 {
		return false
	}
	for i := 0; i < len(c); i++ {
		if c[i] < 'A' || c[i] > 'Z' {
			return false
		}
	}
	return true
}
