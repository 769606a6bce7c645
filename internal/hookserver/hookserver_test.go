package hookserver

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"hash"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/riskwatch/riskwatch/api"
	"github.com/riskwatch/riskwatch/hooks"
	"github.com/riskwatch/riskwatch/internal/config"
	"github.com/riskwatch/riskwatch/internal/natstest"
	"github.com/riskwatch/riskwatch/signals"
)

var now = time.Date(2026, 11, 25, 0, 0, 0, 0, time.UTC)

const secret = "whsec_hookserver_test"

func hmacOf(h func() hash.Hash, parts ...string) []byte {
	m := hmac.New(h, []byte(secret))
	for _, p := range parts {
		m.Write([]byte(p))
	}
	return m.Sum(nil)
}

// sign sets the headers each vendor sends.
func sign(typ string, r *http.Request, body []byte, at time.Time) {
	b := string(body)
	switch typ {
	case hooks.TypeSegment:
		r.Header.Set("X-Signature", hex.EncodeToString(hmacOf(sha1.New, b)))
	case hooks.TypeZendesk:
		ts := at.UTC().Format(time.RFC3339)
		r.Header.Set("X-Zendesk-Webhook-Signature-Timestamp", ts)
		r.Header.Set("X-Zendesk-Webhook-Signature", base64.StdEncoding.EncodeToString(hmacOf(sha256.New, ts, b)))
	case hooks.TypeStripe:
		r.Header.Set("Stripe-Signature", hooks.SignTimestamped([]byte(secret), at, body))
	case hooks.TypeTypeform:
		r.Header.Set("Typeform-Signature", "sha256="+base64.StdEncoding.EncodeToString(hmacOf(sha256.New, b)))
	case hooks.TypeDelighted:
		r.Header.Set("X-Delighted-Webhook-Signature", hex.EncodeToString(hmacOf(sha256.New, b)))
	case hooks.TypeGeneric:
		r.Header.Set("X-Signature", hex.EncodeToString(hmacOf(sha256.New, b)))
	}
}

type env struct {
	js   jetstream.JetStream
	srv  *httptest.Server
	hs   *Server
	reg  *prometheus.Registry
	next int // requests the next handler saw
}

func sources() []config.HookSource {
	var out []config.HookSource
	for _, typ := range []string{"segment", "zendesk", "stripe", "typeform", "delighted"} {
		out = append(out, config.HookSource{Name: typ, Secret: secret})
	}
	return append(out,
		config.HookSource{Name: "billing", Type: "generic", Secret: secret, Mapping: &hooks.Mapping{
			Kind: "ticket", ID: "delivery.id", Customer: "account.external_id", Time: "occurred_at",
			Data: map[string]string{"ticket_id": "ticket.id", "status": "=escalated"}}},
		config.HookSource{Name: "tiny", Type: "stripe", Secret: secret, MaxBody: 64, Rate: 0.001, Burst: 1},
		config.HookSource{Name: "fast", Type: "stripe", Secret: secret, Rate: 10000, Burst: 10000})
}

func setup(t testing.TB, streams bool) *env {
	t.Helper()
	_, nc := natstest.Server(t, "")
	js, err := jetstream.New(nc)
	require.NoError(t, err)
	if streams {
		ctx := context.Background()
		for _, sc := range []jetstream.StreamConfig{
			{Name: api.SignalsStream, Subjects: []string{"risk.signals.>"}, Duplicates: 2 * time.Hour},
			{Name: api.DLQStream, Subjects: []string{api.DLQPrefix + ">"}, Duplicates: 2 * time.Hour},
		} {
			_, err := js.CreateStream(ctx, sc)
			require.NoError(t, err)
		}
	}
	e := &env{js: js, reg: prometheus.NewRegistry()}
	e.hs, err = New(sources(), Options{Publisher: js, MaxPayload: nc.MaxPayload, Registerer: e.reg, Now: func() time.Time { return now }})
	require.NoError(t, err)
	next := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { e.next++; w.WriteHeader(http.StatusTeapot) })
	e.srv = httptest.NewServer(Mount(next, e.hs))
	t.Cleanup(e.srv.Close)
	return e
}

