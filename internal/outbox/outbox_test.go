package outbox_test

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap"

	"github.com/riskwatch/riskwatch/alerting"
	"github.com/riskwatch/riskwatch/api"
	"github.com/riskwatch/riskwatch/book"
	"github.com/riskwatch/riskwatch/internal/ingest"
	"github.com/riskwatch/riskwatch/internal/natstest"
	"github.com/riskwatch/riskwatch/internal/outbox"
	"github.com/riskwatch/riskwatch/signals"
)

type fixture struct {
	js  jetstream.JetStream
	out *outbox.Outbox
	reg *prometheus.Registry
}

func setup(t *testing.T, maxPayload int64) *fixture {
	t.Helper()
	_, nc := natstest.Server(t, "")
	js, err := jetstream.New(nc)
	require.NoError(t, err)
	reg := prometheus.NewRegistry()
	return &fixture{js: js, reg: reg, out: outbox.New(js, func() int64 { return maxPayload }, reg, zap.NewNop())}
}

func (f *fixture) stream(t *testing.T, name string, subjects ...string) {
	t.Helper()
	_, err := f.js.CreateOrUpdateStream(context.Background(), jetstream.StreamConfig{Name: name, Subjects: subjects,
		Duplicates: time.Hour})
	require.NoError(t, err)
}

func (f *fixture) read(t *testing.T, name string) []jetstream.Msg {
	t.Helper()
	s, err := f.js.Stream(context.Background(), name)
	require.NoError(t, err)
	var out []jetstream.Msg
	require.NoError(t, ingest.ReadAll(context.Background(), s, nil, 0, func(m jetstream.Msg) error {
		out = append(out, m)
		return nil
	}))
	return out
}

func TestRejectsCarryTheirReasonAndOriginAndAreFiledOnce(t *testing.T) {
	f := setup(t, 1<<20)
	f.stream(t, api.DLQStream, api.DLQPrefix+">")
	err := &signals.Error{Reason: signals.ReasonLate, Field: "time", Msg: "too late"}
	for range 2 { // a replay after a crash rejects the same message again
		f.out.Reject(book.Reject{Seq: 42, Subject: "risk.signals.usage.acme", Data: []byte(`{"id":"u"}`), Err: err})
	}
	f.out.Reject(book.Reject{Seq: 43, Subject: "risk.actions.acme", Data: []byte(`{}`), Err: err})
	require.NoError(t, f.out.Confirm(context.Background()))
	msgs := f.read(t, api.DLQStream)
	require.Len(t, msgs, 2, "the DLQ id is the stream sequence: a replay does not file twice")
	m := msgs[0]
	assert.Equal(t, "risk.dlq.usage", m.Subject())
	assert.Equal(t, "late: time: too late", m.Headers().Get(api.ErrorHeader))
	assert.Equal(t, "risk.signals.usage.acme", m.Headers().Get(api.SubjectHeader))
	assert.Equal(t, "dlq-42", m.Headers().Get(jetstream.MsgIDHeader))
	assert.Equal(t, "risk.dlq.action", msgs[1].Subject())
	assert.Equal(t, 3.0, sum(t, f.reg, "riskwatch_dlq_total"))
}

func TestARejectTooBigForTheServerKeepsItsStart(t *testing.T) {
	f := setup(t, 4096)
	f.stream(t, api.DLQStream, api.DLQPrefix+">")
	big := strings.Repeat("x", 5000)
	f.out.Reject(book.Reject{Seq: 7, Subject: "risk.signals.usage", Data: []byte(big), Err: errors.New("wrong_type: data")})
	require.NoError(t, f.out.Confirm(context.Background()))
	msgs := f.read(t, api.DLQStream)
	require.Len(t, msgs, 1)
	assert.Equal(t, strconv.Itoa(len(big)), msgs[0].Headers().Get(api.TruncatedHeader))
	assert.True(t, strings.HasPrefix(big, string(msgs[0].Data())))
	assert.Less(t, len(msgs[0].Data()), 4096)
}

func TestAnAlertTooBigIsDroppedNotRetriedForever(t *testing.T) {
	f := setup(t, 512)
	f.stream(t, api.AlertsStream, alerting.SubjectPrefix+">", alerting.DigestPrefix+">")
	f.out.Alert(&alerting.Alert{ID: "a1", Type: alerting.Raised, Severity: "watch", Customer: "acme",
		Reasons: []alerting.Reason{{Rule: "r", Detail: strings.Repeat("d", 1000)}}})
	require.NoError(t, f.out.Confirm(context.Background()), "nothing is left to fail every checkpoint")
	assert.Empty(t, f.read(t, api.AlertsStream))
	assert.Equal(t, 1.0, sum(t, f.reg, "riskwatch_publish_dropped_total"))
}

// A publish that fails is kept and sent again by the next Confirm, with
// its id: nothing is lost and nothing doubled.
func TestFailedPublishesAreRetriedByTheNextConfirm(t *testing.T) {
	f := setup(t, 1<<20)
	a := &alerting.Alert{ID: "a1", Type: alerting.Raised, Severity: "watch", Customer: "acme", Owner: "alice"}
	f.out.Alert(a) // no stream yet: the publish fails
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	require.Error(t, f.out.Confirm(ctx))
	f.stream(t, api.AlertsStream, alerting.SubjectPrefix+">", alerting.DigestPrefix+">")
	f.out.Digest(&alerting.Digest{Owner: "alice", Date: "2026-11-20"})
	require.NoError(t, f.out.Confirm(ctx))
	require.NoError(t, f.out.Confirm(ctx), "a second confirm has nothing left")
	msgs := f.read(t, api.AlertsStream)
	var subjects []string
	for _, m := range msgs {
		subjects = append(subjects, m.Subject())
	}
	assert.ElementsMatch(t, []string{"risk.alerts.watch.alice.acme", "risk.digest.alice"}, subjects)
}

func TestProfilesGoToTheirBucketWithTheirSequence(t *testing.T) {
	f := setup(t, 1<<20)
	kv, err := f.js.CreateKeyValue(context.Background(), jetstream.KeyValueConfig{Bucket: api.ProfilesBucket})
	require.NoError(t, err)
	f.out.Effects(&book.Effects{Profiles: []book.Applied{{Profile: &signals.Profile{ID: "a.b", Owner: "alice"}, Seq: 9}}})
	require.NoError(t, f.out.Confirm(context.Background()))
	e, err := kv.Get(context.Background(), signals.SubjectToken("a.b"))
	require.NoError(t, err)
	assert.JSONEq(t, `{"id":"a.b","owner":"alice"}`, string(e.Value()))
}

// sum adds up a counter vector of the outbox.
func sum(t *testing.T, reg *prometheus.Registry, name string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	require.NoError(t, err)
	total := 0.0
	for _, mf := range mfs {
		if mf.GetName() == name {
			for _, m := range mf.GetMetric() {
				total += m.GetCounter().GetValue()
			}
		}
	}
	return total
}
