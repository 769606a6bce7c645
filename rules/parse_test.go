package rules_test

import (
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/riskwatch/riskwatch/rules"
)

func TestParseDefaultRules(t *testing.T) {
	s := defaultSet(t)
	// The silence ladder and the sign-up silence.
	silences := map[string]bool{}
	for _, name := range []string{"usage-late", "usage-overdue", "usage-quiet", "usage-inactive",
		"usage-long-silence", "usage-gone", "usage-gone-long", "usage-abandoned", "usage-abandoned-long",
		"usage-abandoned-for-good", "silent-after-signup"} {
		silences[name] = true
	}
	// The default file sets its own bands, below the format's defaults:
	// its weights are sized for them (see the file's header).
	assert.Equal(t, rules.Thresholds{Watch: 20, AtRisk: 35, Critical: 65, Hysteresis: 5}, s.Tiers)
	assert.Equal(t, 24*time.Hour, s.Lateness)
	assert.Equal(t, rules.DefaultCostLimit, s.CostLimit)
	assert.Equal(t, "rules.yaml", s.Source)
	assert.Contains(t, s.SegmentTiers, "smb")
	require.NotEmpty(t, s.Rules)
	for _, r := range s.Rules {
		assert.NotEmpty(t, r.Category, r.Name)
		assert.NotEmpty(t, r.Kind, r.Name)
		assert.NotEmpty(t, r.Detail, r.Name)
		// A risk rule tells the CSM what to do; a protective one (a
		// negative weight) lowers the risk and asks for nothing.
		if r.Weight > 0 {
			assert.NotEmpty(t, r.Playbook, r.Name)
		} else {
			assert.Empty(t, r.Segments, r.Name)
			assert.Empty(t, r.Stages, r.Name)
		}
		assert.Positive(t, r.Line, r.Name)
		if silences[r.Name] {
			// A silence stops counting as soon as the customer is back.
			assert.Equal(t, time.Hour, r.HalfLife, r.Name)
		} else {
			assert.GreaterOrEqual(t, r.HalfLife, 7*24*time.Hour, r.Name)
		}
	}
	for name := range silences {
		assert.NotNil(t, s.Rule(name), name)
	}
	// Every signal the design names has a rule.
	for _, name := range []string{
		"ticket-spike", "urgent-tickets", "open-backlog", "slow-first-response",
		"nps-detractor", "nps-passive", "nps-drop", "negative-mention", "negative-mention-wide-reach",
		"usage-drop", "usage-collapse", "usage-inactive", "active-users-drop", "onboarding-low-usage",
		"price-pressure-near-renewal", "price-pressure", "cancellation-inquiry", "unanswered-quote",
		"failed-payment-near-renewal", "failed-payment", "card-expiring", "invoice-overdue",
		"champion-lost", "csm-silence", "csm-never-contacted", "csm-rating-red", "csm-rating-yellow",
		// The slow fade, the silence ladder and the sign-up silence.
		"usage-fade-light", "usage-fade", "usage-fade-deep", "usage-overdue", "usage-quiet",
		"usage-long-silence", "usage-gone", "usage-abandoned", "silent-after-signup", "payment-failing-repeatedly",
	} {
		assert.NotNil(t, s.Rule(name), name)
	}
	// The protective rules lower the risk.
	for _, name := range []string{"usage-growing", "nps-recovered", "expansion"} {
		if r := s.Rule(name); assert.NotNil(t, r, name) {
			assert.Negative(t, r.Weight, name)
		}
	}
	assert.Nil(t, s.Rule("no-such-rule"))

	r := s.Rule("ticket-spike")
	assert.Equal(t, "support", r.Category)
	assert.Equal(t, "ticket", r.Kind)
	assert.Equal(t, 14*24*time.Hour, r.HalfLife)
	assert.Equal(t, "tickets.opened_7d >= 3 && tickets.spike_ratio >= 2.0", r.When)
}

// rule wraps the lines of one rule (indented by 4) into a file whose rule
// starts on line 2.
func rule(lines ...string) string {
	return "rules:\n  - " + strings.TrimPrefix(strings.Join(lines, "\n"), "    ") + "\n"
}

var validRule = []string{
	"    name: r1",
	"    category: support",
	"    when: tickets.opened_7d >= 3",
	"    weight: 10",
	"    half_life: 14d",
}

// with returns validRule with the line for key replaced by line, or
// appended when validRule has no such key; an empty line drops the key.
func with(key, line string) []string {
	var out []string
	found := false
	for _, l := range validRule {
		if strings.HasPrefix(strings.TrimSpace(l), key+":") {
			found = true
			if line != "" {
				out = append(out, line)
			}
			continue
		}
		out = append(out, l)
	}
	if !found {
		out = append(out, line)
	}
	return out
}

