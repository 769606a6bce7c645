package config

import (
	"errors"
	"fmt"
	"regexp"
	"strings"
	"time"

	"github.com/riskwatch/riskwatch/hooks"
	"github.com/riskwatch/riskwatch/push"
)

// Hooks is the hooks: block: inbound webhooks served on POST
// /hooks/<name> of the HTTP listener (docs/connectors.md).
type Hooks struct {
	Sources []HookSource `yaml:"sources"`
}

// Defaults of a hook source.
const (
	DefaultHookMaxBody = 256 << 10
	MaxHookMaxBody     = 1 << 20
	DefaultHookRate    = 20.0
	DefaultHookBurst   = 40
)

// HookSource is one inbound webhook.
type HookSource struct {
	// Name is the last segment of the path, /hooks/<name>, and the metrics
	// label: [a-z0-9_-], at most 32 bytes.
	Name string `yaml:"name"`
	// Type is one of hooks.Types; the name when empty.
	Type string `yaml:"type"`
	// Secret signs the requests. It may instead come from the
	// environment, RISKWATCH_HOOK_<NAME>_SECRET, or a file, secret_file or
	// RISKWATCH_HOOK_<NAME>_SECRET_FILE. It is never logged.
	Secret     string `yaml:"secret"`
	SecretFile string `yaml:"secret_file"`
	// CustomerField is the JSON path of the customer id in the payload.
	CustomerField string `yaml:"customer_field"`
	// Tolerance bounds signed timestamps (default 5m).
	Tolerance time.Duration `yaml:"tolerance"`
	// MaxBody bounds a request body in bytes (default 256 KiB, at most
	// 1 MiB so that a refused body still fits the DLQ).
	MaxBody int `yaml:"max_body"`
	// Rate and Burst bound the requests per second accepted (defaults 20
	// and 40); past them the sender gets 429 and retries.
	Rate  float64 `yaml:"rate"`
	Burst int     `yaml:"burst"`
	// Signature, Mapping, ScoreField and CommentField: see hooks.Options.
	Signature    *hooks.HMACScheme `yaml:"signature"`
	Mapping      *hooks.Mapping    `yaml:"mapping"`
	ScoreField   string            `yaml:"score_field"`
	CommentField string            `yaml:"comment_field"`
}

// Options are the source's hooks.Options.
func (s HookSource) Options() hooks.Options {
	return hooks.Options{Type: s.SourceType(), CustomerField: s.CustomerField, Tolerance: s.Tolerance,
		Signature: s.Signature, Mapping: s.Mapping, ScoreField: s.ScoreField, CommentField: s.CommentField}
}

// SourceType is the type, defaulting to the name.
func (s HookSource) SourceType() string {
	if s.Type == "" {
		return s.Name
	}
	return s.Type
}

// WithDefaults fills the limits left zero.
func (s HookSource) WithDefaults() HookSource {
	if s.MaxBody == 0 {
		s.MaxBody = DefaultHookMaxBody
	}
	if s.Rate == 0 {
		s.Rate = DefaultHookRate
	}
	if s.Burst == 0 {
		s.Burst = max(DefaultHookBurst, int(s.Rate))
	}
	return s
}

var connectorName = regexp.MustCompile(`^[a-z0-9_-]{1,32}$`)

// Validate reports every problem of the source; the secret is never
// part of a message.
func (s HookSource) Validate() error {
	var errs []error
	if !connectorName.MatchString(s.Name) {
		errs = append(errs, fmt.Errorf("name %q: want 1 to 32 of a-z, 0-9, _ and -", s.Name))
	}
	if _, err := hooks.New(s.Options()); err != nil {
		errs = append(errs, err)
	}
	if s.Secret == "" {
		errs = append(errs, fmt.Errorf("secret: required (secret, secret_file, %s or %s_FILE)", HookSecretEnv(s.Name), HookSecretEnv(s.Name)))
	}
	if s.Tolerance < 0 || s.Tolerance > time.Hour {
		errs = append(errs, fmt.Errorf("tolerance %s: want 0 (default 5m) to 1h", s.Tolerance))
	}
	if s.MaxBody < 0 || s.MaxBody > MaxHookMaxBody {
		errs = append(errs, fmt.Errorf("max_body %d: want 0 (default %d) to %d bytes", s.MaxBody, DefaultHookMaxBody, MaxHookMaxBody))
	}
	if s.Rate < 0 || s.Rate > 10000 || s.Burst < 0 || s.Burst > 100000 {
		errs = append(errs, fmt.Errorf("rate %v, burst %d: want 0 (default) to 10000 per second and 100000", s.Rate, s.Burst))
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("hook %q: %w", s.Name, err)
	}
	return nil
}

