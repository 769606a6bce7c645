package config

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.yaml.in/yaml/v3"
)

func TestWebhookValidate(t *testing.T) {
	ok := Webhook{Name: "ops", URL: "https://hooks.example.com/x"}
	require.NoError(t, ok.Validate())
	tests := []struct {
		name string
		edit func(*Webhook)
		want string
	}{
		{"no name", func(s *Webhook) { s.Name = "" }, "name"},
		{"not http", func(s *Webhook) { s.URL = "ftp://x" }, "url"},
		{"relative", func(s *Webhook) { s.URL = "/hook" }, "url"},
		{"format", func(s *Webhook) { s.Format = "xml" }, "format"},
		{"severity", func(s *Webhook) { s.Match.Severities = []string{"high"} }, "severities"},
		{"attempts", func(s *Webhook) { s.MaxAttempts = -1 }, "max_attempts"},
		{"backoff order", func(s *Webhook) { s.Backoff, s.MaxBackoff = time.Minute, time.Second }, "above max_backoff"},
		{"reserved header", func(s *Webhook) { s.Headers = map[string]string{"idempotency-key": "x"} }, "set by riskd"},
		{"bad header", func(s *Webhook) { s.Headers = map[string]string{"a b": "x"} }, "header name"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := ok
			tc.edit(&s)
			require.ErrorContains(t, s.Validate(), tc.want)
		})
	}
}

// Webhooks come from the daemon's YAML config, decoded strictly.
func TestWebhookFromYAML(t *testing.T) {
	src := `
name: cs-slack
url: https://hooks.slack.com/services/T000/B000/XXXX
format: slack
match: {severities: [at_risk, critical], segments: [enterprise], owners: [alice, unassigned]}
timeout: 5s
max_attempts: 8
headers: {Authorization: Bearer x}
backoff: 1s
max_backoff: 1m
`
	dec := yaml.NewDecoder(strings.NewReader(src))
	dec.KnownFields(true)
	var s Webhook
	require.NoError(t, dec.Decode(&s))
	assert.Equal(t, Webhook{Name: "cs-slack", URL: "https://hooks.slack.com/services/T000/B000/XXXX", Format: FormatSlack,
		Match:   Match{Severities: []string{"at_risk", "critical"}, Segments: []string{"enterprise"}, Owners: []string{"alice", "unassigned"}},
		Timeout: 5 * time.Second, MaxAttempts: 8, Headers: map[string]string{"Authorization": "Bearer x"},
		Backoff: time.Second, MaxBackoff: time.Minute}, s)
	require.NoError(t, s.Validate())
}