func (e *env) post(t *testing.T, hook, typ string, body []byte, at time.Time) (int, Reply) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, e.srv.URL+Prefix+hook, bytes.NewReader(body))
	require.NoError(t, err)
	req.Header.Set("Content-Type", "application/json")
	if typ != "" {
		sign(typ, req, body, at)
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	var r Reply
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&r))
	return resp.StatusCode, r
}

func (e *env) count(hook, outcome string) float64 {
	return testutil.ToFloat64(e.hs.requests.WithLabelValues(hook, outcome))
}

func (e *env) streamMsgs(t *testing.T, stream string) uint64 {
	t.Helper()
	s, err := e.js.Stream(context.Background(), stream)
	require.NoError(t, err)
	info, err := s.Info(context.Background())
	require.NoError(t, err)
	return info.State.Msgs
}

func fixture(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "hooks", "testdata", name))
	require.NoError(t, err)
	return b
}

// TestEachSourceEndToEnd posts a signed vendor-shaped payload per source:
// the signal lands in RISK_SIGNALS under its kind and customer token with
// its id as Nats-Msg-Id, and the same delivery again is a duplicate the
// stream drops.
func TestEachSourceEndToEnd(t *testing.T) {
	e := setup(t, true)
	tests := []struct{ hook, typ, fixture, subject, id string }{
		{"segment", "segment", "segment_track.json", "risk.signals.usage.acme-corp", "segment:ajs-f8ca1e4de5024d9430b3928bd8ac6b96"},
		{"zendesk", "zendesk", "zendesk_created.json", "risk.signals.ticket.acme-corp", "zendesk:88412-opened"},
		{"stripe", "stripe", "stripe_subscription_updated.json", "risk.signals.commercial.acme-corp", "stripe:evt_1Nh2fp2eZvKYlo2CxDbJ7wYx"},
		{"typeform", "typeform", "typeform_nps.json", "risk.signals.nps.acme-corp", "typeform:a3a12ec67a1365927098a606107fac15"},
		{"delighted", "delighted", "delighted_response.json", "risk.signals.nps.acme-corp", "delighted:5435"},
		{"billing", "generic", "generic_ticket.json", "risk.signals.ticket.acme-corp", "generic:dlv-7f3a"},
	}
	for i, tt := range tests {
		t.Run(tt.hook, func(t *testing.T) {
			body := fixture(t, tt.fixture)
			status, r := e.post(t, tt.hook, tt.typ, body, now)
			require.Equal(t, http.StatusOK, status, "%+v", r)
			assert.Equal(t, Reply{Status: OutcomeAccepted, ID: tt.id}, r)

			s, err := e.js.Stream(context.Background(), api.SignalsStream)
			require.NoError(t, err)
			msg, err := s.GetLastMsgForSubject(context.Background(), tt.subject)
			require.NoError(t, err)
			assert.Equal(t, tt.id, msg.Header.Get(jetstream.MsgIDHeader))
			sig, err := signals.Decode(msg.Subject, msg.Data, now)
			require.NoError(t, err, "%s", msg.Data)
			assert.Equal(t, tt.id, sig.ID)

			status, r = e.post(t, tt.hook, tt.typ, body, now.Add(time.Second))
			require.Equal(t, http.StatusOK, status)
			assert.Equal(t, OutcomeDuplicate, r.Status)
			assert.Equal(t, uint64(i+1), e.streamMsgs(t, api.SignalsStream), "the retry was stored twice")
			assert.Equal(t, 1.0, e.count(tt.hook, OutcomeAccepted))
			assert.Equal(t, 1.0, e.count(tt.hook, OutcomeDuplicate))
		})
	}
}

