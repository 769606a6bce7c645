package hooks

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/riskwatch/riskwatch/signals"
)

// Request is what a Source reads of an HTTP request: its headers and its
// raw body (signatures are over the exact bytes).
type Request struct {
	Header http.Header
	Body   []byte
}

// Source is one kind of inbound webhook.
type Source interface {
	// Verify checks the request's signature with secret. It returns nil,
	// or an error wrapping ErrSignature or ErrStale.
	Verify(r Request, secret []byte, now time.Time) error
	// Map turns a verified request into a signal valid under the wire
	// contract (its ID is the source's event id, prefixed by the source
	// type, and serves as Nats-Msg-Id). It returns ErrIgnored for events
	// on purpose left unscored, or a *signals.Error for a payload that
	// cannot be mapped. now stands in for a missing event time and bounds
	// future ones.
	Map(r Request, now time.Time) (signals.Signal, error)
}

// Errors of Verify and Map.
var (
	// ErrSignature: the signature is missing, malformed or wrong.
	ErrSignature = errors.New("invalid signature")
	// ErrStale: the signed timestamp is outside the tolerance.
	ErrStale = errors.New("stale or future timestamp")
	// ErrIgnored: a valid event of a type Riskwatch does not score (a
	// Stripe customer.created, a Segment alias). It is acknowledged, not
	// sent to the DLQ, so that the sender does not retry it.
	ErrIgnored = errors.New("event type not mapped to a signal")
)

// Types of sources, the values of Options.Type.
const (
	TypeSegment   = "segment"
	TypeZendesk   = "zendesk"
	TypeStripe    = "stripe"
	TypeTypeform  = "typeform"
	TypeDelighted = "delighted"
	TypeGeneric   = "generic"
)

// Types lists the source types in a stable order.
var Types = []string{TypeSegment, TypeZendesk, TypeStripe, TypeTypeform, TypeDelighted, TypeGeneric}

// DefaultTolerance is how far a signed timestamp may be from now, either
// way: Stripe's libraries use 300 s.
const DefaultTolerance = 5 * time.Minute

// Options configure a Source. Every field is optional except Mapping for
// the generic type.
type Options struct {
	// Type is one of Types.
	Type string
	// CustomerField is the JSON path (dots between keys, numbers for array
	// indexes: "data.object.metadata.account_id") of the customer id,
	// replacing the type's default.
	CustomerField string
	// Tolerance bounds signed timestamps (Zendesk, Stripe, generic with a
	// timestamp); default DefaultTolerance.
	Tolerance time.Duration
	// Signature overrides how Delighted and generic requests are signed.
	Signature *HMACScheme
	// Mapping is the generic source's mapping.
	Mapping *Mapping
	// Typeform: the ref of the score question and of the comment
	// question; by default the first nps or opinion_scale answer and the
	// first long_text or short_text answer.
	ScoreField, CommentField string
}

// New returns the Source of o.Type.
func New(o Options) (Source, error) {
	if o.Tolerance <= 0 {
		o.Tolerance = DefaultTolerance
	}
	if o.CustomerField != "" {
		if err := checkPath(o.CustomerField); err != nil {
			return nil, fmt.Errorf("customer_field: %w", err)
		}
	}
	if o.Signature != nil {
		if err := o.Signature.check(); err != nil {
			return nil, fmt.Errorf("signature: %w", err)
		}
		if o.Type != TypeDelighted && o.Type != TypeGeneric {
			return nil, fmt.Errorf("signature: only delighted and generic sources take a signature scheme, not %s", o.Type)
		}
	}
	if o.Mapping != nil && o.Type != TypeGeneric {
		return nil, fmt.Errorf("mapping: only a generic source takes a mapping, not %s", o.Type)
	}
	if (o.ScoreField != "" || o.CommentField != "") && o.Type != TypeTypeform {
		return nil, fmt.Errorf("score_field and comment_field are for typeform sources, not %s", o.Type)
	}
	switch o.Type {
	case TypeSegment:
		return &segment{customer: pathOr(o.CustomerField, "")}, nil
	case TypeZendesk:
		return &zendesk{customer: pathOr(o.CustomerField, "organization_external_id"), tolerance: o.Tolerance}, nil
	case TypeStripe:
		return &stripe{customer: pathOr(o.CustomerField, ""), tolerance: o.Tolerance}, nil
	case TypeTypeform:
		return &typeform{customer: pathOr(o.CustomerField, "form_response.hidden.customer_id"),
			scoreRef: o.ScoreField, commentRef: o.CommentField}, nil
	case TypeDelighted:
		sig := HMACScheme{Header: "X-Delighted-Webhook-Signature", Hash: "sha256", Encoding: "hex"}
		if o.Signature != nil {
			sig = *o.Signature
		}
		return &delighted{customer: pathOr(o.CustomerField, "event_data.person_properties.customer_id"), sig: sig.withDefaults(), tolerance: o.Tolerance}, nil
	case TypeGeneric:
		if o.Mapping == nil {
			return nil, errors.New("mapping: a generic source needs one")
		}
		m := *o.Mapping
		if o.CustomerField != "" && m.CEL == "" {
			m.Customer = o.CustomerField
		}
		if o.CustomerField != "" && m.CEL != "" {
			return nil, errors.New("customer_field: a cel mapping names the customer itself")
		}
		if err := m.check(); err != nil {
			return nil, fmt.Errorf("mapping: %w", err)
		}
		sig := HMACScheme{}
		if o.Signature != nil {
			sig = *o.Signature
		}
		g := &generic{m: m, sig: sig.withDefaults(), tolerance: o.Tolerance}
		if m.CEL != "" {
			g.cel, _ = compileCEL(m.CEL) // compiled in check
		}
		return g, nil
	}
	return nil, fmt.Errorf("type %q: want one of %s", o.Type, strings.Join(Types, ", "))
}

