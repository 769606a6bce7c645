package rules

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"cel.dev/cel-go/cel"
	celast "cel.dev/cel-go/common/ast"
	"cel.dev/cel-go/common/operators"
	"go.yaml.in/yaml/v3"

	"github.com/riskwatch/riskwatch/signals"
)

// Bounds on what a rule file may contain. They keep a bad or hostile file
// from costing the engine more than a normal one.
const (
	maxFileSize    = 1 << 20
	maxRules       = 1000
	maxDetail      = 1024
	maxPlaybook    = 20
	maxPlaybookLen = 512
	maxOverrideKey = 64
	minHalfLife    = time.Minute
	maxHalfLife    = 365 * 24 * time.Hour
	maxLateness    = 365 * 24 * time.Hour
	// maxBackfill is as far back as a customer's firing history can
	// be revised (its day bits cover 32 days).
	maxBackfill = 31 * 24 * time.Hour
)

var (
	nameRE     = regexp.MustCompile(`^[a-z0-9-]{1,64}$`)
	categoryRE = regexp.MustCompile(`^[a-z_]{1,32}$`)
	yamlLineRE = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)

	topKeys   = []string{"cost_limit", "lateness", "backfill_window", "tiers", "segment_tiers", "calibration", "rules"}
	ruleKeys  = []string{"name", "category", "kind", "when", "weight", "half_life", "segments", "stages", "detail", "playbook"}
	tierKeys  = []string{"watch", "at_risk", "critical", "hysteresis"}
	required  = []string{"name", "category", "when", "weight", "half_life"}
	kindNames = func() []string {
		out := make([]string, len(signals.Kinds))
		for i, k := range signals.Kinds {
			out[i] = string(k)
		}
		return out
	}()
)

// Load reads and parses a rule file; messages name the file by path.
func Load(path string) (*Set, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("loading rules: %w", err)
	}
	return Parse(path, data)
}

// Parse parses and checks a rule file. source names the file in messages.
// It reports every problem it finds, each an *Error with its line, joined
// with errors.Join; on any problem the Set is nil.
func Parse(source string, data []byte) (*Set, error) {
	p := &parser{file: source}
	s := p.parse(data)
	if len(p.errs) > 0 {
		// Problems are found key by key; report them in file order.
		slices.SortStableFunc(p.errs, func(a, b *Error) int { return a.Line - b.Line })
		errs := make([]error, len(p.errs))
		for i, e := range p.errs {
			errs[i] = e
		}
		return nil, errors.Join(errs...)
	}
	return s, nil
}

type parser struct {
	file string
	errs []*Error
}

// at says where a message belongs: a rule (by name) and a prefix that
// names the key path when there is no rule name to name it.
type at struct {
	rule   string
	prefix string
}

// sub is where the value of key is, within a.
func (a at) sub(key string) at { return at{rule: a.rule, prefix: a.prefix + key + ": "} }

func (p *parser) errorf(n *yaml.Node, a at, format string, args ...any) {
	line := 0
	if n != nil {
		line = n.Line
	}
	p.errs = append(p.errs, &Error{File: p.file, Line: line, Rule: a.rule, Msg: a.prefix + fmt.Sprintf(format, args...)})
}

func (p *parser) yamlError(err error) {
	msg := err.Error()
	if m := yamlLineRE.FindStringSubmatch(msg); m != nil {
		line, _ := strconv.Atoi(m[1])
		p.errs = append(p.errs, &Error{File: p.file, Line: line, Msg: "YAML: " + m[2]})
		return
	}
	p.errs = append(p.errs, &Error{File: p.file, Msg: "YAML: " + strings.TrimPrefix(msg, "yaml: ")})
}

