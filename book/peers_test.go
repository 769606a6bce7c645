package book_test

import (
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
