package hooks

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"flag"
	"hash"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/riskwatch/riskwatch/signals"
)

var update = flag.Bool("update", false, "rewrite the golden files")

// now is after every fixture's event time.
var now = time.Date(2026, 11, 25, 0, 0, 0, 0, time.UTC)

var secret = []byte("whsec_test_secret")

var genericMapping = &Mapping{
	Kind: "ticket", ID: "delivery.id", Customer: "account.external_id", Time: "occurred_at",
	Data:  map[string]string{"ticket_id": "ticket.id", "status": "=escalated", "priority": "ticket.priority"},
	Match: map[string]string{"event": "ticket.escalated"},
}

// celTicket maps generic_ticket.json as genericMapping does.
var celTicket = &Mapping{CEL: `body.event == "ticket.escalated" ? {
	"kind": "ticket", "id": body.delivery.id, "customer": body.account.external_id, "time": body.occurred_at,
	"data": {"ticket_id": body.ticket.id, "status": "escalated", "priority": body.ticket.priority}} : {}`}

func source(t testing.TB, o Options) Source {
	t.Helper()
	s, err := New(o)
	if err != nil {
		t.Fatalf("New(%+v): %v", o, err)
	}
	return s
}

func fixture(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestMapFixtures maps each vendor-shaped fixture and compares the signal
// envelope with its golden file, or checks the error.
func TestMapFixtures(t *testing.T) {
	tests := []struct {
		fixture string
		opts    Options
		// golden, when set, is the expected envelope's file; otherwise
		// err is the expected reason ("ignored" for ErrIgnored).
		golden string
		err    string
	}{
		{"segment_track.json", Options{Type: TypeSegment}, "segment_track.golden.json", ""},
		{"segment_group.json", Options{Type: TypeSegment}, "segment_group.golden.json", ""},
		{"segment_alias.json", Options{Type: TypeSegment}, "", "ignored"},
		{"segment_no_group.json", Options{Type: TypeSegment}, "", "missing_field"},
		{"segment_track.json", Options{Type: TypeSegment, CustomerField: "properties.format"}, "segment_track_field.golden.json", ""},
		{"zendesk_created.json", Options{Type: TypeZendesk}, "zendesk_created.golden.json", ""},
		{"zendesk_solved.json", Options{Type: TypeZendesk}, "zendesk_solved.golden.json", ""},
		{"zendesk_pending.json", Options{Type: TypeZendesk}, "", "ignored"},
		{"zendesk_numeric_id.json", Options{Type: TypeZendesk}, "zendesk_numeric_id.golden.json", ""},
		{"stripe_invoice_payment_failed.json", Options{Type: TypeStripe}, "stripe_invoice_payment_failed.golden.json", ""},
		{"stripe_subscription_updated.json", Options{Type: TypeStripe}, "stripe_subscription_updated.golden.json", ""},
		{"stripe_subscription_cancel.json", Options{Type: TypeStripe}, "stripe_subscription_cancel.golden.json", ""},
		{"stripe_subscription_deleted.json", Options{Type: TypeStripe}, "stripe_subscription_deleted.golden.json", ""},
		{"stripe_dispute.json", Options{Type: TypeStripe}, "stripe_dispute.golden.json", ""},
		{"stripe_dispute.json", Options{Type: TypeStripe, CustomerField: "data.object.customer"}, "", "missing_field"},
		{"stripe_customer_created.json", Options{Type: TypeStripe}, "", "ignored"},
		{"typeform_nps.json", Options{Type: TypeTypeform}, "typeform_nps.golden.json", ""},
		{"typeform_nps.json", Options{Type: TypeTypeform, ScoreField: "nope"}, "", "missing_field"},
		{"typeform_no_score.json", Options{Type: TypeTypeform}, "", "missing_field"},
		{"delighted_response.json", Options{Type: TypeDelighted}, "delighted_response.golden.json", ""},
		{"delighted_unsubscribe.json", Options{Type: TypeDelighted}, "", "ignored"},
		{"generic_ticket.json", Options{Type: TypeGeneric, Mapping: genericMapping}, "generic_ticket.golden.json", ""},
		{"generic_other.json", Options{Type: TypeGeneric, Mapping: genericMapping}, "", "ignored"},
		{"generic_ticket.json", Options{Type: TypeGeneric, Mapping: celTicket}, "generic_ticket.golden.json", ""},
		{"generic_other.json", Options{Type: TypeGeneric, Mapping: celTicket}, "", "ignored"},
		{"generic_ticket.json", Options{Type: TypeGeneric, Mapping: &Mapping{CEL: `{"kind": "ticket", "id": body.nope, "customer": "x"}`}}, "", "wrong_type"},
		{"generic_ticket.json", Options{Type: TypeGeneric, Mapping: &Mapping{CEL: `{"kind": "churn", "id": "1", "customer": "x"}`}}, "", "unknown_kind"},
		{"generic_ticket.json", Options{Type: TypeGeneric, Mapping: &Mapping{CEL: `{"kind": "nps", "id": "1", "customer": headers["x-account"], "data": {"score": 1}}`}}, "", "wrong_type"},
		{"generic_ticket.json", Options{Type: TypeGeneric, Mapping: &Mapping{CEL: `{"kind": "nps", "id": "1", "customer": "x", "data": {"score": 11}}`}}, "", "out_of_range"},
		{"generic_ticket.json", Options{Type: TypeGeneric, Mapping: &Mapping{CEL: `[1, 2]`}}, "", "wrong_type"},
	}
	for _, tt := range tests {
		name := strings.TrimSuffix(tt.fixture, ".json") + "/" + tt.golden + tt.err
		t.Run(name, func(t *testing.T) {
			s := source(t, tt.opts)
			sig, err := s.Map(Request{Header: http.Header{}, Body: fixture(t, tt.fixture)}, now)
			if tt.golden == "" {
				switch {
				case err == nil:
					t.Fatalf("mapped to %+v, want %s", sig, tt.err)
				case tt.err == "ignored":
					if !errors.Is(err, ErrIgnored) {
						t.Fatalf("err %v, want ErrIgnored", err)
					}
				default:
					if got := signals.ReasonOf(err); string(got) != tt.err {
						t.Fatalf("reason %s (%v), want %s", got, err, tt.err)
					}
				}
				return
			}
			if err != nil {
				t.Fatalf("Map: %v", err)
			}
			got, err := Encode(sig)
			if err != nil {
				t.Fatal(err)
			}
			golden(t, tt.golden, append(got, '\n'))
		})
	}
}

func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s:\n got %s\nwant %s", name, got, want)
	}
}