func (p *parser) parse(data []byte) *Set {
	if len(data) > maxFileSize {
		p.errorf(nil, at{}, "the file is %d bytes, the limit is %d", len(data), maxFileSize)
		return nil
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			p.errorf(nil, at{}, "the file is empty: want a mapping with a rules list")
		} else {
			p.yamlError(err)
		}
		return nil
	}
	var next yaml.Node
	if err := dec.Decode(&next); err == nil {
		p.errorf(&next, at{}, "only one YAML document is allowed")
		return nil
	} else if !errors.Is(err, io.EOF) {
		p.yamlError(err)
		return nil
	}
	root := deref(&doc)
	if root.Kind == yaml.DocumentNode && len(root.Content) == 1 {
		root = deref(root.Content[0])
	}
	if root.Kind != yaml.MappingNode {
		p.errorf(root, at{}, "want a mapping with keys %s", strings.Join(topKeys, ", "))
		return nil
	}
	keys := p.fields(root, at{}, topKeys)

	s := &Set{
		Tiers:          DefaultThresholds,
		Lateness:       DefaultLateness,
		BackfillWindow: DefaultBackfillWindow,
		CostLimit:      DefaultCostLimit,
		Calibration:    DefaultCalibration,
		Source:         p.file,
	}
	if n := keys["cost_limit"]; n != nil {
		if v, ok := p.integer(n, at{prefix: "cost_limit: "}); ok {
			if v < 1 || uint64(v) > MaxCostLimit {
				p.errorf(n, at{}, "cost_limit: %d must be between 1 and %d", v, MaxCostLimit)
			} else {
				s.CostLimit = uint64(v)
			}
		}
	}
	if n := keys["lateness"]; n != nil {
		if d, ok := p.duration(n, at{prefix: "lateness: "}); ok {
			if d < 0 || d > maxLateness {
				p.errorf(n, at{}, "lateness: %s must be between 0 and %s", formatDuration(d), formatDuration(maxLateness))
			} else {
				s.Lateness = d
			}
		}
	}
	if n := keys["backfill_window"]; n != nil {
		if d, ok := p.duration(n, at{prefix: "backfill_window: "}); ok {
			if d < 0 || d > maxBackfill {
				p.errorf(n, at{}, "backfill_window: %s must be between 0 and %s", formatDuration(d), formatDuration(maxBackfill))
			} else {
				s.BackfillWindow = d
			}
		}
	}
	if n := keys["tiers"]; n != nil {
		if th, ok := p.thresholds(n, DefaultThresholds, at{}); ok {
			s.Tiers = th
		}
	}
	if n := keys["segment_tiers"]; n != nil {
		s.SegmentTiers = p.segmentTiers(n, s.Tiers)
	}
	if n := keys["calibration"]; n != nil {
		if c, ok := p.calibration(n); ok {
			s.Calibration, s.Calibrated = c, true
		}
	}
	n := keys["rules"]
	if n == nil {
		p.errorf(root, at{}, "rules: at least one rule is required")
		return s
	}
	s.Rules = p.rules(n, s.CostLimit)
	return s
}

// deref follows YAML aliases, so anchors may share a playbook or a map of
// segment weights. The walk below has a fixed depth, so an alias cannot
// make it blow up the way expanding nested aliases into Go values can.
func deref(n *yaml.Node) *yaml.Node {
	for i := 0; n.Kind == yaml.AliasNode && n.Alias != nil && i < 16; i++ {
		n = n.Alias
	}
	return n
}

// fields returns the value node of each key of mapping n, reporting
// unknown and repeated keys at their own line.
func (p *parser) fields(n *yaml.Node, a at, allowed []string) map[string]*yaml.Node {
	out := make(map[string]*yaml.Node, len(n.Content)/2)
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := deref(n.Content[i]), n.Content[i+1]
		if k.Kind != yaml.ScalarNode {
			p.errorf(k, a, "keys must be plain strings")
			continue
		}
		if !slices.Contains(allowed, k.Value) {
			p.errorf(k, a, "unknown key %q (want one of %s)", k.Value, strings.Join(allowed, ", "))
			continue
		}
		if _, dup := out[k.Value]; dup {
			p.errorf(k, a, "%s: repeated key", k.Value)
			continue
		}
		out[k.Value] = v
	}
	return out
}

func (p *parser) mapping(n *yaml.Node, a at, want string) (*yaml.Node, bool) {
	n = deref(n)
	if n.Kind != yaml.MappingNode {
		p.errorf(n, a, "want %s", want)
		return nil, false
	}
	return n, true
}

