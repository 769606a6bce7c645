package rules

import (
	"fmt"
	"reflect"
	"strings"
	"unsafe"

	"cel.dev/cel-go/cel"
	"cel.dev/cel-go/common/cost"
	"cel.dev/cel-go/common/types"
	"cel.dev/cel-go/common/types/ref"
	"cel.dev/cel-go/ext"
	"cel.dev/cel-go/interpreter"

	"github.com/riskwatch/riskwatch/signals"
)

// Feature describes one CEL variable a rule may use.
type Feature struct {
	// Name is the dotted CEL name, e.g. tickets.opened_7d.
	Name string
	// Type is the CEL type: "int", "double", "string" or "bool".
	Type string
	// Doc is the field's `doc` tag: what the value means and its sentinel.
	Doc string
}

// leaf is a Feature plus how to read it from a Features value.
type leaf struct {
	Feature
	kind reflect.Kind
	// offset is the field's byte offset in Features, found by reflection
	// at init.
	offset uintptr
}

// get reads the leaf from f as a CEL value. Every rule evaluation reads
// its variables through here, so it reads the field at the offset
// reflection found once instead of walking reflect.Values (which
// allocates) on each call; newSchema accepts only the four kinds read
// below, so the pointer always has the field's type. Returning ref.Val
// spares the interpreter its own conversion of native Go values.
func (l *leaf) get(f *Features) ref.Val {
	p := unsafe.Add(unsafe.Pointer(f), l.offset)
	switch l.kind {
	case reflect.Int64:
		return types.Int(*(*int64)(p))
	case reflect.Float64:
		return types.Double(*(*float64)(p))
	case reflect.String:
		return types.String(*(*string)(p))
	default: // reflect.Bool, the only other kind newSchema accepts
		return types.Bool(*(*bool)(p))
	}
}

// stringsBounded reports whether every string feature of f is within the
// size the cost estimator was told (maxStringFeature): the condition under
// which a rule's estimated cost bounds its actual cost.
func stringsBounded(f *Features) bool {
	for _, l := range stringLeaves {
		if len(*(*string)(unsafe.Add(unsafe.Pointer(f), l.offset))) > maxStringFeature {
			return false
		}
	}
	return true
}

var (
	leaves       []*leaf
	stringLeaves []*leaf
	byName       map[string]*leaf
	schema       []Feature
	celEnv       *cel.Env
	celType      = map[reflect.Kind]struct {
		name string
		t    *cel.Type
	}{
		reflect.Int64:   {"int", cel.IntType},
		reflect.Float64: {"double", cel.DoubleType},
		reflect.String:  {"string", cel.StringType},
		reflect.Bool:    {"bool", cel.BoolType},
	}
)

func init() {
	leaves = newSchema(reflect.TypeFor[Features]())
	byName = make(map[string]*leaf, len(leaves))
	schema = make([]Feature, len(leaves))
	opts := []cel.EnvOption{
		// Rules compare counts with ratios all the time (spike_ratio >= 2);
		// making the author write 2.0 catches nobody's mistake.
		cel.CrossTypeNumericComparisons(true),
		ext.Strings(),
	}
	for i, l := range leaves {
		byName[l.Name] = l
		schema[i] = l.Feature
		if l.kind == reflect.String {
			stringLeaves = append(stringLeaves, l)
		}
		opts = append(opts, cel.Variable(l.Name, celType[l.kind].t))
	}
	env, err := cel.NewEnv(opts...)
	if err != nil {
		panic(fmt.Sprintf("rules: building the CEL environment: %v", err))
	}
	celEnv = env
}

// newSchema walks Features: each top-level field is a group, each field of
// a group a leaf. A missing tag or an unsupported type is a programming
// error in features.go, so it panics at init where every test sees it.
func newSchema(t reflect.Type) []*leaf {
	var out []*leaf
	for i := range t.NumField() {
		g := t.Field(i)
		group := g.Tag.Get("cel")
		if group == "" || g.Type.Kind() != reflect.Struct {
			panic(fmt.Sprintf("rules: Features.%s: want a struct field with a cel tag", g.Name))
		}
		for j := range g.Type.NumField() {
			f := g.Type.Field(j)
			name, doc := f.Tag.Get("cel"), f.Tag.Get("doc")
			ct, ok := celType[f.Type.Kind()]
			if name == "" || doc == "" || !ok {
				panic(fmt.Sprintf("rules: Features.%s.%s: want int64, float64, string or bool with cel and doc tags", g.Name, f.Name))
			}
			out = append(out, &leaf{
				Feature: Feature{Name: group + "." + name, Type: ct.name, Doc: doc},
				kind:    f.Type.Kind(),
				offset:  g.Offset + f.Offset,
			})
		}
	}
	return out
}

// Schema lists every variable a rule may use, in the order of Features.
// The caller may modify the returned slice.
func Schema() []Feature {
	return append([]Feature(nil), schema...)
}

// activation resolves CEL variables against one Features value. It holds a
// single pointer, so passing it as an interface does not allocate.
type activation struct{ f *Features }

func (a activation) ResolveName(name string) (any, bool) {
	l, ok := byName[name]
	if !ok {
		return nil, false
	}
	return l.get(a.f), true
}

func (activation) Parent() interpreter.Activation { return nil }

// maxStringFeature bounds string features for the static cost estimate:
// profile fields are free text limited by the wire contract. Without a bound
// the estimator assumes strings of any length and rejects every comparison.
const maxStringFeature = signals.MaxField

// sizeEstimator tells the cost estimator how long string features can be.
type sizeEstimator struct{}

func (sizeEstimator) EstimateSize(n cost.AstNode) *cost.SizeEstimate {
	l, ok := byName[strings.Join(n.Path(), ".")]
	if !ok || l.kind != reflect.String {
		return nil
	}
	sz := cost.RangedSizeEstimate(0, maxStringFeature)
	return &sz
}

func (sizeEstimator) EstimateCallCost(string, string, *cost.AstNode, []cost.AstNode) *cost.CallEstimate {
	return nil
}