func TestRefusals(t *testing.T) {
	e := setup(t, true)
	body := fixture(t, "stripe_invoice_payment_failed.json")

	status, _ := e.post(t, "stripe", "", body, now) // unsigned
	assert.Equal(t, http.StatusUnauthorized, status)
	status, _ = e.post(t, "stripe", "segment", body, now) // the wrong scheme
	assert.Equal(t, http.StatusUnauthorized, status)
	assert.Equal(t, 2.0, e.count("stripe", OutcomeBadSignature))

	status, _ = e.post(t, "stripe", "stripe", body, now.Add(-10*time.Minute))
	assert.Equal(t, http.StatusUnauthorized, status)
	assert.Equal(t, 1.0, e.count("stripe", OutcomeStale))
	assert.Equal(t, uint64(0), e.streamMsgs(t, api.SignalsStream))

	status, _ = e.post(t, "nope", "stripe", body, now)
	assert.Equal(t, http.StatusNotFound, status)

	resp, err := http.Get(e.srv.URL + "/hooks/stripe")
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, http.StatusMethodNotAllowed, resp.StatusCode)

	// tiny: 64 bytes at most, one request and then a rate far below.
	status, _ = e.post(t, "tiny", "stripe", body, now)
	assert.Equal(t, http.StatusRequestEntityTooLarge, status)
	assert.Equal(t, 1.0, e.count("tiny", OutcomeTooLarge))
	status, _ = e.post(t, "tiny", "stripe", body, now)
	assert.Equal(t, http.StatusTooManyRequests, status)
	assert.Equal(t, 1.0, e.count("tiny", OutcomeRateLimited))

	// Everything else goes to the next handler.
	resp, err = http.Get(e.srv.URL + "/v1/customers")
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, http.StatusTeapot, resp.StatusCode)
	assert.Equal(t, 1, e.next)
}

// TestUnmappableToDLQ: a verified payload that cannot be a signal is
// filed in RISK_DLQ with its body and reason, once however often it is
// retried, and the sender gets 200.
func TestUnmappableToDLQ(t *testing.T) {
	e := setup(t, true)
	body := fixture(t, "typeform_no_score.json")
	for range 2 {
		status, r := e.post(t, "typeform", "typeform", body, now)
		require.Equal(t, http.StatusOK, status)
		assert.Equal(t, OutcomeDLQ, r.Status)
		assert.True(t, strings.HasPrefix(r.Error, "missing_field"), r.Error)
	}
	assert.Equal(t, uint64(1), e.streamMsgs(t, api.DLQStream))
	s, err := e.js.Stream(context.Background(), api.DLQStream)
	require.NoError(t, err)
	msg, err := s.GetLastMsgForSubject(context.Background(), DLQSubject)
	require.NoError(t, err)
	assert.Equal(t, body, msg.Data)
	assert.True(t, strings.HasPrefix(msg.Header.Get(api.ErrorHeader), "missing_field: form_response.answers"), msg.Header.Get(api.ErrorHeader))
	assert.Equal(t, "/hooks/typeform", msg.Header.Get(api.SubjectHeader))
	assert.Equal(t, "typeform", msg.Header.Get(HookHeader))
	assert.Equal(t, 2.0, e.count("typeform", OutcomeDLQ))

	// An event on purpose not scored is acknowledged, not filed.
	status, r := e.post(t, "stripe", "stripe", fixture(t, "stripe_customer_created.json"), now)
	require.Equal(t, http.StatusOK, status)
	assert.Equal(t, OutcomeIgnored, r.Status)
	assert.Equal(t, uint64(1), e.streamMsgs(t, api.DLQStream))
	assert.Equal(t, uint64(0), e.streamMsgs(t, api.SignalsStream))
}

// TestUnavailable: without the streams nothing is stored, so the sender
// gets 503 and retries later.
func TestUnavailable(t *testing.T) {
	e := setup(t, false)
	status, _ := e.post(t, "stripe", "stripe", fixture(t, "stripe_invoice_payment_failed.json"), now)
	assert.Equal(t, http.StatusServiceUnavailable, status)
	status, _ = e.post(t, "typeform", "typeform", fixture(t, "typeform_no_score.json"), now)
	assert.Equal(t, http.StatusServiceUnavailable, status)
	assert.Equal(t, 1.0, e.count("stripe", OutcomeUnavailable))
	assert.Equal(t, 1.0, e.count("typeform", OutcomeUnavailable))
}