func (p *parser) str(n *yaml.Node, a at) (string, bool) {
	n = deref(n)
	if n.Kind != yaml.ScalarNode {
		p.errorf(n, a, "want a string")
		return "", false
	}
	if n.Tag == "!!null" {
		return "", true
	}
	return n.Value, true
}

func (p *parser) number(n *yaml.Node, a at) (float64, bool) {
	n = deref(n)
	var v float64
	if n.Kind != yaml.ScalarNode || (n.Tag != "!!int" && n.Tag != "!!float") || n.Decode(&v) != nil {
		p.errorf(n, a, "want a number, got %s", describe(n))
		return 0, false
	}
	if math.IsNaN(v) || math.IsInf(v, 0) {
		p.errorf(n, a, "want a finite number, got %s", n.Value)
		return 0, false
	}
	return v, true
}

func (p *parser) integer(n *yaml.Node, a at) (int64, bool) {
	n = deref(n)
	var v int64
	if n.Kind != yaml.ScalarNode || n.Tag != "!!int" || n.Decode(&v) != nil {
		p.errorf(n, a, "want an integer, got %s", describe(n))
		return 0, false
	}
	return v, true
}

func (p *parser) duration(n *yaml.Node, a at) (time.Duration, bool) {
	s, ok := p.str(n, a)
	if !ok {
		return 0, false
	}
	d, err := ParseDuration(s)
	if err != nil {
		p.errorf(n, a, "%v", err)
		return 0, false
	}
	return d, true
}

// describe names what a node holds, for "want X, got Y" messages.
func describe(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		if len(n.Value) > 40 {
			return strconv.Quote(n.Value[:40] + "...")
		}
		return strconv.Quote(n.Value)
	}
	return "nothing"
}

// thresholds reads a tiers mapping; keys it omits keep their base value.
func (p *parser) thresholds(n *yaml.Node, base Thresholds, a at) (Thresholds, bool) {
	m, ok := p.mapping(n, a, "a mapping with keys "+strings.Join(tierKeys, ", "))
	if !ok {
		return base, false
	}
	th, good := base, true
	f := p.fields(m, a, tierKeys)
	for _, key := range tierKeys {
		v := f[key]
		if v == nil {
			continue
		}
		x, ok := p.number(v, at{rule: a.rule, prefix: a.prefix + key + ": "})
		if !ok {
			good = false
			continue
		}
		switch key {
		case "watch":
			th.Watch = x
		case "at_risk":
			th.AtRisk = x
		case "critical":
			th.Critical = x
		case "hysteresis":
			th.Hysteresis = x
		}
	}
	if !good {
		return base, false
	}
	if err := th.Validate(); err != nil {
		p.errorf(m, a, "%v", err)
		return base, false
	}
	return th, true
}

func (p *parser) segmentTiers(n *yaml.Node, base Thresholds) map[string]Thresholds {
	m, ok := p.mapping(n, at{prefix: "segment_tiers: "}, "a mapping of segment to tiers")
	if !ok {
		return nil
	}
	out := make(map[string]Thresholds, len(m.Content)/2)
	for i := 0; i+1 < len(m.Content); i += 2 {
		k := deref(m.Content[i])
		seg := k.Value
		if k.Kind != yaml.ScalarNode || seg == "" || len(seg) > maxOverrideKey {
			p.errorf(k, at{prefix: "segment_tiers: "}, "want a segment name of 1 to %d characters", maxOverrideKey)
			continue
		}
		if _, dup := out[seg]; dup {
			p.errorf(k, at{prefix: "segment_tiers: "}, "%s: repeated segment", seg)
			continue
		}
		if th, ok := p.thresholds(m.Content[i+1], base, at{prefix: "segment_tiers." + seg + ": "}); ok {
			out[seg] = th
		}
	}
	return out
}