func TestParseErrors(t *testing.T) {
	long := "tickets.opened_7d >= 1" + strings.Repeat(" || tickets.opened_7d >= 1", 90)
	list := "[" + strings.Repeat("1,", 99) + "1]"
	tests := []struct {
		name string
		file string
		line int
		rule string
		want string
	}{
		{"yaml syntax", "rules:\n  - name: r1\n    when: [unclosed\n", 2, "", "YAML:"},
		{"tab indentation", "rules:\n\t- name: r1\n", 2, "", "YAML:"},
		{"empty file", "", 0, "", "the file is empty"},
		{"not a mapping", "- a\n- b\n", 1, "", "want a mapping with keys"},
		{"two documents", rule(validRule...) + "---\nrules: []\n", 7, "", "only one YAML document"},
		{"unknown top key", "tierz: {}\n" + rule(validRule...), 1, "", `unknown key "tierz"`},
		{"no rules", "tiers: {watch: 40}\n", 1, "", "rules: at least one rule is required"},
		{"empty rules", "rules: []\n", 1, "", "rules: want a list of at least one rule"},
		{"rule not a mapping", "rules:\n  - just text\n", 2, "", "rules[0]: want a mapping"},
		{"unknown rule key", rule(append(validRule, "    wehn: true")...), 7, "r1", `unknown key "wehn"`},
		{"repeated rule key", rule(append(validRule, "    weight: 12")...), 7, "r1", "weight: repeated key"},
		{"duplicate rule name", rule(validRule...) + "  - " + strings.TrimPrefix(strings.Join(validRule, "\n"), "    ") + "\n",
			7, "r1", "name: repeated, the rule at line 2 has it already"},
		{"missing name", rule(with("name", "")...), 2, "", "rules[0]: name: required"},
		{"bad name", rule(with("name", "    name: Ticket_Spike")...), 2, "", `rules[0]: name: "Ticket_Spike" must match`},
		{"missing category", rule(with("category", "")...), 2, "r1", "category: required"},
		{"bad category", rule(with("category", "    category: Support Team")...), 3, "r1", "category: \"Support Team\" must match"},
		{"unknown kind", rule(with("kind", "    kind: tweet")...), 7, "r1", `kind: unknown signal kind "tweet"`},
		{"missing weight", rule(with("weight", "")...), 2, "r1", "weight: required"},
		{"weight too high", rule(with("weight", "    weight: 150")...), 5, "r1", "weight: 150 must be in [-100, 100] and not 0 (a negative weight protects)"},
		{"weight zero", rule(with("weight", "    weight: 0")...), 5, "r1", "weight: 0 must be in [-100, 100] and not 0 (a negative weight protects)"},
		{"weight too low", rule(with("weight", "    weight: -101")...), 5, "r1", "weight: -101 must be in [-100, 100] and not 0"},
		{"weight far too low", rule(with("weight", "    weight: -150")...), 5, "r1", "weight: -150 must be in [-100, 100] and not 0 (a negative weight protects)"},
		{"weight not a number", rule(with("weight", "    weight: heavy")...), 5, "r1", `weight: want a number, got "heavy"`},
		{"weight NaN", rule(with("weight", "    weight: .nan")...), 5, "r1", "weight: want a finite number"},
		{"missing half_life", rule(with("half_life", "")...), 2, "r1", "half_life: required"},
		{"bad half_life", rule(with("half_life", "    half_life: two weeks")...), 6, "r1", `half_life: duration "two weeks"`},
		{"half_life zero", rule(with("half_life", "    half_life: 0d")...), 6, "r1", "half_life: 0s must be between 1m0s and 365d"},
		{"missing when", rule(with("when", "")...), 2, "r1", "when: required"},
		{"empty when", rule(with("when", `    when: ""`)...), 4, "r1", "when: empty expression"},
		{"when type error", rule(with("when", `    when: tickets.opened_7d > "x"`)...), 4, "r1",
			"when: found no matching overload for '_>_' applied to '(int, string)'"},
		{"non-bool when", rule(with("when", "    when: tickets.opened_7d + 1")...), 4, "r1", "when: must be a bool expression, this one is int"},
		{"unknown feature", rule(with("when", "    when: tickets.opend_7d > 1")...), 4, "r1",
			"when: undeclared reference to 'tickets.opend_7d' (did you mean 'tickets.opened_7d'?) (column 18)"},
		{"unknown feature in a literal block", rule(with("when", "    when: |\n      tickets.opened_7d > 1 &&\n      usage.nope > 1")...), 6, "r1",
			"when: undeclared reference to 'usage' (line 2 of the expression, column 1)"},
		{"when syntax error", rule(with("when", "    when: tickets.opened_7d >")...), 4, "r1", "when: Syntax error"},
		{"when too long", rule(with("when", "    when: "+long)...), 4, "r1", "when: 2362 bytes, the limit is 2048"},
		{"over-cost comprehension", rule(with("when", "    when: '"+list+".all(x, "+list+".all(y, x + y > tickets.opened_7d))'")...), 4, "r1",
			"when: estimated cost up to"},
		{"over-cost with a low cost_limit", "cost_limit: 5\n" + rule(with("when", `    when: profile.plan.contains("enterprise")`)...), 5, "r1",
			"exceeds cost_limit 5"},
		{"unknown feature in detail", rule(append(validRule, `    detail: "{tickets.nope} tickets"`)...), 7, "r1",
			`detail: unknown feature "tickets.nope" in {tickets.nope}`},
		{"format on a string", rule(append(validRule, `    detail: "{profile.segment:.1f}"`)...), 7, "r1",
			"detail: format \".1f\" in {profile.segment:.1f}: profile.segment is a string"},
		{"bad format", rule(append(validRule, `    detail: "{usage.drop_pct:%d}"`)...), 7, "r1", "want .Nf with N from 0 to 6"},
		{"unclosed placeholder", rule(append(validRule, `    detail: "{usage.drop_pct"`)...), 7, "r1", "unclosed {"},
		{"segments not a map", rule(append(validRule, "    segments: [smb]")...), 7, "r1", "segments: want a mapping of name to weight"},
		{"segment weight out of range", rule(append(validRule, "    segments: {smb: 101}")...), 7, "r1", "segments: smb: 101 must be in [-100, 100]"},
		{"calibration not a map", "calibration: platt\n" + rule(validRule...), 1, "", "calibration: want a mapping with keys method, intercept, slope, horizon"},
		{"calibration unknown method", "calibration: {method: isotonic, intercept: -3, slope: 0.05, horizon: 90d}\n" + rule(validRule...), 1, "",
			`calibration: method: unknown method "isotonic" (want platt)`},
		{"calibration missing slope", "calibration: {method: platt, intercept: -3, horizon: 90d}\n" + rule(validRule...), 1, "", "calibration: slope: required"},
		{"calibration unknown key", "calibration: {method: platt, intercept: -3, slope: 0.05, horizon: 90d, scale: 2}\n" + rule(validRule...), 1, "",
			`calibration: unknown key "scale"`},
		{"calibration slope not a number", "calibration: {method: platt, intercept: -3, slope: steep, horizon: 90d}\n" + rule(validRule...), 1, "",
			`calibration: slope: want a number, got "steep"`},
		{"calibration negative slope", "calibration: {method: platt, intercept: -3, slope: -0.1, horizon: 90d}\n" + rule(validRule...), 1, "",
			"calibration: slope: -0.1 must not be negative"},
		{"calibration huge intercept", "calibration: {method: platt, intercept: -300, slope: 0.1, horizon: 90d}\n" + rule(validRule...), 1, "",
			"calibration: intercept: -300 must be in [-50, 50]"},
		{"calibration bad horizon", "calibration: {method: platt, intercept: -3, slope: 0.1, horizon: 2h}\n" + rule(validRule...), 1, "",
			"calibration: horizon: 2h0m0s must be between 1d and 365d"},
		{"unknown stage", rule(append(validRule, "    stages: {onbording: 20}")...), 7, "r1", `stages: unknown "onbording"`},
		{"playbook not a list", rule(append(validRule, "    playbook: call them")...), 7, "r1", "playbook: want a list of steps"},
		{"tiers out of order", "tiers: {watch: 50, at_risk: 40}\n" + rule(validRule...), 1, "", "tiers.at_risk 40 must be above watch 50"},
		{"tiers watch not positive", "tiers: {watch: -10}\n" + rule(validRule...), 1, "", "tiers.watch -10 must be in (0, 100]"},
		{"tiers unknown key", "tiers: {warn: 30}\n" + rule(validRule...), 1, "", `unknown key "warn"`},
		{"tiers not numbers", "tiers: {watch: low}\n" + rule(validRule...), 1, "", `watch: want a number, got "low"`},
		{"segment tiers bad", "segment_tiers:\n  smb: {critical: 101}\n" + rule(validRule...), 2, "",
			"segment_tiers.smb: tiers.critical 101 must be above at_risk 60 and at most 100"},
		{"cost_limit out of range", "cost_limit: 0\n" + rule(validRule...), 1, "", "cost_limit: 0 must be between 1 and 1000000"},
		{"cost_limit not an integer", "cost_limit: 1.5\n" + rule(validRule...), 1, "", "cost_limit: want an integer"},
		{"bad lateness", "lateness: soon\n" + rule(validRule...), 1, "", `lateness: duration "soon"`},
		{"negative lateness", "lateness: -1h\n" + rule(validRule...), 1, "", "lateness: -1h0m0s must be between 0 and 365d"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := rules.Parse("bad.yaml", []byte(tt.file))
			require.Error(t, err)
			assert.Nil(t, s)
			var got []string
			for _, p := range problems(t, err) {
				assert.Equal(t, "bad.yaml", p.File)
				got = append(got, p.Error())
				if strings.Contains(p.Msg, tt.want) {
					assert.Equal(t, tt.line, p.Line, p.Error())
					assert.Equal(t, tt.rule, p.Rule, p.Error())
					return
				}
			}
			t.Errorf("no problem mentions %q; got:\n%s", tt.want, strings.Join(got, "\n"))
		})
	}
}

