// Package ruletest runs rule unit tests, the Riskwatch counterpart of
// `promtool test rules`: a YAML file gives one customer's profile and a
// series of input signals with event times, and states the score, tier,
// firing rules, contributions and alerts expected at given evaluation
// times. Tests run the pure scorer and alert policy directly, with no NATS
// and no clock, so `riskctl rules test` gives the same answer anywhere.
//
// The file format is documented in docs/riskctl.md.
package ruletest

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/riskwatch/riskwatch/configs"
	"github.com/riskwatch/riskwatch/rules"
	"github.com/riskwatch/riskwatch/signals"
)

// Bounds that keep a test file from asking for more work than a test
// needs: a year of daily signals is 365 repetitions.
const (
	maxFileSize = 4 << 20
	maxRepeat   = 10_000
	maxSignals  = 200_000
	// DefaultCustomer is the customer id of a test without a profile id.
	DefaultCustomer = "customer"
)

// Suite is a loaded test file.
type Suite struct {
	// Path is the file as named to Load.
	Path string
	// RuleFile is the rule file the tests run against; empty for the
	// built-in default rules.
	RuleFile string
	Rules    *rules.Set
	Tests    []Test
}

// Test is one customer's story.
type Test struct {
	Name    string
	Line    int
	Profile *signals.Profile
	// Customer is the profile's id, or DefaultCustomer without a profile.
	Customer string
	// Sweep, when positive, also evaluates the customer at every multiple
	// of it between events, as a live engine's periodic sweeps do.
	Sweep   time.Duration
	Signals []Signal
	Expect  []Expectation
}

// Signal is one input signal after repeat expansion, validated by the
// wire contract's decoder.
type Signal struct {
	Line   int
	Signal signals.Signal
}

// Expectation is what must hold at one evaluation time.
type Expectation struct {
	Line int
	At   time.Time
	// Tier, MinTier and MaxTier are nil when not checked.
	Tier, MinTier, MaxTier *rules.Tier
	Score                  *Range
	Firing, NotFiring      []string
	// Contributions maps a rule to the points it must contribute (0 for a
	// rule absent from the explanation).
	Contributions map[string]Range
	// Alerts is nil when alerts are not checked, empty when none may have
	// been sent since the previous expectation.
	Alerts []AlertSpec
}

// Range is a closed interval of points; an exact value is a range of
// width zero, compared with the 0.05 tolerance of scores rounded to 0.1.
type Range struct {
	Min, Max float64
}

// Contains reports whether v is in r.
func (r Range) Contains(v float64) bool {
	return v >= r.Min-0.05 && v <= r.Max+0.05
}

func (r Range) String() string {
	switch {
	case r.Min == r.Max:
		return strconv.FormatFloat(r.Min, 'f', -1, 64)
	case math.IsInf(r.Max, 1):
		return ">= " + strconv.FormatFloat(r.Min, 'f', -1, 64)
	case math.IsInf(r.Min, -1):
		return "<= " + strconv.FormatFloat(r.Max, 'f', -1, 64)
	}
	return fmt.Sprintf("%s to %s", strconv.FormatFloat(r.Min, 'f', -1, 64), strconv.FormatFloat(r.Max, 'f', -1, 64))
}

// AlertSpec matches an alert by type and, when given, severity.
type AlertSpec struct {
	Type     string
	Severity string
}

func (a AlertSpec) String() string {
	if a.Severity == "" {
		return a.Type
	}
	return a.Type + "/" + a.Severity
}

// Error is one problem in a test file, at its line.
type Error struct {
	File string
	Line int
	Msg  string
}

func (e *Error) Error() string {
	if e.Line > 0 {
		return fmt.Sprintf("%s:%d: %s", e.File, e.Line, e.Msg)
	}
	return fmt.Sprintf("%s: %s", e.File, e.Msg)
}

