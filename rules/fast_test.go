package rules

import (
	"hash/maphash"
	"reflect"
	"strings"
	"testing"
	"unsafe"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestBoundedCost(t *testing.T) {
	for _, tc := range []struct {
		when string
		fast bool
	}{
		{`tickets.opened_7d >= 3 && tickets.spike_ratio >= 2.0`, true},
		{`!champion.lost || (usage.days_inactive >= (3.0 * usage.typical_gap_days > 7.0 ? 3.0 * usage.typical_gap_days : 7.0))`, true},
		{`profile.segment + "-" + profile.plan == "smb-team"`, true},
		{`commercial.discount_requests_90d % 2 == 1 && -nps.last < 0`, true},
		{`profile.segment in ["smb", "enterprise"]`, false}, // builds a list
		{`profile.plan.contains("pro")`, false},             // library function
		{`profile.owner.matches("^a")`, false},
		{`size(profile.owner) > 3`, false},
	} {
		t.Run(tc.when, func(t *testing.T) {
			set, err := Parse("t.yaml", []byte("rules:\n  - name: r\n    category: c\n    weight: 1\n    half_life: 1d\n    when: '"+tc.when+"'\n"))
			require.NoError(t, err)
			assert.Equal(t, tc.fast, set.Rules[0].fast != nil)
		})
	}
}

func TestEveryDefaultRuleRunsUntracked(t *testing.T) {
	set, err := Parse("rules.yaml", defaultRulesYAML(t))
	require.NoError(t, err)
	for _, r := range set.Rules {
		assert.NotNil(t, r.fast, "rule %s pays for cost tracking it can never need", r.Name)
	}
}

// Strings longer than the estimator assumed void the estimate: the rule
// is then run with its cost limit, as before, and can hit it.
func TestLongStringsKeepTheCostLimit(t *testing.T) {
	set, err := Parse("t.yaml", []byte(`cost_limit: 100
rules:
  - name: same
    category: c
    weight: 1
    half_life: 1d
    when: profile.plan == profile.owner
`))
	require.NoError(t, err)
	r := set.Rules[0]
	require.NotNil(t, r.fast)
	var f Features
	f.Profile.Plan, f.Profile.Owner = "pro", "pro"
	fired, err := r.Eval(&f)
	require.NoError(t, err)
	assert.True(t, fired)
	f.Profile.Plan = strings.Repeat("p", 20_000)
	f.Profile.Owner = f.Profile.Plan
	_, err = r.Eval(&f)
	require.ErrorContains(t, err, "cost limit", "a 20 kB string costs more than the limit allows")
}

func TestFingerprint(t *testing.T) {
	s1, s2 := maphash.MakeSeed(), maphash.MakeSeed()
	fingerprint := func(f Features, seeds ...maphash.Seed) [2]uint64 {
		if len(seeds) == 0 {
			seeds = []maphash.Seed{s1, s2}
		}
		a, b := f.Fingerprint(seeds[0], seeds[1])
		return [2]uint64{a, b}
	}
	var base Features
	base.Profile.Segment, base.Rating.Value = "smb", "red"
	fp := fingerprint(base)
	assert.NotEqual(t, fp[0], fp[1], "two seeds, two hashes")

	same := base
	same.Profile.Segment = strings.Clone("smb") // another copy of the same bytes
	assert.Equal(t, fp, fingerprint(same), "strings count by content, not address")
	assert.NotEqual(t, fp, fingerprint(base, maphash.MakeSeed(), maphash.MakeSeed()), "another seed, another fingerprint")

	// Every feature counts.
	for _, l := range leaves {
		changed := base
		p := unsafe.Add(unsafe.Pointer(&changed), l.offset)
		switch l.kind {
		case reflect.Int64:
			*(*int64)(p)++
		case reflect.Float64:
			*(*float64)(p) += 0.5
		case reflect.Bool:
			*(*bool)(p) = !*(*bool)(p)
		case reflect.String:
			*(*string)(p) += "x"
		}
		assert.NotEqual(t, fp, fingerprint(changed), "feature %s", l.Name)
	}

	// Moving bytes from one string to the next is a change.
	a, b := base, base
	a.Profile.Plan, a.Profile.Stage = "ab", "c"
	b.Profile.Plan, b.Profile.Stage = "a", "bc"
	assert.NotEqual(t, fingerprint(a), fingerprint(b))

	// Strings longer than the buffer go through the streaming path.
	long := base
	long.Profile.Owner = strings.Repeat("o", 3000)
	longer := long
	longer.Profile.Owner += "o"
	assert.Equal(t, fingerprint(long), fingerprint(long))
	assert.NotEqual(t, fingerprint(long), fingerprint(longer))
}