func TestParseErrorFormat(t *testing.T) {
	_, err := rules.Parse("rules.yaml", []byte(rule(with("when", "    when: tickets.opend_7d > 1")...)))
	require.Error(t, err)
	assert.Equal(t,
		`rules.yaml:4: rule "r1": when: undeclared reference to 'tickets.opend_7d' (did you mean 'tickets.opened_7d'?) (column 18)`,
		err.Error())
	assert.Equal(t, "x.yaml: the file is empty", (&rules.Error{File: "x.yaml", Msg: "the file is empty"}).Error())
}

// A checker prints every problem at once, not only the first.
func TestParseReportsEveryProblem(t *testing.T) {
	file := "tiers: {watch: 90}\n" + rule(with("weight", "    weight: 0")...) +
		"  - name: r2\n    category: usage\n    when: usage.nope\n    weight: 5\n    half_life: 1d\n"
	_, err := rules.Parse("bad.yaml", []byte(file))
	require.Error(t, err)
	var lines []string
	for _, p := range problems(t, err) {
		lines = append(lines, fmt.Sprintf("%d %s", p.Line, p.Rule))
	}
	assert.Equal(t, []string{"1 ", "6 r1", "10 r2"}, lines, err.Error())
	assert.Len(t, strings.Split(err.Error(), "\n"), 3)
}

