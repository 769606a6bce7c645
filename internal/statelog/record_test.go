package statelog_test

import (
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/riskwatch/riskwatch/alerting"
	"github.com/riskwatch/riskwatch/configs"
	"github.com/riskwatch/riskwatch/internal/statelog"
	"github.com/riskwatch/riskwatch/rules"
	"github.com/riskwatch/riskwatch/scorer"
	"github.com/riskwatch/riskwatch/signals"
)

// atRiskRecord is a record as a checkpoint writes it: a customer scored by
// the real model from a month of signals, with an open, acknowledged alert.
func atRiskRecord(t testing.TB) statelog.Record {
	t.Helper()
	model := scorer.NewModel(mustRules(t))
	st := scorer.NewState("acme.corp")
	end := time.Date(2026, 3, 31, 12, 0, 0, 0, time.UTC)
	apply := func(kind signals.Kind, id string, at time.Time, data string) {
		body := fmt.Sprintf(`{"id":%q,"kind":%q,"customer":"acme.corp","time":%q,"source":"test","data":%s}`,
			id, kind, at.Format(time.RFC3339), data)
		s, err := signals.Decode("", []byte(body), end)
		require.NoError(t, err, body)
		require.NoError(t, model.Apply(st, &s, nil))
	}
	for d := 30; d >= 1; d-- {
		events := 100
		if d < 8 {
			events = 30
		}
		apply(signals.KindUsage, fmt.Sprintf("u-%d", d), end.AddDate(0, 0, -d), fmt.Sprintf(`{"events":%d,"user":"ann"}`, events))
	}
	for i := range 5 {
		apply(signals.KindTicket, fmt.Sprintf("t-%d", i), end.Add(-time.Duration(i+1)*time.Hour),
			fmt.Sprintf(`{"ticket_id":"T%d","status":"opened","priority":"urgent"}`, i))
	}
	apply(signals.KindNPS, "nps-1", end.Add(-30*time.Minute), `{"score":7}`)
	res := model.Evaluate(st, nil, end)
	require.NotEqual(t, rules.Healthy, res.Tier, "the fixture must be at risk")
	at := end.Add(-10 * time.Minute)
	ack := &alerting.Action{Kind: alerting.KindAck, By: "alice", Note: "on it", At: at, AlertID: "a1"}
	return statelog.Record{State: st, Alert: alerting.State{Tier: res.Tier, Score: res.Score, Opened: at.Unix(),
		LastSent: at.Unix(), LastID: "a1", Ack: ack, Log: []alerting.Action{*ack}}}
}

func TestRecordRoundTrip(t *testing.T) {
	want := atRiskRecord(t)
	body, err := statelog.AppendRecord(nil, want)
	require.NoError(t, err)
	got, err := statelog.DecodeRecord(body)
	require.NoError(t, err)
	// Everything but the rule memo, which is not kept, comes back.
	wantJSON, err := json.Marshal(want)
	require.NoError(t, err)
	gotJSON, err := json.Marshal(got)
	require.NoError(t, err)
	assert.JSONEq(t, string(wantJSON), string(gotJSON))
	assert.Equal(t, want.Alert, got.Alert)
	assert.Less(t, len(body), len(wantJSON)/2, "binary %d bytes, JSON %d", len(body), len(wantJSON))
}

func TestDecodeRecordRefusesBadInput(t *testing.T) {
	good, err := statelog.AppendRecord(nil, atRiskRecord(t))
	require.NoError(t, err)
	for _, tc := range []struct {
		name string
		data []byte
		want string
	}{
		{name: "empty", data: nil, want: "empty record"},
		{name: "unknown marker", data: []byte{0x07, 1, 2}, want: "unknown format 0x07"},
		{name: "state length past the end", data: []byte{0xB1, 0x7f}, want: "bad state length"},
		{name: "truncated", data: good[:len(good)/2], want: "record"},
		{name: "trailing byte", data: append(append([]byte{}, good...), 0), want: "alert state"},
		{name: "a JSON record of the pre-release layout", data: []byte(`{"s":{}}`), want: "unknown format 0x7b"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := statelog.DecodeRecord(tc.data)
			require.Error(t, err)
			assert.Contains(t, err.Error(), tc.want)
		})
	}
	_, err = statelog.AppendRecord(nil, statelog.Record{})
	assert.Error(t, err, "a record needs a state")
}

func FuzzDecodeRecord(f *testing.F) {
	good, err := statelog.AppendRecord(nil, atRiskRecord(f))
	require.NoError(f, err)
	f.Add(good)
	f.Add([]byte{0xB1, 0})
	f.Fuzz(func(t *testing.T, data []byte) {
		rec, err := statelog.DecodeRecord(data)
		if err != nil {
			return
		}
		// Whatever decodes encodes again, to the same record.
		body, err := statelog.AppendRecord(nil, rec)
		require.NoError(t, err)
		again, err := statelog.DecodeRecord(body)
		require.NoError(t, err)
		want, err := json.Marshal(rec)
		require.NoError(t, err)
		got, err := json.Marshal(again)
		require.NoError(t, err)
		assert.JSONEq(t, string(want), string(got))
	})
}

func mustRules(t testing.TB) *rules.Set {
	t.Helper()
	set, err := configs.LoadRules("")
	require.NoError(t, err)
	return set
}
