package fit

import (
	"bytes"
	"fmt"
	"math"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"go.yaml.in/yaml/v3"
)

// rewrite is src with r's weights, tiers and calibration: the parsed
// YAML tree is edited and written again, so each rule's condition,
// detail, playbook and the file's comments stay as they were. Dropped
// rules (weight 0) are removed. A rule's segment and stage overrides are
// scaled as its weight is: the activations the fit learned from carry
// the overrides' ratio to the weight, so the score stays the fitted
// model's. The segment tiers go: one set of tiers was fitted.
func rewrite(src []byte, r *Result) ([]byte, error) {
	var doc yaml.Node
	if err := yaml.Unmarshal(src, &doc); err != nil {
		return nil, fmt.Errorf("fit: reading the input rules: %w", err)
	}
	if doc.Kind != yaml.DocumentNode || len(doc.Content) != 1 || doc.Content[0].Kind != yaml.MappingNode {
		return nil, fmt.Errorf("fit: the input rules are not a mapping")
	}
	root := doc.Content[0]
	weights, ratio := map[string]float64{}, map[string]float64{}
	for _, c := range r.Coefficients {
		weights[c.Rule], ratio[c.Rule] = c.Weight, c.Weight/c.Input
	}
	list := value(root, "rules")
	if list == nil || list.Kind != yaml.SequenceNode {
		return nil, fmt.Errorf("fit: the input rules have no rules list")
	}
	kept := list.Content[:0]
	for _, rn := range list.Content {
		name := value(rn, "name")
		if name == nil {
			return nil, fmt.Errorf("fit: a rule at line %d has no name", rn.Line)
		}
		w := weights[name.Value]
		if w == 0 {
			continue
		}
		setValue(rn, "weight", scalar(w), "")
		for _, key := range []string{"segments", "stages"} {
			if m := value(rn, key); m != nil && m.Kind == yaml.MappingNode {
				for i := 1; i < len(m.Content); i += 2 {
					v, err := strconv.ParseFloat(m.Content[i].Value, 64)
					if err != nil {
						return nil, fmt.Errorf("fit: rule %s: %s: %w", name.Value, key, err)
					}
					m.Content[i] = scalar(max(-100, min(100, tenths(v*ratio[name.Value]))))
				}
			}
		}
		kept = append(kept, rn)
	}
	list.Content = kept
	deleteKey(root, "segment_tiers")
	th := r.Tiers
	tiers := &yaml.Node{Kind: yaml.MappingNode, Style: yaml.FlowStyle}
	for _, kv := range []struct {
		k string
		v float64
	}{{"watch", th.Watch}, {"at_risk", th.AtRisk}, {"critical", th.Critical}, {"hysteresis", th.Hysteresis}} {
		tiers.Content = append(tiers.Content, str(kv.k), scalar(kv.v))
	}
	setValue(root, "tiers", tiers, "rules")
	c := r.Calibration
	cal := &yaml.Node{Kind: yaml.MappingNode, Content: []*yaml.Node{
		str("method"), str(c.Method),
		str("intercept"), scalar(c.Intercept),
		str("slope"), scalar(c.Slope),
		str("horizon"), str(days(c.Horizon)),
	}}
	setValue(root, "calibration", cal, "rules")
	var b bytes.Buffer
	enc := yaml.NewEncoder(&b)
	enc.SetIndent(2)
	if err := enc.Encode(&doc); err != nil {
		return nil, fmt.Errorf("fit: writing the fitted rules: %w", err)
	}
	if err := enc.Close(); err != nil {
		return nil, fmt.Errorf("fit: writing the fitted rules: %w", err)
	}
	return b.Bytes(), nil
}

// value is the value node of key in mapping m, or nil.
func value(m *yaml.Node, key string) *yaml.Node {
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == key {
			return m.Content[i+1]
		}
	}
	return nil
}

// setValue sets key's value in mapping m, keeping its comments; a new key
// goes before the key before (at the end when there is none).
func setValue(m *yaml.Node, key string, v *yaml.Node, before string) {
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == key {
			old := m.Content[i+1]
			v.LineComment, v.FootComment = old.LineComment, old.FootComment
			m.Content[i+1] = v
			return
		}
	}
	at := len(m.Content)
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == before {
			at = i
			break
		}
	}
	k := str(key)
	if at < len(m.Content) {
		// The comment above the key before belongs above the new key,
		// which now comes first.
		k.HeadComment, m.Content[at].HeadComment = m.Content[at].HeadComment, ""
	}
	m.Content = append(m.Content[:at], append([]*yaml.Node{k, v}, m.Content[at:]...)...)
}

func deleteKey(m *yaml.Node, key string) {
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == key {
			m.Content = append(m.Content[:i], m.Content[i+2:]...)
			return
		}
	}
}

func str(s string) *yaml.Node { return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: s} }

// scalar is a number rounded to six decimals, written as an integer when
// it is one.
func scalar(v float64) *yaml.Node {
	v = math.Round(v*1e6) / 1e6
	tag := "!!float"
	if v == math.Trunc(v) {
		tag = "!!int"
	}
	return &yaml.Node{Kind: yaml.ScalarNode, Tag: tag, Value: strconv.FormatFloat(v, 'f', -1, 64)}
}

