package book_test

import (
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/riskwatch/riskwatch/alerting"
	"github.com/riskwatch/riskwatch/book"
	"github.com/riskwatch/riskwatch/rules"
	"github.com/riskwatch/riskwatch/scorer"
	"github.com/riskwatch/riskwatch/signals"
)

// figuresRules has one rule that always fires and shows the usage
// figures the segment features are made of.
const figuresRules = `
lateness: 24h
rules:
  - name: figures
    category: usage
    kind: usage
    when: usage.seen
    weight: 1
    half_life: 1d
    detail: "drop {usage.drop_pct:.0f} segment {usage.segment_drop_pct:.0f} fade {usage.fade_pct:.0f} segment fade {usage.segment_fade_pct:.0f}"
`

// dips feeds 35 days of usage of every customer, day after day as a
// usage pipeline's rollups come: 100 events a day, 40 in the last week
// for those that dip.
func dips(f *feeder, dipping map[string]bool, customers ...string) {
	start := f.now.AddDate(0, 0, -35)
	for d := range 35 {
		for _, id := range customers {
			events := 100
			if d >= 28 && dipping[id] {
				events = 40
			}
			at := start.AddDate(0, 0, d).Add(12 * time.Hour)
			require.Equal(f.t, book.Scored,
				f.signal(signals.KindUsage, fmt.Sprintf("%s-u%d", id, d), id, at, fmt.Sprintf(`{"events":%d}`, events)).Result)
		}
	}
}

func figures(t *testing.T, b *book.Book, id string) string {
	t.Helper()
	v, ok := b.View(id, true)
	require.True(t, ok, id)
	for _, r := range v.Reasons {
		if r.Rule == "figures" {
			return r.Detail
		}
	}
	t.Fatalf("%s: no figures in %v", id, v.Reasons)
	return ""
}

// Two customers of one segment dip together: the segment's drop is as
// high as theirs, and the drop that is their own is small. A customer
// alone in its segment has no others to share its dip with. A restored
// book sums the segments again from the customers' own usage and gives
// the same figures.
func TestPeersSegmentUsage(t *testing.T) {
	set, err := rules.Parse("figures.yaml", []byte(figuresRules))
	require.NoError(t, err)
	f := newFeeder(t)
	f.b = book.New(book.Config{Rules: set, Policy: alerting.DefaultPolicy()})
	f.profile(`{"id":"a","segment":"smb"}`)
	f.profile(`{"id":"b","segment":"smb"}`)
	f.profile(`{"id":"c","segment":"smb"}`)
	f.profile(`{"id":"lone","segment":"enterprise"}`)
	dips(f, map[string]bool{"a": true, "b": true, "c": true, "lone": true}, "a", "b", "c", "lone")

	// Judged at the last rollup (day 34, noon): the week before holds six
	// days at 40 and one at 100, the two weeks before it six at 40.
	want := map[string]string{
		"a":    "drop 51 segment 51 fade 26 segment fade 26",
		"b":    "drop 51 segment 51 fade 26 segment fade 26",
		"c":    "drop 51 segment 51 fade 26 segment fade 26",
		"lone": "drop 51 segment 0 fade 26 segment fade 0",
	}
	for id, w := range want {
		assert.Equal(t, w, figures(t, f.b, id), id)
	}

	// Restored from checkpoints, the segments are summed again from each
	// customer's usage ring.
	restored := book.New(book.Config{Rules: set, Policy: alerting.DefaultPolicy()})
	var customers []*book.Customer
	var profiles []*signals.Profile
	for _, id := range []string{"a", "b", "c", "lone"} {
		c := f.b.Customer(id)
		data, err := c.Score.MarshalBinary()
		require.NoError(t, err)
		var st scorer.State
		require.NoError(t, st.UnmarshalBinary(data))
		customers = append(customers, &book.Customer{Score: st, Alert: c.Alert})
		p := *f.b.Profile(id)
		profiles = append(profiles, &p)
	}
	restored.Install(customers, profiles, f.b.Clock())
	for id, w := range want {
		assert.Equal(t, w, figures(t, restored, id), "%s restored", id)
	}

	// A checkpoint holds the segments' own figures: installed, they are
	// the same too, and they survive JSON.
	data, err := json.Marshal(f.b.Peers())
	require.NoError(t, err)
	var segments []book.PeerSegment
	require.NoError(t, json.Unmarshal(data, &segments))
	require.Len(t, segments, 2)
	assert.Equal(t, "enterprise", segments[0].Segment, "sorted by segment")
	assert.Equal(t, f.b.Peers(), segments)
	fromCheckpoint := book.New(book.Config{Rules: set, Policy: alerting.DefaultPolicy()})
	fromCheckpoint.Install(customers, profiles, f.b.Clock())
	fromCheckpoint.InstallPeers(segments)
	assert.Equal(t, segments, fromCheckpoint.Peers())
	for id, w := range want {
		assert.Equal(t, w, figures(t, fromCheckpoint, id), "%s from the checkpoint's figures", id)
	}
}

