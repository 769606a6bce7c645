package hooks

import (
	"encoding/json"
	"math"
	"time"

	"github.com/riskwatch/riskwatch/signals"
)

// stripe is a Stripe webhook endpoint: Event objects signed with
// Stripe-Signature ("t=<unix>,v1=<hex HMAC-SHA256 of "<t>.<body>">").
type stripe struct {
	customer  string // path, or "" for data.object.metadata.riskwatch_customer then data.object.customer
	tolerance time.Duration
}

// stripeEvent is the envelope; the object is decoded only for the event
// types that need it, so that an ignored type never fails on its shape.
type stripeEvent struct {
	ID      string `json:"id"`
	Type    string `json:"type"`
	Created int64  `json:"created"`
	Data    struct {
		Object             json.RawMessage `json:"object"`
		PreviousAttributes json.RawMessage `json:"previous_attributes"`
	} `json:"data"`
}

// stripeSubscription is what a subscription update is judged on; other
// objects leave it zero.
type stripeSubscription struct {
	CancelAtPeriodEnd bool        `json:"cancel_at_period_end"`
	Quantity          *int64      `json:"quantity"`
	Items             stripeItems `json:"items"`
}

type stripeItems struct {
	Data []struct {
		Quantity *int64 `json:"quantity"`
		Price    struct {
			UnitAmount *int64 `json:"unit_amount"`
		} `json:"price"`
	} `json:"data"`
}

// value is the subscription's amount per period, when every item says.
func (it stripeItems) value() (float64, bool) {
	if len(it.Data) == 0 || len(it.Data) > 100 {
		return 0, false
	}
	sum := 0.0
	for _, d := range it.Data {
		if d.Price.UnitAmount == nil {
			return 0, false
		}
		q := int64(1)
		if d.Quantity != nil {
			q = *d.Quantity
		}
		sum += float64(*d.Price.UnitAmount) * float64(q)
	}
	return sum, true
}

func (s *stripe) Verify(r Request, secret []byte, now time.Time) error {
	return VerifyTimestamped(header(r.Header, "Stripe-Signature"), r.Body, secret, now, s.tolerance)
}

// Map: invoice.payment_failed and invoice.payment_succeeded are billing
// events of those types, charge.dispute.created a payment_failed (the
// money is taken back), customer.subscription.deleted a churned outcome;
// customer.subscription.updated is a cancellation_inquiry when the
// subscription was just set to cancel at the period's end, a
// contract_change with its signed change of value when its items or
// quantities changed, and ignored otherwise. Other types are ignored.
func (s *stripe) Map(r Request, now time.Time) (signals.Signal, error) {
	doc, err := decodeAny(r.Body)
	if err != nil {
		return signals.Signal{}, mapErr(signals.ReasonMalformed, "", "%v", err)
	}
	var e stripeEvent
	if err := decodeJSON(r.Body, &e); err != nil {
		return signals.Signal{}, err
	}
	sig := signals.Signal{Source: TypeStripe}
	switch e.Type {
	case "invoice.payment_failed", "charge.dispute.created":
		sig.Kind, sig.Billing.Type = signals.KindBilling, "payment_failed"
	case "invoice.payment_succeeded":
		sig.Kind, sig.Billing.Type = signals.KindBilling, "payment_succeeded"
	case "customer.subscription.deleted":
		zero := 0.0
		sig.Kind, sig.Outcome = signals.KindOutcome, signals.Outcome{Type: "churned", ARR: &zero}
	case "customer.subscription.updated":
		c, ok := subscriptionChange(e)
		if !ok {
			return signals.Signal{}, ignored("subscription update without a cancellation or a change of value")
		}
		sig.Kind, sig.Commercial = signals.KindCommercial, c
	case "":
		return signals.Signal{}, mapErr(signals.ReasonMissingField, "type", "required")
	default:
		return signals.Signal{}, ignored("stripe " + truncate(e.Type, 60))
	}
	if sig.ID, err = id(TypeStripe, e.ID); err != nil {
		return signals.Signal{}, err
	}
	if e.Created <= 0 {
		return signals.Signal{}, mapErr(signals.ReasonMissingField, "created", "required")
	}
	sig.Time = time.Unix(e.Created, 0).UTC()
	if s.customer != "" {
		sig.Customer, err = customerAt(doc, s.customer)
	} else if sig.Customer, err = customerAt(doc, "data.object.metadata.riskwatch_customer"); err != nil {
		sig.Customer, err = customerAt(doc, "data.object.customer")
	}
	if err != nil {
		return signals.Signal{}, err
	}
	return finish(sig, now)
}

func subscriptionChange(e stripeEvent) (signals.Commercial, bool) {
	var prev struct {
		CancelAtPeriodEnd *bool       `json:"cancel_at_period_end"`
		Items             stripeItems `json:"items"`
		Quantity          *int64      `json:"quantity"`
	}
	if len(e.Data.PreviousAttributes) == 0 || json.Unmarshal(e.Data.PreviousAttributes, &prev) != nil {
		return signals.Commercial{}, false
	}
	var cur stripeSubscription
	if json.Unmarshal(e.Data.Object, &cur) != nil {
		return signals.Commercial{}, false
	}
	if cur.CancelAtPeriodEnd && prev.CancelAtPeriodEnd != nil && !*prev.CancelAtPeriodEnd {
		return signals.Commercial{Type: signals.CancellationInquiry}, true
	}
	now, ok := cur.Items.value()
	if !ok {
		return signals.Commercial{}, false
	}
	var before float64
	switch {
	case len(prev.Items.Data) > 0:
		if before, ok = prev.Items.value(); !ok {
			return signals.Commercial{}, false
		}
	case prev.Quantity != nil && cur.Quantity != nil && *cur.Quantity > 0:
		before = now / float64(*cur.Quantity) * float64(*prev.Quantity)
	default:
		return signals.Commercial{}, false
	}
	if before <= 0 || now == before {
		return signals.Commercial{}, false
	}
	pct := math.Round((now-before)/before*1000) / 10
	pct = min(max(pct, -100), 1000)
	return signals.Commercial{Type: signals.ContractChange, AmountPct: &pct}, true
}
