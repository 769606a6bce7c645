package rules

import (
	"math"
	"reflect"
	"unsafe"

	"cel.dev/cel-go/cel"
	celast "cel.dev/cel-go/common/ast"
	"cel.dev/cel-go/common/overloads"
	"cel.dev/cel-go/common/types"
)

// The compiled evaluator runs a condition as a tree of Go closures over
// *Features instead of through CEL's interpreter, which spends most of a
// rule's time resolving variable names and boxing values into ref.Val. It
// covers exactly the typed core of the boundedCost subset: variables,
// bool/int/double/string constants, && || ! ?:, comparisons and int and
// double arithmetic. A condition using anything else (uint or null
// constants, string concatenation, which would allocate) is not compiled
// and keeps running in CEL.
//
// Its results must be CEL's, so each operator below reproduces what
// cel-go v0.33 does for that overload (common/types and common/stdlib,
// cited where it is not plain Go arithmetic), and it never produces CEL's
// errors: where CEL reports one (int overflow, division or modulus by
// zero) a node returns ok == false, the operators propagate that exactly
// as CEL propagates an error, and Rule.Eval then runs the CEL program for
// that evaluation, which reports the error in CEL's words.

// eval computes one node of a compiled condition for f. ok is false when
// CEL's evaluation of the node ends in an error: v is then meaningless.
type eval[T any] func(f *Features) (v T, ok bool)

// kind is the checked CEL type of a compiled node.
type kind uint8

const (
	kindNone kind = iota
	kindBool
	kindInt
	kindDouble
	kindString
)

// kindOf maps the checker's type of a node onto the kinds compiled here;
// kindNone for every other type (dyn, uint, null, lists, ...).
func kindOf(t *types.Type) kind {
	if t == nil {
		return kindNone
	}
	switch t.Kind() {
	case types.BoolKind:
		return kindBool
	case types.IntKind:
		return kindInt
	case types.DoubleKind:
		return kindDouble
	case types.StringKind:
		return kindString
	}
	return kindNone
}

// node is a compiled subexpression: the one eval of its kind is set.
type node struct {
	b eval[bool]
	i eval[int64]
	d eval[float64]
	s eval[string]
	// Variables and constants also say what they are, so that comparing
	// one with the other takes one call instead of three.
	field *leaf
	lit   any
}

func (n node) kind() kind {
	switch {
	case n.b != nil:
		return kindBool
	case n.i != nil:
		return kindInt
	case n.d != nil:
		return kindDouble
	case n.s != nil:
		return kindString
	}
	return kindNone
}

// op is an operator whose implementation depends on its operands' kinds.
type op uint8

const (
	opLess op = iota + 1
	opLessEq
	opGreater
	opGreaterEq
	opAdd
	opSub
	opMul
	opDiv
	opMod
	opNeg
)

// signature is an overload the compiler implements: its operator and the
// kinds of its operands.
type signature struct {
	op   op
	args []kind
}

