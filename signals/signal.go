package signals

import (
	"time"
)

// Kind names what a signal is about. It is also the subject's kind token.
type Kind string

const (
	KindUsage      Kind = "usage"
	KindTicket     Kind = "ticket"
	KindNPS        Kind = "nps"
	KindCommercial Kind = "commercial"
	KindMention    Kind = "mention"
	KindBilling    Kind = "billing"
	KindContact    Kind = "contact"
	KindChampion   Kind = "champion"
	KindRating     Kind = "rating"
	KindOutcome    Kind = "outcome"
)

// Kinds lists every kind the engine understands, in a stable order.
var Kinds = []Kind{KindUsage, KindTicket, KindNPS, KindCommercial, KindMention,
	KindBilling, KindContact, KindChampion, KindRating, KindOutcome}

// NumKinds is len(Kinds).
const NumKinds = 10

// Index is k's position in Kinds, -1 when k is not one of them.
func (k Kind) Index() int {
	switch k {
	case KindUsage:
		return 0
	case KindTicket:
		return 1
	case KindNPS:
		return 2
	case KindCommercial:
		return 3
	case KindMention:
		return 4
	case KindBilling:
		return 5
	case KindContact:
		return 6
	case KindChampion:
		return 7
	case KindRating:
		return 8
	case KindOutcome:
		return 9
	}
	return -1
}

// Valid reports whether k is one of Kinds.
func (k Kind) Valid() bool {
	for _, v := range Kinds {
		if k == v {
			return true
		}
	}
	return false
}

// Limits from the wire contract.
const (
	MaxEnvelope = 64 << 10
	MaxID       = 128
	MaxCustomer = 256
	MaxSource   = 128
	// MaxField bounds every free-text field that is not named otherwise.
	MaxField = 256
	// MaxText bounds comments, mention text and reasons.
	MaxText = 8 << 10
	// FutureSkew is how far ahead of the engine clock an event time may be.
	FutureSkew = 24 * time.Hour
)

// Earliest is the earliest event time accepted.
var Earliest = time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)

// Signal is one decoded, validated input event. Exactly one of the payload
// fields matches Kind; the others are zero. Keeping them as values, not an
// interface, lets the scorer read them without type assertions or
// allocations.
type Signal struct {
	ID       string
	Kind     Kind
	Customer string
	Time     time.Time
	Source   string

	Usage      Usage
	Ticket     Ticket
	NPS        NPS
	Commercial Commercial
	Mention    Mention
	Billing    Billing
	Contact    Contact
	Champion   Champion
	Rating     Rating
	Outcome    Outcome
}

// Usage is product activity, usually a rollup.
type Usage struct {
	Events      int64  `json:"events"`
	User        string `json:"user,omitempty"`
	ActiveUsers int64  `json:"active_users,omitempty"`
}

// Ticket statuses and priorities.
const (
	TicketOpened    = "opened"
	TicketReopened  = "reopened"
	TicketEscalated = "escalated"
	TicketSolved    = "solved"
	TicketClosed    = "closed"
)

var ticketStatuses = []string{TicketOpened, TicketReopened, TicketEscalated, TicketSolved, TicketClosed}
var ticketPriorities = []string{"low", "normal", "high", "urgent"}

// Ticket is a support-desk event for one ticket.
type Ticket struct {
	TicketID             string   `json:"ticket_id"`
	Status               string   `json:"status"`
	Priority             string   `json:"priority,omitempty"`
	FirstResponseMinutes *float64 `json:"first_response_minutes,omitempty"`
}

// NPS is one survey answer.
type NPS struct {
	Score   *int64 `json:"score"`
	Comment string `json:"comment,omitempty"`
}

// Commercial types.
const (
	DiscountRequest     = "discount_request"
	DowngradeRequest    = "downgrade_request"
	ContractChange      = "contract_change"
	CancellationInquiry = "cancellation_inquiry"
	QuoteRequest        = "quote_request"
	QuoteAnswered       = "quote_answered"
)

var commercialTypes = []string{DiscountRequest, DowngradeRequest, ContractChange, CancellationInquiry, QuoteRequest, QuoteAnswered}

// Commercial is a request from CRM or billing: discounts, downgrades,
// contract changes, cancellation inquiries and quotes.
type Commercial struct {
	Type string `json:"type"`
	// AmountPct for contract_change is the signed change of contract value:
	// -30 shrinks, +25 expands.
	AmountPct *float64 `json:"amount_pct,omitempty"`
}

// Mention is a public mention from social listening.
type Mention struct {
	Channel   string   `json:"channel"`
	Sentiment *float64 `json:"sentiment,omitempty"`
	Text      string   `json:"text,omitempty"`
	Reach     *float64 `json:"reach,omitempty"`
}

var billingTypes = []string{"payment_failed", "payment_succeeded", "card_expiring", "invoice_overdue"}

// Billing is a payment event.
type Billing struct {
	Type string `json:"type"`
}

var contactTypes = []string{"csm_touch", "qbr", "reply"}

// Contact is a touch by the customer's CSM.
type Contact struct {
	Type string `json:"type"`
	By   string `json:"by,omitempty"`
}

var championTypes = []string{"left", "added"}

// Champion is a change of the customer's sponsor.
type Champion struct {
	Type    string `json:"type"`
	Contact string `json:"contact,omitempty"`
}

var ratingValues = []string{"green", "yellow", "red"}

// Rating is the CSM's own judgement.
type Rating struct {
	Value  string `json:"value"`
	By     string `json:"by,omitempty"`
	Reason string `json:"reason,omitempty"`
}

var outcomeTypes = []string{"renewed", "churned", "downgraded", "expanded"}

// Outcome is the ground truth of a renewal.
type Outcome struct {
	Type        string   `json:"type"`
	ARR         *float64 `json:"arr,omitempty"`
	RenewalDate string   `json:"renewal_date,omitempty"`
}