// HookSecretEnv is the variable of a hook's secret:
// RISKWATCH_HOOK_STRIPE_SECRET.
func HookSecretEnv(name string) string { return "RISKWATCH_HOOK_" + envPart(name) + "_SECRET" }

// PushTokenEnv is the variable of a destination's token:
// RISKWATCH_PUSH_HUBSPOT_TOKEN.
func PushTokenEnv(name string) string { return "RISKWATCH_PUSH_" + envPart(name) + "_TOKEN" }

func envPart(name string) string { return strings.ToUpper(strings.ReplaceAll(name, "-", "_")) }

// Push is the push: block: scores written into customer-success
// platforms.
type Push struct {
	// Interval is how often the scores are compared with what was pushed
	// (default 1m).
	Interval time.Duration `yaml:"interval"`
	// MinScoreChange and MinProbabilityChange are the least moves pushed
	// (defaults 5 points and 0.05); a tier change is always pushed.
	MinScoreChange       float64           `yaml:"min_score_change"`
	MinProbabilityChange float64           `yaml:"min_probability_change"`
	Destinations         []PushDestination `yaml:"destinations"`
}

// Defaults of the push block.
const DefaultPushInterval = time.Minute

// Thresholds are the push block's change thresholds, defaults filled in.
func (p Push) Thresholds() push.Thresholds {
	th := push.DefaultThresholds
	if p.MinScoreChange > 0 {
		th.Score = p.MinScoreChange
	}
	if p.MinProbabilityChange > 0 {
		th.Probability = p.MinProbabilityChange
	}
	return th
}

// PushDestination is one customer-success platform account.
type PushDestination struct {
	// Name keys what was pushed in the KV bucket: renaming a destination
	// pushes everything again.
	Name string `yaml:"name"`
	// Type is one of push.Types; the name when empty.
	Type string `yaml:"type"`
	// URL is the API root: required for gainsight (your tenant's domain)
	// and churnzero (your instance, e.g. https://acme.app.churnzero.net).
	URL string `yaml:"url"`
	// Token is the credential; also token_file, RISKWATCH_PUSH_<NAME>_TOKEN
	// or RISKWATCH_PUSH_<NAME>_TOKEN_FILE. Never logged.
	Token     string `yaml:"token"`
	TokenFile string `yaml:"token_file"`
	// KeyField: see push.Destination.
	KeyField string      `yaml:"key_field"`
	Fields   push.Fields `yaml:"fields"`
	// Rate and Burst override the vendor's documented request rate.
	Rate  float64 `yaml:"rate"`
	Burst int     `yaml:"burst"`
	// Timeout bounds one request (default 10s); MaxAttempts the attempts
	// of one request in a round (default 5).
	Timeout     time.Duration `yaml:"timeout"`
	MaxAttempts int           `yaml:"max_attempts"`
}

// Destination is the push.Destination of d.
func (d PushDestination) Destination() push.Destination {
	t := d.Type
	if t == "" {
		t = d.Name
	}
	return push.Destination{Type: t, BaseURL: d.URL, Token: d.Token, KeyField: d.KeyField, Fields: d.Fields}
}

// Validate reports every problem of the destination, never the token.
func (d PushDestination) Validate() error {
	var errs []error
	if !connectorName.MatchString(d.Name) {
		errs = append(errs, fmt.Errorf("name %q: want 1 to 32 of a-z, 0-9, _ and -", d.Name))
	}
	if err := d.Destination().Check(); err != nil {
		errs = append(errs, err)
	}
	if d.Rate < 0 || d.Burst < 0 || d.Timeout < 0 || d.MaxAttempts < 0 || d.MaxAttempts > 100 {
		errs = append(errs, errors.New("rate, burst, timeout and max_attempts (at most 100) must not be negative"))
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("push destination %q: %w", d.Name, err)
	}
	return nil
}