// operatorOverloads lists, by the checker's overload id, the comparison and
// arithmetic overloads compiled. Matching on the id rather than on the
// function name keeps the compiler on the very implementation the CEL
// program dispatches to.
var operatorOverloads = map[string]signature{
	overloads.LessBool:                 {opLess, []kind{kindBool, kindBool}},
	overloads.LessInt64:                {opLess, []kind{kindInt, kindInt}},
	overloads.LessInt64Double:          {opLess, []kind{kindInt, kindDouble}},
	overloads.LessDouble:               {opLess, []kind{kindDouble, kindDouble}},
	overloads.LessDoubleInt64:          {opLess, []kind{kindDouble, kindInt}},
	overloads.LessString:               {opLess, []kind{kindString, kindString}},
	overloads.LessEqualsBool:           {opLessEq, []kind{kindBool, kindBool}},
	overloads.LessEqualsInt64:          {opLessEq, []kind{kindInt, kindInt}},
	overloads.LessEqualsInt64Double:    {opLessEq, []kind{kindInt, kindDouble}},
	overloads.LessEqualsDouble:         {opLessEq, []kind{kindDouble, kindDouble}},
	overloads.LessEqualsDoubleInt64:    {opLessEq, []kind{kindDouble, kindInt}},
	overloads.LessEqualsString:         {opLessEq, []kind{kindString, kindString}},
	overloads.GreaterBool:              {opGreater, []kind{kindBool, kindBool}},
	overloads.GreaterInt64:             {opGreater, []kind{kindInt, kindInt}},
	overloads.GreaterInt64Double:       {opGreater, []kind{kindInt, kindDouble}},
	overloads.GreaterDouble:            {opGreater, []kind{kindDouble, kindDouble}},
	overloads.GreaterDoubleInt64:       {opGreater, []kind{kindDouble, kindInt}},
	overloads.GreaterString:            {opGreater, []kind{kindString, kindString}},
	overloads.GreaterEqualsBool:        {opGreaterEq, []kind{kindBool, kindBool}},
	overloads.GreaterEqualsInt64:       {opGreaterEq, []kind{kindInt, kindInt}},
	overloads.GreaterEqualsInt64Double: {opGreaterEq, []kind{kindInt, kindDouble}},
	overloads.GreaterEqualsDouble:      {opGreaterEq, []kind{kindDouble, kindDouble}},
	overloads.GreaterEqualsDoubleInt64: {opGreaterEq, []kind{kindDouble, kindInt}},
	overloads.GreaterEqualsString:      {opGreaterEq, []kind{kindString, kindString}},
	overloads.AddInt64:                 {opAdd, []kind{kindInt, kindInt}},
	overloads.AddDouble:                {opAdd, []kind{kindDouble, kindDouble}},
	overloads.SubtractInt64:            {opSub, []kind{kindInt, kindInt}},
	overloads.SubtractDouble:           {opSub, []kind{kindDouble, kindDouble}},
	overloads.MultiplyInt64:            {opMul, []kind{kindInt, kindInt}},
	overloads.MultiplyDouble:           {opMul, []kind{kindDouble, kindDouble}},
	overloads.DivideInt64:              {opDiv, []kind{kindInt, kindInt}},
	overloads.DivideDouble:             {opDiv, []kind{kindDouble, kindDouble}},
	overloads.ModuloInt64:              {opMod, []kind{kindInt, kindInt}},
	overloads.NegateInt64:              {opNeg, []kind{kindInt}},
	overloads.NegateDouble:             {opNeg, []kind{kindDouble}},
}

// compileCondition compiles a checked bool condition; nil when it uses
// anything the compiler does not implement, and the rule keeps CEL.
func compileCondition(checked *cel.Ast) eval[bool] {
	a := checked.NativeRep()
	n, ok := compileExpr(a, a.Expr())
	if !ok {
		return nil
	}
	return n.b
}

// compileExpr compiles e and checks that the node it built has the type
// the checker gave e, so that no operand is ever read as another type.
func compileExpr(a *celast.AST, e celast.Expr) (node, bool) {
	var n node
	var ok bool
	switch e.Kind() {
	case celast.IdentKind, celast.SelectKind:
		n, ok = compileVariable(a, e)
	case celast.LiteralKind:
		n, ok = compileLiteral(e)
	case celast.CallKind:
		n, ok = compileCall(a, e)
	}
	if !ok || n.kind() == kindNone || n.kind() != kindOf(a.GetType(e.ID())) {
		return node{}, false
	}
	return n, true
}

// compileVariable reads a feature at its offset in Features. The checker
// resolves every name (tickets.opened_7d included) into the reference map,
// the same entry the CEL planner reads.
func compileVariable(a *celast.AST, e celast.Expr) (node, bool) {
	ref := a.ReferenceMap()[e.ID()]
	if ref == nil || ref.Value != nil || len(ref.OverloadIDs) > 0 {
		return node{}, false
	}
	l, ok := byName[ref.Name]
	if !ok {
		return node{}, false
	}
	switch l.kind {
	case reflect.Int64:
		return node{i: field[int64](l.offset), field: l}, true
	case reflect.Float64:
		return node{d: field[float64](l.offset), field: l}, true
	case reflect.String:
		return node{s: field[string](l.offset), field: l}, true
	case reflect.Bool:
		return node{b: field[bool](l.offset), field: l}, true
	}
	return node{}, false
}

// field reads the T at offset off of f; newSchema found the offset and
// admits only the kinds compileVariable maps onto T.
func field[T any](off uintptr) eval[T] {
	return func(f *Features) (T, bool) {
		return *(*T)(unsafe.Add(unsafe.Pointer(f), off)), true
	}
}

func constant[T any](v T) eval[T] {
	return func(*Features) (T, bool) { return v, true }
}

func compileLiteral(e celast.Expr) (node, bool) {
	switch v := e.AsLiteral().(type) {
	case types.Bool:
		return node{b: constant(bool(v)), lit: bool(v)}, true
	case types.Int:
		return node{i: constant(int64(v)), lit: int64(v)}, true
	case types.Double:
		return node{d: constant(float64(v)), lit: float64(v)}, true
	case types.String:
		return node{s: constant(string(v)), lit: string(v)}, true
	}
	return node{}, false
}

