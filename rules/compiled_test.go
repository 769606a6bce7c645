package rules

import (
	"encoding/binary"
	"fmt"
	"math"
	"slices"
	"strings"
	"testing"
	"unsafe"

	"cel.dev/cel-go/cel"
	"cel.dev/cel-go/common/types"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// vals are the features the hand-written expressions read, under short
// names: x and y are ints, d and e doubles, s and t strings, p and q bools.
type vals struct {
	x, y int64
	d, e float64
	s, t string
	p, q bool
}

func (v vals) features() Features {
	var f Features
	f.Tickets.Opened7d, f.Tickets.Urgent7d = v.x, v.y
	f.Usage.RecentDaily, f.Usage.DropPct = v.d, v.e
	f.Rating.Value, f.Profile.Segment = v.s, v.t
	f.NPS.Answered, f.Champion.Lost = v.p, v.q
	return f
}

// expand writes an expression over x, y, d, e, s, t, p, q with the
// feature names vals.features sets.
func expand(when string) string {
	return strings.NewReplacer(
		"$x", "tickets.opened_7d", "$y", "tickets.urgent_7d",
		"$d", "usage.recent_daily", "$e", "usage.drop_pct",
		"$s", "rating.value", "$t", "profile.segment",
		"$p", "nps.answered", "$q", "champion.lost",
	).Replace(when)
}

const (
	maxInt = math.MaxInt64
	minInt = math.MinInt64
	two63  = float64(1 << 63) // what float64(maxInt) rounds to
	two53  = 1 << 53
)

var (
	nan    = math.NaN()
	negZ   = math.Copysign(0, -1)
	posInf = math.Inf(1)
)

// compiledCases pin what CEL answers for each operator on each type,
// including its errors and its less obvious answers, and the compiled
// evaluator must answer the same. wantErr is part of CEL's error message:
// the compiled evaluator must decline there, leaving the answer to CEL.
var compiledCases = []struct {
	when    string
	v       vals
	want    bool
	wantErr string
}{
	// Logic.
	{when: "$p && $q", v: vals{p: true, q: true}, want: true},
	{when: "$p && $q", v: vals{p: true}},
	{when: "$p || $q", v: vals{q: true}, want: true},
	{when: "$p || $q", v: vals{}},
	{when: "!$p", v: vals{}, want: true},
	{when: "$p == $q", v: vals{p: true}},
	{when: "$p != $q", v: vals{p: true}, want: true},
	{when: "$p && $q || !$p && !$q", v: vals{}, want: true},

	// Bools are ordered, false first.
	{when: "false < true", want: true},
	{when: "$p < $q", v: vals{q: true}, want: true},
	{when: "$p < $q", v: vals{p: true}},
	{when: "$p <= $q", v: vals{p: true, q: true}, want: true},
	{when: "$p > $q", v: vals{p: true}, want: true},
	{when: "$p >= $q", v: vals{q: true}},

	// Ints.
	{when: "$x + $y == 7", v: vals{x: 3, y: 4}, want: true},
	{when: "$x - $y == -1", v: vals{x: 3, y: 4}, want: true},
	{when: "$x * $y == 12", v: vals{x: 3, y: 4}, want: true},
	{when: "$x / $y == 0", v: vals{x: 3, y: 4}, want: true},
	{when: "$x % $y == 3", v: vals{x: 3, y: 4}, want: true},
	{when: "-$x == -3", v: vals{x: 3}, want: true},
	{when: "$x / 2 == -3 && $x % 2 == -1", v: vals{x: -7}, want: true}, // truncated, as Go's
	{when: "$x < $y", v: vals{x: 3, y: 4}, want: true},
	{when: "$x <= $y", v: vals{x: 4, y: 4}, want: true},
	{when: "$x > $y", v: vals{x: 4, y: 4}},
	{when: "$x >= $y", v: vals{x: 4, y: 4}, want: true},
	{when: "$x != $y", v: vals{x: 4, y: 4}},
	{when: "-9223372036854775808 < $x", v: vals{x: minInt + 1}, want: true},
	{when: "1 + 2 == 3", want: true},

	// A constant on the left.
	{when: "3 < $x", v: vals{x: 4}, want: true},
	{when: "3 <= $x", v: vals{x: 3}, want: true},
	{when: "3 > $x", v: vals{x: 3}},
	{when: "3 >= $x", v: vals{x: 4}},
	{when: "3 == $x", v: vals{x: 3}, want: true},
	{when: "3 != $x", v: vals{x: 3}},
	{when: "true == $p", v: vals{}},
	{when: "$p != false", v: vals{p: true}, want: true},

	// Int errors.
	{when: "9223372036854775807 + $x > 0", v: vals{x: 1}, wantErr: "integer overflow"},
	{when: "9223372036854775807 + $x > 0", v: vals{x: 0}, want: true},
	{when: "9223372036854775807 + $x > 0", v: vals{x: minInt}},
	{when: "$x + $y < 0", v: vals{x: minInt, y: -1}, wantErr: "integer overflow"},
	{when: "9223372036854775807 + 1 > 0", wantErr: "integer overflow"},
	{when: "$x - 1 < 0", v: vals{x: minInt}, wantErr: "integer overflow"},
	{when: "$x - $y > 0", v: vals{x: maxInt, y: -1}, wantErr: "integer overflow"},
	{when: "$x - $y > 0", v: vals{x: -1, y: minInt}, want: true},
	{when: "$x - $y > 0", v: vals{x: 0, y: minInt}, wantErr: "integer overflow"},
	{when: "$x * $y > 0", v: vals{x: maxInt/2 + 1, y: 2}, wantErr: "integer overflow"},
	{when: "$x * $y < 0", v: vals{x: minInt / 2, y: 2}, want: true},
	{when: "$x * $y < 0", v: vals{x: -1, y: minInt}, wantErr: "integer overflow"},
	{when: "$x * $y < 0", v: vals{x: minInt, y: -1}, wantErr: "integer overflow"},
	{when: "$x * $y > 0", v: vals{x: -3037000500, y: -3037000500}, wantErr: "integer overflow"},
	{when: "$x * $y > 0", v: vals{x: -3037000499, y: -3037000499}, want: true},
	{when: "$x / $y > 1", v: vals{x: 5}, wantErr: "division by zero"},
	{when: "$x / $y > 1", v: vals{x: minInt, y: -1}, wantErr: "integer overflow"},
	{when: "$x % $y == 0", v: vals{x: 5}, wantErr: "modulus by zero"},
	{when: "$x % $y == 0", v: vals{x: minInt, y: -1}, wantErr: "integer overflow"},
	{when: "-$x > 0", v: vals{x: minInt}, wantErr: "integer overflow"},
	{when: "-$x > 0", v: vals{x: minInt + 1}, want: true},

	// && and || are commutative with errors; ! is not.
	{when: "$x / 0 > 1 || true", want: true},
	{when: "true || $x / 0 > 1", want: true},
	{when: "$x / 0 > 1 || false", wantErr: "division by zero"},
	{when: "false || $x / 0 > 1", wantErr: "division by zero"},
	{when: "$x / 0 > 1 && false"},
	{when: "false && $x / 0 > 1"},
	{when: "$x / 0 > 1 && true", wantErr: "division by zero"},
	{when: "!($x / 0 > 1)", wantErr: "division by zero"},
	{when: "($x / 0 > 1 || $p) && $q", v: vals{p: true}},
	{when: "($x / 0 > 1 || $p) && $q", v: vals{p: true, q: true}, want: true},
	{when: "($x / 0 > 1 || $p) && $q", v: vals{q: true}, wantErr: "division by zero"},
	{when: "$x / $y > 1 || $x % $y == 0 || $p", v: vals{p: true}, want: true},
	{when: "$x / $y > 1 || $x % $y == 0 || $p", v: vals{}, wantErr: "division by zero"},
	{when: "$x + 1 > 0 && $x / $y > 0", v: vals{x: maxInt, y: 1}, wantErr: "integer overflow"},
	{when: "$x + 1 > 0 && $x / $y > 0", v: vals{x: maxInt}, wantErr: "integer overflow"},
	{when: "$x / $y > 0 == $p", v: vals{x: 1}, wantErr: "division by zero"},

	// ?: evaluates only the branch it picks.
	{when: "($p ? $x : $y) == 3", v: vals{p: true, x: 3}, want: true},
	{when: "($p ? $x : $y) == 3", v: vals{x: 3}},
	{when: "$p ? true : $x / 0 > 1", v: vals{p: true}, want: true},
	{when: "$p ? true : $x / 0 > 1", v: vals{}, wantErr: "division by zero"},
	{when: "$p ? $x % 0 == 1 : false", v: vals{}},
	{when: "($x / 0 > 1 ? 1 : 2) == 2", wantErr: "division by zero"},
	{when: "($p ? $s : $t) == \"red\"", v: vals{p: true, s: "red"}, want: true},
	{when: "($q ? $d : $e) > 1.0", v: vals{d: 0.5, e: 2}, want: true},
	{when: "($q ? $p : !$p) && $x > ($p ? 1 : 2)", v: vals{q: true, p: true, x: 2}, want: true},
	{when: "($p ? $x + 1 : $y) > 0", v: vals{x: maxInt, y: 1}, want: true},
	{when: "($p ? $x + 1 : $y) > 0", v: vals{p: true, x: maxInt, y: 1}, wantErr: "integer overflow"},

	// Doubles, IEEE.
	{when: "$d + $e == 3.5", v: vals{d: 1.5, e: 2}, want: true},
	{when: "$d - $e == -0.5", v: vals{d: 1.5, e: 2}, want: true},
	{when: "$d * $e == 3.0", v: vals{d: 1.5, e: 2}, want: true},
	{when: "$d / $e == 0.75", v: vals{d: 1.5, e: 2}, want: true},
	{when: "-$d == -1.5", v: vals{d: 1.5}, want: true},
	{when: "0.1 + 0.2 == 0.3"},
	{when: "$d * $e + 1.0 == 1.0", v: vals{d: 1e-300, e: 1e-300}, want: true},
	{when: "$d / 0.0 > 1.0", v: vals{d: 1}, want: true},
	{when: "$d / $e < -1.0", v: vals{d: -1}, want: true},
	{when: "$d * $e > 1.0", v: vals{d: math.MaxFloat64, e: 2}, want: true},
	{when: "$d != $d", v: vals{d: posInf - posInf}, want: true},
	{when: "$d >= $e", v: vals{d: 2, e: 2}, want: true},
	{when: "$d > $e", v: vals{d: 2, e: 2}},
	{when: "$d <= $e", v: vals{d: 2, e: 3}, want: true},

	// NaN equals nothing and every comparison with it is false.
	{when: "$d == $d", v: vals{d: nan}},
	{when: "$d != $d", v: vals{d: nan}, want: true},
	{when: "$d == $e", v: vals{d: nan, e: nan}},
	{when: "$d < 1.0", v: vals{d: nan}},
	{when: "$d <= 1.0", v: vals{d: nan}},
	{when: "$d > 1.0", v: vals{d: nan}},
	{when: "$d >= 1.0", v: vals{d: nan}},
	{when: "$d < $x", v: vals{d: nan}},
	{when: "$d >= $x", v: vals{d: nan}},
	{when: "$x < $d", v: vals{d: nan}},
	{when: "$x >= $d", v: vals{d: nan}},
	{when: "0.0 / 0.0 == 0.0 / 0.0"},
	{when: "1.0 > $d", v: vals{d: nan}},
	{when: "1.0 <= $d", v: vals{d: nan}},
	{when: "1.0 != $d", v: vals{d: nan}, want: true},
	{when: "$d == 1.0", v: vals{d: nan}},
	{when: "!($d < 1.0) && !($d >= 1.0)", v: vals{d: nan}, want: true},

	// Negative zero equals zero but keeps its sign.
	{when: "$d == 0.0", v: vals{d: negZ}, want: true},
	{when: "$d < 0.0", v: vals{d: negZ}},
	{when: "0.0 <= $d", v: vals{d: negZ}, want: true},
	{when: "-0.0 == $d", v: vals{}, want: true},
	{when: "-$d < 0.0", v: vals{}},
	{when: "1.0 / $d < 0.0", v: vals{d: negZ}, want: true},
	{when: "1.0 / -$d < 0.0", v: vals{}, want: true},
	{when: "1.0 / -0.0 < 0.0", want: true},

	// Ints against doubles: CEL converts the int to a double, so near
	// 2^53 and 2^63 it calls different numbers equal.
	{when: "$x > 2.5", v: vals{x: 3}, want: true},
	{when: "$x <= 2.9999999999999996", v: vals{x: 3}},
	{when: "$x < 3.0000000000000004", v: vals{x: 3}, want: true},
	{when: "$x >= $d", v: vals{x: 3, d: 3}, want: true},
	{when: "$x > $d", v: vals{x: 3, d: 3}},
	{when: "$d <= $x", v: vals{x: 3, d: 3}, want: true},
	{when: "$d < $x", v: vals{x: 3, d: 3}},
	{when: "$x >= $d", v: vals{x: maxInt, d: two63}, want: true},
	{when: "$x < $d", v: vals{x: maxInt, d: two63}},
	{when: "$d > $x", v: vals{x: maxInt, d: two63}},
	{when: "$d > $x", v: vals{x: maxInt, d: math.Nextafter(two63, posInf)}, want: true},
	{when: "$d < $x", v: vals{x: minInt, d: -two63}},
	{when: "$d < $x", v: vals{x: minInt, d: math.Nextafter(-two63, -posInf)}, want: true},
	{when: "$x > $d", v: vals{x: two53 + 1, d: two53}},
	{when: "$x <= $d", v: vals{x: two53 + 1, d: two53}, want: true},
	{when: "$x < $d", v: vals{x: maxInt, d: posInf}, want: true},
	{when: "$x > $d", v: vals{x: minInt, d: -posInf}, want: true},
	{when: "$x >= $d", v: vals{x: 0, d: negZ}, want: true},
	{when: "$x > 1e300", v: vals{x: maxInt}},
	{when: "$x >= (3.0 * $d > 7.0 ? 3.0 * $d : 7.0)", v: vals{x: 9, d: 3}, want: true},

	// Strings compare byte by byte.
	{when: "$s == \"red\"", v: vals{s: "red"}, want: true},
	{when: "$s != \"red\"", v: vals{s: "Red"}, want: true},
	{when: "$s == $t", v: vals{s: "", t: ""}, want: true},
	{when: "$s < $t", v: vals{s: "a", t: "b"}, want: true},
	{when: "$s < $t", v: vals{s: "ab", t: "a"}},
	{when: "$s <= $t", v: vals{s: "a", t: "a"}, want: true},
	{when: "$s > $t", v: vals{s: "\xff", t: "z"}, want: true},
	{when: "$s >= $t", v: vals{s: "é", t: "z"}, want: true},
	{when: "$s < \"\"", v: vals{s: "a"}},
	{when: "\"m\" < $s", v: vals{s: "n"}, want: true},
	{when: "\"m\" >= $s", v: vals{s: "n"}},
	{when: "\"red\" == $s", v: vals{s: "red"}, want: true},
	{when: "$s > \"Z\"", v: vals{s: "a"}, want: true},
	{when: "\"abc\" < \"abd\"", want: true},
	{when: "$s > $t", v: vals{s: "a\x00", t: "a"}, want: true},
}

// celEval runs a CEL program the way Eval does.
func celEval(prg cel.Program, f *Features) (bool, error) {
	out, _, err := prg.Eval(activation{f})
	if err != nil {
		return false, err
	}
	b, ok := out.(types.Bool)
	if !ok {
		return false, fmt.Errorf("not a bool: %v", out)
	}
	return bool(b), nil
}

// requireSameAsCEL checks that on f the compiled condition of r declines
// exactly where CEL reports an error, and elsewhere answers as CEL does,
// and that Eval returns CEL's answer or error either way. It returns
// CEL's answer.
func requireSameAsCEL(tb testing.TB, r *Rule, f *Features) (bool, error) {
	tb.Helper()
	require.NotNil(tb, r.compiled, r.When)
	require.True(tb, stringsBounded(f))
	want, wantErr := celEval(r.prg, f)
	fast, fastErr := celEval(r.fast, f)
	require.Equal(tb, fmt.Sprint(wantErr), fmt.Sprint(fastErr), "%s: on %+v", r.When, *f)
	require.Equal(tb, want, fast, "%s: on %+v", r.When, *f)

	got, ok := r.compiled(f)
	require.Equal(tb, wantErr == nil, ok, "%s: CEL says %v, %v: on %+v", r.When, want, wantErr, *f)
	if ok {
		require.Equal(tb, want, got, "%s: on %+v", r.When, *f)
	}

	fired, err := r.Eval(f)
	if wantErr != nil {
		require.EqualError(tb, err, fmt.Sprintf("rule %q: %v", r.Name, wantErr))
	} else {
		require.NoError(tb, err)
		require.Equal(tb, want, fired)
	}
	return want, wantErr
}

// ruleFile makes a rule file of one rule per condition, named w0, w1, ...
func ruleFile(whens ...string) []byte {
	var b strings.Builder
	b.WriteString("rules:\n")
	for i, w := range whens {
		fmt.Fprintf(&b, "  - name: w%d\n    category: c\n    weight: 1\n    half_life: 1d\n    when: |\n      %s\n", i, w)
	}
	return []byte(b.String())
}

func parseWhen(tb testing.TB, when string) *Rule {
	tb.Helper()
	set, err := Parse("t.yaml", ruleFile(when))
	require.NoError(tb, err)
	return set.Rules[0]
}

func TestCompiledMatchesCEL(t *testing.T) {
	for _, tc := range compiledCases {
		when := expand(tc.when)
		t.Run(fmt.Sprintf("%s/%+v", tc.when, tc.v), func(t *testing.T) {
			r := parseWhen(t, when)
			f := tc.v.features()
			got, err := requireSameAsCEL(t, r, &f)
			if tc.wantErr != "" {
				require.ErrorContains(t, err, tc.wantErr)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tc.want, got, "CEL's answer")
		})
	}
}

// Conditions CEL runs untracked but the compiler does not implement keep
// running in CEL, with CEL's answers.
func TestCompiledDeclines(t *testing.T) {
	for _, tc := range []struct {
		when string
		want bool
	}{
		{`$t + "-" + $s == "smb-red"`, true}, // concatenation allocates
		{`1u < 2u`, true},
		{`3u - 1u == 2u`, true},
		{`b"a" < b"b"`, true},
		{`null == null`, true},
		{`$x > 2 && $t + "x" == "smbx"`, true},
	} {
		t.Run(tc.when, func(t *testing.T) {
			r := parseWhen(t, expand(tc.when))
			require.NotNil(t, r.fast, "CEL runs it untracked")
			assert.Nil(t, r.compiled)
			f := vals{x: 3, s: "red", t: "smb"}.features()
			fired, err := r.Eval(&f)
			require.NoError(t, err)
			assert.Equal(t, tc.want, fired)
		})
	}

	// The checker refuses these outright: nothing for the compiler to
	// get wrong.
	for _, when := range []string{`$x == $d`, `$x == 3.0`, `($p ? 1 : 2.0) > 0`} {
		_, err := Parse("t.yaml", ruleFile(expand(when)))
		require.ErrorContains(t, err, "no matching overload", when)
	}
}

func TestEveryDefaultRuleIsCompiled(t *testing.T) {
	set, err := Parse("rules.yaml", defaultRulesYAML(t))
	require.NoError(t, err)
	require.NotEmpty(t, set.Rules)
	for _, r := range set.Rules {
		assert.NotNil(t, r.compiled, "rule %s is left to the CEL interpreter", r.Name)
	}
}

// Long strings void the cost estimate: the compiled form, which cannot hit
// the cost limit, must then leave the evaluation to the tracked program.
func TestCompiledSkipsLongStrings(t *testing.T) {
	set, err := Parse("t.yaml", []byte("cost_limit: 100\n"+string(ruleFile(expand(`$s == $t`)))))
	require.NoError(t, err)
	r := set.Rules[0]
	require.NotNil(t, r.compiled)
	f := vals{s: strings.Repeat("r", 20_000)}.features()
	f.Profile.Segment = f.Rating.Value
	fired, ok := r.compiled(&f)
	require.True(t, ok)
	require.True(t, fired)
	_, err = r.Eval(&f)
	require.ErrorContains(t, err, "cost limit")
}

func TestCompiledDoesNotAllocate(t *testing.T) {
	set, err := Parse("rules.yaml", defaultRulesYAML(t))
	require.NoError(t, err)
	var whens []string
	for _, tc := range compiledCases {
		if tc.wantErr == "" {
			whens = append(whens, expand(tc.when))
		}
	}
	hand, err := Parse("t.yaml", ruleFile(whens...))
	require.NoError(t, err)
	all := append(slices.Clone(set.Rules), hand.Rules...)

	for _, f := range []Features{
		{},
		vals{x: 3, y: 4, d: 1.5, e: nan, s: "red", t: "smb", p: true}.features(),
		fuzzFeatures([]byte("some bytes to make features of, again and again and again")),
	} {
		for _, r := range all {
			if _, ok := r.compiled(&f); !ok {
				continue // CEL's turn, which allocates
			}
			allocs := testing.AllocsPerRun(50, func() {
				_, _ = r.compiled(&f)
				_, _ = r.Eval(&f)
			})
			assert.Zero(t, allocs, "rule %s: %s", r.Name, r.When)
		}
	}
}

// fuzzFeatures derives Features from fuzz input, field by field in schema
// order. Each value is one from a list of interesting ones (the edges of
// CEL's int arithmetic, NaN, infinities, the strings rules compare with)
// or raw bits, so that the fuzzer reaches both the edges and everything
// between. Ints and doubles are also often a pivot drawn first, or the
// doubles next to it: comparing an int with a double is only tricky when
// the two are about equal, which independent draws would rarely make them.
func fuzzFeatures(data []byte) Features {
	next := func() byte {
		if len(data) == 0 {
			return 0
		}
		c := data[0]
		data = data[1:]
		return c
	}
	raw := func() uint64 {
		var b [8]byte
		for i := range b {
			b[i] = next()
		}
		return binary.LittleEndian.Uint64(b[:])
	}
	pivot := fuzzInts[int(next())%len(fuzzInts)]
	var f Features
	for _, l := range leaves {
		p := unsafe.Add(unsafe.Pointer(&f), l.offset)
		sel := next()
		switch l.Type {
		case "int":
			var v int64
			switch {
			case sel < 0x40:
				v = pivot + int64(sel%3) - 1 // wraps at the edges, as any int may
			case sel < 0xc0:
				v = fuzzInts[int(sel)%len(fuzzInts)]
			default:
				v = int64(raw())
			}
			*(*int64)(p) = v
		case "double":
			var v float64
			switch {
			case sel < 0x40:
				v = float64(pivot)
				switch sel % 3 {
				case 1:
					v = math.Nextafter(v, posInf)
				case 2:
					v = math.Nextafter(v, -posInf)
				}
			case sel < 0xc0:
				v = fuzzDoubles[int(sel)%len(fuzzDoubles)]
			default:
				v = math.Float64frombits(raw())
			}
			*(*float64)(p) = v
		case "string":
			if sel < 0xc0 {
				*(*string)(p) = fuzzStrings[int(sel)%len(fuzzStrings)]
				continue
			}
			b := make([]byte, int(next())%33)
			for i := range b {
				b[i] = next()
			}
			*(*string)(p) = string(b)
		case "bool":
			*(*bool)(p) = sel&1 == 1
		}
	}
	return f
}

var (
	fuzzInts = []int64{
		0, 1, -1, 2, 3, 4, 5, 6, 7, 9, 10, 13, 14, 15, 29, 30, 44, 45, 46,
		59, 60, 61, 89, 90, 91, 179, 180, 181, 999, 1000,
		maxInt, minInt, maxInt - 1, minInt + 1, maxInt / 2, maxInt/2 + 1, minInt / 2,
		two53, two53 + 1, -two53 - 1, 3037000499, 3037000500, -3037000500,
	}
	fuzzDoubles = []float64{
		0, negZ, 0.5, 1, -1, 1.2, 2, math.Nextafter(2, 3), 3, 4, math.Nextafter(4, 5),
		7, 40, math.Nextafter(40, 0), 75, 1000, math.Nextafter(1000, 0), 30,
		nan, -nan, posInf, -posInf, math.MaxFloat64, -math.MaxFloat64,
		math.SmallestNonzeroFloat64, two63, -two63, math.Nextafter(two63, 0),
		math.Nextafter(-two63, -posInf), two53, two53 + 2, 1e300, -1e300,
	}
	fuzzStrings = []string{
		"", "red", "yellow", "green", "Red", "red\x00", "onboarding", "adoption",
		"renewal", "smb", "enterprise", "mid_market", "pro", "a", "b", "\xff", "é",
	}
)

// FuzzCompiledMatchesCEL evaluates every default rule and every
// hand-written condition on features derived from the input, compiled and
// in CEL: same answers, and a fallback exactly where CEL errs.
func FuzzCompiledMatchesCEL(f *testing.F) {
	set, err := Parse("rules.yaml", defaultRulesYAML(f))
	require.NoError(f, err)
	var whens []string
	for _, tc := range compiledCases {
		if !slices.Contains(whens, expand(tc.when)) {
			whens = append(whens, expand(tc.when))
		}
	}
	hand, err := Parse("t.yaml", ruleFile(whens...))
	require.NoError(f, err)
	all := append(slices.Clone(set.Rules), hand.Rules...)
	for _, r := range all {
		require.NotNil(f, r.compiled, r.When)
	}

	f.Add([]byte{})
	f.Add([]byte("\x01\x02\x03\x04\x05\x06\x07\x08\x09\x0a\x0b\x0c\x0d\x0e\x0f"))
	f.Add([]byte("\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff"))
	f.Add([]byte("\x80\x00\x00\x00\x00\x00\x00\x00\x80\x90\x91\x92\xbf\xbe"))
	f.Fuzz(func(t *testing.T, data []byte) {
		feats := fuzzFeatures(data)
		for _, r := range all {
			requireSameAsCEL(t, r, &feats)
		}
	})
}
