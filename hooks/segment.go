package hooks

import (
	"crypto/sha1"
	"fmt"
	"time"

	"github.com/riskwatch/riskwatch/signals"
)

// segment is Segment's Webhooks (Actions) destination: one Spec call per
// request, signed with X-Signature, the hex HMAC-SHA1 of the body.
type segment struct {
	customer string // path, or "" for groupId then context.groupId
}

type segmentCall struct {
	Type        string `json:"type"`
	MessageID   string `json:"messageId"`
	UserID      string `json:"userId"`
	AnonymousID string `json:"anonymousId"`
	Timestamp   string `json:"timestamp"`
}

func (s *segment) Verify(r Request, secret []byte, _ time.Time) error {
	sig, err := decodeSig(header(r.Header, "X-Signature"), "hex")
	if err != nil || len(sig) == 0 {
		return fmt.Errorf("%w: X-Signature is missing or not hex", ErrSignature)
	}
	if !hmacEqual(sha1.New, secret, sig, r.Body) {
		return fmt.Errorf("%w: X-Signature does not match the body", ErrSignature)
	}
	return nil
}

// Map turns track, identify, group, page and screen calls into a usage
// event of one: each is the account's user being active. The customer is
// the account (group) id: groupId on group calls, context.groupId on the
// others, unless customer_field says otherwise.
func (s *segment) Map(r Request, now time.Time) (signals.Signal, error) {
	doc, err := decodeAny(r.Body)
	if err != nil {
		return signals.Signal{}, mapErr(signals.ReasonMalformed, "", "%v", err)
	}
	var c segmentCall
	if err := decodeJSON(r.Body, &c); err != nil {
		return signals.Signal{}, err
	}
	switch c.Type {
	case "track", "identify", "group", "page", "screen":
	case "":
		return signals.Signal{}, mapErr(signals.ReasonMissingField, "type", "required")
	default:
		return signals.Signal{}, ignored("segment " + c.Type + " call")
	}
	path := s.customer
	if path == "" {
		path = "context.groupId"
		if c.Type == "group" {
			path = "groupId"
		}
	}
	cust, err := customerAt(doc, path)
	if err != nil {
		return signals.Signal{}, err
	}
	sid, err := id(TypeSegment, c.MessageID)
	if err != nil {
		return signals.Signal{}, err
	}
	user := c.UserID
	if user == "" {
		user = c.AnonymousID
	}
	t, err := eventTime(c.Timestamp, "timestamp", now)
	if err != nil {
		return signals.Signal{}, err
	}
	return finish(signals.Signal{ID: sid, Kind: signals.KindUsage, Customer: cust, Time: t, Source: TypeSegment,
		Usage: signals.Usage{Events: 1, User: truncate(user, signals.MaxField)}}, now)
}

// eventTime parses an RFC 3339 time, or is now when v is empty.
func eventTime(v, field string, now time.Time) (time.Time, error) {
	if v == "" {
		return now, nil
	}
	t, err := time.Parse(time.RFC3339Nano, v)
	if err != nil {
		return time.Time{}, mapErr(signals.ReasonWrongType, field, "%.64q is not an RFC 3339 time", v)
	}
	return t, nil
}

// truncate cuts s to at most n bytes on a rune boundary.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && s[n]&0xC0 == 0x80 {
		n--
	}
	return s[:n]
}