func pathOr(p, def string) string {
	if p != "" {
		return p
	}
	return def
}

// mapErr is a mapping failure in the DLQ's format.
func mapErr(r signals.RejectReason, field, format string, args ...any) error {
	return &signals.Error{Reason: r, Field: field, Msg: fmt.Sprintf(format, args...)}
}

// wireEnvelope is the JSON signal envelope of the wire contract.
type wireEnvelope struct {
	ID       string `json:"id"`
	Kind     string `json:"kind"`
	Customer string `json:"customer"`
	Time     string `json:"time"`
	Source   string `json:"source,omitempty"`
	Data     any    `json:"data"`
}

// Encode is s as a signal envelope, the body producers publish on
// signals.Subject(s.Kind, s.Customer).
func Encode(s signals.Signal) ([]byte, error) {
	env := wireEnvelope{ID: s.ID, Kind: string(s.Kind), Customer: s.Customer,
		Time: s.Time.UTC().Format(time.RFC3339Nano), Source: s.Source}
	switch s.Kind {
	case signals.KindUsage:
		env.Data = s.Usage
	case signals.KindTicket:
		env.Data = s.Ticket
	case signals.KindNPS:
		env.Data = s.NPS
	case signals.KindCommercial:
		env.Data = s.Commercial
	case signals.KindMention:
		env.Data = s.Mention
	case signals.KindBilling:
		env.Data = s.Billing
	case signals.KindContact:
		env.Data = s.Contact
	case signals.KindChampion:
		env.Data = s.Champion
	case signals.KindRating:
		env.Data = s.Rating
	case signals.KindOutcome:
		env.Data = s.Outcome
	default:
		return nil, mapErr(signals.ReasonUnknownKind, "kind", "%q is not a signal kind", s.Kind)
	}
	return json.Marshal(env)
}

// finish validates s as riskd will: through the envelope and
// signals.Decode, so a mapped signal never fails in the engine for its
// shape (it may still be late).
func finish(s signals.Signal, now time.Time) (signals.Signal, error) {
	if s.Customer == "" {
		return signals.Signal{}, mapErr(signals.ReasonMissingField, "customer", "no customer id in the payload")
	}
	body, err := Encode(s)
	if err != nil {
		return signals.Signal{}, err
	}
	return signals.Decode("", body, now)
}

// id joins the source type and the source's own event id.
func id(typ, event string) (string, error) {
	if event == "" {
		return "", mapErr(signals.ReasonMissingField, "id", "no event id in the payload")
	}
	v := typ + ":" + event
	if len(v) > signals.MaxID {
		return "", mapErr(signals.ReasonTooLong, "id", "event id is %d bytes, the limit is %d", len(event), signals.MaxID-len(typ)-1)
	}
	return v, nil
}

// decodeJSON decodes a body into v, as a mapping error.
func decodeJSON(body []byte, v any) error {
	if len(body) == 0 {
		return mapErr(signals.ReasonMalformed, "", "empty body")
	}
	if err := json.Unmarshal(body, v); err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) {
			return mapErr(signals.ReasonWrongType, te.Field, "got %s, want %s", te.Value, te.Type)
		}
		return mapErr(signals.ReasonMalformed, "", "%v", err)
	}
	return nil
}

// customerAt reads the customer id at path in the decoded document doc.
func customerAt(doc any, path string) (string, error) {
	v, ok := lookup(doc, path)
	if !ok || v == nil {
		return "", mapErr(signals.ReasonMissingField, path, "no customer id (set customer_field to where the payload carries it)")
	}
	s, ok := scalarString(v)
	if !ok || s == "" {
		return "", mapErr(signals.ReasonWrongType, path, "the customer id must be a non-empty string or number")
	}
	return s, nil
}

// ignored is ErrIgnored with the event type named.
func ignored(what string) error { return fmt.Errorf("%w: %s", ErrIgnored, what) }