func TestParseOptionalSettings(t *testing.T) {
	file := `cost_limit: 500
lateness: 36h
tiers: {watch: 30, hysteresis: 3}
segment_tiers:
  smb: {watch: 50, at_risk: 70}
shared: &steps
  - Call them
` // shared is not a key: aliases are tested below with a legal anchor.
	_, err := rules.Parse("opt.yaml", []byte(file+rule(validRule...)))
	require.Error(t, err, "unknown top-level key must be rejected even when it only holds an anchor")

	file = `cost_limit: 500
lateness: 1d12h
tiers: {watch: 30, hysteresis: 3}
segment_tiers:
  smb: {watch: 50, at_risk: 70}
rules:
  - name: r1
    category: support
    when: tickets.opened_7d >= 3
    weight: 10.5
    half_life: 36h
    segments: &w {enterprise: 20, smb: 0}
    playbook: &steps
      - Call them
  - name: r2
    category: support
    when: tickets.opened_7d >= 5
    weight: 1
    half_life: 90m
    segments: *w
    playbook: *steps
`
	s, err := rules.Parse("opt.yaml", []byte(file))
	require.NoError(t, err)
	assert.Equal(t, uint64(500), s.CostLimit)
	assert.Equal(t, 36*time.Hour, s.Lateness)
	assert.Equal(t, rules.Thresholds{Watch: 30, AtRisk: 60, Critical: 80, Hysteresis: 3}, s.Tiers)
	// Segment tiers start from the file's tiers, not from the defaults.
	assert.Equal(t, rules.Thresholds{Watch: 50, AtRisk: 70, Critical: 80, Hysteresis: 3}, s.SegmentTiers["smb"])
	require.Len(t, s.Rules, 2)
	assert.Equal(t, 10.5, s.Rules[0].Weight)
	assert.Equal(t, 36*time.Hour, s.Rules[0].HalfLife)
	assert.Equal(t, 90*time.Minute, s.Rules[1].HalfLife)
	assert.Equal(t, map[string]float64{"enterprise": 20, "smb": 0}, s.Rules[1].Segments)
	assert.Equal(t, []string{"Call them"}, s.Rules[1].Playbook)
	assert.Equal(t, 7, s.Rules[0].Line)
	assert.Equal(t, 15, s.Rules[1].Line)
}

