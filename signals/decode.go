package signals

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"reflect"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"
)

// RejectReason classifies why input was rejected. It is the first word of the
// Riskwatch-Error header on the DLQ and a metrics label, so the set is
// small and stable.
type RejectReason string

const (
	ReasonOversize     RejectReason = "oversize"
	ReasonInvalidUTF8  RejectReason = "invalid_utf8"
	ReasonMalformed    RejectReason = "malformed_json"
	ReasonMissingField RejectReason = "missing_field"
	ReasonWrongType    RejectReason = "wrong_type"
	ReasonUnknownKind  RejectReason = "unknown_kind"
	ReasonKindMismatch RejectReason = "kind_mismatch"
	ReasonBadSubject   RejectReason = "bad_subject"
	ReasonOutOfRange   RejectReason = "out_of_range"
	ReasonTooLong      RejectReason = "too_long"
	ReasonFarFuture    RejectReason = "far_future"
	ReasonTooOld       RejectReason = "too_old"
	// ReasonLate is given by the engine, not by Decode: the event is older
	// than the lateness window allows for its customer.
	ReasonLate RejectReason = "late"
	// ReasonProcessing is given by the engine when scoring a valid signal
	// failed or panicked repeatedly.
	ReasonProcessing RejectReason = "processing"
	// ReasonCapacity is given by the engine to a signal or profile of a
	// new customer when it already holds as many as it may.
	ReasonCapacity RejectReason = "capacity"
)

// Error is a rejected input: a reason for machines and a message for
// people. It is what the DLQ header carries.
type Error struct {
	Reason RejectReason
	Field  string
	Msg    string
}

func (e *Error) Error() string {
	if e.Field != "" {
		return fmt.Sprintf("%s: %s: %s", e.Reason, e.Field, e.Msg)
	}
	return fmt.Sprintf("%s: %s", e.Reason, e.Msg)
}

func reject(r RejectReason, field, format string, args ...any) *Error {
	return &Error{Reason: r, Field: field, Msg: fmt.Sprintf(format, args...)}
}

// ReasonOf extracts the Reason of err, or ReasonProcessing when err is not
// an *Error.
func ReasonOf(err error) RejectReason {
	var e *Error
	if errors.As(err, &e) {
		return e.Reason
	}
	return ReasonProcessing
}

// Subject prefixes.
const (
	SignalPrefix   = "risk.signals."
	CustomerPrefix = "risk.customers."
)

// Subject is where a producer should publish s: the kind and the encoded
// customer token.
func Subject(kind Kind, customer string) string {
	return SignalPrefix + string(kind) + "." + SubjectToken(customer)
}

type envelope struct {
	ID       string          `json:"id"`
	Kind     string          `json:"kind"`
	Customer string          `json:"customer"`
	Time     string          `json:"time"`
	Source   string          `json:"source"`
	Data     json.RawMessage `json:"data"`
}

// Decode parses and validates one signal received on subject. now is the
// engine clock, used only to refuse event times too far in the future.
// Every failure is an *Error.
func Decode(subject string, data []byte, now time.Time) (Signal, error) {
	var s Signal
	if err := DecodeInto(&s, subject, data, now); err != nil {
		return Signal{}, err
	}
	return s, nil
}

