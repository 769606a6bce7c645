package hooks

import (
	"time"

	"github.com/riskwatch/riskwatch/signals"
)

// delighted is a Delighted webhook: survey_response.created and .updated
// events. Delighted's signature header is not confirmed from its
// documentation; the default (X-Delighted-Webhook-Signature, hex
// HMAC-SHA256 of the body) can be changed with a signature scheme.
type delighted struct {
	customer  string
	sig       HMACScheme
	tolerance time.Duration
}

type delightedEvent struct {
	EventType string `json:"event_type"`
	EventID   string `json:"event_id"`
	EventData struct {
		ID         string `json:"id"`
		SurveyType string `json:"survey_type"`
		Score      *int64 `json:"score"`
		Comment    string `json:"comment"`
		CreatedAt  int64  `json:"created_at"`
	} `json:"event_data"`
}

func (d *delighted) Verify(r Request, secret []byte, now time.Time) error {
	return d.sig.verify(r, secret, now, d.tolerance)
}

// Map: a survey response is an NPS answer. Its id is the response's id,
// not the event's: the created event (the score) and the updated ones (a
// comment added later) are one answer, which counts once; the engine
// drops the repeats as duplicates.
func (d *delighted) Map(r Request, now time.Time) (signals.Signal, error) {
	doc, err := decodeAny(r.Body)
	if err != nil {
		return signals.Signal{}, mapErr(signals.ReasonMalformed, "", "%v", err)
	}
	var head struct {
		EventType string `json:"event_type"`
	}
	if err := decodeJSON(r.Body, &head); err != nil {
		return signals.Signal{}, err
	}
	switch head.EventType {
	case "survey_response.created", "survey_response.updated":
	default:
		// unsubscribe.created carries a person, not a response.
		return signals.Signal{}, ignored("delighted " + truncate(head.EventType, 40))
	}
	var e delightedEvent
	if err := decodeJSON(r.Body, &e); err != nil {
		return signals.Signal{}, err
	}
	if t := e.EventData.SurveyType; t != "" && t != "nps" {
		return signals.Signal{}, ignored("delighted " + truncate(t, 20) + " survey")
	}
	if e.EventData.Score == nil {
		return signals.Signal{}, mapErr(signals.ReasonMissingField, "event_data.score", "required")
	}
	cust, err := customerAt(doc, d.customer)
	if err != nil {
		return signals.Signal{}, err
	}
	sid, err := id(TypeDelighted, e.EventData.ID)
	if err != nil {
		return signals.Signal{}, err
	}
	t := now
	if e.EventData.CreatedAt > 0 {
		t = time.Unix(e.EventData.CreatedAt, 0).UTC()
	}
	return finish(signals.Signal{ID: sid, Kind: signals.KindNPS, Customer: cust, Time: t, Source: TypeDelighted,
		NPS: signals.NPS{Score: e.EventData.Score, Comment: truncate(e.EventData.Comment, signals.MaxText)}}, now)
}
