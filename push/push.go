// Package push decides which customers' scores to write into a
// customer-success platform and builds the vendor's requests: Gainsight
// (Company object update), Vitally (account traits), ChurnZero (account
// attributes) and HubSpot (company properties).
//
// It does no I/O: riskd's pusher (internal/pusher) polls the scores,
// keeps what it last pushed in a KV bucket, and sends the requests built
// here within each vendor's rate limit.
package push

import (
	"cmp"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/riskwatch/riskwatch/api"
	"github.com/riskwatch/riskwatch/scorer"
)

// Record is what is pushed about one customer.
type Record struct {
	Customer string  `json:"customer"`
	Score    float64 `json:"score"`
	Tier     string  `json:"tier"`
	// Probability is p(churn within the horizon), nil when the engine has
	// none for the customer.
	Probability *float64 `json:"probability,omitempty"`
	// Reasons are the top rules behind the score, largest first.
	Reasons string `json:"reasons,omitempty"`
}

// Thresholds say what change is worth a push.
type Thresholds struct {
	// Score is the least move of the 0-100 score that is pushed.
	Score float64
	// Probability is the least move of the churn probability.
	Probability float64
}

// DefaultThresholds: 5 points of score, 5 points of probability.
var DefaultThresholds = Thresholds{Score: 5, Probability: 0.05}

// Changed reports whether cur is a meaningful change from last, the
// record last pushed (nil when none was): a new tier, a score moved by
// at least th.Score, or a probability moved by at least th.Probability
// (or appearing). The reasons alone do not make a change: they follow
// the score.
func Changed(last *Record, cur Record, th Thresholds) bool {
	switch {
	case last == nil, last.Tier != cur.Tier, math.Abs(last.Score-cur.Score) >= th.Score:
		return true
	case (last.Probability == nil) != (cur.Probability == nil):
		return true
	case cur.Probability != nil && math.Abs(*last.Probability-*cur.Probability) >= th.Probability:
		return true
	}
	return false
}

// Bounds of a record's reasons.
const (
	TopReasons = 3
	// MaxReasons bytes fit a 255-character text field in every vendor.
	MaxReasons = 255
)

// FromView is the record of a customer view; its reasons are those of an
// explained view (api's Customer), empty for a list entry.
func FromView(v api.CustomerView) Record {
	r := Record{Customer: v.Customer, Score: round1(v.Score), Tier: v.Tier.String()}
	if v.HorizonDays > 0 {
		p := math.Round(v.Probability*1e4) / 1e4
		r.Probability = &p
	}
	cs := slices.Clone(v.Reasons)
	slices.SortStableFunc(cs, func(a, b scorer.Contribution) int { return cmp.Compare(b.Contribution, a.Contribution) })
	var parts []string
	for _, c := range cs {
		if len(parts) == TopReasons || c.Contribution <= 0 {
			break
		}
		parts = append(parts, fmt.Sprintf("%s +%s", c.Rule, strconv.FormatFloat(round1(c.Contribution), 'f', -1, 64)))
	}
	r.Reasons = truncate(strings.Join(parts, "; "), MaxReasons)
	return r
}

func round1(f float64) float64 { return math.Round(f*10) / 10 }

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && s[n]&0xC0 == 0x80 {
		n--
	}
	return s[:n]
}

// Vendor types.
const (
	TypeGainsight = "gainsight"
	TypeVitally   = "vitally"
	TypeChurnZero = "churnzero"
	TypeHubSpot   = "hubspot"
)

// Types lists the vendors in a stable order.
var Types = []string{TypeGainsight, TypeVitally, TypeChurnZero, TypeHubSpot}

// Fields name the vendor's fields for each value.
type Fields struct {
	Score       string `yaml:"score"`
	Tier        string `yaml:"tier"`
	Probability string `yaml:"probability"`
	Reasons     string `yaml:"reasons"`
}

// Vendor is what is known of a vendor's API: its documented defaults.
type Vendor struct {
	// BaseURL is the API's root, "" when it is per tenant.
	BaseURL string
	Fields  Fields
	// Batch is how many customers one request carries at most.
	Batch int
	// Rate is the documented (or a prudent) request rate per second, and
	// Burst its bucket.
	Rate  float64
	Burst int
}

