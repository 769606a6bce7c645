package main

import (
	"bytes"
	"context"
	"flag"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/riskwatch/riskwatch/alerting"
	"github.com/riskwatch/riskwatch/internal/statelog"
	"github.com/riskwatch/riskwatch/scorer"
	"github.com/riskwatch/riskwatch/signals"
)

var update = flag.Bool("update", false, "rewrite the golden files")

// TestMain lets the test binary play the restart child, as riskbench's own
// binary does.
func TestMain(m *testing.M) {
	if os.Getenv(childEnv) != "" {
		os.Exit(childMain())
	}
	os.Exit(m.Run())
}

var wlEnd = time.Date(2026, 11, 20, 12, 0, 0, 0, time.UTC)

func smallCorpus(t *testing.T, seed uint64) *corpus {
	t.Helper()
	w := newWorkload(300, wlEnd, seed)
	c := &corpus{}
	require.NoError(t, w.addProfiles(c))
	w.addSignals(c, 5000, wlEnd.Add(-72*time.Hour), wlEnd)
	return c
}

func TestWorkloadIsValidRealisticAndDeterministic(t *testing.T) {
	c := smallCorpus(t, 7)
	require.Equal(t, 5300, c.Len())
	again := smallCorpus(t, 7)
	assert.Equal(t, c.buf, again.buf, "the same seed gives the same messages")
	other := smallCorpus(t, 8)
	assert.NotEqual(t, c.buf, other.buf, "another seed gives other messages")

	kinds := map[signals.Kind]int{}
	customers := map[string]bool{}
	var last time.Time
	for i := range c.Len() {
		subj, data := c.Subject(i), c.Data(i)
		if strings.HasPrefix(subj, signals.CustomerPrefix) {
			p, err := signals.DecodeProfile(subj, data)
			require.NoError(t, err, "profile %d", i)
			assert.Equal(t, "profile-"+p.ID, c.ID(i))
			continue
		}
		s, err := signals.Decode(subj, data, wlEnd)
		require.NoError(t, err, "signal %d: %s", i, data)
		assert.Equal(t, s.ID, c.ID(i), "the Nats-Msg-Id is the signal id")
		assert.False(t, s.Time.Before(last), "signals come in event-time order")
		last = s.Time
		kinds[s.Kind]++
		customers[s.Customer] = true
	}
	usage := float64(kinds[signals.KindUsage]) / 5000
	assert.InDelta(t, 0.86, usage, 0.03, "mostly usage events")
	for _, k := range []signals.Kind{signals.KindTicket, signals.KindNPS, signals.KindContact, signals.KindBilling,
		signals.KindCommercial, signals.KindMention, signals.KindRating, signals.KindChampion} {
		assert.Positive(t, kinds[k], "kind %s appears", k)
	}
	assert.Greater(t, len(customers), 200, "signals spread over the customer base")
}

func TestSeqOf(t *testing.T) {
	for _, tc := range []struct {
		id   string
		want int
		ok   bool
	}{
		{"cust-0001-42", 42, true},
		{"cust-0001-", 0, false},
		{"nodash", 0, false},
		{"x-y-7z", 0, false},
	} {
		got, ok := seqOf(tc.id)
		assert.Equal(t, tc.ok, ok, tc.id)
		assert.Equal(t, tc.want, got, tc.id)
	}
}

func TestRenamed(t *testing.T) {
	st := scorer.NewState("a.b c")
	r := statelog.Record{State: st, Alert: alerting.State{LastID: "al-1"}}
	c := renamed(r, "-x2")
	assert.Equal(t, "a.b c-x2", c.State.Customer)
	assert.Equal(t, "a.b c", r.State.Customer, "the original keeps its id")
	// Nothing but the customer differs.
	orig, err := statelog.AppendRecord(nil, r)
	require.NoError(t, err)
	c.State.Customer = "a.b c"
	copied, err := statelog.AppendRecord(nil, c)
	require.NoError(t, err)
	assert.Equal(t, orig, copied)
}