// Load reads a test file and the rule file it names. Every problem found
// is an *Error, joined with errors.Join; the rule file's own problems are
// the *rules.Error values of rules.Parse.
func Load(path string) (*Suite, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("reading rule tests: %w", err)
	}
	return Parse(path, data)
}

// Parse parses a test file named path (rule files are relative to its
// directory).
func Parse(path string, data []byte) (*Suite, error) {
	l := &loader{file: path}
	s := l.parse(data)
	if len(l.errs) > 0 {
		return nil, errors.Join(l.errs...)
	}
	return s, nil
}

type loader struct {
	file string
	errs []error
}

func (l *loader) errorf(n *yaml.Node, format string, args ...any) {
	line := 0
	if n != nil {
		line = n.Line
	}
	l.errs = append(l.errs, &Error{File: l.file, Line: line, Msg: fmt.Sprintf(format, args...)})
}

var (
	topKeys     = []string{"rule_files", "tests"}
	testKeys    = []string{"name", "profile", "sweep", "signals", "expect"}
	profileKeys = []string{"id", "name", "arr", "currency", "renewal_date", "segment", "owner", "plan", "stage"}
	signalKeys  = []string{"kind", "time", "id", "source", "repeat", "data"}
	repeatKeys  = []string{"every", "times"}
	expectKeys  = []string{"at", "tier", "min_tier", "max_tier", "score", "firing", "not_firing", "contributions", "alerts"}
	rangeKeys   = []string{"min", "max"}
	alertKeys   = []string{"type", "severity"}
	alertTypes  = []string{"raised", "escalated", "reminder", "resolved", "unclaimed"}
	severities  = []string{"watch", "at_risk", "critical", "resolved"}
)

func (l *loader) parse(data []byte) *Suite {
	if len(data) > maxFileSize {
		l.errorf(nil, "the file is %d bytes, the limit is %d", len(data), maxFileSize)
		return nil
	}
	var doc yaml.Node
	if err := yaml.NewDecoder(bytes.NewReader(data)).Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			l.errorf(nil, "the file is empty: want a mapping with a tests list")
		} else {
			l.errorf(nil, "YAML: %s", strings.TrimPrefix(err.Error(), "yaml: "))
		}
		return nil
	}
	root := &doc
	if root.Kind == yaml.DocumentNode && len(root.Content) == 1 {
		root = root.Content[0]
	}
	keys, ok := l.mapping(root, topKeys)
	if !ok {
		return nil
	}
	s := &Suite{Path: l.file}
	if n := keys["rule_files"]; n != nil {
		s.RuleFile = l.ruleFile(n)
	}
	set, err := l.loadRules(s.RuleFile)
	if err != nil {
		l.errs = append(l.errs, err)
		return nil
	}
	s.Rules = set
	n := keys["tests"]
	if n == nil || n.Kind != yaml.SequenceNode || len(n.Content) == 0 {
		l.errorf(root, "tests: want a list of at least one test")
		return nil
	}
	names := map[string]int{}
	for _, tn := range n.Content {
		t, ok := l.test(tn, set)
		if !ok {
			continue
		}
		if line, dup := names[t.Name]; dup {
			l.errorf(tn, "test %q: the name is already used at line %d", t.Name, line)
			continue
		}
		names[t.Name] = t.Line
		s.Tests = append(s.Tests, t)
	}
	return s
}

// ruleFile reads rule_files: a list of one path, relative to the test file.
// The engine loads a single rule file, so tests do too.
func (l *loader) ruleFile(n *yaml.Node) string {
	if n.Kind != yaml.SequenceNode || len(n.Content) != 1 || n.Content[0].Kind != yaml.ScalarNode || n.Content[0].Value == "" {
		l.errorf(n, "rule_files: want a list of one rule file, e.g. [rules.yaml] (riskd loads one file); omit it for the built-in rules")
		return ""
	}
	p := n.Content[0].Value
	if !filepath.IsAbs(p) {
		p = filepath.Join(filepath.Dir(l.file), p)
	}
	return p
}