func (p *parser) rules(n *yaml.Node, costLimit uint64) []*Rule {
	n = deref(n)
	if n.Kind != yaml.SequenceNode || len(n.Content) == 0 {
		p.errorf(n, at{}, "rules: want a list of at least one rule")
		return nil
	}
	if len(n.Content) > maxRules {
		p.errorf(n, at{}, "rules: %d rules, the limit is %d", len(n.Content), maxRules)
		return nil
	}
	var out []*Rule
	seen := make(map[string]int)
	for i, rn := range n.Content {
		r := p.rule(rn, i, costLimit)
		if r == nil {
			continue
		}
		if line, dup := seen[r.Name]; dup {
			p.errorf(rn, at{rule: r.Name}, "name: repeated, the rule at line %d has it already", line)
			continue
		}
		seen[r.Name] = r.Line
		out = append(out, r)
	}
	return out
}

// rule reads one rule; nil when it has problems, which are reported.
func (p *parser) rule(n *yaml.Node, idx int, costLimit uint64) *Rule {
	n = deref(n)
	a := at{prefix: fmt.Sprintf("rules[%d]: ", idx)}
	if n.Kind != yaml.MappingNode {
		p.errorf(n, a, "want a mapping with keys %s", strings.Join(ruleKeys, ", "))
		return nil
	}
	before := len(p.errs)
	// Find the name first so that every other message can cite it.
	for i := 0; i+1 < len(n.Content); i += 2 {
		if k := deref(n.Content[i]); k.Value == "name" {
			if v := deref(n.Content[i+1]); v.Kind == yaml.ScalarNode && nameRE.MatchString(v.Value) {
				a = at{rule: v.Value}
			}
		}
	}
	f := p.fields(n, a, ruleKeys)
	for _, k := range required {
		if f[k] == nil {
			p.errorf(n, a, "%s: required", k)
		}
	}

	r := &Rule{Line: n.Line}
	p.ruleLabels(r, f, a)
	p.ruleWeights(r, f, a)
	p.ruleText(r, f, a)
	if v := f["when"]; v != nil {
		if s, ok := p.str(v, a.sub("when")); ok {
			r.When = s
			r.prg, r.fast, r.compiled = p.compile(deref(v), s, costLimit, a.sub("when"))
		}
	}
	if len(p.errs) > before {
		return nil
	}
	return r
}

// ruleLabels reads what names and files the rule: its name, category and
// signal kind.
func (p *parser) ruleLabels(r *Rule, f map[string]*yaml.Node, a at) {
	if v := f["name"]; v != nil {
		if s, ok := p.str(v, a.sub("name")); ok {
			if !nameRE.MatchString(s) {
				p.errorf(v, a.sub("name"), "%q must match [a-z0-9-]{1,64}", s)
			}
			r.Name = s
		}
	}
	if v := f["category"]; v != nil {
		if s, ok := p.str(v, a.sub("category")); ok {
			if !categoryRE.MatchString(s) {
				p.errorf(v, a.sub("category"), "%q must match [a-z_]{1,32}, e.g. support, usage, commercial", s)
			}
			r.Category = s
		}
	}
	if v := f["kind"]; v != nil {
		if s, ok := p.str(v, a.sub("kind")); ok {
			if !signals.Kind(s).Valid() {
				p.errorf(v, a.sub("kind"), "unknown signal kind %q (want one of %s)", s, strings.Join(kindNames, ", "))
			}
			r.Kind = s
		}
	}
}

// ruleWeights reads what sets the rule's points: its weight, their half
// life, and the weights by segment and by stage.
func (p *parser) ruleWeights(r *Rule, f map[string]*yaml.Node, a at) {
	if v := f["weight"]; v != nil {
		if w, ok := p.number(v, a.sub("weight")); ok {
			// A negative weight is a protective rule: it lowers the risk.
			if w == 0 || w < -100 || w > 100 {
				p.errorf(v, a.sub("weight"), "%v must be in [-100, 100] and not 0 (a negative weight protects)", w)
			}
			r.Weight = w
		}
	}
	if v := f["half_life"]; v != nil {
		if d, ok := p.duration(v, a.sub("half_life")); ok {
			if d < minHalfLife || d > maxHalfLife {
				p.errorf(v, a.sub("half_life"), "%s must be between %s and %s", formatDuration(d), formatDuration(minHalfLife), formatDuration(maxHalfLife))
			}
			r.HalfLife = d
		}
	}
	if v := f["segments"]; v != nil {
		r.Segments = p.overrides(v, a.sub("segments"), nil)
	}
	if v := f["stages"]; v != nil {
		r.Stages = p.overrides(v, a.sub("stages"), signals.Stages)
	}
}