// The segments count every usage signal of the stream once, also those a
// restored record covers: a restart from a checkpoint whose customer
// records are ahead of it ends with the figures of the uninterrupted run.
func TestPeersCountCoveredSignals(t *testing.T) {
	set, err := rules.Parse("figures.yaml", []byte(figuresRules))
	require.NoError(t, err)
	run := newFeeder(t)
	run.b = book.New(book.Config{Rules: set, Policy: alerting.DefaultPolicy()})
	run.profile(`{"id":"a","segment":"smb"}`)
	run.profile(`{"id":"b","segment":"smb"}`)
	at := run.now.AddDate(0, 0, -3)
	run.signal(signals.KindUsage, "a-1", "a", at, `{"events":10}`)
	run.signal(signals.KindUsage, "b-1", "b", at, `{"events":20}`)
	// The checkpoint: its sequence, clock and figures.
	seq, clock, segments := run.seq, run.b.Clock(), run.b.Peers()
	run.signal(signals.KindUsage, "a-2", "a", at.Add(24*time.Hour), `{"events":30}`)
	run.signal(signals.KindUsage, "b-2", "b", at.Add(24*time.Hour), `{"events":40}`)
	// a's record was encoded after its second signal: ahead of the
	// checkpoint. b's is the checkpoint's.
	a := run.b.Customer("a").Score
	var b book.Customer
	require.NotNil(t, run.b.Customer("b"))

	restart := newFeeder(t)
	restart.b = book.New(book.Config{Rules: set, Policy: alerting.DefaultPolicy()})
	// b as of the checkpoint: replay its first signal only.
	restart.profile(`{"id":"b","segment":"smb"}`)
	restart.signal(signals.KindUsage, "b-1", "b", at, `{"events":20}`)
	b.Score = restart.b.Customer("b").Score
	pa, pb := *run.b.Profile("a"), *run.b.Profile("b")
	restart.b.Install([]*book.Customer{{Score: a}, &b}, []*signals.Profile{&pa, &pb}, clock)
	restart.b.InstallPeers(segments)
	restart.seq = seq
	restart.signal(signals.KindUsage, "a-2", "a", at.Add(24*time.Hour), `{"events":30}`)
	restart.signal(signals.KindUsage, "b-2", "b", at.Add(24*time.Hour), `{"events":40}`)
	assert.Equal(t, run.b.Peers(), restart.b.Peers())
}

// With the default rules, a dip the customer's segment shares is not a
// usage drop; one that is the customer's own is, also when the customer
// is alone in its segment.
func TestPeersDefaultRules(t *testing.T) {
	f := newFeeder(t)
	for _, p := range []string{
		`{"id":"a","segment":"smb","owner":"alice"}`,
		`{"id":"b","segment":"smb","owner":"alice"}`,
		`{"id":"steady","segment":"mid_market","owner":"alice"}`,
		`{"id":"own","segment":"mid_market","owner":"alice"}`,
		`{"id":"lone","segment":"enterprise","owner":"alice"}`,
	} {
		f.profile(p)
	}
	dips(f, map[string]bool{"a": true, "b": true, "own": true, "lone": true}, "a", "b", "steady", "own", "lone")
	for id, fires := range map[string]bool{"a": false, "b": false, "steady": false, "own": true, "lone": true} {
		v, ok := f.b.View(id, true)
		require.True(t, ok, id)
		got := false
		for _, r := range v.Reasons {
			got = got || r.Rule == "usage-drop" && r.Firing
		}
		assert.Equal(t, fires, got, "%s: %v", id, v.Reasons)
	}
}
