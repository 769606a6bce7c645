package rules_test

import (
	"fmt"
	"os"
	"reflect"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/riskwatch/riskwatch/rules"
)

func TestSchema(t *testing.T) {
	schema := rules.Schema()
	names := map[string]bool{}
	nameRE := regexp.MustCompile(`^[a-z]+\.[a-z0-9_]+$`)
	leaves := 0
	ft := reflect.TypeFor[rules.Features]()
	for i := range ft.NumField() {
		leaves += ft.Field(i).Type.NumField()
	}
	require.Len(t, schema, leaves, "every leaf of Features is a feature")
	for _, f := range schema {
		assert.False(t, names[f.Name], "duplicate %s", f.Name)
		names[f.Name] = true
		assert.Regexp(t, nameRE, f.Name)
		assert.Contains(t, []string{"int", "double", "string", "bool"}, f.Type, f.Name)
		assert.NotEmpty(t, f.Doc, f.Name)
	}
	assert.Contains(t, schema, rules.Feature{Name: "tickets.opened_7d", Type: "int", Doc: "tickets opened or reopened in the last 7 days"})
	assert.Contains(t, schema, rules.Feature{Name: "usage.drop_pct", Type: "double",
		Doc: "percent drop of recent_daily against baseline_daily (0 when usage rose or no baseline)"})
	assert.Equal(t, "string", findFeature(t, schema, "profile.segment").Type)
	assert.Equal(t, "bool", findFeature(t, schema, "nps.passive").Type)

	// Schema hands out a copy.
	schema[0].Name = "changed"
	assert.NotEqual(t, "changed", rules.Schema()[0].Name)
}

func findFeature(t *testing.T, schema []rules.Feature, name string) rules.Feature {
	t.Helper()
	for _, f := range schema {
		if f.Name == name {
			return f
		}
	}
	t.Fatalf("no feature %s", name)
	return rules.Feature{}
}

// Every feature reaches CEL and templates with the value of its own field:
// one rule per feature compares it with a distinct value set by reflection.
func TestSchemaVariablesReadTheirField(t *testing.T) {
	schema := rules.Schema()
	var filled rules.Features
	v := reflect.ValueOf(&filled).Elem()
	var file strings.Builder
	file.WriteString("rules:\n")
	want := map[string]string{}
	k := 0
	for i := range v.NumField() {
		for j := range v.Field(i).NumField() {
			f := schema[k]
			fv := v.Field(i).Field(j)
			var lit string
			switch fv.Kind() {
			case reflect.Int64:
				fv.SetInt(int64(k + 1))
				lit = fmt.Sprint(k + 1)
			case reflect.Float64:
				fv.SetFloat(float64(k) + 0.5)
				lit = fmt.Sprintf("%d.5", k)
			case reflect.String:
				fv.SetString(fmt.Sprintf("s%d", k))
				lit = fmt.Sprintf("'s%d'", k)
			case reflect.Bool:
				fv.SetBool(true)
				lit = "true"
			}
			want[fmt.Sprintf("f%d", k)] = strings.Trim(lit, "'")
			fmt.Fprintf(&file, "  - {name: f%d, category: test, weight: 1, half_life: 1d, when: \"%s == %s\", detail: \"{%s}\"}\n",
				k, f.Name, lit, f.Name)
			k++
		}
	}
	s, err := rules.Parse("schema.yaml", []byte(file.String()))
	require.NoError(t, err)
	var zero rules.Features
	for _, r := range s.Rules {
		got, err := r.Eval(&filled)
		require.NoError(t, err)
		assert.True(t, got, "%s: %s", r.Name, r.When)
		got, err = r.Eval(&zero)
		require.NoError(t, err)
		assert.False(t, got, "%s on zero Features: %s", r.Name, r.When)
		assert.Equal(t, want[r.Name], r.Render(&filled), r.Detail)
	}
}

const (
	tableBegin = "<!-- begin features: generated from rules.Schema(); refresh with go test ./rules -run TestDocFeatureTable -update -->"
	tableEnd   = "<!-- end features -->"
	docPath    = "../docs/rules.md"
)

// featureTable is the Markdown table docs/rules.md shows of Schema().
func featureTable() string {
	var b strings.Builder
	b.WriteString("| Feature | Type | Meaning |\n|---|---|---|\n")
	for _, f := range rules.Schema() {
		fmt.Fprintf(&b, "| `%s` | %s | %s |\n", f.Name, f.Type, strings.ReplaceAll(f.Doc, "|", `\|`))
	}
	return b.String()
}

// TestDocFeatureTable keeps the feature reference in docs/rules.md in step
// with Features: adding or documenting a field without updating the docs
// fails here.
func TestDocFeatureTable(t *testing.T) {
	raw, err := os.ReadFile(docPath)
	require.NoError(t, err)
	doc := string(raw)
	before, rest, ok := strings.Cut(doc, tableBegin+"\n")
	require.True(t, ok, "docs/rules.md lacks the line %s", tableBegin)
	current, after, ok := strings.Cut(rest, tableEnd)
	require.True(t, ok, "docs/rules.md lacks the line %s", tableEnd)
	want := featureTable()
	if *update {
		require.NoError(t, os.WriteFile(docPath, []byte(before+tableBegin+"\n"+want+tableEnd+after), 0o644))
		return
	}
	assert.Equal(t, want, current, "docs/rules.md's feature table is out of date: go test ./rules -run TestDocFeatureTable -update")
}

// The example file at the top of docs/rules.md must itself be valid.
func TestDocExampleParses(t *testing.T) {
	raw, err := os.ReadFile(docPath)
	require.NoError(t, err)
	_, rest, ok := strings.Cut(string(raw), "## The file\n\n```yaml\n")
	require.True(t, ok, "docs/rules.md lacks the example under ## The file")
	example, _, ok := strings.Cut(rest, "```")
	require.True(t, ok)
	s, err := rules.Parse("docs/rules.md", []byte(example))
	require.NoError(t, err)
	require.Len(t, s.Rules, 1)
	assert.Equal(t, 30.0, s.Rules[0].WeightFor("enterprise", "onboarding"))
}
