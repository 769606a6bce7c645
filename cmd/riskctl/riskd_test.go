package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/riskwatch/riskwatch/alerting"
	"github.com/riskwatch/riskwatch/api"
	"github.com/riskwatch/riskwatch/internal/natstest"
	"github.com/riskwatch/riskwatch/rules"
	"github.com/riskwatch/riskwatch/scorer"
)

// natstestServer is a NATS server without riskd.
func natstestServer(t *testing.T) (string, *nats.Conn) {
	t.Helper()
	srv, nc := natstest.Server(t, "")
	return srv.ClientURL(), nc
}

func jsFor(t testing.TB, nc *nats.Conn) jetstream.JetStream {
	t.Helper()
	js, err := jetstream.New(nc)
	require.NoError(t, err)
	return js
}

// base is an event time well inside the engine's far-future bound.
func base() time.Time { return time.Now().UTC().Add(-72 * time.Hour).Truncate(time.Hour) }

func envelope(id, kind, customer string, at time.Time, data string) string {
	return fmt.Sprintf(`{"id":%q,"kind":%q,"customer":%q,"time":%q,"source":"test","data":%s}`,
		id, kind, customer, at.Format(time.RFC3339), data)
}

// churnScenario is an NDJSON file that makes customer at_risk (45 points:
// a discount request mid-term 5, champion lost 30, detractor 10) with two
// alerts: raised watch (35), escalated at_risk. A small account's bands
// (watch 25, at_risk 40): elsewhere the champion's leaving alone would be
// at_risk, and there would be one alert.
func churnScenario(customer, owner string, at time.Time) string {
	return strings.Join([]string{
		fmt.Sprintf(`{"profile":{"id":%q,"name":"Acme Corp","arr":120000,"segment":"smb","owner":%q}}`, customer, owner),
		envelope(customer+"-crm-1", "commercial", customer, at, `{"type":"discount_request"}`),
		envelope(customer+"-crm-2", "champion", customer, at.Add(time.Hour), `{"type":"left","contact":"Jo"}`),
		envelope(customer+"-nps-1", "nps", customer, at.Add(2*time.Hour), `{"score":2,"comment":"too slow"}`),
	}, "\n") + "\n"
}

func atRisk(v api.CustomerView) bool { return v.Tier == rules.AtRisk && len(v.Reasons) == 3 }

func TestSendFromFlags(t *testing.T) {
	r := startRiskd(t)
	at := base()
	args := []string{"send", "--kind", "ticket", "--customer", "acme-corp", "--id", "zd-1",
		"--time", at.Format(time.RFC3339), "--data", `{"ticket_id":"1","status":"opened","priority":"urgent"}`}
	res := r.ctl(t, "", args...)
	require.Equal(t, exitOK, res.code, res.stderr)
	assert.Contains(t, res.stdout, "published zd-1 to risk.signals.ticket.acme-corp")

	again := r.ctl(t, "", args...)
	require.Equal(t, exitOK, again.code, again.stderr)
	assert.Contains(t, again.stdout, "duplicate: signal zd-1 is already in stream RISK_SIGNALS")

	odd := r.ctl(t, "", "send", "--kind", "usage", "--customer", "a.b.>", "--data", `{"events":3}`, "--json")
	require.Equal(t, exitOK, odd.code, odd.stderr)
	assert.Contains(t, odd.stderr, "no --id given; using riskctl-", "a generated id is announced")
	var rep sendReport
	require.NoError(t, json.Unmarshal([]byte(odd.stdout), &rep))
	assert.Equal(t, 1, rep.Published)

	rejected := r.ctl(t, "", "send", "--kind", "nps", "--customer", "acme-corp", "--id", "nps-x", "--data", `{"score":11}`)
	assert.Equal(t, exitFail, rejected.code)
	assert.Contains(t, rejected.stderr, "rejected: out_of_range: data.score")

	r.waitCustomer(t, "acme-corp", func(v api.CustomerView) bool { return v.LastEvent.Equal(at) })
	r.waitCustomer(t, "a.b.>", func(api.CustomerView) bool { return true })
}