// DecodeInto is Decode into storage the caller provides: a Signal is half
// a kilobyte, and the daemon decodes into slots it reuses rather than
// allocate one per message. On failure *s is the zero Signal.
func DecodeInto(s *Signal, subject string, data []byte, now time.Time) error {
	*s = Signal{}
	if len(data) > MaxEnvelope {
		return reject(ReasonOversize, "", "%d bytes, the limit is %d", len(data), MaxEnvelope)
	}
	subjKind, subjToken, err := parseSignalSubject(subject)
	if err != nil {
		return err
	}
	if !utf8.Valid(data) {
		return reject(ReasonInvalidUTF8, "", "the payload is not valid UTF-8")
	}
	env, fast := envelope{}, false
	if fastDecode {
		env, fast = fastEnvelope(data)
	}
	if !fast {
		// Its own variable: the JSON decoder keeps a pointer, and env
		// would be allocated on every call, the fast ones included.
		slow := new(envelope)
		if err := strictUnmarshal(data, slow); err != nil {
			return err
		}
		env = *slow
	}
	switch {
	case env.ID == "":
		return reject(ReasonMissingField, "id", "required")
	case env.Kind == "":
		return reject(ReasonMissingField, "kind", "required")
	case env.Customer == "":
		return reject(ReasonMissingField, "customer", "required")
	case env.Time == "":
		return reject(ReasonMissingField, "time", "required")
	case len(env.ID) > MaxID:
		return reject(ReasonTooLong, "id", "%d bytes, the limit is %d", len(env.ID), MaxID)
	case len(env.Customer) > MaxCustomer:
		return reject(ReasonTooLong, "customer", "%d bytes, the limit is %d", len(env.Customer), MaxCustomer)
	case len(env.Source) > MaxSource:
		return reject(ReasonTooLong, "source", "%d bytes, the limit is %d", len(env.Source), MaxSource)
	}
	kind := Kind(env.Kind)
	if !kind.Valid() {
		return reject(ReasonUnknownKind, "kind", "%q is not one of %s", truncate(env.Kind, 40), kindList())
	}
	if subjKind != "" && Kind(subjKind) != kind {
		return reject(ReasonKindMismatch, "kind", "body says %q, subject says %q", kind, subjKind)
	}
	if subjToken != "" && subjToken != SubjectToken(env.Customer) {
		return reject(ReasonBadSubject, "customer", "subject token %q is not the token of customer %q (%s)",
			truncate(subjToken, 80), truncate(env.Customer, 80), SubjectToken(env.Customer))
	}
	t, err := ParseTime(env.Time, now)
	if err != nil {
		return err
	}
	*s = Signal{ID: env.ID, Kind: kind, Customer: env.Customer, Time: t, Source: env.Source}
	if err := decodePayload(s, env.Data); err != nil {
		*s = Signal{}
		return err
	}
	return nil
}

// ParseTime parses an RFC 3339 event time and applies the contract's range:
// not before 2000, not more than FutureSkew ahead of now. A zero now skips
// the future check (offline tools with no engine clock).
func ParseTime(v string, now time.Time) (time.Time, error) {
	t, err := time.Parse(time.RFC3339Nano, v)
	if err != nil {
		return time.Time{}, reject(ReasonWrongType, "time", "%q is not an RFC 3339 time", truncate(v, 64))
	}
	t = t.UTC()
	if t.Before(Earliest) {
		return time.Time{}, reject(ReasonTooOld, "time", "%s is before %s", truncate(v, 64), Earliest.Format(time.DateOnly))
	}
	if !now.IsZero() && t.After(now.Add(FutureSkew)) {
		return time.Time{}, reject(ReasonFarFuture, "time", "%s is more than %s ahead of the engine clock %s",
			truncate(v, 64), FutureSkew, now.UTC().Format(time.RFC3339))
	}
	return t, nil
}

func parseSignalSubject(subject string) (kind, token string, err error) {
	if subject == "" {
		return "", "", nil // offline decode (replay files): nothing to check
	}
	rest, ok := strings.CutPrefix(subject, SignalPrefix)
	if !ok {
		return "", "", reject(ReasonBadSubject, "", "subject %q is not under %s", truncate(subject, 80), SignalPrefix)
	}
	kind, token, hasToken := strings.Cut(rest, ".")
	// "risk.signals.usage." has an empty last token: not a valid subject, and
	// not the same as a subject without a customer token.
	if kind == "" || (hasToken && token == "") || strings.Contains(token, ".") {
		return "", "", reject(ReasonBadSubject, "", "subject %q: want risk.signals.<kind>[.<customer-token>]", truncate(subject, 80))
	}
	return kind, token, nil
}

func kindList() string {
	names := make([]string, len(Kinds))
	for i, k := range Kinds {
		names[i] = string(k)
	}
	return strings.Join(names, ", ")
}

// strictUnmarshal decodes JSON turning the standard library's errors into
// contract reasons. Trailing data after the object is malformed input.
// json.Unmarshal is used rather than a json.Decoder because Decoder.More
// reports no more data when the next byte is '}' or ']', so "{...}}" would
// pass; Unmarshal validates the whole input before decoding any of it.
func strictUnmarshal(data []byte, v any) error {
	if err := json.Unmarshal(data, v); err != nil {
		return jsonError(err)
	}
	return nil
}

func jsonError(err error) error {
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) {
		field := te.Field
		if field == "" {
			field = "(document)"
		}
		if strings.HasPrefix(te.Value, "number") && te.Type.Kind() >= reflect.Int && te.Type.Kind() <= reflect.Float64 {
			return reject(ReasonOutOfRange, field, "%s does not fit %s", te.Value, te.Type)
		}
		return reject(ReasonWrongType, field, "got %s, want %s", te.Value, te.Type)
	}
	var se *json.SyntaxError
	if errors.As(err, &se) {
		return reject(ReasonMalformed, "", "%v at byte %d", se, se.Offset)
	}
	return reject(ReasonMalformed, "", "%v", err)
}

