package main

import (
	"encoding/json"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/riskwatch/riskwatch/api"
	"github.com/riskwatch/riskwatch/signals"
)

func TestMergedIsInEventTimeOrder(t *testing.T) {
	at := time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC)
	files := map[string]string{
		"usage": strings.Join([]string{
			envelope("u1", "usage", "acme", at, `{}`),
			envelope("u3", "usage", "acme", at.Add(3*time.Hour), `{}`),
			envelope("u5", "usage", "acme", at.Add(5*time.Hour), `{}`),
		}, "\n"),
		"tickets": strings.Join([]string{
			`{"profile":{"id":"acme","owner":"alice"}}`,
			envelope("t2", "ticket", "acme", at.Add(2*time.Hour), `{"ticket_id":"1","status":"opened"}`),
			`{"kind":"ticket"}`,
			envelope("t3", "ticket", "acme", at.Add(3*time.Hour), `{"ticket_id":"1","status":"solved"}`),
		}, "\n"),
		"empty": "",
	}
	names := []string{"usage", "empty", "tickets"}
	var readers []*signals.LineReader
	for _, n := range names {
		readers = append(readers, signals.NewLineReader(strings.NewReader(files[n]), time.Time{}))
	}
	m := newMerged(names, readers)
	var got []string
	for {
		l, err := m.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		require.NoError(t, err)
		switch {
		case l.Profile != nil:
			got = append(got, m.Source()+":profile")
		case l.Err != nil:
			got = append(got, m.Source()+":rejected")
		default:
			got = append(got, m.Source()+":"+l.Signal.ID)
		}
	}
	assert.Equal(t, []string{"tickets:profile", "usage:u1", "tickets:t2", "tickets:rejected",
		"usage:u3", "tickets:t3", "usage:u5"}, got,
		"earliest first, the earlier file on a tie; profiles and rejects as they come")
	assert.Equal(t, int64(len(files["usage"])+len(files["tickets"])), m.Offset())
}

func TestSendMergePublishesInEventTimeOrder(t *testing.T) {
	r := startRiskd(t)
	at := base().Add(-10 * 24 * time.Hour)
	dir := t.TempDir()
	write := func(name string, lines ...string) string {
		path := filepath.Join(dir, name)
		require.NoError(t, os.WriteFile(path, []byte(strings.Join(lines, "\n")+"\n"), 0o600))
		return path
	}
	usage := write("usage.ndjson",
		envelope("u0", "usage", "acme", at, `{"events":10}`),
		envelope("u1", "usage", "acme", at.Add(48*time.Hour), `{"events":10}`))
	crm := write("crm.ndjson",
		`{"profile":{"id":"acme","owner":"alice"}}`,
		envelope("c0", "commercial", "acme", at.Add(24*time.Hour), `{"type":"discount_request"}`),
		`{"id":"c1","kind":"commercial","customer":"acme","data":{}}`)
	res := r.ctl(t, "", "send", "--merge", usage, crm)
	assert.Equal(t, exitFail, res.code, "a rejected line fails the command")
	assert.Contains(t, res.stderr, "crm.ndjson:3: rejected: missing_field: time: required")
	assert.Contains(t, res.stdout, "published 3 signals and 1 profiles")

	// The stream holds them in event-time order.
	js := jsFor(t, r.nc)
	var ids []string
	cons, err := js.OrderedConsumer(t.Context(), api.SignalsStream, jetstream.OrderedConsumerConfig{
		FilterSubjects: []string{signals.SignalPrefix + ">"}})
	require.NoError(t, err)
	for range 3 {
		m, err := cons.Next(jetstream.FetchMaxWait(5 * time.Second))
		require.NoError(t, err)
		var env struct{ ID string }
		require.NoError(t, json.Unmarshal(m.Data(), &env))
		ids = append(ids, env.ID)
	}
	assert.Equal(t, []string{"u0", "c0", "u1"}, ids)
	r.waitCustomer(t, "acme", func(v api.CustomerView) bool { return v.Owner == "alice" && !v.LastEvent.IsZero() })

	rep := r.ctl(t, "", "send", "--json", "--merge", usage, crm)
	var sr sendReport
	require.NoError(t, json.Unmarshal([]byte(rep.stdout), &sr))
	require.Len(t, sr.Rejected, 1)
	assert.Equal(t, crm, sr.Rejected[0].File)
	assert.Equal(t, 3, sr.Duplicates)
}
