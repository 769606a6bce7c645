package config

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/riskwatch/riskwatch/alerting"
)

// Formats of a sink's request body.
const (
	// FormatJSON posts the alert payload itself, as published on NATS.
	FormatJSON = "json"
	// FormatSlack posts a Slack incoming-webhook message (alerting.Slack).
	FormatSlack = "slack"
)

// Defaults of a sink's delivery settings.
const (
	DefaultTimeout     = 10 * time.Second
	DefaultMaxAttempts = 5
	DefaultBackoff     = 500 * time.Millisecond
	DefaultMaxBackoff  = 30 * time.Second
)

// Webhook is one webhook sink of the daemon config: where alerts are
// POSTed, in which format, which alerts, and how hard to try.
type Webhook struct {
	// Name identifies the sink in logs and metrics and names its durable
	// consumer, so renaming a sink starts it afresh.
	Name string `yaml:"name"`
	// URL receives a POST per alert. It is never logged: Slack webhook URLs
	// carry their secret in the path.
	URL string `yaml:"url"`
	// Format is "json" (default) or "slack".
	Format string `yaml:"format"`
	Match  Match  `yaml:"match"`
	// Timeout bounds one attempt (default 10s).
	Timeout time.Duration `yaml:"timeout"`
	// MaxAttempts is how many attempts an alert gets before it is handed
	// back to the stream for a later round (default 5).
	MaxAttempts int `yaml:"max_attempts"`
	// Headers are added to every request, e.g. an Authorization header.
	Headers map[string]string `yaml:"headers"`
	// Backoff is the wait after the first failed attempt, doubled after
	// each one up to MaxBackoff, with jitter (defaults 500ms and 30s).
	Backoff    time.Duration `yaml:"backoff"`
	MaxBackoff time.Duration `yaml:"max_backoff"`
	// Secret, when set (inline or in SecretFile), signs every request:
	// X-Riskwatch-Signature: t=<unix>,v1=<hex HMAC-SHA256 of "<t>.<body>">.
	Secret     string `yaml:"secret"`
	SecretFile string `yaml:"secret_file"`
	// Digests sends the owners' daily digests (risk.digest.>) to the
	// sink too, those of match.owners when it is set.
	Digests bool `yaml:"digests"`
}

// Match selects the alerts a sink receives. An empty list matches
// everything; the lists are combined with AND.
type Match struct {
	// Severities: watch, at_risk, critical, resolved.
	Severities []string `yaml:"severities"`
	// Segments are compared without regard to case.
	Segments []string `yaml:"segments"`
	// Owners: "unassigned" matches alerts of customers without owner.
	// It also selects the digests of a sink with Digests.
	Owners []string `yaml:"owners"`
	// Teams: the profile's team; "unassigned" matches customers without
	// one. A team's channel takes its customers' alerts, the unclaimed
	// ones included.
	Teams []string `yaml:"teams"`
}

var severities = []string{"watch", "at_risk", "critical", alerting.SeverityResolved}

// reserved headers are set by the deliverer; a sink may not override them.
var reserved = []string{"Content-Type", "Idempotency-Key", "X-Riskwatch-Alert-Id", "X-Riskwatch-Signature"}

// Validate reports every problem of the sink's settings.
func (s Webhook) Validate() error {
	var errs []error
	if s.Name == "" || len(s.Name) > 64 {
		errs = append(errs, errors.New("name: 1 to 64 bytes required"))
	}
	if u, err := url.Parse(s.URL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		// The URL itself stays out of the message: it may hold a secret.
		errs = append(errs, errors.New("url: want an absolute http(s) URL"))
	}
	if s.Format != "" && s.Format != FormatJSON && s.Format != FormatSlack {
		errs = append(errs, fmt.Errorf("format %q: want %s or %s", s.Format, FormatJSON, FormatSlack))
	}
	if s.Timeout < 0 || s.Backoff < 0 || s.MaxBackoff < 0 {
		errs = append(errs, errors.New("timeout, backoff and max_backoff must not be negative"))
	}
	if s.MaxBackoff > 0 && s.Backoff > s.MaxBackoff {
		errs = append(errs, fmt.Errorf("backoff %s is above max_backoff %s", s.Backoff, s.MaxBackoff))
	}
	if s.MaxAttempts < 0 || s.MaxAttempts > 100 {
		errs = append(errs, fmt.Errorf("max_attempts %d: want 1 to 100 (0 for the default %d)", s.MaxAttempts, DefaultMaxAttempts))
	}
	for _, sev := range s.Match.Severities {
		if !slices.Contains(severities, sev) {
			errs = append(errs, fmt.Errorf("match.severities: %q: want one of %s", sev, strings.Join(severities, ", ")))
		}
	}
	for k := range s.Headers {
		switch {
		case k == "" || strings.ContainsAny(k, " :\t\r\n"):
			errs = append(errs, fmt.Errorf("headers: %q is not a header name", k))
		case slices.Contains(reserved, http.CanonicalHeaderKey(k)):
			errs = append(errs, fmt.Errorf("headers: %s is set by riskd", k))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("webhook %q: %w", s.Name, err)
	}
	return nil
}