// ruleText reads what the rule tells a CSM: its playbook and the
// template of its detail.
func (p *parser) ruleText(r *Rule, f map[string]*yaml.Node, a at) {
	if v := f["playbook"]; v != nil {
		r.Playbook = p.playbook(v, a.sub("playbook"))
	}
	if v := f["detail"]; v != nil {
		if s, ok := p.str(v, a.sub("detail")); ok {
			r.Detail = s
			if len(s) > maxDetail {
				p.errorf(v, a.sub("detail"), "%d bytes, the limit is %d", len(s), maxDetail)
			} else if d, err := parseDetail(s); err != nil {
				p.errorf(v, a.sub("detail"), "%v", err)
			} else {
				r.detail = d
			}
		}
	}
}

// overrides reads a map of segment or stage to weight. A weight of 0 is
// allowed: it switches the rule off for that segment or stage; a negative
// one makes the rule protective there, as a negative weight does.
func (p *parser) overrides(n *yaml.Node, a at, allowedKeys []string) map[string]float64 {
	m, ok := p.mapping(n, a, "a mapping of name to weight")
	if !ok {
		return nil
	}
	out := make(map[string]float64, len(m.Content)/2)
	for i := 0; i+1 < len(m.Content); i += 2 {
		k := deref(m.Content[i])
		if k.Kind != yaml.ScalarNode || k.Value == "" || len(k.Value) > maxOverrideKey {
			p.errorf(k, a, "want a name of 1 to %d characters", maxOverrideKey)
			continue
		}
		if allowedKeys != nil && !slices.Contains(allowedKeys, k.Value) {
			p.errorf(k, a, "unknown %q (want one of %s)", k.Value, strings.Join(allowedKeys, ", "))
			continue
		}
		if _, dup := out[k.Value]; dup {
			p.errorf(k, a, "%s: repeated", k.Value)
			continue
		}
		w, ok := p.number(m.Content[i+1], at{rule: a.rule, prefix: a.prefix + k.Value + ": "})
		if !ok {
			continue
		}
		if w < -100 || w > 100 {
			p.errorf(m.Content[i+1], a, "%s: %v must be in [-100, 100]", k.Value, w)
			continue
		}
		out[k.Value] = w
	}
	return out
}

func (p *parser) playbook(n *yaml.Node, a at) []string {
	n = deref(n)
	if n.Kind != yaml.SequenceNode {
		p.errorf(n, a, "want a list of steps")
		return nil
	}
	if len(n.Content) > maxPlaybook {
		p.errorf(n, a, "%d steps, the limit is %d", len(n.Content), maxPlaybook)
		return nil
	}
	out := make([]string, 0, len(n.Content))
	for _, step := range n.Content {
		s, ok := p.str(step, a)
		if !ok {
			continue
		}
		if s == "" || len(s) > maxPlaybookLen {
			p.errorf(step, a, "a step must be 1 to %d bytes", maxPlaybookLen)
			continue
		}
		out = append(out, s)
	}
	return out
}