// resolveSecrets reads the hooks' secrets and the destinations' tokens
// from the environment and files: environment over file, as for every
// setting.
func (c *Config) resolveSecrets(getenv func(string) string) error {
	for i := range c.Hooks.Sources {
		s := &c.Hooks.Sources[i]
		v, err := secret(s.Secret, s.SecretFile, HookSecretEnv(s.Name), getenv)
		if err != nil {
			return fmt.Errorf("hooks.sources[%d] %s: %w", i, s.Name, err)
		}
		s.Secret, s.SecretFile = v, ""
	}
	for i := range c.Push.Destinations {
		d := &c.Push.Destinations[i]
		v, err := secret(d.Token, d.TokenFile, PushTokenEnv(d.Name), getenv)
		if err != nil {
			return fmt.Errorf("push.destinations[%d] %s: %w", i, d.Name, err)
		}
		d.Token, d.TokenFile = v, ""
	}
	for i := range c.Webhooks {
		w := &c.Webhooks[i]
		if w.SecretFile == "" {
			continue
		}
		v, err := secret(w.Secret, w.SecretFile, "", getenv)
		if err != nil {
			return fmt.Errorf("webhooks[%d] %s: %w", i, w.Name, err)
		}
		w.Secret, w.SecretFile = v, ""
	}
	return nil
}

// secret picks, in order, the environment variable env, the file named by
// env+"_FILE", the inline value and the file named in the config.
func secret(inline, file, env string, getenv func(string) string) (string, error) {
	if env != "" {
		if v := getenv(env); v != "" {
			return v, nil
		}
		if f := getenv(env + "_FILE"); f != "" {
			return readSecret(f, env+"_FILE")
		}
	}
	if inline != "" && file != "" {
		return "", errors.New("give the secret inline or in a file, not both")
	}
	if file != "" {
		return readSecret(file, "secret file")
	}
	return inline, nil
}

// readSecret reads a connector's secret from path (readSecretFile); what
// names the setting in the error, which names the path, never the content.
func readSecret(path, what string) (string, error) {
	v, err := readSecretFile(path)
	if err != nil {
		return "", fmt.Errorf("%s: %w", what, err)
	}
	return v, nil
}

// validateConnectors checks the hooks and push blocks.
func (c *Config) validateConnectors() error {
	var errs []error
	names := map[string]bool{}
	for i, s := range c.Hooks.Sources {
		if names[s.Name] {
			errs = append(errs, fmt.Errorf("hooks.sources[%d]: %q is used twice", i, s.Name))
		}
		names[s.Name] = true
		if err := s.Validate(); err != nil {
			errs = append(errs, fmt.Errorf("hooks.sources[%d]: %w", i, err))
		}
	}
	if len(c.Hooks.Sources) > 0 && c.HTTPListen == "" {
		errs = append(errs, errors.New("hooks: need the HTTP listener (http_listen)"))
	}
	if c.Push.Interval != 0 && (c.Push.Interval < time.Second || c.Push.Interval > 24*time.Hour) {
		errs = append(errs, fmt.Errorf("push.interval %s: want 1s to 24h", c.Push.Interval))
	}
	if c.Push.MinScoreChange < 0 || c.Push.MinScoreChange > 100 || c.Push.MinProbabilityChange < 0 || c.Push.MinProbabilityChange > 1 {
		errs = append(errs, errors.New("push.min_score_change wants 0 to 100, push.min_probability_change 0 to 1"))
	}
	names = map[string]bool{}
	for i, d := range c.Push.Destinations {
		if names[d.Name] {
			errs = append(errs, fmt.Errorf("push.destinations[%d]: %q is used twice", i, d.Name))
		}
		names[d.Name] = true
		if err := d.Validate(); err != nil {
			errs = append(errs, fmt.Errorf("push.destinations[%d]: %w", i, err))
		}
	}
	return errors.Join(errs...)
}