func TestSendFile(t *testing.T) {
	r := startRiskd(t)
	at := base()
	path := filepath.Join(t.TempDir(), "signal.json")
	pretty := "{\n  \"id\": \"mention-1\",\n  \"kind\": \"mention\",\n  \"customer\": \"globex\",\n  \"time\": \"" +
		at.Format(time.RFC3339) + "\",\n  \"data\": {\"channel\": \"twitter\", \"sentiment\": -0.8, \"reach\": 5000}\n}\n"
	require.NoError(t, os.WriteFile(path, []byte(pretty), 0o600))
	res := r.ctl(t, "", "send", "-f", path)
	require.Equal(t, exitOK, res.code, res.stderr)
	assert.Contains(t, res.stdout, "published 1 signals and 0 profiles")
	v := r.waitCustomer(t, "globex", func(v api.CustomerView) bool { return len(v.Reasons) == 1 })
	assert.Equal(t, "negative-mention-wide-reach", v.Reasons[0].Rule)
}

func TestSendNDJSONReportsRejectsAndScoresTheRest(t *testing.T) {
	r := startRiskd(t)
	at := base()
	in := churnScenario("acme-corp", "alice", at) +
		`{"kind":"ticket","customer":"acme-corp","time":"` + at.Format(time.RFC3339) + `","data":{}}` + "\n" +
		"\n" +
		envelope("acme-corp-crm-1", "commercial", "acme-corp", at, `{"type":"discount_request"}`) + "\n"
	res := r.ctl(t, in, "send", "-")
	assert.Equal(t, exitFail, res.code, "a rejected line fails the command")
	assert.Contains(t, res.stderr, "stdin:5: rejected: missing_field: id: required")
	assert.Contains(t, res.stdout, "published 3 signals and 1 profiles; 1 duplicates dropped; 1 lines rejected")

	v := r.waitCustomer(t, "acme-corp", atRisk)
	assert.Equal(t, 45.0, v.Score)
	assert.Equal(t, "alice", v.Owner, "the profile line was published too")

	js := r.ctl(t, in, "send", "--json", "-")
	assert.Equal(t, exitFail, js.code)
	var rep sendReport
	require.NoError(t, json.Unmarshal([]byte(js.stdout), &rep))
	assert.Equal(t, 0, rep.Published, "all were sent before")
	assert.Equal(t, 4, rep.Duplicates)
	require.Len(t, rep.Rejected, 1)
	assert.Equal(t, 5, rep.Rejected[0].Line)
	assert.Equal(t, "missing_field", rep.Rejected[0].Reason)
}

func TestSendWithoutRiskd(t *testing.T) {
	srv, _ := natstestServer(t)
	res := riskctl(t, envelope("u-1", "usage", "acme", base(), `{}`)+"\n", "--server", srv, "--timeout", "3s", "send", "-")
	assert.Equal(t, exitFail, res.code)
	assert.Contains(t, res.stderr, "no stream stores it: is riskd running")
}

