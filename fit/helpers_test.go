package fit_test

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"os"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/riskwatch/riskwatch/backtest"
	"github.com/riskwatch/riskwatch/rules"
)

// small is a base of n customers over 240 days where who churns is known:
// a fifth fade (their usage falls over the last four weeks) and leave;
// ticket bursts come to half of the churners and to a tenth of those who
// stay; those who stay often answer NPS as promoters.
func small(seed uint64, n int) []byte {
	rng := rand.New(rand.NewPCG(seed, seed*7919))
	var b bytes.Buffer
	const days = 240
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	line := func(id, kind, customer string, at time.Time, data string) {
		fmt.Fprintf(&b, `{"id":%q,"kind":%q,"customer":%q,"time":%q,"data":%s}`+"\n",
			id, kind, customer, at.UTC().Format(time.RFC3339), data)
	}
	for c := range n {
		id := fmt.Sprintf("c%03d", c)
		segment := []string{"smb", "enterprise"}[rng.IntN(2)]
		fmt.Fprintf(&b, `{"profile":{"id":%q,"arr":%d,"segment":%q,"owner":"csm%d"}}`+"\n", id, 10000+rng.IntN(50)*1000, segment, c%3)
		churn, burst := -1, -1
		if rng.IntN(5) == 0 {
			churn = 70 + rng.IntN(days-75)
			if rng.IntN(2) == 0 {
				burst = churn - 10 - rng.IntN(10)
			}
		} else if rng.IntN(10) == 0 {
			burst = 50 + rng.IntN(days-60)
		} else if rng.IntN(2) == 0 {
			line(id+"-nps", "nps", id, start.AddDate(0, 0, 45+rng.IntN(days-50)), `{"score":10}`)
		}
		level := 30 + rng.IntN(50)
		for d := range days {
			at := start.AddDate(0, 0, d).Add(time.Duration(8+rng.IntN(8)) * time.Hour)
			if d == churn {
				line(id+"-out", "outcome", id, at, `{"type":"churned"}`)
				break
			}
			if d == 5 {
				line(id+"-t0", "ticket", id, at, fmt.Sprintf(`{"ticket_id":"%s0","status":"opened"}`, id))
			}
			if burst >= 0 && d >= burst && d < burst+4 {
				line(fmt.Sprintf("%s-t%d", id, d), "ticket", id, at, fmt.Sprintf(`{"ticket_id":"%s%d","status":"opened"}`, id, d))
			}
			events := level
			if churn >= 0 && churn-d <= 28 {
				events = level * (churn - d) / 40
			}
			if events > 0 {
				line(fmt.Sprintf("%s-u%d", id, d), "usage", id, at, fmt.Sprintf(`{"events":%d}`, events))
			}
		}
	}
	return b.Bytes()
}

func smallHistory(t testing.TB, seed uint64, n int) *backtest.History {
	t.Helper()
	h, err := backtest.Read(bytes.NewReader(small(seed, n)), nil)
	require.NoError(t, err)
	return h
}

// threeRules is testdata/rules.yaml, parsed, with its text.
func threeRules(t testing.TB) (*rules.Set, []byte) {
	t.Helper()
	src, err := os.ReadFile("testdata/rules.yaml")
	require.NoError(t, err)
	set, err := rules.Parse("testdata/rules.yaml", src)
	require.NoError(t, err)
	return set, src
}