func (l *loader) loadRules(path string) (*rules.Set, error) {
	if path == "" {
		set, err := rules.Parse("configs/rules.yaml (built in)", configs.DefaultRules)
		if err != nil {
			return nil, fmt.Errorf("built-in rules: %w", err)
		}
		return set, nil
	}
	return rules.Load(path)
}

// mapping checks that n is a mapping with only allowed keys and returns
// its values by key.
func (l *loader) mapping(n *yaml.Node, allowed []string) (map[string]*yaml.Node, bool) {
	if n.Kind != yaml.MappingNode {
		l.errorf(n, "want a mapping with keys %s", strings.Join(allowed, ", "))
		return nil, false
	}
	out := make(map[string]*yaml.Node, len(n.Content)/2)
	ok := true
	for i := 0; i+1 < len(n.Content); i += 2 {
		k := n.Content[i]
		switch {
		case !slices.Contains(allowed, k.Value):
			l.errorf(k, "unknown key %q (want one of %s)", k.Value, strings.Join(allowed, ", "))
			ok = false
		case out[k.Value] != nil:
			l.errorf(k, "%s: repeated key", k.Value)
			ok = false
		default:
			out[k.Value] = n.Content[i+1]
		}
	}
	return out, ok
}

func (l *loader) scalar(n *yaml.Node, what string) (string, bool) {
	if n.Kind != yaml.ScalarNode || n.Tag == "!!null" {
		l.errorf(n, "%s: want a single value", what)
		return "", false
	}
	return n.Value, true
}

func (l *loader) number(n *yaml.Node, what string) (float64, bool) {
	s, ok := l.scalar(n, what)
	if !ok {
		return 0, false
	}
	v, err := strconv.ParseFloat(s, 64)
	if err != nil || math.IsNaN(v) || math.IsInf(v, 0) {
		l.errorf(n, "%s: %q is not a number", what, s)
		return 0, false
	}
	return v, true
}

func (l *loader) time(n *yaml.Node, what string) (time.Time, bool) {
	s, ok := l.scalar(n, what)
	if !ok {
		return time.Time{}, false
	}
	t, err := parseTime(s)
	if err != nil {
		l.errorf(n, "%s: %v", what, err)
		return time.Time{}, false
	}
	return t, true
}

// parseTime reads an RFC 3339 time or a date (midnight UTC).
func parseTime(s string) (time.Time, error) {
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t.UTC(), nil
	}
	if t, err := time.Parse(time.DateOnly, s); err == nil {
		return t, nil
	}
	return time.Time{}, fmt.Errorf("%q is not an RFC 3339 time (2026-11-20T10:04:00Z) or a date (2026-11-20)", s)
}

func (l *loader) names(n *yaml.Node, what string, set *rules.Set) []string {
	if n.Kind != yaml.SequenceNode {
		l.errorf(n, "%s: want a list of rule names", what)
		return nil
	}
	out := make([]string, 0, len(n.Content))
	for _, c := range n.Content {
		name, ok := l.scalar(c, what)
		if !ok {
			continue
		}
		if set.Rule(name) == nil {
			l.errorf(c, "%s: no rule %q in %s", what, name, set.Source)
			continue
		}
		out = append(out, name)
	}
	return out
}

func (l *loader) tier(n *yaml.Node, what string) *rules.Tier {
	s, ok := l.scalar(n, what)
	if !ok {
		return nil
	}
	t, err := rules.ParseTier(s)
	if err != nil {
		l.errorf(n, "%s: %v", what, err)
		return nil
	}
	return &t
}