func TestCustomerSetAndGet(t *testing.T) {
	r := startRiskd(t)
	require.Equal(t, exitOK, r.ctl(t, envelope("u-1", "usage", "acme-corp", base(), `{"events":5}`)+"\n", "send", "-").code)
	r.waitCustomer(t, "acme-corp", func(api.CustomerView) bool { return true })

	set := r.ctl(t, "", "customer", "set", "acme-corp", "--name", "Acme Corp", "--arr", "120000",
		"--renewal-date", "2099-01-15", "--segment", "enterprise", "--owner", "alice", "--stage", "adoption")
	require.Equal(t, exitOK, set.code, set.stderr)
	assert.Contains(t, set.stdout, "stored the profile of acme-corp")

	// Changing one field keeps the others.
	owner := r.ctl(t, "", "customer", "set", "acme-corp", "--owner", "bob")
	require.Equal(t, exitOK, owner.code, owner.stderr)

	get := r.ctl(t, "", "customer", "get", "acme-corp")
	require.Equal(t, exitOK, get.code, get.stderr)
	assert.Regexp(t, `customer\s+acme-corp \(Acme Corp\)`, get.stdout)
	assert.Regexp(t, `owner\s+bob`, get.stdout)
	assert.Regexp(t, `ARR\s+\$120,000`, get.stdout)
	assert.Regexp(t, `renewal\s+2099-01-15 \(in \d+ days\)`, get.stdout)
	assert.Regexp(t, `alerts\s+no open alert`, get.stdout)

	js := r.ctl(t, "", "customer", "get", "acme-corp", "--json")
	require.Equal(t, exitOK, js.code)
	var v api.CustomerView
	require.NoError(t, json.Unmarshal([]byte(js.stdout), &v))
	require.NotNil(t, v.Profile)
	assert.Equal(t, "adoption", v.Profile.Stage)

	path := filepath.Join(t.TempDir(), "p.json")
	require.NoError(t, os.WriteFile(path, []byte(`{"name":"Acme","owner":"carol"}`), 0o600))
	fromFile := r.ctl(t, "", "customer", "set", "acme-corp", "-f", path)
	require.Equal(t, exitOK, fromFile.code, fromFile.stderr)
	p, _ := r.eng.Profile("acme-corp")
	assert.Equal(t, "carol", p.Owner)
	assert.Zero(t, p.ARR, "-f replaces the whole profile")

	bad := r.ctl(t, "", "customer", "set", "acme-corp", "--stage", "teenage")
	assert.Equal(t, exitFail, bad.code)
	assert.Contains(t, bad.stderr, "invalid profile: out_of_range: stage")

	unknown := r.ctl(t, "", "customer", "get", "nobody")
	assert.Equal(t, exitFail, unknown.code)
	assert.Contains(t, unknown.stderr, `riskctl customer get: unknown customer "nobody" (404)`)
}

func TestTopAndExplain(t *testing.T) {
	r := startRiskd(t)
	at := base()
	in := churnScenario("acme-corp", "alice", at) +
		`{"profile":{"id":"globex","arr":40000,"segment":"mid_market","owner":"bob"}}` + "\n" +
		envelope("globex-bill-1", "billing", "globex", at, `{"type":"invoice_overdue"}`) + "\n" +
		envelope("initech-u-1", "usage", "initech", at, `{"events":4}`) + "\n"
	require.Equal(t, exitOK, r.ctl(t, in, "send", "-").code)
	r.waitCustomer(t, "acme-corp", atRisk)
	r.waitCustomer(t, "initech", func(api.CustomerView) bool { return true })
	r.waitCustomer(t, "globex", func(v api.CustomerView) bool { return v.Score == 12 })

	top := r.ctl(t, "", "top")
	require.Equal(t, exitOK, top.code, top.stderr)
	lines := strings.Split(strings.TrimSpace(top.stdout), "\n")
	require.Len(t, lines, 2, "only acme-corp is above healthy:\n%s", top.stdout)
	assert.Regexp(t, `CUSTOMER\s+OWNER\s+SEGMENT\s+TIER\s+SCORE\s+CHANGE 1D\s+P\(CHURN 90D\)\s+ARR\s+AT RISK\s+RENEWS IN`, lines[0])
	assert.Regexp(t, `acme-corp \(Acme Corp\)\s+alice\s+smb\s+at_risk\s+45\.0\s+\S+\s+\d+%\s+\$120,000\s+\$54,000\s+-`, lines[1])

	all := r.ctl(t, "", "top", "--tier", "all", "--owner", "bob")
	require.Equal(t, exitOK, all.code)
	assert.Contains(t, all.stdout, "globex")
	assert.NotContains(t, all.stdout, "acme-corp")

	none := r.ctl(t, "", "top", "--tier", "critical")
	assert.Equal(t, "no customers match\n", none.stdout)

	js := r.ctl(t, "", "top", "--json", "--tier", "all")
	var list struct{ Customers []api.CustomerView }
	require.NoError(t, json.Unmarshal([]byte(js.stdout), &list))
	assert.Len(t, list.Customers, 3)

	badTier := r.ctl(t, "", "top", "--tier", "purple")
	assert.Equal(t, exitFail, badTier.code)
	assert.Contains(t, badTier.stderr, `tier "purple"`)

	ex := r.ctl(t, "", "explain", "acme-corp")
	require.Equal(t, exitOK, ex.code, ex.stderr)
	out := ex.stdout
	assert.Contains(t, out, "acme-corp (Acme Corp)  owner alice  segment smb  ARR $120,000")
	assert.Contains(t, out, "score 45.0  tier at_risk  revenue at risk $54,000")
	assert.Regexp(t, `price-pressure\s+\+5\.0\s+firing\s+1 discount, 0 downgrade and 0 contract reduction requests in 90 days\s+acme-corp-crm-1`, out)
	assert.Regexp(t, `champion-lost\s+\+30\.0\s+firing\s+.*acme-corp-crm-2`, out)
	assert.Regexp(t, `nps-detractor\s+\+10\.0\s+firing\s+NPS answer 2 .*acme-corp-nps-1`, out)
	assert.Regexp(t, `\s45\.0\s+total`, out)
	assert.Contains(t, out, "→ Find and meet the new decision maker")
	assert.Contains(t, out, "▄", "the sparkline shows the day's 45")
	assert.Regexp(t, `raised\s+healthy → watch\s+score 35\.0`, out)
	assert.Regexp(t, `escalated\s+watch → at_risk\s+score 45\.0`, out)
	assert.Contains(t, out, "Alerts: open alert ")

	quiet := r.ctl(t, "", "explain", "initech")
	require.Equal(t, exitOK, quiet.code)
	assert.Contains(t, quiet.stdout, "No rule contributes to the score.")
	assert.Contains(t, quiet.stdout, "no alert yet; tier healthy")

	exJSON := r.ctl(t, "", "explain", "--json", "acme-corp")
	var v api.CustomerView
	require.NoError(t, json.Unmarshal([]byte(exJSON.stdout), &v))
	assert.Len(t, v.Reasons, 3)

	unknown := r.ctl(t, "", "explain", "nobody")
	assert.Equal(t, exitFail, unknown.code)
	assert.Contains(t, unknown.stderr, "unknown customer")
}