func TestParseFlags(t *testing.T) {
	o, err := parse(nil, io.Discard)
	require.NoError(t, err)
	assert.Equal(t, 1_000_000, o.Signals)
	assert.Equal(t, 100_000, o.Customers)
	assert.Equal(t, 10_000.0, o.Rate)
	assert.Equal(t, 1_000_000, o.RestartCustomers)
	assert.Empty(t, o.Skip)

	o, err = parse([]string{"--signals", "10", "--skip", "raw, restart", "--nats-url", "nats://x:4222"}, io.Discard)
	require.NoError(t, err)
	assert.Equal(t, 10, o.Signals)
	assert.True(t, o.skipped("raw"))
	assert.True(t, o.skipped("restart"))
	assert.False(t, o.skipped("core"))
	assert.Equal(t, "nats://x:4222", o.NATSURL)

	for _, bad := range [][]string{
		{"--skip", "everything"},
		{"--signals", "0"},
		{"--days", "0"},
		{"--rate", "-1"},
		{"extra"},
	} {
		_, err := parse(bad, io.Discard)
		assert.Error(t, err, "%q", bad)
	}
}

func TestNum(t *testing.T) {
	for in, want := range map[float64]string{0: "0", 999: "999", 1000: "1,000", 1234567.4: "1,234,567", -45678: "-45,678"} {
		assert.Equal(t, want, num(in))
	}
}

// sampleResults are fixed numbers for the report's golden file.
func sampleResults() *results {
	r := &results{Options: options{Signals: 1_000_000, Customers: 100_000}, Go: "go1.26.8", CPUs: 2, GOMAXPROCS: 2,
		Server: "2.15.2", Messages: 1_100_000, Profiles: 100_000, MeanSignalBytes: 150}
	r.Publish = newRate(1_100_000, 165_000_000, 8*time.Second)
	r.ConsumeFetch = newRate(1_100_000, 165_000_000, 4*time.Second)
	r.ConsumeMessages = newRate(1_100_000, 165_000_000, 3200*time.Millisecond)
	r.Ingest = ingest{rate: newRate(1_100_000, 165_000_000, 4*time.Second), Checkpoints: 9, CheckpointSeconds: 3.5,
		Alerts: 1234, Rejected: 0}
	r.Core = &coreResults{
		Decode: coreResult{Signals: 1_000_000, Rate: 1_200_000, NsPerSignal: 833, AllocsPer: 9.1, BytesPer: 724},
		Score:  coreResult{Signals: 1_000_000, Rate: 250_000, NsPerSignal: 4000, AllocsPer: 5.3, BytesPer: 835},
		Step:   coreResult{Signals: 1_000_000, Rate: 200_000, NsPerSignal: 5000, AllocsPer: 0.6, BytesPer: 150},
	}
	r.Latency = &latencyResult{OfferedRate: 10_000, AchievedRate: 9_998, Signals: 300_000,
		Score:     quantile{Count: 300_000, P50: 0.4, P99: 8.5, P999: 20.1, Max: 31},
		Alert:     quantile{Count: 2100, P50: 0.6, P99: 12.5, P999: 25, Max: 40},
		Unmatched: 3, Sweeps: 1, MaxSweepMS: 180, Checkpoints: 15, MeanCPms: 300}
	r.Memory = []restartResult{
		{Customers: 100_000, HeapPerCust: 1650, RSSPerCust: 3100, TotalRSSBytes: 400 << 20, PeakRSSBytes: 450 << 20},
		{Customers: 1_000_000, HeapPerCust: 1640, RSSPerCust: 3000, TotalRSSBytes: 3 << 30, PeakRSSBytes: 3 << 30},
	}
	r.Restart = &restartResult{Customers: 1_000_000, Profiles: 1_000_000, ReadySeconds: 12.3, TotalRSSBytes: 3 << 30}
	return r
}

func TestTableGolden(t *testing.T) {
	r := sampleResults()
	r.check()
	got := r.table()
	path := filepath.Join("testdata", "table.golden")
	if *update {
		require.NoError(t, os.MkdirAll("testdata", 0o755))
		require.NoError(t, os.WriteFile(path, []byte(got), 0o644))
	}
	want, err := os.ReadFile(path)
	require.NoError(t, err)
	assert.Equal(t, string(want), got)
}

