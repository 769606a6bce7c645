// Package webhook delivers alerts from the RISK_ALERTS stream to HTTP
// webhooks: Slack-compatible incoming webhooks and generic JSON endpoints.
//
// It is the I/O edge of package alerting. Each sink reads the stream
// through its own durable JetStream consumer, so a slow or failing
// webhook never holds up scoring or the other sinks, and an alert not yet
// delivered is read again after a restart. Delivery is at least once; the
// alert id travels as the Idempotency-Key header so a receiver can drop
// the repeats.
package webhook

import (
	"slices"
	"strings"

	"github.com/riskwatch/riskwatch/alerting"
	"github.com/riskwatch/riskwatch/internal/config"
)

// matches reports whether a is for a sink with match m.
func matches(m config.Match, a *alerting.Alert) bool {
	return (len(m.Severities) == 0 || slices.Contains(m.Severities, a.Severity)) &&
		matchesOwner(m, a.Owner) &&
		(len(m.Teams) == 0 || slices.Contains(m.Teams, orUnassigned(a.Team))) &&
		(len(m.Segments) == 0 || slices.ContainsFunc(m.Segments, func(s string) bool { return strings.EqualFold(s, a.Segment) }))
}

// matchesOwner reports whether owner's alerts and digests are for a sink
// with match m.
func matchesOwner(m config.Match, owner string) bool {
	return len(m.Owners) == 0 || slices.Contains(m.Owners, orUnassigned(owner))
}

func orUnassigned(s string) string {
	if s == "" {
		return alerting.Unassigned
	}
	return s
}

// withDefaults fills the settings left zero.
func withDefaults(s config.Webhook) config.Webhook {
	if s.Format == "" {
		s.Format = config.FormatJSON
	}
	if s.Timeout == 0 {
		s.Timeout = config.DefaultTimeout
	}
	if s.MaxAttempts == 0 {
		s.MaxAttempts = config.DefaultMaxAttempts
	}
	if s.Backoff == 0 {
		s.Backoff = config.DefaultBackoff
	}
	if s.MaxBackoff == 0 {
		s.MaxBackoff = max(config.DefaultMaxBackoff, s.Backoff)
	}
	return s
}