func TestAlertsTailAckAndSnooze(t *testing.T) {
	r := startRiskd(t)
	// Follow alice's alerts, then make one of her customers churn.
	var out, errOut syncBuffer
	done := make(chan int, 1)
	go func() {
		done <- run([]string{"--server", r.url, "alerts", "tail", "--owner", "alice", "--count", "2"},
			strings.NewReader(""), &out, &errOut)
	}()
	require.Eventually(t, func() bool { return strings.Contains(errOut.String(), "listening on") }, 10*time.Second, 5*time.Millisecond)
	assert.Contains(t, errOut.String(), "listening on risk.alerts.*.alice.>")

	// bob's customer must not show up in alice's tail.
	require.Equal(t, exitOK, r.ctl(t, churnScenario("bobco", "bob", base()), "send", "-").code)
	r.waitCustomer(t, "bobco", atRisk)
	require.Equal(t, exitOK, r.ctl(t, churnScenario("acme-corp", "alice", base()), "send", "-").code)
	select {
	case code := <-done:
		assert.Equal(t, exitOK, code)
	case <-time.After(20 * time.Second):
		t.Fatal("alerts tail did not stop after 2 alerts")
	}
	tail := out.String()
	assert.Contains(t, tail, "🟡 WATCH     raised    Acme Corp (acme-corp)")
	assert.Contains(t, tail, "🟠 AT_RISK   escalated Acme Corp (acme-corp)")
	assert.NotContains(t, tail, "bobco")

	// The JSON form prints the payloads; the stream has them already, so
	// trigger one more alert: a resolution by churn.
	var jsonOut, jsonErr syncBuffer
	jsonDone := make(chan int, 1)
	go func() {
		jsonDone <- run([]string{"--server", r.url, "alerts", "tail", "--customer", "acme-corp", "--json", "--count", "1"},
			strings.NewReader(""), &jsonOut, &jsonErr)
	}()
	require.Eventually(t, func() bool { return strings.Contains(jsonErr.String(), "listening on") }, 10*time.Second, 5*time.Millisecond)

	v := r.waitCustomer(t, "acme-corp", atRisk)
	alertID := v.Alerting.LastID
	require.NotEmpty(t, alertID)

	ack := r.ctl(t, "", "ack", alertID, "--by", "alice", "--note", "called Jo's successor")
	require.Equal(t, exitOK, ack.code, ack.stderr)
	assert.Equal(t, "acknowledged alert "+alertID+" of acme-corp (Acme Corp), tier at_risk, as alice\n", ack.stdout)
	v = r.waitCustomer(t, "acme-corp", func(v api.CustomerView) bool { return v.Alerting.Ack != nil })
	assert.Equal(t, "called Jo's successor", v.Alerting.Ack.Note)

	get := r.ctl(t, "", "customer", "get", "acme-corp")
	assert.Contains(t, get.stdout, "acknowledged by alice")

	wrong := r.ctl(t, "", "ack", "0123456789abcdef", "--by", "alice")
	assert.Equal(t, exitFail, wrong.code)
	assert.Contains(t, wrong.stderr, `no open alert "0123456789abcdef" (404)`)

	snooze := r.ctl(t, "", "snooze", "acme-corp", "--for", "72h", "--by", "alice", "--reason", "migration week")
	require.Equal(t, exitOK, snooze.code, snooze.stderr)
	assert.Regexp(t, `^snoozed acme-corp \(Acme Corp\) until \S+ \(by alice\)\n$`, snooze.stdout)
	v = r.waitCustomer(t, "acme-corp", func(v api.CustomerView) bool { return v.Alerting.Snooze != nil })
	assert.WithinDuration(t, time.Now().Add(72*time.Hour), v.Alerting.Snooze.Until, time.Minute)

	off := r.ctl(t, "", "snooze", "acme-corp", "--off", "--by", "alice")
	require.Equal(t, exitOK, off.code, off.stderr)
	assert.Equal(t, "lifted the snooze of acme-corp (Acme Corp)\n", off.stdout)

	offAgain := r.ctl(t, "", "snooze", "acme-corp", "--off", "--by", "alice")
	assert.Equal(t, exitFail, offAgain.code)
	assert.Contains(t, offAgain.stderr, "not snoozed")

	// As a CSM user: only the owner's customers, by the owner.
	notHers := r.ctl(t, "", "snooze", "acme-corp", "--for", "1h", "--as-owner", "bob")
	assert.Equal(t, exitFail, notHers.code)
	assert.Contains(t, notHers.stderr, `customer "acme-corp" is not one of bob's customers (403)`)
	hers := r.ctl(t, "", "snooze", "acme-corp", "--for", "1h", "--as-owner", "alice", "--inbox-prefix", "_INBOX.csm-alice")
	require.Equal(t, exitOK, hers.code, hers.stderr)
	assert.Contains(t, hers.stdout, "(by alice)")
	require.Equal(t, exitOK, r.ctl(t, "", "snooze", "acme-corp", "--off", "--as-owner", "alice").code)

	churn := envelope("acme-corp-out-1", "outcome", "acme-corp", base().Add(3*time.Hour), `{"type":"churned"}`)
	require.Equal(t, exitOK, r.ctl(t, churn+"\n", "send", "-").code)
	select {
	case code := <-jsonDone:
		assert.Equal(t, exitOK, code)
	case <-time.After(20 * time.Second):
		t.Fatal("alerts tail --json did not stop")
	}
	var a alerting.Alert
	require.NoError(t, json.Unmarshal([]byte(strings.TrimSpace(jsonOut.String())), &a))
	assert.Equal(t, alerting.Resolved, a.Type)
	assert.True(t, a.Churned)
}