func decodePayload(s *Signal, data json.RawMessage) error {
	if len(data) == 0 || string(data) == "null" {
		data = json.RawMessage("{}")
	}
	if data[0] != '{' {
		return reject(ReasonWrongType, "data", "want a JSON object")
	}
	var err error
	switch s.Kind {
	case KindUsage:
		err = decodeUsage(data, &s.Usage)
	case KindTicket:
		if fastDecode && fastTicket(data, &s.Ticket) {
			err = s.Ticket.validate()
		} else {
			s.Ticket = Ticket{}
			err = decodeData(data, &s.Ticket, s.Ticket.validate)
		}
	case KindNPS:
		err = decodeData(data, &s.NPS, s.NPS.validate)
	case KindCommercial:
		err = decodeData(data, &s.Commercial, s.Commercial.validate)
	case KindMention:
		err = decodeData(data, &s.Mention, s.Mention.validate)
	case KindBilling:
		err = decodeData(data, &s.Billing, func() error { return oneOf("data.type", s.Billing.Type, billingTypes) })
	case KindContact:
		err = decodeData(data, &s.Contact, s.Contact.validate)
	case KindChampion:
		err = decodeData(data, &s.Champion, s.Champion.validate)
	case KindRating:
		err = decodeData(data, &s.Rating, s.Rating.validate)
	case KindOutcome:
		err = decodeData(data, &s.Outcome, s.Outcome.validate)
	}
	return err
}

func decodeData[T any](data []byte, v *T, validate func() error) error {
	if err := json.Unmarshal(data, v); err != nil {
		e := jsonError(err)
		var re *Error
		if errors.As(e, &re) && re.Field != "" && re.Field != "(document)" {
			re.Field = "data." + re.Field
		}
		return e
	}
	return validate()
}

// usageWire tells an absent "events" (default 1) from an explicit 0, which
// Usage cannot: a rollup of zero events must not be counted as activity.
type usageWire struct {
	Events      *int64 `json:"events"`
	User        string `json:"user"`
	ActiveUsers int64  `json:"active_users"`
}

func decodeUsage(data []byte, u *Usage) error {
	var w usageWire
	check := func() error {
		*u = Usage{Events: 1, User: w.User, ActiveUsers: w.ActiveUsers}
		if w.Events != nil {
			u.Events = *w.Events
		}
		return u.validate()
	}
	if fastDecode && fastUsage(data, &w) {
		return check()
	}
	w = usageWire{}
	return decodeData(data, &w, check)
}

func oneOf(field, v string, allowed []string) error {
	if v == "" {
		return reject(ReasonMissingField, field, "required, one of %s", strings.Join(allowed, ", "))
	}
	if !slices.Contains(allowed, v) {
		return reject(ReasonOutOfRange, field, "%q is not one of %s", truncate(v, 40), strings.Join(allowed, ", "))
	}
	return nil
}

func maxLen(field, v string, n int) error {
	if len(v) > n {
		return reject(ReasonTooLong, field, "%d bytes, the limit is %d", len(v), n)
	}
	return nil
}

func inRange(field string, v *float64, lo, hi float64) error {
	if v == nil {
		return nil
	}
	if math.IsNaN(*v) || *v < lo || *v > hi {
		return reject(ReasonOutOfRange, field, "%v is outside [%v, %v]", *v, lo, hi)
	}
	return nil
}

// MaxUsageEvents bounds one usage rollup so counters cannot overflow.
const MaxUsageEvents = 1_000_000_000

func (u *Usage) validate() error {
	if u.Events < 1 || u.Events > MaxUsageEvents {
		return reject(ReasonOutOfRange, "data.events", "%d is outside [1, %d]", u.Events, MaxUsageEvents)
	}
	if u.ActiveUsers < 0 || u.ActiveUsers > MaxUsageEvents {
		return reject(ReasonOutOfRange, "data.active_users", "%d is outside [0, %d]", u.ActiveUsers, MaxUsageEvents)
	}
	return maxLen("data.user", u.User, MaxField)
}

func (t *Ticket) validate() error {
	if t.TicketID == "" {
		return reject(ReasonMissingField, "data.ticket_id", "required")
	}
	if err := maxLen("data.ticket_id", t.TicketID, MaxID); err != nil {
		return err
	}
	if err := oneOf("data.status", t.Status, ticketStatuses); err != nil {
		return err
	}
	if t.Priority == "" {
		t.Priority = "normal"
	}
	if err := oneOf("data.priority", t.Priority, ticketPriorities); err != nil {
		return err
	}
	return inRange("data.first_response_minutes", t.FirstResponseMinutes, 0, 525600)
}

