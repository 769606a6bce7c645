package hooks

import (
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/riskwatch/riskwatch/signals"
)

// zendesk is a Zendesk webhook called by ticket triggers, with the JSON
// body docs/connectors.md gives. Zendesk signs it with
// X-Zendesk-Webhook-Signature: base64 HMAC-SHA256 of the
// X-Zendesk-Webhook-Signature-Timestamp header's value followed by the
// body.
type zendesk struct {
	customer  string
	tolerance time.Duration
}

const (
	zendeskSigHeader = "X-Zendesk-Webhook-Signature"
	zendeskTSHeader  = "X-Zendesk-Webhook-Signature-Timestamp"
)

// zendeskTicket is the trigger body. Placeholders render as text; the
// ticket id is taken quoted or not.
type zendeskTicket struct {
	Event     string     `json:"event"`
	TicketID  flexString `json:"ticket_id"`
	Status    string     `json:"status"`
	Priority  string     `json:"priority"`
	UpdatedAt string     `json:"updated_at"`
}

func (z *zendesk) Verify(r Request, secret []byte, now time.Time) error {
	ts := header(r.Header, zendeskTSHeader)
	if ts == "" {
		return fmt.Errorf("%w: no %s header", ErrSignature, zendeskTSHeader)
	}
	t, err := time.Parse(time.RFC3339, ts)
	if err != nil {
		return fmt.Errorf("%w: %s %.40q is not an ISO 8601 time", ErrSignature, zendeskTSHeader, ts)
	}
	sig, err := decodeSig(header(r.Header, zendeskSigHeader), "base64")
	if err != nil || len(sig) == 0 {
		return fmt.Errorf("%w: %s is missing or not base64", ErrSignature, zendeskSigHeader)
	}
	if !hmacEqual(sha256.New, secret, sig, []byte(ts), r.Body) {
		return fmt.Errorf("%w: %s does not match the body", ErrSignature, zendeskSigHeader)
	}
	// Checked after the signature so that a forged request learns nothing
	// from the answer.
	return checkTime(t, now, z.tolerance)
}

// Map: event "created" is an opened ticket, "solved" a solved one,
// "reopened" a reopened one; "updated" is solved or closed by the
// ticket's status, escalated when its priority is urgent, and ignored
// otherwise (an ordinary update says nothing about risk).
func (z *zendesk) Map(r Request, now time.Time) (signals.Signal, error) {
	doc, err := decodeAny(r.Body)
	if err != nil {
		return signals.Signal{}, mapErr(signals.ReasonMalformed, "", "%v", err)
	}
	var b zendeskTicket
	if err := decodeJSON(r.Body, &b); err != nil {
		return signals.Signal{}, err
	}
	ticket := string(b.TicketID)
	if ticket == "" {
		return signals.Signal{}, mapErr(signals.ReasonMissingField, "ticket_id", "required: {{ticket.id}}")
	}
	status, prio := strings.ToLower(strings.TrimSpace(b.Status)), strings.ToLower(strings.TrimSpace(b.Priority))
	var st string
	switch strings.ToLower(b.Event) {
	case "created":
		st = signals.TicketOpened
	case "solved":
		st = signals.TicketSolved
	case "reopened":
		st = signals.TicketReopened
	case "updated":
		switch {
		case status == "solved":
			st = signals.TicketSolved
		case status == "closed":
			st = signals.TicketClosed
		case prio == "urgent":
			st = signals.TicketEscalated
		default:
			return signals.Signal{}, ignored("zendesk update with status " + truncate(status, 20))
		}
	case "":
		return signals.Signal{}, mapErr(signals.ReasonMissingField, "event", "required: created, updated, solved or reopened")
	default:
		return signals.Signal{}, mapErr(signals.ReasonOutOfRange, "event", "%.40q: want created, updated, solved or reopened", b.Event)
	}
	switch prio {
	case "low", "normal", "high", "urgent":
	default:
		prio = "" // "-" or empty when unset: the contract's default, normal
	}
	cust, err := customerAt(doc, z.customer)
	if err != nil {
		return signals.Signal{}, err
	}
	t := now
	if ts, err := time.Parse(time.RFC3339, b.UpdatedAt); err == nil {
		t = ts
	} else if ts, err := time.Parse(time.RFC3339, header(r.Header, zendeskTSHeader)); err == nil {
		t = ts
	}
	// A ticket opens once; later changes are told apart by their time, so
	// a retried delivery has the same id and a new change a new one.
	event := ticket + "-" + st
	if st != signals.TicketOpened {
		event += "-" + strconv.FormatInt(t.Unix(), 10)
	}
	sid, err := id(TypeZendesk, event)
	if err != nil {
		return signals.Signal{}, err
	}
	return finish(signals.Signal{ID: sid, Kind: signals.KindTicket, Customer: cust, Time: t, Source: TypeZendesk,
		Ticket: signals.Ticket{TicketID: ticket, Status: st, Priority: prio}}, now)
}

// flexString is a JSON string or number, as text.
type flexString string

func (f *flexString) UnmarshalJSON(b []byte) error {
	var n json.Number
	if err := json.Unmarshal(b, &n); err == nil {
		*f = flexString(n)
		return nil
	}
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return err
	}
	*f = flexString(s)
	return nil
}