// Vendors are the defaults of each type.
var Vendors = map[string]Vendor{
	// Company updates: 50 records a call, 100 calls a minute.
	TypeGainsight: {Fields: Fields{"Riskwatch_Score__gc", "Riskwatch_Tier__gc", "Riskwatch_Churn_Probability__gc", "Riskwatch_Top_Reasons__gc"},
		Batch: 50, Rate: 100.0 / 60, Burst: 5},
	// 1,000 requests a minute, no batch endpoint.
	TypeVitally: {BaseURL: "https://rest.vitally.io", Fields: Fields{"riskwatchScore", "riskwatchTier", "riskwatchChurnProbability", "riskwatchTopReasons"},
		Batch: 1, Rate: 1000.0 / 60 * 0.9, Burst: 10},
	// One attribute a call; limits not published: a prudent 10 a second.
	TypeChurnZero: {Fields: Fields{"Riskwatch Score", "Riskwatch Tier", "Riskwatch Churn Probability", "Riskwatch Top Reasons"},
		Batch: 1, Rate: 10, Burst: 10},
	// Batch update of 100; private apps get 100 requests per 10 s on most
	// plans.
	TypeHubSpot: {BaseURL: "https://api.hubapi.com", Fields: Fields{"riskwatch_score", "riskwatch_tier", "riskwatch_churn_probability", "riskwatch_top_reasons"},
		Batch: 100, Rate: 9, Burst: 10},
}

// Destination is one configured vendor account.
type Destination struct {
	Type    string
	BaseURL string
	// Token is the credential: Gainsight's access key, Vitally's API key,
	// ChurnZero's app key, HubSpot's private app token.
	Token string
	// KeyField: Gainsight's key field of Company (required there), or
	// HubSpot's unique property holding the customer id (empty: the
	// customer id is HubSpot's company id).
	KeyField string
	Fields   Fields
}

// WithDefaults fills what d leaves empty from its vendor.
func (d Destination) WithDefaults() Destination {
	v := Vendors[d.Type]
	d.BaseURL = strings.TrimRight(cmp.Or(d.BaseURL, v.BaseURL), "/")
	d.Fields.Score = cmp.Or(d.Fields.Score, v.Fields.Score)
	d.Fields.Tier = cmp.Or(d.Fields.Tier, v.Fields.Tier)
	d.Fields.Probability = cmp.Or(d.Fields.Probability, v.Fields.Probability)
	d.Fields.Reasons = cmp.Or(d.Fields.Reasons, v.Fields.Reasons)
	return d
}

// Check reports what makes d unusable.
func (d Destination) Check() error {
	v, ok := Vendors[d.Type]
	if !ok {
		return fmt.Errorf("type %q: want one of %s", d.Type, strings.Join(Types, ", "))
	}
	var errs []error
	base := cmp.Or(d.BaseURL, v.BaseURL)
	if u, err := url.Parse(base); base == "" || err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		errs = append(errs, fmt.Errorf("url: want the absolute http(s) URL of the %s API", d.Type))
	}
	if d.Token == "" {
		errs = append(errs, errors.New("token: required"))
	}
	if d.Type == TypeGainsight && d.KeyField == "" {
		errs = append(errs, errors.New("key_field: required for gainsight (the Company field holding the customer id)"))
	}
	if d.Type != TypeGainsight && d.Type != TypeHubSpot && d.KeyField != "" {
		errs = append(errs, fmt.Errorf("key_field: not used by %s", d.Type))
	}
	return errors.Join(errs...)
}

// Request is one HTTP call to a vendor. Customers are the ones it
// carries, recorded as pushed once it succeeds.
type Request struct {
	Method    string
	URL       string
	Header    http.Header
	Body      []byte
	Customers []string
}

// Build turns records into the vendor's requests, batched as the vendor
// allows. Every request is idempotent: it sets values, it adds nothing.
func (d Destination) Build(recs []Record) ([]Request, error) {
	d = d.WithDefaults()
	batch := max(Vendors[d.Type].Batch, 1)
	var out []Request
	for chunk := range slices.Chunk(recs, batch) {
		var reqs []Request
		var err error
		switch d.Type {
		case TypeGainsight:
			reqs, err = d.gainsight(chunk)
		case TypeVitally:
			reqs, err = d.vitally(chunk[0])
		case TypeChurnZero:
			reqs = d.churnzero(chunk[0])
		case TypeHubSpot:
			reqs, err = d.hubspot(chunk)
		default:
			return nil, fmt.Errorf("push: unknown destination type %q", d.Type)
		}
		if err != nil {
			return nil, err
		}
		out = append(out, reqs...)
	}
	return out, nil
}

// values are the record's fields under the vendor's names, numbers as
// numbers.
func (d Destination) values(r Record) map[string]any {
	m := map[string]any{d.Fields.Score: r.Score, d.Fields.Tier: r.Tier, d.Fields.Reasons: r.Reasons}
	if r.Probability != nil {
		m[d.Fields.Probability] = *r.Probability
	}
	return m
}