func hmacOf(h func() hash.Hash, key []byte, parts ...string) []byte {
	m := hmac.New(h, key)
	for _, p := range parts {
		m.Write([]byte(p))
	}
	return m.Sum(nil)
}

// sign returns the headers each vendor sends with body at time at.
func sign(typ string, key, body []byte, at time.Time) http.Header {
	h := http.Header{}
	b := string(body)
	switch typ {
	case TypeSegment:
		h.Set("X-Signature", hex.EncodeToString(hmacOf(sha1.New, key, b)))
	case TypeZendesk:
		ts := at.UTC().Format(time.RFC3339)
		h.Set(zendeskTSHeader, ts)
		h.Set(zendeskSigHeader, base64.StdEncoding.EncodeToString(hmacOf(sha256.New, key, ts, b)))
	case TypeStripe:
		h.Set("Stripe-Signature", SignTimestamped(key, at, body))
	case TypeTypeform:
		h.Set("Typeform-Signature", "sha256="+base64.StdEncoding.EncodeToString(hmacOf(sha256.New, key, b)))
	case TypeDelighted:
		h.Set("X-Delighted-Webhook-Signature", hex.EncodeToString(hmacOf(sha256.New, key, b)))
	case TypeGeneric:
		h.Set("X-Signature", hex.EncodeToString(hmacOf(sha256.New, key, b)))
	}
	return h
}

var typeOpts = map[string]Options{
	TypeSegment: {Type: TypeSegment}, TypeZendesk: {Type: TypeZendesk}, TypeStripe: {Type: TypeStripe},
	TypeTypeform: {Type: TypeTypeform}, TypeDelighted: {Type: TypeDelighted},
	TypeGeneric: {Type: TypeGeneric, Mapping: genericMapping},
}