// compileCall compiles a call to a logical operator, the conditional, an
// equality or one of operatorOverloads, with arguments that compile too.
func compileCall(a *celast.AST, e celast.Expr) (node, bool) {
	call := e.AsCall()
	ids := a.GetOverloadIDs(e.ID())
	if call.IsMemberFunction() || len(ids) != 1 {
		return node{}, false
	}
	args := make([]node, len(call.Args()))
	for i, arg := range call.Args() {
		n, ok := compileExpr(a, arg)
		if !ok {
			return node{}, false
		}
		args[i] = n
	}
	switch id := ids[0]; id {
	case overloads.LogicalAnd, overloads.LogicalOr:
		return compileAndOr(id == overloads.LogicalAnd, args)
	case overloads.LogicalNot:
		if len(args) != 1 || args[0].b == nil {
			return node{}, false
		}
		return node{b: not(args[0].b)}, true
	case overloads.Conditional:
		if len(args) != 3 || args[0].b == nil || args[1].kind() != args[2].kind() {
			return node{}, false
		}
		c, t, f := args[0].b, args[1], args[2]
		return node{
			b: choose(c, t.b, f.b), i: choose(c, t.i, f.i),
			d: choose(c, t.d, f.d), s: choose(c, t.s, f.s),
		}, true
	case overloads.Equals, overloads.NotEquals:
		return compileEquals(id == overloads.Equals, args)
	}
	return compileOperator(ids[0], args)
}

// compileAndOr chains two or more boolean args with && (isAnd) or ||.
func compileAndOr(isAnd bool, args []node) (node, bool) {
	if len(args) < 2 {
		return node{}, false
	}
	out := args[0].b
	for _, arg := range args[1:] {
		if out == nil || arg.b == nil {
			return node{}, false
		}
		if isAnd {
			out = and(out, arg.b)
		} else {
			out = or(out, arg.b)
		}
	}
	return node{b: out}, true
}

// compileEquals compares two args of the same kind for equality (want) or
// inequality.
func compileEquals(want bool, args []node) (node, bool) {
	if len(args) != 2 || args[0].kind() != args[1].kind() {
		return node{}, false
	}
	l, r := args[0], args[1]
	switch l.kind() {
	case kindBool:
		return node{b: equal(l, r, l.b, r.b, want)}, true
	case kindInt:
		return node{b: equal(l, r, l.i, r.i, want)}, true
	case kindDouble:
		return node{b: equal(l, r, l.d, r.d, want)}, true
	default:
		return node{b: equal(l, r, l.s, r.s, want)}, true
	}
}

// compileOperator compiles the overload id of operatorOverloads applied
// to args of the kinds its signature lists.
func compileOperator(id string, args []node) (node, bool) {
	sig, ok := operatorOverloads[id]
	if !ok || len(args) != len(sig.args) {
		return node{}, false
	}
	for i, k := range sig.args {
		if args[i].kind() != k {
			return node{}, false
		}
	}
	if sig.op == opNeg {
		if args[0].i != nil {
			return node{i: negateInt(args[0].i)}, true
		}
		return node{d: negateDouble(args[0].d)}, true
	}
	l, r := args[0], args[1]
	switch sig.op {
	case opLess, opLessEq, opGreater, opGreaterEq:
		switch {
		case l.b != nil:
			return node{b: ordered(sig.op, node{}, node{}, boolRank(l.b), boolRank(r.b))}, true
		case l.i != nil && r.i != nil:
			return node{b: ordered(sig.op, l, r, l.i, r.i)}, true
		case l.d != nil && r.d != nil:
			return node{b: ordered(sig.op, l, r, l.d, r.d)}, true
		case l.s != nil:
			return node{b: ordered(sig.op, l, r, l.s, r.s)}, true
		case l.i != nil:
			return node{b: intDouble(sig.op, l.i, r.d)}, true
		default:
			return node{b: doubleInt(sig.op, l.d, r.i)}, true
		}
	}
	if l.i != nil {
		return node{i: intArith(sig.op, l.i, r.i)}, true
	}
	return node{d: doubleArith(sig.op, l.d, r.d)}, true
}

// and is CEL's &&, which is commutative with errors: false wins over an
// error on either side, and an error wins over true (evalAnd in
// cel-go's interpreter).
func and(l, r eval[bool]) eval[bool] {
	return func(f *Features) (bool, bool) {
		lv, lok := l(f)
		if lok && !lv {
			return false, true
		}
		rv, rok := r(f)
		if rok && !rv {
			return false, true
		}
		return true, lok && rok
	}
}