func (n *NPS) validate() error {
	if n.Score == nil {
		return reject(ReasonMissingField, "data.score", "required, 0-10")
	}
	if *n.Score < 0 || *n.Score > 10 {
		return reject(ReasonOutOfRange, "data.score", "%d is outside [0, 10]", *n.Score)
	}
	return maxLen("data.comment", n.Comment, MaxText)
}

func (c *Commercial) validate() error {
	if err := oneOf("data.type", c.Type, commercialTypes); err != nil {
		return err
	}
	return inRange("data.amount_pct", c.AmountPct, -100, 1000)
}

func (m *Mention) validate() error {
	if m.Channel == "" {
		return reject(ReasonMissingField, "data.channel", "required")
	}
	if err := maxLen("data.channel", m.Channel, MaxField); err != nil {
		return err
	}
	if err := maxLen("data.text", m.Text, MaxText); err != nil {
		return err
	}
	if err := inRange("data.sentiment", m.Sentiment, -1, 1); err != nil {
		return err
	}
	return inRange("data.reach", m.Reach, 0, 1e10)
}

func (c *Contact) validate() error {
	if err := oneOf("data.type", c.Type, contactTypes); err != nil {
		return err
	}
	return maxLen("data.by", c.By, MaxField)
}

func (c *Champion) validate() error {
	if err := oneOf("data.type", c.Type, championTypes); err != nil {
		return err
	}
	return maxLen("data.contact", c.Contact, MaxField)
}

func (r *Rating) validate() error {
	if err := oneOf("data.value", r.Value, ratingValues); err != nil {
		return err
	}
	if err := maxLen("data.by", r.By, MaxField); err != nil {
		return err
	}
	return maxLen("data.reason", r.Reason, MaxText)
}

func (o *Outcome) validate() error {
	if err := oneOf("data.type", o.Type, outcomeTypes); err != nil {
		return err
	}
	if err := inRange("data.arr", o.ARR, 0, 1e12); err != nil {
		return err
	}
	return checkDate("data.renewal_date", o.RenewalDate)
}

// maxDate bounds a date kept as text: time.Parse accepts any number of
// fraction digits, and the string is stored as sent.
const maxDate = 64

// checkDate validates an optional date field.
func checkDate(field, v string) error {
	if v == "" {
		return nil
	}
	if err := maxLen(field, v, maxDate); err != nil {
		return err
	}
	if _, err := ParseDate(v); err != nil {
		return dateError(field, err)
	}
	return nil
}

// dateError names the field of a ParseDate error, keeping its reason.
func dateError(field string, err error) error {
	e := &Error{Reason: ReasonWrongType, Msg: err.Error()}
	var de *Error
	if errors.As(err, &de) {
		e.Reason, e.Msg = de.Reason, de.Msg
	}
	e.Field = field
	return e
}

// ParseDate parses a calendar date (2027-01-15) or an RFC 3339 time, the two
// forms CRMs send for renewal dates, within the years 2000-2200. Failures
// are an *Error without a field: wrong_type for a malformed date,
// out_of_range for a year outside those bounds.
func ParseDate(v string) (time.Time, error) {
	if u, ok := dates.Load(v); ok {
		return time.Unix(0, u.(int64)).UTC(), nil
	}
	t, err := parseDate(v)
	if err == nil && dateCount.Add(1) <= maxDates {
		dates.Store(v, t.UnixNano()) // years 2000-2200 fit
	}
	return t, err
}

// dates remembers parsed dates: scoring asks for a profile's renewal date
// on every signal, and a customer base holds a few hundred distinct ones.
// Bounded, since dates come from input.
var (
	dates     sync.Map // string -> Unix nanoseconds
	dateCount atomic.Int64
)

const maxDates = 1 << 14

func parseDate(v string) (time.Time, error) {
	t, err := time.Parse(time.DateOnly, v)
	if err != nil {
		t, err = time.Parse(time.RFC3339, v)
	}
	if err != nil {
		return time.Time{}, reject(ReasonWrongType, "", "%q is not a date (YYYY-MM-DD)", truncate(v, 40))
	}
	if t.Year() < 2000 || t.Year() > 2200 {
		return time.Time{}, reject(ReasonOutOfRange, "", "%q is outside the years 2000-2200", truncate(v, 40))
	}
	return t.UTC(), nil
}