// rangeOf reads `42` (exactly 42) or `{min: 10, max: 40}` (either bound
// optional).
func (l *loader) rangeOf(n *yaml.Node, what string) (Range, bool) {
	if n.Kind == yaml.ScalarNode {
		v, ok := l.number(n, what)
		return Range{v, v}, ok
	}
	keys, ok := l.mapping(n, rangeKeys)
	if !ok {
		return Range{}, false
	}
	r := Range{Min: math.Inf(-1), Max: math.Inf(1)}
	if len(keys) == 0 {
		l.errorf(n, "%s: give min, max or both", what)
		return r, false
	}
	if k := keys["min"]; k != nil {
		if r.Min, ok = l.number(k, what+".min"); !ok {
			return r, false
		}
	}
	if k := keys["max"]; k != nil {
		if r.Max, ok = l.number(k, what+".max"); !ok {
			return r, false
		}
	}
	if r.Min > r.Max {
		l.errorf(n, "%s: min %v is above max %v", what, r.Min, r.Max)
		return r, false
	}
	return r, true
}

func (l *loader) test(n *yaml.Node, set *rules.Set) (Test, bool) {
	t := Test{Line: n.Line, Customer: DefaultCustomer}
	keys, ok := l.mapping(n, testKeys)
	if !ok {
		return t, false
	}
	nerr := len(l.errs)
	if k := keys["name"]; k != nil {
		t.Name, _ = l.scalar(k, "name")
	}
	if t.Name == "" {
		l.errorf(n, "test: name is required")
	}
	if k := keys["profile"]; k != nil {
		t.Profile = l.profile(k)
		if t.Profile != nil {
			t.Customer = t.Profile.ID
		}
	}
	if k := keys["sweep"]; k != nil {
		if s, ok := l.scalar(k, "sweep"); ok {
			d, err := rules.ParseDuration(s)
			switch {
			case err != nil:
				l.errorf(k, "sweep: %v", err)
			case d < time.Minute:
				l.errorf(k, "sweep: %s is shorter than a minute", s)
			default:
				t.Sweep = d
			}
		}
	}
	if k := keys["signals"]; k != nil {
		t.Signals = l.signals(k, t.Customer)
	}
	k := keys["expect"]
	if k == nil || k.Kind != yaml.SequenceNode || len(k.Content) == 0 {
		l.errorf(n, "test %q: expect: want a list of at least one expectation", t.Name)
		return t, false
	}
	for _, en := range k.Content {
		if e, ok := l.expectation(en, set); ok {
			if len(t.Expect) > 0 && e.At.Before(t.Expect[len(t.Expect)-1].At) {
				l.errorf(en, "at: %s is before the previous expectation's %s: list expectations in time order",
					e.At.Format(time.RFC3339), t.Expect[len(t.Expect)-1].At.Format(time.RFC3339))
				continue
			}
			t.Expect = append(t.Expect, e)
		}
	}
	return t, len(l.errs) == nerr
}

func (l *loader) profile(n *yaml.Node) *signals.Profile {
	keys, ok := l.mapping(n, profileKeys)
	if !ok {
		return nil
	}
	p := &signals.Profile{ID: DefaultCustomer}
	str := map[string]*string{"id": &p.ID, "name": &p.Name, "currency": &p.Currency, "renewal_date": &p.RenewalDate,
		"segment": &p.Segment, "owner": &p.Owner, "plan": &p.Plan, "stage": &p.Stage}
	for key, dst := range str {
		if k := keys[key]; k != nil {
			if v, ok := l.scalar(k, "profile."+key); ok {
				*dst = v
			}
		}
	}
	if k := keys["arr"]; k != nil {
		p.ARR, _ = l.number(k, "profile.arr")
	}
	if err := p.Validate(); err != nil {
		l.errorf(n, "profile: %v", err)
		return nil
	}
	return p
}