// or is CEL's ||: true wins over an error on either side.
func or(l, r eval[bool]) eval[bool] {
	return func(f *Features) (bool, bool) {
		lv, lok := l(f)
		if lok && lv {
			return true, true
		}
		rv, rok := r(f)
		if rok && rv {
			return true, true
		}
		return false, lok && rok
	}
}

func not(x eval[bool]) eval[bool] {
	return func(f *Features) (bool, bool) {
		v, ok := x(f)
		return !v, ok
	}
}

// choose is CEL's ?:, which evaluates only the branch the condition picks.
// It is nil when the branches are not of type T, so that compileCall can
// build the one of the four that applies without a switch.
func choose[T any](c eval[bool], t, f eval[T]) eval[T] {
	if t == nil || f == nil {
		return nil
	}
	return func(x *Features) (T, bool) {
		v, ok := c(x)
		if !ok {
			var zero T
			return zero, false
		}
		if v {
			return t(x)
		}
		return f(x)
	}
}

// equal is == (want true) or != (want false) on operands l and r of one
// type, which ln and rn describe. CEL compares doubles as IEEE does (NaN
// equals nothing, -0 equals 0: Double.Equal), strings byte by byte, and
// so does Go.
func equal[T comparable](ln, rn node, l, r eval[T], want bool) eval[bool] {
	if off, c, ok := fieldAndConstant[T](ln, rn); ok {
		return func(f *Features) (bool, bool) {
			return (*(*T)(unsafe.Add(unsafe.Pointer(f), off)) == c) == want, true
		}
	}
	return func(f *Features) (bool, bool) {
		a, ok := l(f)
		if !ok {
			return false, false
		}
		b, ok := r(f)
		return (a == b) == want, ok
	}
}

// ordered is a comparison of operands of one type. CEL answers false for
// every comparison with a NaN operand (the relational bindings in
// common/stdlib), which is also what Go's operators answer; strings
// compare byte by byte (strings.Compare) as Go's do.
func ordered[T int64 | float64 | string](o op, ln, rn node, l, r eval[T]) eval[bool] {
	if off, c, ok := fieldAndConstant[T](ln, rn); ok {
		return orderedFieldConstant(o, off, c)
	}
	if off, c, ok := fieldAndConstant[T](rn, ln); ok {
		// c < x is x > c, and so on; with a NaN both are false.
		return orderedFieldConstant(o.mirror(), off, c)
	}
	return func(f *Features) (bool, bool) {
		a, ok := l(f)
		if !ok {
			return false, false
		}
		b, ok := r(f)
		if !ok {
			return false, false
		}
		switch o {
		case opLess:
			return a < b, true
		case opLessEq:
			return a <= b, true
		case opGreater:
			return a > b, true
		default:
			return a >= b, true
		}
	}
}

// orderedFieldConstant is ordered for a variable at offset off compared
// with the constant c, which cannot fail.
func orderedFieldConstant[T int64 | float64 | string](o op, off uintptr, c T) eval[bool] {
	switch o {
	case opLess:
		return func(f *Features) (bool, bool) { return *(*T)(unsafe.Add(unsafe.Pointer(f), off)) < c, true }
	case opLessEq:
		return func(f *Features) (bool, bool) { return *(*T)(unsafe.Add(unsafe.Pointer(f), off)) <= c, true }
	case opGreater:
		return func(f *Features) (bool, bool) { return *(*T)(unsafe.Add(unsafe.Pointer(f), off)) > c, true }
	default:
		return func(f *Features) (bool, bool) { return *(*T)(unsafe.Add(unsafe.Pointer(f), off)) >= c, true }
	}
}

// fieldAndConstant reports whether a is a variable and b a constant, both
// of type T, with the variable's offset and the constant.
func fieldAndConstant[T any](a, b node) (off uintptr, c T, ok bool) {
	if a.field == nil {
		return 0, c, false
	}
	c, ok = b.lit.(T)
	return a.field.offset, c, ok
}

// mirror is the operator that gives the same answer with the operands
// swapped.
func (o op) mirror() op {
	switch o {
	case opLess:
		return opGreater
	case opLessEq:
		return opGreaterEq
	case opGreater:
		return opLess
	default:
		return opLessEq
	}
}

// boolRank orders bools as CEL does, false before true.
func boolRank(x eval[bool]) eval[int64] {
	return func(f *Features) (int64, bool) {
		v, ok := x(f)
		if v {
			return 1, ok
		}
		return 0, ok
	}
}