func TestParseThresholdsFor(t *testing.T) {
	s := defaultSet(t)
	assert.Equal(t, s.Tiers, s.ThresholdsFor("enterprise"))
	assert.Equal(t, s.Tiers, s.ThresholdsFor(""))
	assert.Equal(t, rules.Thresholds{Watch: 25, AtRisk: 40, Critical: 70, Hysteresis: 5}, s.ThresholdsFor("smb"))
}

func TestParseDuration(t *testing.T) {
	tests := []struct {
		in   string
		want time.Duration
		err  string
	}{
		{in: "14d", want: 14 * 24 * time.Hour},
		{in: "1.5d", want: 36 * time.Hour},
		{in: "1d12h", want: 36 * time.Hour},
		{in: "36h", want: 36 * time.Hour},
		{in: "90m", want: 90 * time.Minute},
		{in: "0d", want: 0},
		{in: "d", err: "want a number of days"},
		{in: "-3d", err: "want a number of days"},
		{in: "1e3d", err: "want a number of days"},
		{in: "1..5d", err: "want a number of days"},
		{in: "2d-1h", err: "after the days"},
		{in: "2dd", err: "after the days"},
		{in: "99999999999d", err: "too long"},
		{in: "fortnight", err: "want e.g. 14d"},
		{in: "", err: "want e.g. 14d"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := rules.ParseDuration(tt.in)
			if tt.err != "" {
				require.ErrorContains(t, err, tt.err)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.want, got)
		})
	}
}

func TestParseLoad(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "good.yaml")
	require.NoError(t, os.WriteFile(good, []byte(rule(validRule...)), 0o600))
	s, err := rules.Load(good)
	require.NoError(t, err)
	assert.Equal(t, good, s.Source)
	require.Len(t, s.Rules, 1)

	bad := filepath.Join(dir, "bad.yaml")
	require.NoError(t, os.WriteFile(bad, []byte(rule(with("weight", "    weight: 0")...)), 0o600))
	_, err = rules.Load(bad)
	require.ErrorContains(t, err, bad+":5: rule \"r1\": weight:")

	_, err = rules.Load(filepath.Join(dir, "missing.yaml"))
	require.ErrorIs(t, err, os.ErrNotExist)
}

func TestParseNegativeWeights(t *testing.T) {
	s, err := rules.Parse("ok.yaml", []byte(rule(append(with("weight", "    weight: -12.5"), "    segments: {smb: -20, enterprise: 0}")...)))
	require.NoError(t, err)
	r := s.Rules[0]
	assert.Equal(t, -12.5, r.Weight)
	assert.Equal(t, -20.0, r.WeightFor("smb", ""))
	assert.Equal(t, 0.0, r.WeightFor("enterprise", ""))
	assert.Equal(t, -12.5, r.WeightFor("mid", ""))
}

func TestParseCalibration(t *testing.T) {
	s, err := rules.Parse("ok.yaml", []byte(rule(validRule...)))
	require.NoError(t, err)
	assert.False(t, s.Calibrated)
	assert.Equal(t, rules.DefaultCalibration, s.Calibration)

	s, err = rules.Parse("ok.yaml", []byte("calibration:\n  method: platt\n  intercept: -3.25\n  slope: 0.04\n  horizon: 60d\n"+rule(validRule...)))
	require.NoError(t, err)
	assert.True(t, s.Calibrated)
	assert.Equal(t, rules.Calibration{Method: "platt", Intercept: -3.25, Slope: 0.04, Horizon: 60 * 24 * time.Hour}, s.Calibration)
	// p = 1/(1+e^-(A+B*raw)): one half where A+B*raw = 0.
	assert.InDelta(t, 0.5, s.Calibration.Probability(3.25/0.04), 1e-12)
	assert.InDelta(t, 1/(1+math.Exp(3.25)), s.Calibration.Probability(0), 1e-12)
	assert.Greater(t, s.Calibration.Probability(150), s.Calibration.Probability(100), "no plateau above the cap")
}

func TestDefaultCalibrationAsDocumented(t *testing.T) {
	c := rules.DefaultCalibration
	for raw, want := range map[float64]float64{0: 0.018, 40: 0.119, 60: 0.269, 80: 0.5, 100: 0.731} {
		assert.InDelta(t, want, c.Probability(raw), 0.001, "raw %v", raw)
	}
}