func (l *loader) signals(n *yaml.Node, customer string) []Signal {
	if n.Kind != yaml.SequenceNode {
		l.errorf(n, "signals: want a list")
		return nil
	}
	var out []Signal
	for idx, sn := range n.Content {
		keys, ok := l.mapping(sn, signalKeys)
		if !ok {
			continue
		}
		kind, start, ok := "", time.Time{}, true
		if k := keys["kind"]; k != nil {
			kind, _ = l.scalar(k, "kind")
		}
		if kind == "" {
			l.errorf(sn, "signal: kind is required")
			ok = false
		}
		if k := keys["time"]; k != nil {
			start, ok = l.time(k, "time")
		} else {
			l.errorf(sn, "signal: time is required")
			ok = false
		}
		times, every := 1, time.Duration(0)
		if k := keys["repeat"]; k != nil {
			times, every, ok = l.repeat(k)
		}
		var id, source string
		if k := keys["id"]; k != nil {
			id, _ = l.scalar(k, "id")
		}
		if k := keys["source"]; k != nil {
			source, _ = l.scalar(k, "source")
		}
		if !ok {
			continue
		}
		if id != "" && times > 1 && !strings.Contains(id, "{n}") {
			l.errorf(keys["id"], "id: %q would repeat %d times: put {n} in it for the repetition number", id, times)
			continue
		}
		if len(out)+times > maxSignals {
			l.errorf(sn, "signals: more than %d signals in one test", maxSignals)
			return out
		}
		data := keys["data"]
		for rep := 1; rep <= times; rep++ {
			sid := expand(id, rep)
			if id == "" {
				// Deterministic, so that alert ids and evidence in a
				// failure report are the same on every run.
				sid = fmt.Sprintf("%s-%d-%d", kind, idx+1, rep)
			}
			env := map[string]any{"id": sid, "kind": kind, "customer": customer,
				"time": start.Add(time.Duration(rep-1) * every).Format(time.RFC3339Nano), "source": source}
			if data != nil {
				env["data"] = l.value(data, rep)
			}
			body, err := json.Marshal(env)
			if err != nil {
				l.errorf(sn, "signal: %v", err)
				break
			}
			s, err := signals.Decode("", body, time.Time{})
			if err != nil {
				l.errorf(sn, "signal %s: %v", sid, err)
				break
			}
			out = append(out, Signal{Line: sn.Line, Signal: s})
		}
	}
	return out
}

func (l *loader) repeat(n *yaml.Node) (int, time.Duration, bool) {
	keys, ok := l.mapping(n, repeatKeys)
	if !ok {
		return 0, 0, false
	}
	times := 1
	if k := keys["times"]; k != nil {
		v, ok := l.number(k, "repeat.times")
		if !ok {
			return 0, 0, false
		}
		if v < 1 || v > maxRepeat || v != math.Trunc(v) {
			l.errorf(k, "repeat.times: want a whole number from 1 to %d", maxRepeat)
			return 0, 0, false
		}
		times = int(v)
	}
	k := keys["every"]
	if k == nil {
		if times > 1 {
			l.errorf(n, "repeat: every is required, e.g. every: 24h")
			return 0, 0, false
		}
		return times, 0, true
	}
	s, ok := l.scalar(k, "repeat.every")
	if !ok {
		return 0, 0, false
	}
	d, err := rules.ParseDuration(s)
	if err != nil || d <= 0 {
		l.errorf(k, "repeat.every: want a positive duration such as 24h or 7d")
		return 0, 0, false
	}
	return times, d, true
}

// value turns a YAML data node into JSON-ready values. Scalars keep their
// text unless YAML types them as numbers, booleans or null, so a date such
// as 2027-01-15 stays a string rather than becoming a timestamp. {n} in a
// string becomes the repetition number.
func (l *loader) value(n *yaml.Node, rep int) any {
	switch n.Kind {
	case yaml.AliasNode:
		if n.Alias != nil {
			return l.value(n.Alias, rep)
		}
		return nil
	case yaml.MappingNode:
		m := make(map[string]any, len(n.Content)/2)
		for i := 0; i+1 < len(n.Content); i += 2 {
			m[n.Content[i].Value] = l.value(n.Content[i+1], rep)
		}
		return m
	case yaml.SequenceNode:
		s := make([]any, 0, len(n.Content))
		for _, c := range n.Content {
			s = append(s, l.value(c, rep))
		}
		return s
	}
	switch n.Tag {
	case "!!null":
		return nil
	case "!!bool":
		b, _ := strconv.ParseBool(strings.ToLower(n.Value))
		return b
	case "!!int", "!!float":
		var v any
		if err := n.Decode(&v); err == nil {
			return v
		}
	}
	return expand(n.Value, rep)
}