// TestVerify signs a body as each vendor does, then checks that the
// signature verifies, and that a changed body, a wrong secret, a missing
// header and (where the vendor signs a time) a stale time are refused.
func TestVerify(t *testing.T) {
	body := []byte(`{"id":"evt_1","type":"invoice.payment_failed"}`)
	for _, typ := range Types {
		t.Run(typ, func(t *testing.T) {
			s := source(t, typeOpts[typ])
			if err := s.Verify(Request{Header: sign(typ, secret, body, now), Body: body}, secret, now); err != nil {
				t.Fatalf("valid signature refused: %v", err)
			}
			cases := map[string]Request{
				"changed body": {Header: sign(typ, secret, body, now), Body: append([]byte(" "), body...)},
				"wrong secret": {Header: sign(typ, []byte("other"), body, now), Body: body},
				"no header":    {Header: http.Header{}, Body: body},
			}
			for name, r := range cases {
				if err := s.Verify(r, secret, now); !errors.Is(err, ErrSignature) {
					t.Errorf("%s: err %v, want ErrSignature", name, err)
				}
			}
			stale := s.Verify(Request{Header: sign(typ, secret, body, now.Add(-6*time.Minute)), Body: body}, secret, now)
			switch typ {
			case TypeZendesk, TypeStripe:
				if !errors.Is(stale, ErrStale) {
					t.Errorf("6 minutes old: err %v, want ErrStale", stale)
				}
			default:
				if stale != nil { // these vendors sign no time
					t.Errorf("6 minutes old: err %v, want nil", stale)
				}
			}
		})
	}
}

func TestTimestampedRotation(t *testing.T) {
	body := []byte(`{}`)
	good := SignTimestamped(secret, now, body)
	_, v1, _ := strings.Cut(good, ",")
	ts := strconv.FormatInt(now.Unix(), 10)
	tests := []struct {
		name, header string
		want         error
	}{
		{"valid", good, nil},
		{"old secret first", "t=" + ts + ",v1=" + strings.Repeat("ab", 32) + "," + v1, nil},
		{"v0 only", "t=" + ts + ",v0=" + strings.Repeat("ab", 32), ErrSignature},
		{"no t", v1, ErrSignature},
		{"junk", "garbage", ErrSignature},
		{"future", SignTimestamped(secret, now.Add(10*time.Minute), body), ErrStale},
	}
	for _, tt := range tests {
		err := VerifyTimestamped(tt.header, body, secret, now, DefaultTolerance)
		if tt.want == nil && err != nil || tt.want != nil && !errors.Is(err, tt.want) {
			t.Errorf("%s: err %v, want %v", tt.name, err, tt.want)
		}
	}
}

func TestNewRefusesBadOptions(t *testing.T) {
	tests := []Options{
		{Type: "freshdesk"},
		{Type: TypeGeneric},
		{Type: TypeGeneric, Mapping: &Mapping{Kind: "ticket"}},
		{Type: TypeStripe, Mapping: genericMapping},
		{Type: TypeStripe, CustomerField: "a..b"},
		{Type: TypeSegment, Signature: &HMACScheme{}},
		{Type: TypeGeneric, Mapping: genericMapping, Signature: &HMACScheme{Hash: "md5"}},
		{Type: TypeZendesk, ScoreField: "x"},
		{Type: TypeGeneric, Mapping: &Mapping{CEL: `body.`}},
		{Type: TypeGeneric, Mapping: &Mapping{CEL: `{"kind": "ticket"}`, ID: "x"}},
		{Type: TypeGeneric, Mapping: celTicket, CustomerField: "a"},
	}
	for _, o := range tests {
		if _, err := New(o); err == nil {
			t.Errorf("New(%+v) accepted", o)
		}
	}
}

func TestEncodeRoundTrip(t *testing.T) {
	score := int64(3)
	in := signals.Signal{ID: "x:1", Kind: signals.KindNPS, Customer: "a.b *", Time: now.Add(-time.Hour), Source: "s",
		NPS: signals.NPS{Score: &score, Comment: "meh"}}
	body, err := Encode(in)
	if err != nil {
		t.Fatal(err)
	}
	out, err := signals.Decode(signals.Subject(in.Kind, in.Customer), body, now)
	if err != nil {
		t.Fatal(err)
	}
	if out.ID != in.ID || out.Customer != in.Customer || !out.Time.Equal(in.Time) || *out.NPS.Score != 3 || out.NPS.Comment != "meh" {
		t.Fatalf("round trip: %+v", out)
	}
}
