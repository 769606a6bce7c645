package book_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/riskwatch/riskwatch/book"
	"github.com/riskwatch/riskwatch/signals"
)

// contributes reports whether rule adds to the customer's score now.
func (f *feeder) contributes(customer, rule string) bool {
	f.t.Helper()
	v, ok := f.b.View(customer, true)
	require.True(f.t, ok, customer)
	for _, r := range v.Reasons {
		if r.Rule == rule {
			return true
		}
	}
	return false
}

func TestASilenceWaitsForItsProducer(t *testing.T) {
	f := newFeeder(t)
	f.profile(`{"id":"a","owner":"alice","segment":"enterprise"}`)
	start := f.now.AddDate(0, 0, -60)
	// The CRM's export has reached 60 days ago; the usage of the 60 days
	// since is in.
	f.signal(signals.KindContact, "a-c0", "a", start, `{"type":"qbr"}`)
	for d := range 60 {
		f.signal(signals.KindUsage, fmt.Sprintf("a-u%d", d), "a", start.AddDate(0, 0, d).Add(9*time.Hour), `{"events":50}`)
	}
	assert.False(t, f.contributes("a", "csm-silence"),
		"60 days of usage past the CRM's clock are the CRM's lag, not 60 days without a CSM")

	// The CRM catches up to today with another customer's contact, and a
	// tick finds it live: a's silence is now judged up to today.
	f.signal(signals.KindContact, "b-c0", "b", f.now, `{"type":"csm_touch"}`)
	f.tick(f.now.Add(time.Minute))
	assert.True(t, f.contributes("a", "csm-silence"), "no CSM contact for 60 days, the CRM being live")
	assert.Empty(t, f.quiet)
}

func TestALiveProducerMovesOnWithTheWallClock(t *testing.T) {
	f := newFeeder(t)
	f.profile(`{"id":"a","owner":"alice","segment":"enterprise"}`)
	start := f.now.AddDate(0, 0, -44)
	f.signal(signals.KindContact, "a-c0", "a", start, `{"type":"qbr"}`)
	f.signal(signals.KindUsage, "a-u0", "a", start, `{"events":50}`)
	// Another customer's CSM logs a touch every hour: the CRM is live.
	// a's 45 days without contact are due at start+45d, after the last
	// touch; a tick of the sweep interval finds them without any signal.
	for h := range 23 {
		f.signal(signals.KindContact, fmt.Sprintf("b-c%d", h), "b", f.now.Add(time.Duration(h)*time.Hour), `{"type":"csm_touch"}`)
	}
	require.False(t, f.contributes("a", "csm-silence"))
	due := start.AddDate(0, 0, 45)
	f.tick(due.Add(-time.Minute))
	assert.False(t, f.contributes("a", "csm-silence"), "a minute early")
	f.tick(due.Add(time.Minute))
	assert.True(t, f.contributes("a", "csm-silence"), "a tick after it is due, the silence counts")
}

func TestAQuietProducerIsReportedOnceAndHoldsItsSilences(t *testing.T) {
	f := newFeeder(t)
	start := f.now.AddDate(0, 0, -30)
	// A month of usage from two customers, ticks every six hours.
	for h := 0; h < 30*24; h += 6 {
		at := start.Add(time.Duration(h) * time.Hour)
		if h%24 == 6 {
			f.signal(signals.KindUsage, fmt.Sprintf("a-u%d", h), "a", at, `{"events":50}`)
			f.signal(signals.KindUsage, fmt.Sprintf("b-u%d", h), "b", at.Add(time.Hour), `{"events":60}`)
		}
		f.tick(at.Add(3 * time.Hour))
	}
	require.Empty(t, f.quiet)
	// The analytics pipeline stops for ten days; riskd ticks on.
	stop := start.AddDate(0, 0, 30)
	for h := 0; h < 10*24; h += 6 {
		f.tick(stop.Add(time.Duration(h) * time.Hour))
	}
	require.Len(t, f.quiet, 1, "one operator alert, not one per customer")
	q := f.quiet[0]
	assert.Equal(t, signals.KindUsage, q.Kind)
	assert.True(t, q.Quiet)
	assert.Equal(t, "risk.ops.producer.usage", q.Subject())
	for _, c := range []string{"a", "b"} {
		assert.False(t, f.contributes(c, "usage-inactive"), "%s: ten days without usage from anyone is the pipeline's silence", c)
	}
	assert.Empty(t, f.alerts, "no customer alert for the pipeline's silence")

	// Back: one message that says so.
	back := stop.AddDate(0, 0, 10)
	f.now = back // the decoder's clock, for the far-future check
	require.Equal(t, book.Scored, f.signal(signals.KindUsage, "b-back", "b", back, `{"events":60}`).Result)
	require.Len(t, f.quiet, 2)
	assert.False(t, f.quiet[1].Quiet)
	assert.NotEqual(t, f.quiet[0].ID(), f.quiet[1].ID())
	assert.Equal(t, book.Accepted, f.tick(back.Add(time.Hour)).Result)
}
