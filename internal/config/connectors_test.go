package config

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// connectorEnv gives every secret of configs/connectors.example.yaml
// but the one read from a file.
var connectorEnv = map[string]string{
	"RISKWATCH_HOOK_SEGMENT_SECRET": "seg", "RISKWATCH_HOOK_ZENDESK_SECRET": "zd", "RISKWATCH_HOOK_STRIPE_SECRET": "whsec",
	"RISKWATCH_HOOK_TYPEFORM_SECRET": "tf", "RISKWATCH_HOOK_DELIGHTED_SECRET": "dl", "RISKWATCH_HOOK_BILLING_EVENTS_SECRET": "be",
	"RISKWATCH_PUSH_HUBSPOT_TOKEN": "pat", "RISKWATCH_PUSH_GAINSIGHT_TOKEN": "gs", "RISKWATCH_PUSH_VITALLY_TOKEN": "vt",
	"RISKWATCH_PUSH_CHURNZERO_TOKEN": "cz",
}

func TestConnectorsExampleLoads(t *testing.T) {
	c, err := Load([]string{"--config", "../../configs/connectors.example.yaml"}, env(connectorEnv), &bytes.Buffer{})
	require.NoError(t, err)
	require.Len(t, c.Hooks.Sources, 6)
	assert.Equal(t, "be", c.Hooks.Sources[5].Secret, "the environment wins over secret_file")
	assert.Equal(t, "generic", c.Hooks.Sources[5].SourceType())
	require.Len(t, c.Push.Destinations, 4)
	assert.Equal(t, "pat", c.Push.Destinations[0].Token)
	assert.Equal(t, 5.0, c.Push.Thresholds().Score)
}

func TestHookSecretSources(t *testing.T) {
	dir := t.TempDir()
	secretFile := filepath.Join(dir, "s")
	require.NoError(t, os.WriteFile(secretFile, []byte("from-file\n"), 0o600))
	tests := []struct {
		name, yaml string
		env        map[string]string
		want       string
	}{
		{"inline", "secret: inline", nil, "inline"},
		{"file", "secret_file: " + secretFile, nil, "from-file"},
		{"env over inline", "secret: inline", map[string]string{"RISKWATCH_HOOK_STRIPE_SECRET": "env"}, "env"},
		{"env file", "secret: inline", map[string]string{"RISKWATCH_HOOK_STRIPE_SECRET_FILE": secretFile}, "from-file"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			file := writeFile(t, "hooks:\n  sources:\n    - name: stripe\n      "+tt.yaml+"\n")
			c, err := Load([]string{"--config", file}, env(tt.env), &bytes.Buffer{})
			require.NoError(t, err)
			assert.Equal(t, tt.want, c.Hooks.Sources[0].Secret)
		})
	}
}

// TestBadConnectors: each mistake is refused, and no message carries the
// secret.
func TestBadConnectors(t *testing.T) {
	tests := map[string]string{
		"no secret":      "hooks: {sources: [{name: stripe}]}",
		"unknown type":   "hooks: {sources: [{name: freshdesk, secret: topsecret}]}",
		"bad name":       "hooks: {sources: [{name: Stripe!, type: stripe, secret: topsecret}]}",
		"twice":          "hooks: {sources: [{name: stripe, secret: topsecret}, {name: stripe, secret: topsecret}]}",
		"both":           "hooks: {sources: [{name: stripe, secret: topsecret, secret_file: /x}]}",
		"missing file":   "hooks: {sources: [{name: stripe, secret_file: /does/not/exist}]}",
		"generic":        "hooks: {sources: [{name: g, type: generic, secret: topsecret}]}",
		"huge body":      "hooks: {sources: [{name: stripe, secret: topsecret, max_body: 99999999}]}",
		"unknown key":    "hooks: {sources: [{name: stripe, secret: topsecret, secert: x}]}",
		"no http":        "http_listen: ''\nhooks: {sources: [{name: stripe, secret: topsecret}]}",
		"push no token":  "push: {destinations: [{name: vitally}]}",
		"push gainsight": "push: {destinations: [{name: gainsight, url: 'https://x', token: topsecret}]}",
		"push interval":  "push: {interval: 1ms, destinations: [{name: vitally, token: topsecret}]}",
		"push type":      "push: {destinations: [{name: salesforce, token: topsecret}]}",
	}
	for name, body := range tests {
		t.Run(name, func(t *testing.T) {
			_, err := Load([]string{"--config", writeFile(t, body)}, env(nil), &bytes.Buffer{})
			require.Error(t, err)
			assert.False(t, strings.Contains(err.Error(), "topsecret"), "the secret leaked: %v", err)
		})
	}
}

func TestWebhookSecretFile(t *testing.T) {
	f := filepath.Join(t.TempDir(), "s")
	require.NoError(t, os.WriteFile(f, []byte("wh-secret\n"), 0o600))
	c, err := Load([]string{"--config", writeFile(t, "webhooks:\n  - name: crm\n    url: https://crm.example.com/x\n    secret_file: "+f+"\n")}, env(nil), &bytes.Buffer{})
	require.NoError(t, err)
	assert.Equal(t, "wh-secret", c.Webhooks[0].Secret)
	assert.Empty(t, c.Webhooks[0].SecretFile)

	_, err = Load([]string{"--config", writeFile(t, "webhooks:\n  - name: crm\n    url: https://crm.example.com/x\n    secret: topsecret\n    secret_file: "+f+"\n")}, env(nil), &bytes.Buffer{})
	require.Error(t, err)
	assert.NotContains(t, err.Error(), "topsecret")
}