func expand(s string, rep int) string {
	return strings.ReplaceAll(s, "{n}", strconv.Itoa(rep))
}

func (l *loader) expectation(n *yaml.Node, set *rules.Set) (Expectation, bool) {
	e := Expectation{Line: n.Line}
	keys, ok := l.mapping(n, expectKeys)
	if !ok {
		return e, false
	}
	nerr := len(l.errs)
	if k := keys["at"]; k != nil {
		e.At, _ = l.time(k, "at")
	} else {
		l.errorf(n, "expect: at is required")
	}
	if k := keys["tier"]; k != nil {
		e.Tier = l.tier(k, "tier")
	}
	if k := keys["min_tier"]; k != nil {
		e.MinTier = l.tier(k, "min_tier")
	}
	if k := keys["max_tier"]; k != nil {
		e.MaxTier = l.tier(k, "max_tier")
	}
	if k := keys["score"]; k != nil {
		if r, ok := l.rangeOf(k, "score"); ok {
			e.Score = &r
		}
	}
	if k := keys["firing"]; k != nil {
		e.Firing = l.names(k, "firing", set)
	}
	if k := keys["not_firing"]; k != nil {
		e.NotFiring = l.names(k, "not_firing", set)
	}
	for _, r := range e.Firing {
		if slices.Contains(e.NotFiring, r) {
			l.errorf(n, "rule %q is both in firing and in not_firing", r)
		}
	}
	if k := keys["contributions"]; k != nil {
		e.Contributions = l.contributions(k, set)
	}
	if k := keys["alerts"]; k != nil {
		e.Alerts = l.alerts(k)
	}
	return e, len(l.errs) == nerr
}

func (l *loader) contributions(n *yaml.Node, set *rules.Set) map[string]Range {
	if n.Kind != yaml.MappingNode {
		l.errorf(n, "contributions: want a mapping of rule name to points, e.g. {ticket-spike: 18}")
		return nil
	}
	out := map[string]Range{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k := n.Content[i]
		if set.Rule(k.Value) == nil {
			l.errorf(k, "contributions: no rule %q in %s", k.Value, set.Source)
			continue
		}
		if r, ok := l.rangeOf(n.Content[i+1], "contributions."+k.Value); ok {
			out[k.Value] = r
		}
	}
	return out
}

func (l *loader) alerts(n *yaml.Node) []AlertSpec {
	if n.Kind != yaml.SequenceNode {
		l.errorf(n, "alerts: want a list such as [{type: raised, severity: watch}], or [] for none")
		return nil
	}
	out := make([]AlertSpec, 0, len(n.Content))
	for _, an := range n.Content {
		keys, ok := l.mapping(an, alertKeys)
		if !ok {
			continue
		}
		var a AlertSpec
		if k := keys["type"]; k != nil {
			a.Type, _ = l.scalar(k, "alerts.type")
		}
		if !slices.Contains(alertTypes, a.Type) {
			l.errorf(an, "alerts: type %q: want one of %s", a.Type, strings.Join(alertTypes, ", "))
			continue
		}
		if k := keys["severity"]; k != nil {
			a.Severity, _ = l.scalar(k, "alerts.severity")
			if !slices.Contains(severities, a.Severity) {
				l.errorf(k, "alerts: severity %q: want one of %s", a.Severity, strings.Join(severities, ", "))
				continue
			}
		}
		out = append(out, a)
	}
	return out
}
