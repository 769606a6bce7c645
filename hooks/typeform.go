package hooks

import (
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"math"
	"strings"
	"time"

	"github.com/riskwatch/riskwatch/signals"
)

// typeform is a Typeform webhook: form_response events, signed with
// Typeform-Signature "sha256=" + base64 HMAC-SHA256 of the body. The
// customer id travels in a hidden field.
type typeform struct {
	customer             string
	scoreRef, commentRef string
}

type typeformEvent struct {
	EventID      string `json:"event_id"`
	EventType    string `json:"event_type"`
	FormResponse struct {
		Token       string           `json:"token"`
		SubmittedAt string           `json:"submitted_at"`
		Answers     []typeformAnswer `json:"answers"`
	} `json:"form_response"`
}

type typeformAnswer struct {
	Type   string       `json:"type"`
	Number *json.Number `json:"number"`
	Text   string       `json:"text"`
	Field  struct {
		ID   string `json:"id"`
		Type string `json:"type"`
		Ref  string `json:"ref"`
	} `json:"field"`
}

// maxAnswers bounds the answers looked at.
const maxAnswers = 500

func (t *typeform) Verify(r Request, secret []byte, _ time.Time) error {
	v, ok := strings.CutPrefix(header(r.Header, "Typeform-Signature"), "sha256=")
	if !ok {
		return fmt.Errorf("%w: Typeform-Signature is missing or does not start with sha256=", ErrSignature)
	}
	sig, err := decodeSig(v, "base64")
	if err != nil || len(sig) == 0 {
		return fmt.Errorf("%w: Typeform-Signature is not base64", ErrSignature)
	}
	if !hmacEqual(sha256.New, secret, sig, r.Body) {
		return fmt.Errorf("%w: Typeform-Signature does not match the body", ErrSignature)
	}
	return nil
}

// Map: the score is the answer to the score_field question, or the first
// nps or opinion_scale answer; the comment the comment_field answer, or
// the first text answer. The id is the response's token, the same on
// every delivery of one response.
func (t *typeform) Map(r Request, now time.Time) (signals.Signal, error) {
	doc, err := decodeAny(r.Body)
	if err != nil {
		return signals.Signal{}, mapErr(signals.ReasonMalformed, "", "%v", err)
	}
	var e typeformEvent
	if err := decodeJSON(r.Body, &e); err != nil {
		return signals.Signal{}, err
	}
	if e.EventType != "form_response" {
		return signals.Signal{}, ignored("typeform " + truncate(e.EventType, 40))
	}
	answers := e.FormResponse.Answers
	if len(answers) > maxAnswers {
		answers = answers[:maxAnswers]
	}
	var score *json.Number
	comment := ""
	for _, a := range answers {
		isScore := a.Field.Ref == t.scoreRef
		if t.scoreRef == "" {
			isScore = a.Field.Type == "nps" || a.Field.Type == "opinion_scale"
		}
		if score == nil && isScore && a.Number != nil {
			score = a.Number
		}
		isComment := a.Field.Ref == t.commentRef
		if t.commentRef == "" {
			isComment = a.Type == "text"
		}
		if comment == "" && isComment && a.Text != "" {
			comment = a.Text
		}
	}
	if score == nil {
		return signals.Signal{}, mapErr(signals.ReasonMissingField, "form_response.answers", "no NPS answer (set score_field to its question's ref)")
	}
	f, err := score.Float64()
	if err != nil || f != math.Trunc(f) || f < 0 || f > 10 {
		return signals.Signal{}, mapErr(signals.ReasonOutOfRange, "form_response.answers", "score %.20s is not a whole number from 0 to 10", score.String())
	}
	n := int64(f)
	cust, err := customerAt(doc, t.customer)
	if err != nil {
		return signals.Signal{}, err
	}
	sid, err := id(TypeTypeform, e.FormResponse.Token)
	if err != nil {
		return signals.Signal{}, err
	}
	at, err := eventTime(e.FormResponse.SubmittedAt, "form_response.submitted_at", now)
	if err != nil {
		return signals.Signal{}, err
	}
	return finish(signals.Signal{ID: sid, Kind: signals.KindNPS, Customer: cust, Time: at, Source: TypeTypeform,
		NPS: signals.NPS{Score: &n, Comment: truncate(comment, signals.MaxText)}}, now)
}
