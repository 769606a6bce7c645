package webhook

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"go.uber.org/zap"

	"github.com/riskwatch/riskwatch/alerting"
	"github.com/riskwatch/riskwatch/hooks"
	"github.com/riskwatch/riskwatch/internal/config"
)

// Headers sent with every delivery. Idempotency-Key is the de facto
// standard name; X-Riskwatch-Alert-Id says the same for receivers that
// want to know where it came from.
const (
	HeaderIdempotencyKey = "Idempotency-Key"
	HeaderAlertID        = "X-Riskwatch-Alert-Id"
	// HeaderSignature, on sinks with a secret, is
	// "t=<unix>,v1=<hex HMAC-SHA256 of "<t>.<body>">" (Stripe's scheme;
	// hooks.VerifyTimestamped checks it), signed afresh on each attempt.
	HeaderSignature = "X-Riskwatch-Signature"
)

// Results passed to the report callback, one per event, for metrics.
const (
	// ResultDelivered: the sink answered 2xx.
	ResultDelivered = "delivered"
	// ResultRetry: one attempt failed and another follows.
	ResultRetry = "retry"
	// ResultRejected: the sink refused the alert for good (4xx other than
	// 408 and 429); it is logged and not sent again.
	ResultRejected = "rejected"
	// ResultDeferred: every attempt failed; the alert goes back to the
	// stream and is delivered again later.
	ResultDeferred = "deferred"
	// ResultSkipped: the sink's match excludes the alert.
	ResultSkipped = "skipped"
	// ResultInvalid: the stream message is not an alert; it is dropped.
	ResultInvalid = "invalid"
)

// ErrRejected marks a permanent refusal by the sink.
var ErrRejected = errors.New("rejected by the webhook")

// Deliverer sends alerts to sinks over HTTP.
type Deliverer struct {
	Client *http.Client
	Log    *zap.Logger
	// Report, if not nil, is told the result of each attempt and delivery.
	Report func(sink, result string)
	// Now signs requests; time.Now when nil.
	Now func() time.Time
}

func (d *Deliverer) report(sink, result string) {
	if d.Report != nil {
		d.Report(sink, result)
	}
}

// Deliver sends a to s, retrying with exponential backoff. raw, when not
// nil, is the payload as published, posted as is by JSON sinks so that
// fields this version does not know still reach the receiver. It returns
// nil once the sink answered 2xx, an error wrapping ErrRejected when the
// sink refused the alert for good, or the last error when the attempts
// ran out or ctx ended. Every attempt carries the same Idempotency-Key.
func (d *Deliverer) Deliver(ctx context.Context, s config.Webhook, a *alerting.Alert, raw []byte) error {
	s = withDefaults(s)
	body, err := payload(s, a, raw)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrRejected, err)
	}
	return d.send(ctx, s, a.ID, body, zap.String("alert", a.ID), zap.String("customer", a.Customer))
}

// DeliverDigest sends an owner's daily digest to s as Deliver sends an
// alert: JSON sinks get the digest as published (raw), Slack sinks a
// message (alerting.SlackDigest). Its Idempotency-Key is the digest's id
// (alerting.DigestID), one per owner and day.
func (d *Deliverer) DeliverDigest(ctx context.Context, s config.Webhook, dg *alerting.Digest, raw []byte) error {
	s = withDefaults(s)
	var body []byte
	var err error
	switch {
	case s.Format == config.FormatSlack:
		body, err = alerting.SlackDigest(dg)
	case raw != nil:
		body = raw
	default:
		body, err = json.Marshal(dg)
	}
	if err != nil {
		return fmt.Errorf("%w: digest of %q: %w", ErrRejected, dg.Owner, err)
	}
	id := alerting.DigestID(*dg)
	return d.send(ctx, s, id, body, zap.String("digest", id), zap.String("owner", dg.Owner))
}

