package scorer

import (
	"regexp"
	"slices"
	"strings"

	"github.com/riskwatch/riskwatch/signals"
)

// maxEvidence bounds the signal ids cited per contribution.
const maxEvidence = 5

// featureRef finds the features a condition reads: "group.name".
var featureRef = regexp.MustCompile(`\b(usage|tickets|nps|commercial|mentions|billing|contact|champion|rating)\.([a-z0-9_]+)\b`)

// references lists the features a rule's condition reads, each once, in
// the order they appear.
func references(when string) []string {
	var out []string
	for _, m := range featureRef.FindAllString(when, -1) {
		if !slices.Contains(out, m) {
			out = append(out, m)
		}
	}
	return out
}

// evidence is the ids of the signals behind the features refs at now,
// newest first, at most maxEvidence: the signals that made the condition
// true, not merely the newest of the rule's kind. A rule that reads no
// event feature (a profile test) cites nothing.
func evidence(st *State, refs []string, now int64) []string {
	hi := firstAfter(st.Events, now)
	upTo := st.Events[:hi]
	window := upTo[max(hi-maxEvents, firstAfter(upTo, now-eventWindow-1)):]
	var ids []string
	cite := func(id string) {
		if id != "" && len(ids) < maxEvidence && !slices.Contains(ids, id) {
			ids = append(ids, id)
		}
	}
	for _, ref := range refs {
		switch group, _, _ := strings.Cut(ref, "."); group {
		case "usage":
			cite(st.LastUsageID)
			continue
		case "nps":
			answers := npsAnswers(st, upTo)
			for _, a := range answers {
				cite(a.ID)
			}
			continue
		case "rating":
			if a, ok := ratingAnswer(st, upTo); ok {
				cite(a.ID)
			}
			continue
		}
		match := citing(ref, window, now)
		for i := len(window) - 1; i >= 0; i-- {
			if match(&window[i]) {
				cite(window[i].ID)
			}
		}
	}
	return ids
}

// citing is the test of the events that feature ref counts at now, in
// window (the events a feature sees, oldest first).
func citing(ref string, window []Event, now int64) func(*Event) bool {
	within := func(days int64) int64 { return now - days*day }
	// The latest of some codes in the window, 0 when none.
	latest := func(codes ...Code) int64 {
		for i := len(window) - 1; i >= 0; i-- {
			if slices.Contains(codes, window[i].Code) {
				return window[i].T
			}
		}
		return 0
	}
	switch ref {
	case "tickets.opened_7d", "tickets.spike_ratio", "tickets.baseline_weekly":
		return func(ev *Event) bool {
			return ev.T >= within(7) && (ev.Code == codeTicketOpened || ev.Code == codeTicketReopened)
		}
	case "tickets.urgent_7d":
		return func(ev *Event) bool {
			return ev.T >= within(7) && ev.Flags&FlagUrgent != 0 &&
				(ev.Code == codeTicketOpened || ev.Code == codeTicketReopened)
		}
	case "tickets.escalated_7d":
		return func(ev *Event) bool { return ev.T >= within(7) && ev.Code == codeTicketEscalated }
	case "tickets.open_backlog":
		open := openTickets(window)
		return func(ev *Event) bool {
			return (ev.Code == codeTicketOpened || ev.Code == codeTicketReopened) && slices.Contains(open, ev.Key)
		}
	case "tickets.slow_responses_30d", "tickets.last_first_response_minutes":
		return func(ev *Event) bool {
			return ev.T >= within(30) && ev.Flags&FlagResponse != 0 && ev.V > slowResponseMin
		}
	case "commercial.discount_requests_90d":
		return func(ev *Event) bool { return ev.Code == codeDiscount }
	case "commercial.downgrade_requests_90d":
		return func(ev *Event) bool { return ev.Code == codeDowngrade }
	case "commercial.contract_shrinks_90d", "commercial.largest_shrink_pct":
		return func(ev *Event) bool { return ev.Code == codeContractChange && ev.V < 0 }
	case "commercial.expansions_90d":
		return func(ev *Event) bool { return ev.Code == codeContractChange && ev.V > 0 }
	case "commercial.cancellation_inquiries_90d":
		return func(ev *Event) bool { return ev.Code == codeCancellation }
	case "commercial.days_since_request", "commercial.request_days_to_renewal":
		// The latest request to pay less or to leave.
		id := ""
		for i := len(window) - 1; i >= 0 && id == ""; i-- {
			switch ev := &window[i]; {
			case ev.Code == codeDiscount, ev.Code == codeDowngrade, ev.Code == codeCancellation,
				ev.Code == codeContractChange && ev.V < 0:
				id = ev.ID
			}
		}
		return func(ev *Event) bool { return id != "" && ev.ID == id }
	case "commercial.unanswered_quotes", "commercial.oldest_unanswered_quote_days":
		answered := latest(codeQuoteAnswered)
		return func(ev *Event) bool { return ev.Code == codeQuoteRequest && ev.T > answered }
	case "mentions.negative_30d", "mentions.negative_reach_30d":
		return func(ev *Event) bool { return ev.Code == codeMention && ev.T >= within(30) && ev.V <= negativeSentiment }
	case "mentions.sentiment_30d":
		return func(ev *Event) bool { return ev.Code == codeMention && ev.T >= within(30) }
	case "billing.unresolved_failure", "billing.failed_payments_30d":
		paid := latest(codePaymentSucceeded)
		return func(ev *Event) bool { return ev.Code == codePaymentFailed && ev.T > paid }
	case "billing.card_expiring":
		paid := latest(codePaymentSucceeded)
		return func(ev *Event) bool { return ev.Code == codeCardExpiring && ev.T > paid && ev.T >= within(30) }
	case "billing.invoice_overdue":
		paid := latest(codePaymentSucceeded)
		return func(ev *Event) bool { return ev.Code == codeInvoiceOverdue && ev.T > paid }
	case "champion.lost", "champion.days_since_lost":
		left := latest(codeChampionLeft)
		return func(ev *Event) bool { return ev.Code == codeChampionLeft && ev.T == left }
	case "contact.ever", "contact.days_since_csm":
		last := latest(codeContact)
		return func(ev *Event) bool { return ev.Code == codeContact && ev.T == last }
	}
	// A feature with no events behind it of its own: the rule's group's
	// newest events.
	group, _, _ := strings.Cut(ref, ".")
	kind := map[string]signals.Kind{"tickets": signals.KindTicket, "commercial": signals.KindCommercial,
		"mentions": signals.KindMention, "billing": signals.KindBilling, "champion": signals.KindChampion,
		"contact": signals.KindContact}[group]
	return func(ev *Event) bool { return kind != "" && ev.Code.Kind() == kind }
}

// openTickets are the keys of the tickets of window whose latest status
// is open.
func openTickets(window []Event) []uint64 {
	var keys []uint64
	var status []Code
	for i := range window {
		ev := &window[i]
		if ev.Code.Kind() != signals.KindTicket {
			continue
		}
		k := slices.Index(keys, ev.Key)
		if k < 0 {
			keys, status = append(keys, ev.Key), append(status, 0)
			k = len(keys) - 1
		}
		status[k] = ev.Code
	}
	var open []uint64
	for i, s := range status {
		if s == codeTicketOpened || s == codeTicketReopened || s == codeTicketEscalated {
			open = append(open, keys[i])
		}
	}
	return open
}