func days(d time.Duration) string { return strconv.FormatFloat(d.Hours()/24, 'f', -1, 64) + "d" }

// File is the fitted rule file: a header comment giving the data, the
// periods, the coefficients and the validation figures of the input
// rules beside the fitted ones, then the rules. history names the data.
func (r *Result) File(history string) []byte {
	var b bytes.Buffer
	line := func(format string, args ...any) {
		s := fmt.Sprintf(format, args...)
		if s == "" {
			b.WriteString("#\n")
			return
		}
		b.WriteString("# " + s + "\n")
	}
	date := func(t time.Time) string { return t.UTC().Format(time.DateOnly) }
	line("Fitted by riskctl fit from %s (the input rules: %s).", history, r.Input.Source)
	line("Data: %d customers, %d signals, %s to %s; horizon %s.", r.Customers, r.Signals, date(r.From), date(r.To), days(r.Horizon))
	line("Fitted on %d dates %s to %s (%d observations, %d churned within the horizon),",
		r.Fit.Dates, date(r.Fit.From), date(r.Fit.To), r.Fit.Observations, r.Fit.Churned)
	line("  each date's horizon ending by %s, so nothing of the validation period leaks in.", date(r.SplitAt))
	line("Validated on %d dates %s to %s (%d observations, %d churned).",
		r.Validation.Dates, date(r.Validation.From), date(r.Validation.To), r.Validation.Observations, r.Validation.Churned)
	line("")
	line("Validation, input rules beside the fitted ones (at_risk+ for recall, precision and FAR):")
	var t bytes.Buffer
	tw := tabwriter.NewWriter(&t, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "\tinput\tfitted")
	for _, row := range []struct {
		name string
		in   float64
		out  float64
	}{
		{"AUC (raw score, as backtest)", r.InputFigures.AUC, r.FittedFigures.AUC},
		{"AUC (score clamped 0..100)", r.InputFigures.ScoreAUC, r.FittedFigures.ScoreAUC},
		{"recall", r.InputFigures.Recall, r.FittedFigures.Recall},
		{"precision", r.InputFigures.Precision, r.FittedFigures.Precision},
		{"false alert rate", r.InputFigures.FalseAlertRate, r.FittedFigures.FalseAlertRate},
		{"Brier score", r.InputFigures.Brier, r.FittedFigures.Brier},
		{"calibration error", r.InputFigures.CalibrationError, r.FittedFigures.CalibrationError},
	} {
		fmt.Fprintf(tw, "%s\t%s\t%s\n", row.name, num(row.in), num(row.out))
	}
	tw.Flush()
	for _, l := range strings.Split(strings.TrimRight(t.String(), "\n"), "\n") {
		line("  %s", strings.TrimRight(l, " "))
	}
	if !r.Input.Calibrated {
		line("The input has no calibration block: its probabilities are the built-in default's.")
	}
	line("")
	line("Weights: %.2f x beta to a tenth, the log-odds of churn a fully active rule adds (intercept %.3f),", r.Scale, r.Intercept)
	line("  beta shrunk toward the input's weights (L2 %g, chosen on the fitting period);", r.L2)
	line("  the scale puts the 99th percentile of the fitting period's scores at 100.")
	line("Tiers flag at most %.0f%%, %.0f%% and %.0f%% of the fitting observations, and none whose churn rate",
		100*Volumes[0], 100*Volumes[1], 100*Volumes[2])
	line("  is below %g, %g and %g times the fitting period's (%s):",
		Lifts[0], Lifts[1], Lifts[2], num(float64(r.Fit.Churned)/float64(r.Fit.Observations)))
	line("  p(churn within %s) at watch %s, at_risk %s, critical %s.", days(r.Horizon),
		num(r.Calibration.Probability(r.Tiers.Watch)), num(r.Calibration.Probability(r.Tiers.AtRisk)),
		num(r.Calibration.Probability(r.Tiers.Critical)))
	line("Segment and stage weights are scaled as their rule's weight; the input's segment tiers are not kept.")
	t.Reset()
	tw = tabwriter.NewWriter(&t, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "rule\tbeta\tinput\tfitted")
	for _, c := range r.Coefficients {
		w := strconv.FormatFloat(c.Weight, 'f', -1, 64)
		if c.Weight == 0 {
			w = "dropped"
		}
		fmt.Fprintf(tw, "%s\t%.3f\t%s\t%s\n", c.Rule, c.Beta, strconv.FormatFloat(c.Input, 'f', -1, 64), w)
	}
	tw.Flush()
	for _, l := range strings.Split(strings.TrimRight(t.String(), "\n"), "\n") {
		line("  %s", strings.TrimRight(l, " "))
	}
	b.WriteString("\n")
	b.Write(r.body)
	return b.Bytes()
}

func num(v float64) string {
	if math.IsNaN(v) {
		return "-"
	}
	return strconv.FormatFloat(v, 'f', 3, 64)
}