// holds reports whether a comparison with outcome c (-1, 0, 1) is true.
func (o op) holds(c int) bool {
	switch o {
	case opLess:
		return c < 0
	case opLessEq:
		return c <= 0
	case opGreater:
		return c > 0
	default:
		return c >= 0
	}
}

// intDouble compares an int with a double (cross-type comparisons are
// enabled in the environment): false with a NaN, else Int.Compare.
func intDouble(o op, l eval[int64], r eval[float64]) eval[bool] {
	return func(f *Features) (bool, bool) {
		i, ok := l(f)
		if !ok {
			return false, false
		}
		d, ok := r(f)
		if !ok {
			return false, false
		}
		if math.IsNaN(d) {
			return false, true
		}
		return o.holds(-compareDoubleInt(d, i)), true
	}
}

// doubleInt compares a double with an int: false with a NaN, else
// Double.Compare.
func doubleInt(o op, l eval[float64], r eval[int64]) eval[bool] {
	return func(f *Features) (bool, bool) {
		d, ok := l(f)
		if !ok {
			return false, false
		}
		i, ok := r(f)
		if !ok {
			return false, false
		}
		if math.IsNaN(d) {
			return false, true
		}
		return o.holds(compareDoubleInt(d, i)), true
	}
}

// compareDoubleInt is cel-go's function of that name (common/types/
// compare.go), copied rather than approximated: it converts the int to a
// double, so near ±2^63 it calls values equal that differ, and the
// compiled evaluator must agree.
func compareDoubleInt(d float64, i int64) int {
	if d < math.MinInt64 {
		return -1
	}
	if d > math.MaxInt64 {
		return 1
	}
	switch di := float64(i); {
	case d < di:
		return -1
	case d > di:
		return 1
	}
	return 0
}

// intArith is int + - * / %, not ok exactly where cel-go's checked
// arithmetic (common/types/overflow.go) reports an overflow or a
// division or modulus by zero; the conditions are that file's.
func intArith(o op, l, r eval[int64]) eval[int64] {
	return func(f *Features) (int64, bool) {
		x, ok := l(f)
		if !ok {
			return 0, false
		}
		y, ok := r(f)
		if !ok {
			return 0, false
		}
		switch o {
		case opAdd:
			if (y > 0 && x > math.MaxInt64-y) || (y < 0 && x < math.MinInt64-y) {
				return 0, false
			}
			return x + y, true
		case opSub:
			if (y < 0 && x > math.MaxInt64+y) || (y > 0 && x < math.MinInt64+y) {
				return 0, false
			}
			return x - y, true
		case opMul:
			if (x == -1 && y == math.MinInt64) || (y == -1 && x == math.MinInt64) ||
				(x > 0 && y > 0 && x > math.MaxInt64/y) ||
				(x > 0 && y < 0 && y < math.MinInt64/x) ||
				(x < 0 && y > 0 && x < math.MinInt64/y) ||
				(x < 0 && y < 0 && y < math.MaxInt64/x) {
				return 0, false
			}
			return x * y, true
		case opDiv:
			if y == 0 || (x == math.MinInt64 && y == -1) {
				return 0, false
			}
			return x / y, true
		default: // opMod
			if y == 0 || (x == math.MinInt64 && y == -1) {
				return 0, false
			}
			return x % y, true
		}
	}
}

// doubleArith is IEEE arithmetic, as CEL's. The conversions keep the
// compiler from fusing a multiply and an add into one rounding on
// platforms with FMA, which CEL, doing one operation per call, never does.
func doubleArith(o op, l, r eval[float64]) eval[float64] {
	return func(f *Features) (float64, bool) {
		x, ok := l(f)
		if !ok {
			return 0, false
		}
		y, ok := r(f)
		if !ok {
			return 0, false
		}
		switch o {
		case opAdd:
			return float64(x + y), true
		case opSub:
			return float64(x - y), true
		case opMul:
			return float64(x * y), true
		case opDiv:
			return float64(x / y), true
		}
		// CEL has no other double arithmetic (no %); operatorOverloads
		// never routes one here, and CEL would answer if it did.
		return 0, false
	}
}

// negateInt fails on MinInt64, whose negation overflows (negateInt64Checked).
func negateInt(x eval[int64]) eval[int64] {
	return func(f *Features) (int64, bool) {
		v, ok := x(f)
		if !ok || v == math.MinInt64 {
			return 0, false
		}
		return -v, true
	}
}

func negateDouble(x eval[float64]) eval[float64] {
	return func(f *Features) (float64, bool) {
		v, ok := x(f)
		return -v, ok
	}
}