func TestTargets(t *testing.T) {
	r := sampleResults()
	r.check()
	verdicts := map[string]bool{}
	for _, tg := range r.Targets {
		verdicts[tg.Name] = tg.OK
	}
	assert.Equal(t, map[string]bool{
		"ingest / raw consume":        true,  // 275,000/s against 343,750/s: 0.8
		"core score / raw consume":    false, // 250,000/s: 0.73, not 5
		"p99 publish-to-alert ms":     false, // 12.5
		"heap B/customer @100000":     false,
		"heap B/customer @1000000":    false,
		"RSS GiB per 1M customers":    false, // 3
		"restart to ready s @1000000": false, // 12.3
	}, verdicts)
}

// TestBenchTiny runs the whole benchmark at toy sizes against an embedded
// server: every phase must report, and nothing is asserted about speed.
func TestBenchTiny(t *testing.T) {
	o, err := parse([]string{"--signals", "3000", "--customers", "200", "--rate", "400", "--duration", "1s",
		"--restart-customers", "500", "--skip", "cluster", "--json", filepath.Join(t.TempDir(), "out.json")}, io.Discard)
	require.NoError(t, err)
	var log bytes.Buffer
	res, err := bench(context.Background(), o, &log)
	require.NoError(t, err, log.String())
	assert.Equal(t, 3200, res.Messages)
	assert.Positive(t, res.Publish.Rate)
	assert.Positive(t, res.ConsumeFetch.Rate)
	assert.Positive(t, res.ConsumeMessages.Rate)
	assert.Positive(t, res.Ingest.Rate)
	assert.Equal(t, 3000, res.Ingest.Scored, "every signal of the workload is scored")
	assert.Zero(t, res.Ingest.Rejected)
	require.NotNil(t, res.Core)
	assert.Positive(t, res.Core.Score.NsPerSignal)
	require.NotNil(t, res.Latency)
	assert.Equal(t, 400, res.Latency.Signals)
	assert.Equal(t, int64(400), res.Latency.Score.Count, "every latency signal is timed")
	require.Len(t, res.Memory, 2)
	assert.Positive(t, res.Memory[0].HeapPerCust)
	require.NotNil(t, res.Restart)
	assert.Equal(t, 500, res.Restart.Customers, "the state was cloned up to the restart size")
	assert.Greater(t, res.Restart.Profiles, 200, "cloned customers come with their profiles")
	clones := 500 - res.Memory[0].Customers
	assert.LessOrEqual(t, res.Restart.Profiles, 200+clones, "and with nothing more")
	res.check()
	assert.NotEmpty(t, res.Targets)
	assert.Contains(t, res.table(), "restart @500 customers")
}

// TestBenchClusterTiny runs the group phase alone at a toy size: each
// group applies the whole workload, and the failover is timed.
//
// Three NATS servers and three rounds of riskd take minutes under the race
// detector: .ci/run runs it without, after the -race -short pass.
func TestBenchClusterTiny(t *testing.T) {
	if testing.Short() {
		t.Skip("minutes under -race: .ci/run runs it without the race detector")
	}
	o, err := parse([]string{"--signals", "2000", "--customers", "150",
		"--skip", "raw,ingest,core,latency,memory,restart"}, io.Discard)
	require.NoError(t, err)
	var log bytes.Buffer
	res, err := bench(context.Background(), o, &log)
	require.NoError(t, err, log.String())
	require.NotNil(t, res.Cluster)
	assert.Positive(t, res.Cluster.Raw.Rate)
	require.Len(t, res.Cluster.Groups, 3)
	for i, g := range res.Cluster.Groups {
		assert.Equal(t, i+1, g.Riskd)
		assert.Equal(t, 2150, g.Messages)
		assert.Positive(t, g.Rate)
	}
	assert.Positive(t, res.Cluster.FailoverTaken)
	assert.GreaterOrEqual(t, res.Cluster.FailoverServed, res.Cluster.FailoverTaken)
	assert.Contains(t, res.table(), "cluster")
}