// compile type-checks a `when`, bounds its estimated cost and builds the
// cost-limited program, and, when boundedCost proves tracking useless, the
// same program without cost tracking and, if compileCondition implements
// everything the condition uses, its compiled form.
func (p *parser) compile(n *yaml.Node, expr string, costLimit uint64, a at) (prg, fast cel.Program, compiled eval[bool]) {
	if strings.TrimSpace(expr) == "" {
		p.errorf(n, a, "empty expression")
		return nil, nil, nil
	}
	if len(expr) > MaxWhenLength {
		p.errorf(n, a, "%d bytes, the limit is %d", len(expr), MaxWhenLength)
		return nil, nil, nil
	}
	ast, iss := celEnv.Compile(expr)
	if iss.Err() != nil {
		for _, e := range iss.Errors() {
			line, where := celPosition(n, expr, e.Location.Line(), e.Location.Column())
			p.errs = append(p.errs, &Error{File: p.file, Line: line, Rule: a.rule,
				Msg: a.prefix + e.Message + where})
		}
		return nil, nil, nil
	}
	if !ast.OutputType().IsExactType(cel.BoolType) {
		p.errorf(n, a, "must be a bool expression, this one is %s", ast.OutputType())
		return nil, nil, nil
	}
	est, err := celEnv.EstimateCost(ast, sizeEstimator{})
	if err != nil {
		p.errorf(n, a, "estimating the cost: %v", err)
		return nil, nil, nil
	}
	if est.Max > costLimit {
		p.errorf(n, a, "estimated cost up to %d exceeds cost_limit %d; simplify the expression", est.Max, costLimit)
		return nil, nil, nil
	}
	prg, err = celEnv.Program(ast, cel.CostLimit(costLimit), cel.EvalOptions(cel.OptOptimize))
	if err != nil {
		p.errorf(n, a, "building the program: %v", err)
		return nil, nil, nil
	}
	if boundedCost(ast) {
		if fast, err = celEnv.Program(ast, cel.EvalOptions(cel.OptOptimize)); err != nil {
			p.errorf(n, a, "building the program: %v", err)
			return nil, nil, nil
		}
		compiled = compileCondition(ast)
	}
	return prg, fast, compiled
}

// exactCostOps are the functions whose runtime cost the estimator bounds
// exactly: constant-cost logic, comparison and arithmetic, and string
// comparison and concatenation, whose cost depends on string sizes the
// estimator knows the bound of. Library functions are left out on
// purpose: cel-go documents cases where some (join, split, substring,
// replace, regular expressions) cost more at run time than estimated
// (common/cost/cost_bounds_test.go), so rules using them keep the tracked
// limit.
var exactCostOps = map[string]bool{
	operators.LogicalAnd: true, operators.LogicalOr: true, operators.LogicalNot: true,
	operators.Conditional: true, operators.NotStrictlyFalse: true,
	operators.Equals: true, operators.NotEquals: true, operators.Less: true, operators.LessEquals: true,
	operators.Greater: true, operators.GreaterEquals: true,
	operators.Add: true, operators.Subtract: true, operators.Multiply: true, operators.Divide: true,
	operators.Modulo: true, operators.Negate: true,
}

// boundedCost reports whether a checked expression is made only of
// variables, constants and exactCostOps: no comprehension, no list or map
// built, no library call. Its actual cost is then within its estimate.
func boundedCost(checked *cel.Ast) bool {
	ok := true
	celast.PostOrderVisit(checked.NativeRep().Expr(), celast.NewExprVisitor(func(e celast.Expr) {
		switch e.Kind() {
		case celast.IdentKind, celast.SelectKind, celast.LiteralKind:
		case celast.CallKind:
			if !exactCostOps[e.AsCall().FunctionName()] {
				ok = false
			}
		default:
			ok = false
		}
	}))
	return ok
}

// celPosition turns a position CEL reports inside an expression (line
// 1-based, column 0-based) into a file line and a note for the message.
// A plain scalar on one line maps onto a file column; a literal block
// (when: |) keeps its lines, so the line maps exactly; for other styles
// (quoted, folded) YAML has rewritten the text and only the expression's
// own line and column are honest.
func celPosition(n *yaml.Node, expr string, line, col int) (int, string) {
	if line < 1 {
		return n.Line, ""
	}
	if n.Style == 0 && !strings.Contains(expr, "\n") {
		return n.Line, fmt.Sprintf(" (column %d)", n.Column+col)
	}
	note := fmt.Sprintf(" (line %d of the expression, column %d)", line, col+1)
	if n.Style == yaml.LiteralStyle {
		return n.Line + line, note
	}
	return n.Line, note
}