func TestContext(t *testing.T) {
	r := startRiskd(t)
	require.Equal(t, exitOK, r.ctl(t, envelope("u-1", "usage", "acme-corp", base(), `{}`)+"\n", "send", "-").code)
	r.waitCustomer(t, "acme-corp", func(api.CustomerView) bool { return true })

	cfg := t.TempDir()
	require.NoError(t, os.MkdirAll(filepath.Join(cfg, "nats", "context"), 0o700))
	require.NoError(t, os.WriteFile(filepath.Join(cfg, "nats", "context", "riskwatch.json"),
		[]byte(`{"url":"`+r.url+`"}`), 0o600))
	t.Setenv("XDG_CONFIG_HOME", cfg)

	res := riskctl(t, "", "--context", "riskwatch", "customer", "get", "acme-corp")
	require.Equal(t, exitOK, res.code, res.stderr)
	assert.Contains(t, res.stdout, "acme-corp")

	// --server overrides the context's URL.
	res = riskctl(t, "", "customer", "get", "acme-corp", "--context", "riskwatch", "--server", "nats://127.0.0.1:1", "--timeout", "200ms")
	assert.Equal(t, exitFail, res.code)

	res = riskctl(t, "", "--context", "nope", "top")
	assert.Equal(t, exitFail, res.code)
	assert.Contains(t, res.stderr, `unknown context "nope"`)
}

