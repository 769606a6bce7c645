package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/riskwatch/riskwatch/alerting"
	"github.com/riskwatch/riskwatch/api"
	"github.com/riskwatch/riskwatch/configs"
	"github.com/riskwatch/riskwatch/internal/apiserver"
	"github.com/riskwatch/riskwatch/internal/buildinfo"
	"github.com/riskwatch/riskwatch/internal/cluster"
	"github.com/riskwatch/riskwatch/internal/engine"
	"github.com/riskwatch/riskwatch/internal/natstest"
)

var update = flag.Bool("update", false, "rewrite the golden files")

// syncBuffer is a bytes.Buffer safe to read while a command writes it
// from another goroutine (alerts tail).
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// result is what one riskctl run printed and returned.
type result struct {
	code           int
	stdout, stderr string
}

func riskctl(t testing.TB, stdin string, args ...string) result {
	t.Helper()
	var out, errOut syncBuffer
	code := run(args, strings.NewReader(stdin), &out, &errOut)
	return result{code, out.String(), errOut.String()}
}

// riskd is a real embedded nats-server with a real engine and the
// riskwatch micro service: what riskctl talks to in production.
type riskd struct {
	url string
	nc  *nats.Conn
	eng *engine.Engine
}

func startRiskd(t *testing.T) *riskd {
	t.Helper()
	srv, nc := natstest.Server(t, "")
	set, err := configs.LoadRules("")
	require.NoError(t, err)
	eng, err := engine.New(nc, engine.Config{Rules: set, Policy: alerting.DefaultPolicy(),
		CheckpointInterval: 50 * time.Millisecond})
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- eng.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		assert.NoError(t, <-done, "the engine stops cleanly")
	})
	// The consumer exists once the engine has set up its streams.
	js := jsFor(t, nc)
	require.Eventually(t, func() bool {
		_, err := js.Consumer(context.Background(), api.SignalsStream, "riskd")
		return err == nil
	}, 20*time.Second, 10*time.Millisecond, "the engine starts")
	svc, err := apiserver.StartService(nc, cluster.Single(eng), buildinfo.Get().Version, time.Now)
	require.NoError(t, err)
	t.Cleanup(func() { _ = svc.Stop() })
	return &riskd{url: srv.ClientURL(), nc: nc, eng: eng}
}

// ctl runs riskctl against this riskd.
func (r *riskd) ctl(t testing.TB, stdin string, args ...string) result {
	t.Helper()
	return riskctl(t, stdin, append([]string{"--server", r.url}, args...)...)
}

// waitScored waits until the engine has scored n signals of customer.
func (r *riskd) waitCustomer(t testing.TB, id string, ok func(api.CustomerView) bool) api.CustomerView {
	t.Helper()
	var v api.CustomerView
	require.Eventually(t, func() bool {
		var found bool
		v, found = r.eng.Customer(id)
		return found && ok(v)
	}, 20*time.Second, 10*time.Millisecond, "customer %s", id)
	return v
}

func golden(t *testing.T, path, got string) {
	t.Helper()
	if *update {
		require.NoError(t, os.WriteFile(path, []byte(got), 0o644))
	}
	want, err := os.ReadFile(path)
	require.NoError(t, err)
	assert.Equal(t, string(want), got)
}

func TestHelp(t *testing.T) {
	for _, c := range commands {
		t.Run(c.name, func(t *testing.T) {
			args := append(strings.Fields(c.name), "--help")
			r := riskctl(t, "", args...)
			require.Equal(t, exitOK, r.code, r.stderr)
			assert.Contains(t, r.stdout, "Usage: riskctl "+c.name)
			assert.Contains(t, r.stdout, "Example:\n  riskctl ")
			assert.Empty(t, r.stderr)

			viaHelp := riskctl(t, "", append([]string{"help"}, strings.Fields(c.name)...)...)
			assert.Equal(t, exitOK, viaHelp.code)
			assert.Equal(t, r.stdout, viaHelp.stdout)
		})
	}
	t.Run("group", func(t *testing.T) {
		r := riskctl(t, "", "help", "rules")
		require.Equal(t, exitOK, r.code)
		assert.Contains(t, r.stdout, "riskctl rules test")
	})
	t.Run("overview", func(t *testing.T) {
		r := riskctl(t, "", "help")
		require.Equal(t, exitOK, r.code)
		for _, c := range commands {
			assert.Contains(t, r.stdout, c.name)
		}
		assert.Contains(t, r.stdout, "-server")
		assert.Equal(t, r.stdout, riskctl(t, "", "--help").stdout)
	})
}

func TestUsageErrors(t *testing.T) {
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"no command", nil, "Usage: riskctl"},
		{"unknown command", []string{"frobnicate"}, `unknown command "frobnicate"`},
		{"group without command", []string{"rules"}, "riskctl rules check"},
		{"unknown flag", []string{"top", "--colour"}, "flag provided but not defined: -colour"},
		{"help of nothing", []string{"help", "nope"}, `no command "nope"`},
		{"send without input", []string{"send"}, "give --kind and --customer, or a file"},
		{"send flags and file", []string{"send", "--kind", "usage", "-f", "x.json"}, "not both"},
		{"send two files", []string{"send", "a.ndjson", "b.ndjson"}, "or --merge"},
		{"merge one file", []string{"send", "--merge", "a.ndjson"}, "two files or more"},
		{"merge stdin", []string{"send", "--merge", "a.ndjson", "-"}, "not stdin"},
		{"explain without id", []string{"explain"}, "name one customer"},
		{"snooze two ways", []string{"snooze", "acme", "--for", "1d", "--off", "--by", "me"}, "exactly one of --for, --until and --off"},
		{"bad severity", []string{"alerts", "tail", "--severity", "loud"}, `--severity "loud"`},
		{"rules test without file", []string{"rules", "test"}, "name at least one test file"},
		{"customer set nothing", []string{"customer", "set", "acme"}, "nothing to set"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := riskctl(t, "", tc.args...)
			assert.Equal(t, exitUsage, r.code)
			assert.Contains(t, r.stderr, tc.want)
		})
	}
}