func jsonRequest(method, u string, body any, customers []string) (Request, error) {
	b, err := json.Marshal(body)
	if err != nil {
		return Request{}, fmt.Errorf("push: encode %s body: %w", u, err)
	}
	h := http.Header{}
	h.Set("Content-Type", "application/json")
	h.Set("Accept", "application/json")
	return Request{Method: method, URL: u, Header: h, Body: b, Customers: customers}, nil
}

func customers(recs []Record) []string {
	out := make([]string, len(recs))
	for i, r := range recs {
		out[i] = r.Customer
	}
	return out
}

// gainsight: PUT /v1/data/objects/Company?keys=<key field> with
// {"records":[...]}; the access key in the accesskey header.
func (d Destination) gainsight(recs []Record) ([]Request, error) {
	records := make([]map[string]any, len(recs))
	for i, r := range recs {
		m := d.values(r)
		m[d.KeyField] = r.Customer
		records[i] = m
	}
	u := d.BaseURL + "/v1/data/objects/Company?keys=" + url.QueryEscape(d.KeyField)
	req, err := jsonRequest(http.MethodPut, u, map[string]any{"records": records}, customers(recs))
	req.Header.Set("accesskey", d.Token)
	return []Request{req}, err
}

// vitally: PUT /resources/accounts/{externalId} with {"traits":{...}};
// Basic auth with the API key as the user.
func (d Destination) vitally(r Record) ([]Request, error) {
	u := d.BaseURL + "/resources/accounts/" + url.PathEscape(r.Customer)
	req, err := jsonRequest(http.MethodPut, u, map[string]any{"traits": d.values(r)}, []string{r.Customer})
	req.Header.Set("Authorization", "Basic "+base64.StdEncoding.EncodeToString([]byte(d.Token+":")))
	return []Request{req}, err
}

// churnzero: one form POST to /i per attribute (setAttribute, entity
// account). ChurnZero answers 200 to everything, so only transport
// errors and non-2xx statuses are seen as failures.
func (d Destination) churnzero(r Record) []Request {
	type kv struct{ name, value string }
	attrs := []kv{{d.Fields.Score, strconv.FormatFloat(r.Score, 'f', -1, 64)}, {d.Fields.Tier, r.Tier}, {d.Fields.Reasons, r.Reasons}}
	if r.Probability != nil {
		attrs = append(attrs, kv{d.Fields.Probability, strconv.FormatFloat(*r.Probability, 'f', -1, 64)})
	}
	out := make([]Request, 0, len(attrs))
	for _, a := range attrs {
		form := url.Values{"appKey": {d.Token}, "accountExternalId": {r.Customer}, "action": {"setAttribute"},
			"entity": {"account"}, "name": {a.name}, "value": {a.value}}
		h := http.Header{}
		h.Set("Content-Type", "application/x-www-form-urlencoded")
		out = append(out, Request{Method: http.MethodPost, URL: d.BaseURL + "/i", Header: h,
			Body: []byte(form.Encode()), Customers: []string{r.Customer}})
	}
	return out
}

// hubspot: POST /crm/v3/objects/companies/batch/update with
// {"inputs":[{"id","idProperty","properties"}]}; the private app token
// as a Bearer token. HubSpot's properties are strings.
func (d Destination) hubspot(recs []Record) ([]Request, error) {
	type input struct {
		ID         string            `json:"id"`
		IDProperty string            `json:"idProperty,omitempty"`
		Properties map[string]string `json:"properties"`
	}
	inputs := make([]input, len(recs))
	for i, r := range recs {
		props := map[string]string{}
		for k, v := range d.values(r) {
			switch x := v.(type) {
			case float64:
				props[k] = strconv.FormatFloat(x, 'f', -1, 64)
			case string:
				props[k] = x
			}
		}
		inputs[i] = input{ID: r.Customer, IDProperty: d.KeyField, Properties: props}
	}
	req, err := jsonRequest(http.MethodPost, d.BaseURL+"/crm/v3/objects/companies/batch/update",
		map[string]any{"inputs": inputs}, customers(recs))
	req.Header.Set("Authorization", "Bearer "+d.Token)
	return []Request{req}, err
}

// Retryable reports whether a vendor's status is worth another attempt:
// timeouts, rate limits and server errors.
func Retryable(status int) bool {
	return status == http.StatusRequestTimeout || status == http.StatusTooManyRequests || status >= 500
}

// RetryAfter reads a Retry-After in seconds (or an HTTP date), 0 when
// there is none.
func RetryAfter(h string, now time.Time) time.Duration {
	if h == "" {
		return 0
	}
	if s, err := strconv.Atoi(strings.TrimSpace(h)); err == nil && s > 0 {
		return time.Duration(s) * time.Second
	}
	if t, err := http.ParseTime(h); err == nil && t.After(now) {
		return t.Sub(now)
	}
	return 0
}