func TestOutcomesAndFatesInExplain(t *testing.T) {
	r := startRiskd(t)
	// acme-corp turns at_risk nine days ago, keeps using the product a
	// little and churns five days later; globex churns unwarned.
	at := base().Add(-6 * 24 * time.Hour)
	in := churnScenario("acme-corp", "alice", at) +
		`{"profile":{"id":"globex","arr":40000,"owner":"alice"}}` + "\n"
	for d := 0; d <= 6; d++ {
		in += envelope(fmt.Sprintf("acme-u-%d", d), "usage", "acme-corp", at.Add(time.Duration(d*24+6)*time.Hour), `{"events":2}`) + "\n"
		in += envelope(fmt.Sprintf("globex-u-%d", d), "usage", "globex", at.Add(time.Duration(d*24+6)*time.Hour), `{"events":20}`) + "\n"
	}
	in += envelope("acme-churn", "outcome", "acme-corp", at.Add(5*24*time.Hour+9*time.Hour), `{"type":"churned"}`) + "\n" +
		envelope("globex-churn", "outcome", "globex", at.Add(5*24*time.Hour+10*time.Hour), `{"type":"churned"}`) + "\n"
	require.Equal(t, exitOK, r.ctl(t, in, "send", "-").code)
	r.waitCustomer(t, "acme-corp", func(v api.CustomerView) bool { return v.Fate == scorer.FateChurnedAfterAlert })
	r.waitCustomer(t, "globex", func(v api.CustomerView) bool { return v.Fate == scorer.FateChurnedWithoutAlert })

	out := r.ctl(t, "", "outcomes")
	require.Equal(t, exitOK, out.code, out.stderr)
	assert.Contains(t, out.stdout, "2 outcomes, 2 churned; 0 customers open")
	assert.Regexp(t, `churned_after_alert\s+1\n`, out.stdout)
	assert.Regexp(t, `churned_without_alert\s+1\n`, out.stdout)
	assert.Contains(t, out.stdout, "lost after an alert $120,000, without one $40,000")
	assert.Contains(t, out.stdout, "churns warned 50%")
	assert.Regexp(t, `median \d+\.\d days`, out.stdout)
	assert.Regexp(t, `alice\s+2\s+0\s+1\s+1\s+0\s+\$0\s+\$160,000`, out.stdout)

	js := r.ctl(t, "", "outcomes", "--json", "--owner", "bob")
	require.Equal(t, exitOK, js.code, js.stderr)
	var s api.OutcomesSummary
	require.NoError(t, json.Unmarshal([]byte(js.stdout), &s))
	assert.Zero(t, s.Outcomes, "bob has no customer")

	bad := r.ctl(t, "", "outcomes", "--since", "yesterday")
	assert.Equal(t, exitUsage, bad.code)
	assert.Contains(t, bad.stderr, `since "yesterday"`)

	ex := r.ctl(t, "", "explain", "acme-corp")
	require.Equal(t, exitOK, ex.code, ex.stderr)
	assert.Regexp(t, `Outcomes:\n\s+\d{4}-\d\d-\d\d\s+churned\s+ARR -\$120,000\s+churned_after_alert\s+at_risk since \d{4}-\d\d-\d\d, \d+\.\d days ahead\s+acme-churn`, ex.stdout)
	assert.Contains(t, ex.stdout, "Fate: churned_after_alert")
	quiet := r.ctl(t, "", "explain", "globex")
	assert.Regexp(t, `churned_without_alert\s+no at_risk day before it`, quiet.stdout)
}