func TestFlagsAfterArguments(t *testing.T) {
	r := riskctl(t, "", "rules", "check", "../../configs/rules.yaml", "--json")
	require.Equal(t, exitOK, r.code, r.stderr)
	var res []checkResult
	require.NoError(t, json.Unmarshal([]byte(r.stdout), &res))
	require.Len(t, res, 1)
	assert.True(t, res[0].OK)
}

func TestRulesCheck(t *testing.T) {
	r := riskctl(t, "", "rules", "check", "../../configs/rules.yaml")
	assert.Equal(t, exitOK, r.code, r.stdout+r.stderr)
	assert.Regexp(t, `^\.\./\.\./configs/rules\.yaml: \d+ rules OK\n$`, r.stdout)

	builtIn := riskctl(t, "", "rules", "check")
	assert.Equal(t, exitOK, builtIn.code)
	assert.Contains(t, builtIn.stdout, "(built in)")

	bad := riskctl(t, "", "rules", "check", "testdata/bad_rules.yaml")
	assert.Equal(t, exitFail, bad.code)
	golden(t, "testdata/rules_check.golden", bad.stdout)
	assert.Contains(t, bad.stderr, "testdata/bad_rules.yaml: 3 problems")

	js := riskctl(t, "", "rules", "check", "--json", "testdata/bad_rules.yaml")
	assert.Equal(t, exitFail, js.code)
	var res []checkResult
	require.NoError(t, json.Unmarshal([]byte(js.stdout), &res))
	require.Len(t, res, 1)
	require.Len(t, res[0].Errors, 3)
	assert.Equal(t, 6, res[0].Errors[1].Line)
	assert.Equal(t, "ticket-spike", res[0].Errors[1].Rule)

	missing := riskctl(t, "", "rules", "check", "testdata/nope.yaml")
	assert.Equal(t, exitFail, missing.code)
	assert.Contains(t, missing.stdout, "no such file")
}

func TestRulesTest(t *testing.T) {
	r := riskctl(t, "", "rules", "test", "../../configs/rules_test.yaml")
	assert.Equal(t, exitOK, r.code, r.stdout)
	assert.Regexp(t, `rules_test\.yaml: \d+ tests passed`, r.stdout)

	bad := riskctl(t, "", "rules", "test", "testdata/failing_rules_test.yaml")
	assert.Equal(t, exitFail, bad.code)
	golden(t, "testdata/rules_test_failure.golden", bad.stdout)

	invalid := riskctl(t, "", "rules", "test", "testdata/bad_rules.yaml")
	assert.Equal(t, exitFail, invalid.code)
	assert.Contains(t, invalid.stdout, `testdata/bad_rules.yaml:2: unknown key "tiers"`)
	assert.Contains(t, invalid.stdout, "FAILED to load")
}

func TestRulesFeatures(t *testing.T) {
	r := riskctl(t, "", "rules", "features")
	require.Equal(t, exitOK, r.code)
	assert.Regexp(t, `tickets\.spike_ratio\s+double\s+opened_7d`, r.stdout)
	js := riskctl(t, "", "rules", "features", "--json")
	var feats []struct{ Name, Type, Doc string }
	require.NoError(t, json.Unmarshal([]byte(js.stdout), &feats))
	assert.NotEmpty(t, feats)
}

func TestReplay(t *testing.T) {
	r := riskctl(t, "", "replay", "testdata/replay.ndjson")
	require.Equal(t, exitOK, r.code, r.stderr)
	golden(t, "testdata/replay.golden", r.stdout)
	assert.Empty(t, r.stderr, "no progress line unless asked for or on a terminal")

	js := riskctl(t, "", "replay", "--json", "testdata/replay.ndjson")
	require.Equal(t, exitOK, js.code, js.stderr)
	var res struct {
		Customers []api.CustomerView   `json:"customers"`
		Rejected  []struct{ Line int } `json:"rejected"`
		Alerts    []alerting.Alert     `json:"alerts"`
	}
	require.NoError(t, json.Unmarshal([]byte(js.stdout), &res))
	require.NotEmpty(t, res.Customers)
	assert.Equal(t, "acme-corp", res.Customers[0].Customer)
	assert.Equal(t, "critical", res.Customers[0].Tier.String(), "cancellation 45 + enterprise champion 35 + detractor 10")
	assert.Len(t, res.Rejected, 2)

	prog := riskctl(t, "", "replay", "--progress", "testdata/replay.ndjson")
	require.Equal(t, exitOK, prog.code)
	assert.Contains(t, prog.stderr, "100%")

	missing := riskctl(t, "", "replay", "testdata/nope.ndjson")
	assert.Equal(t, exitFail, missing.code)
	assert.Contains(t, missing.stderr, "no such file")
}

func TestNoServer(t *testing.T) {
	r := riskctl(t, "", "--server", "nats://127.0.0.1:1", "--timeout", "200ms", "top")
	assert.Equal(t, exitFail, r.code)
	assert.Contains(t, r.stderr, "riskctl top: connect to NATS at nats://127.0.0.1:1")
}

func TestVersion(t *testing.T) {
	r := riskctl(t, "", "--version")
	require.Equal(t, exitOK, r.code, r.stderr)
	assert.Equal(t, "riskctl "+buildinfo.Get().String()+"\n", r.stdout)
}
