package config

import (
	"bytes"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/riskwatch/riskwatch/alerting"
	"github.com/riskwatch/riskwatch/rules"
)

func env(m map[string]string) func(string) string {
	return func(k string) string { return m[k] }
}

func writeFile(t *testing.T, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "riskd.yaml")
	require.NoError(t, os.WriteFile(p, []byte(body), 0o600))
	return p
}

func TestDefaults(t *testing.T) {
	c, err := Load(nil, env(nil), &bytes.Buffer{})
	require.NoError(t, err)
	assert.Equal(t, "./riskwatch-data", c.DataDir)
	assert.Equal(t, "127.0.0.1:4222", c.NATSListen, "embedded NATS must default to loopback")
	assert.Equal(t, "127.0.0.1:7070", c.HTTPListen, "HTTP must default to loopback")
	assert.Empty(t, c.NATSURL)
}

func TestPrecedenceFileEnvFlag(t *testing.T) {
	file := writeFile(t, "data_dir: /from/file\nlog_level: warn\nhttp_listen: 127.0.0.1:1\ncheckpoint_interval: 5s\n")
	c, err := Load([]string{"--config", file, "--log-level", "debug"},
		env(map[string]string{"RISKWATCH_LOG_LEVEL": "error", "RISKWATCH_HTTP_LISTEN": "127.0.0.1:2"}), &bytes.Buffer{})
	require.NoError(t, err)
	assert.Equal(t, "/from/file", c.DataDir, "file beats default")
	assert.Equal(t, "127.0.0.1:2", c.HTTPListen, "env beats file")
	assert.Equal(t, "debug", c.LogLevel, "flag beats env")
	assert.Equal(t, 5*time.Second, c.CheckpointInterval, "file beats default")
}

func TestNATSURLFromEnvironment(t *testing.T) {
	c, err := Load(nil, env(map[string]string{"NATS_URL": "nats://n:4222"}), &bytes.Buffer{})
	require.NoError(t, err)
	assert.Equal(t, "nats://n:4222", c.NATSURL)
	c, err = Load([]string{"--nats-url", "nats://flag:4222"}, env(map[string]string{"NATS_URL": "nats://n:4222"}), &bytes.Buffer{})
	require.NoError(t, err)
	assert.Equal(t, "nats://flag:4222", c.NATSURL)
}

func TestAlertingAndWebhooksFromFile(t *testing.T) {
	file := writeFile(t, `
alerting:
  repeat: {watch: 48h, critical: 2h}
  cooldown: 12h
webhooks:
  - name: slack
    url: https://hooks.example.com/x
    format: slack
`)
	c, err := Load([]string{"--config", file}, env(nil), &bytes.Buffer{})
	require.NoError(t, err)
	assert.Equal(t, 48*time.Hour, c.Alerting.Repeat["watch"])
	assert.Equal(t, 12*time.Hour, c.Alerting.Cooldown)
	p, err := c.Policy()
	require.NoError(t, err)
	assert.Equal(t, alerting.DefaultBudget, p.Budget, "the default budget")
	assert.Equal(t, 4*time.Hour, p.Unclaimed[rules.Critical], "the default deadline")
	require.Len(t, c.Webhooks, 1)
	assert.Equal(t, "slack", c.Webhooks[0].Format)
}

func TestAlertHygieneFromFile(t *testing.T) {
	file := writeFile(t, `
alerting:
  budget: 0
  unclaimed: {at_risk: 0s, critical: 90m}
`)
	c, err := Load([]string{"--config", file}, env(nil), &bytes.Buffer{})
	require.NoError(t, err)
	p, err := c.Policy()
	require.NoError(t, err)
	assert.Equal(t, 0, p.Budget, "0 turns the budget off")
	assert.Equal(t, time.Duration(0), p.Unclaimed[rules.AtRisk], "0 never escalates at_risk")
	assert.Equal(t, 90*time.Minute, p.Unclaimed[rules.Critical])
}

func TestExampleConfigLoads(t *testing.T) {
	c, err := Load([]string{"--config", "../../configs/riskd.example.yaml"}, env(nil), &bytes.Buffer{})
	require.NoError(t, err)
	assert.Len(t, c.Webhooks, 2)
}