// send posts body to s until it is delivered, refused for good, the
// attempts run out or ctx ends; every attempt carries id as its
// Idempotency-Key.
func (d *Deliverer) send(ctx context.Context, s config.Webhook, id string, body []byte, fields ...zap.Field) error {
	log := d.Log
	if log == nil {
		log = zap.NewNop()
	}
	log = log.With(append([]zap.Field{zap.String("sink", s.Name)}, fields...)...)
	for attempt := 1; ; attempt++ {
		wait, err := d.attempt(ctx, s, id, body)
		switch {
		case err == nil:
			d.report(s.Name, ResultDelivered)
			log.Debug("webhook delivered", zap.Int("attempt", attempt))
			return nil
		case errors.Is(err, ErrRejected):
			d.report(s.Name, ResultRejected)
			log.Warn("webhook rejected the message; not retried", zap.Error(err))
			return err
		case ctx.Err() != nil:
			return fmt.Errorf("webhook %s: %w", s.Name, ctx.Err())
		case attempt >= s.MaxAttempts:
			return fmt.Errorf("webhook %s: %d attempts failed, last: %w", s.Name, attempt, err)
		}
		d.report(s.Name, ResultRetry)
		if wait == 0 {
			wait = Backoff(s.Backoff, s.MaxBackoff, attempt)
		}
		log.Debug("webhook attempt failed; retrying", zap.Int("attempt", attempt), zap.Duration("in", wait), zap.Error(err))
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return fmt.Errorf("webhook %s: %w", s.Name, ctx.Err())
		case <-t.C:
		}
	}
}

func payload(s config.Webhook, a *alerting.Alert, raw []byte) ([]byte, error) {
	switch {
	case s.Format == config.FormatSlack:
		return alerting.Slack(a)
	case raw != nil:
		return raw, nil
	}
	body, err := json.Marshal(a)
	if err != nil {
		return nil, fmt.Errorf("encode alert %s: %w", a.ID, err)
	}
	return body, nil
}

// attempt makes one request. A retryable failure may come with the wait
// the server asked for (Retry-After).
func (d *Deliverer) attempt(ctx context.Context, s config.Webhook, id string, body []byte) (time.Duration, error) {
	actx, cancel := context.WithTimeout(ctx, s.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(actx, http.MethodPost, s.URL, bytes.NewReader(body))
	if err != nil {
		return 0, fmt.Errorf("%w: build request: %w", ErrRejected, Redact(err))
	}
	for k, v := range s.Headers {
		req.Header.Set(k, v)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "riskwatch-webhook")
	req.Header.Set(HeaderIdempotencyKey, id)
	req.Header.Set(HeaderAlertID, id)
	if s.Secret != "" {
		now := time.Now
		if d.Now != nil {
			now = d.Now
		}
		req.Header.Set(HeaderSignature, hooks.SignTimestamped([]byte(s.Secret), now(), body))
	}
	client := d.Client
	if client == nil {
		client = http.DefaultClient
	}
	resp, err := client.Do(req)
	if err != nil {
		if actx.Err() == context.DeadlineExceeded && ctx.Err() == nil {
			return 0, fmt.Errorf("no answer within %s", s.Timeout)
		}
		return 0, Redact(err)
	}
	defer func() {
		// Drain a little so the connection can be reused.
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
		_ = resp.Body.Close()
	}()
	code := resp.StatusCode
	switch {
	case code >= 200 && code < 300:
		return 0, nil
	case code == http.StatusRequestTimeout || code == http.StatusTooManyRequests || code >= 500:
		return retryAfter(resp.Header.Get("Retry-After"), s.MaxBackoff), fmt.Errorf("HTTP %d: %s", code, Snippet(resp.Body))
	}
	return 0, fmt.Errorf("%w: HTTP %d: %s", ErrRejected, code, Snippet(resp.Body))
}

// Redact drops the URL from a transport error: a Slack webhook URL, or a
// query carrying an API key, is a secret and must not reach the logs.
func Redact(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return fmt.Errorf("%s: %w", ue.Op, ue.Err)
	}
	return err
}

// Snippet is the start of a response body, quoted, for an error message.
func Snippet(r io.Reader) string {
	b, _ := io.ReadAll(io.LimitReader(r, 256))
	if len(b) == 0 {
		return "(empty body)"
	}
	return strconv.Quote(string(b))
}

// retryAfter honours a Retry-After in seconds, within the sink's bound.
func retryAfter(h string, limit time.Duration) time.Duration {
	secs, err := strconv.Atoi(h)
	if err != nil || secs <= 0 {
		return 0
	}
	return min(time.Duration(secs)*time.Second, limit)
}

// Backoff is the wait after the n-th failed attempt: base doubled n-1
// times, at most limit, the upper half jittered so that senders failing
// together do not retry in lockstep.
func Backoff(base, limit time.Duration, n int) time.Duration {
	d := base
	for i := 1; i < n && d < limit; i++ {
		d *= 2
	}
	d = min(d, limit)
	if d <= 0 {
		return 0
	}
	half := d / 2
	return half + rand.N(d-half+1)
}