func TestBadConfigsNameFileAndLine(t *testing.T) {
	cases := []struct {
		name, body, want string
	}{
		{"unknown key", "data_dir: x\nnats_lisen: 1\n", "line 2: field nats_lisen not found"},
		{"bad type", "replicas: many\n", "line 1: cannot unmarshal"},
		{"bad duration", "checkpoint_interval: soon\n", "line 1"},
		{"bad level", "log_level: loud\n", `log_level "loud"`},
		{"bad listen", "http_listen: localhost\n", "http_listen"},
		{"repeat tier", "alerting: {repeat: {healthy: 1h}}\n", "alerting.repeat.healthy"},
		{"negative budget", "alerting: {budget: -1}\n", "budget -1 is negative"},
		{"unclaimed watch", "alerting: {unclaimed: {watch: 1h}}\n", "unclaimed.watch: want at_risk or critical"},
		{"unclaimed tier", "alerting: {unclaimed: {soon: 1h}}\n", "alerting.unclaimed"},
		{"unclaimed too soon", "alerting: {unclaimed: {critical: 10s}}\n", "want at least 1m"},
		{"webhook url", "webhooks: [{name: a, url: ftp://x}]\n", "absolute http(s) URL"},
		{"webhook dup", "webhooks: [{name: a, url: 'http://x'}, {name: a, url: 'http://y'}]\n", "unique name"},
		{"half tls", "http_tls_cert: c.pem\n", "go together"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			file := writeFile(t, c.body)
			_, err := Load([]string{"--config", file}, env(nil), &bytes.Buffer{})
			require.Error(t, err)
			assert.Contains(t, err.Error(), c.want)
			assert.Contains(t, err.Error(), file, "the error names the file")
		})
	}
}

func TestBadFlagsAndEnv(t *testing.T) {
	_, err := Load([]string{"--replicas", "x"}, env(nil), &bytes.Buffer{})
	require.Error(t, err)
	_, err = Load(nil, env(map[string]string{"RISKWATCH_DEMO": "maybe"}), &bytes.Buffer{})
	require.ErrorContains(t, err, "RISKWATCH_DEMO")
	_, err = Load([]string{"stray"}, env(nil), &bytes.Buffer{})
	require.ErrorContains(t, err, "unexpected argument")
	_, err = Load([]string{"--config", "/does/not/exist.yaml"}, env(nil), &bytes.Buffer{})
	require.ErrorContains(t, err, "/does/not/exist.yaml")
}

func TestHelpExplainsEveryFlag(t *testing.T) {
	var out bytes.Buffer
	_, err := Load([]string{"--help"}, env(nil), &out)
	require.True(t, errors.Is(err, flag.ErrHelp))
	help := out.String()
	for _, f := range []string{"data-dir", "rules", "nats-listen", "nats-url", "nats-creds", "http-listen",
		"demo", "log-level", "log-format", "config"} {
		assert.Contains(t, help, "--"+f)
	}
	assert.Contains(t, help, "Examples:")
	assert.Contains(t, help, "RISKWATCH_DATA_DIR")
}

func FuzzLoadFile(f *testing.F) {
	example, err := os.ReadFile("../../configs/riskd.example.yaml")
	require.NoError(f, err)
	f.Add(string(example))
	f.Add("data_dir: x\n")
	f.Add("alerting: {repeat: {watch: 1h}}\nwebhooks: [{name: a, url: 'http://x'}]\n")
	f.Fuzz(func(t *testing.T, body string) {
		p := filepath.Join(t.TempDir(), "c.yaml")
		if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		c, err := Load([]string{"--config", p}, env(nil), &bytes.Buffer{})
		if err != nil {
			if !strings.Contains(err.Error(), p) {
				t.Fatalf("error does not name the file: %v", err)
			}
			return
		}
		if err := c.Validate(); err != nil {
			t.Fatalf("accepted a config that does not validate: %v", err)
		}
	})
}

func TestVersionFlag(t *testing.T) {
	var usage bytes.Buffer
	_, err := Load([]string{"--version"}, env(nil), &usage)
	require.ErrorIs(t, err, ErrVersion)
	_, err = Load([]string{"--help"}, env(nil), &usage)
	require.ErrorIs(t, err, flag.ErrHelp)
	assert.Contains(t, usage.String(), "--version")
}

func TestPartitionsBounded(t *testing.T) {
	for _, tc := range []struct {
		args []string
		err  string
	}{
		{[]string{"--partitions", "16", "--instance", "riskd-2"}, ""},
		{[]string{"--partitions", "0"}, ""},
		{[]string{"--partitions", "257"}, "partitions 257"},
		{[]string{"--partitions", "-1"}, "partitions -1"},
	} {
		c, err := Load(tc.args, env(nil), &bytes.Buffer{})
		if err == nil {
			err = c.Validate()
		}
		if tc.err == "" {
			assert.NoError(t, err, tc.args)
		} else {
			assert.ErrorContains(t, err, tc.err, tc.args)
		}
	}
	c := Defaults()
	c.Instance = "host.example.com"
	assert.Equal(t, "host_example_com", c.InstanceName(), "dots would split the member's KV key")
}
