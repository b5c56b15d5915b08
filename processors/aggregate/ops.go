package aggregate

import (
	"encoding/json"
	"fmt"
	"math"
	"regexp"
	"strings"

	"github.com/pipelinehq/pipeline/config"
	"github.com/pipelinehq/pipeline/engine"
)

// op is one named operation of an aggregate: `count()`, `sum(value.price)`,
// `reduce(0, acc + value.n)`.
type op struct {
	name  string
	kind  string
	arg   *engine.Expr // the value folded; nil for count
	init  *engine.Expr // reduce: the initial accumulator
	merge *engine.Expr // reduce: the next accumulator from acc and the record
}

// opState is an operation's accumulated state, kept in the store as JSON.
type opState struct {
	N int64   `json:"n,omitempty"` // count; avg: values seen
	F float64 `json:"f,omitempty"` // sum, avg: the sum of the floats
	V any     `json:"v,omitempty"` // min, max, first, last, reduce
	T int64   `json:"t,omitempty"` // first, last: the event time of V
	L []any   `json:"l,omitempty"` // collect
	S bool    `json:"s,omitempty"` // V is set (V may legitimately be null)

	// sum, avg: the sum of the integers, exact (a float64 is not, beyond
	// 2^53), and whether a float was summed.
	I      int64 `json:"i,omitempty"`
	Floats bool  `json:"fl,omitempty"`
}

var opCall = regexp.MustCompile(`(?s)^\s*([a-z_]+)\s*\((.*)\)\s*$`)

var opArity = map[string]int{"count": 0, "sum": 1, "min": 1, "max": 1, "avg": 1, "first": 1, "last": 1, "collect": 1, "reduce": 2}

// OpNames lists the operations, for docs and errors.
var OpNames = []string{"count", "sum", "min", "max", "avg", "first", "last", "collect", "reduce"}

func parseOp(name string, src config.ExprSource) (*op, error) {
	m := opCall.FindStringSubmatchIndex(src.Text)
	if m == nil {
		return nil, src.ErrorAt(1, 0, fmt.Sprintf("want an operation such as count(), sum(value.price) or reduce(0, acc + value.n); one of %s", strings.Join(OpNames, ", ")))
	}
	kind := src.Text[m[2]:m[3]]
	arity, known := opArity[kind]
	if !known {
		return nil, src.ErrorAt(1, m[2], fmt.Sprintf("unknown operation %q%s", kind, config.Suggest(kind, OpNames)))
	}
	argsStart := m[4]
	args := splitArgs(src.Text[m[4]:m[5]])
	if len(args) == 1 && strings.TrimSpace(args[0].text) == "" {
		args = nil
	}
	if len(args) != arity {
		return nil, src.ErrorAt(1, m[2], fmt.Sprintf("%s takes %d argument(s), got %d", kind, arity, len(args)))
	}
	o := &op{name: name, kind: kind}
	compile := func(a arg) (*engine.Expr, error) {
		return engine.CompileExpr(src.Sub(argsStart+a.offset, a.text), engine.AnyResult)
	}
	var err error
	switch {
	case kind == "reduce":
		if o.init, err = compile(args[0]); err == nil {
			o.merge, err = compile(args[1])
		}
	case arity == 1:
		o.arg, err = compile(args[0])
	}
	return o, err
}

type arg struct {
	text   string
	offset int
}

// splitArgs splits at commas outside brackets and strings.
func splitArgs(s string) []arg {
	var out []arg
	depth, start := 0, 0
	var quote rune
	for i, c := range s {
		switch {
		case quote != 0:
			if c == quote && (i == 0 || s[i-1] != '\\') {
				quote = 0
			}
		case c == '"' || c == '\'' || c == '`':
			quote = c
		case c == '(' || c == '[' || c == '{':
			depth++
		case c == ')' || c == ']' || c == '}':
			depth--
		case c == ',' && depth == 0:
			out = append(out, arg{text: s[start:i], offset: start})
			start = i + 1
		}
	}
	return append(out, arg{text: s[start:], offset: start})
}

// add folds one record into the state.
func (o *op) add(st *opState, r *engine.Record, ts int64) error {
	if o.kind == "count" {
		st.N++
		return nil
	}
	if o.kind == "reduce" {
		if !st.S {
			initial, err := o.init.Eval(r)
			if err != nil {
				return fmt.Errorf("%s: %w", o.name, err)
			}
			st.V, st.S = initial, true
		}
		next, err := o.merge.EvalWithAcc(r, st.V)
		if err != nil {
			return fmt.Errorf("%s: %w", o.name, err)
		}
		if err := o.finite(next); err != nil {
			return err
		}
		st.V = next
		return nil
	}
	v, err := o.arg.Eval(r)
	if err != nil {
		return fmt.Errorf("%s: %w", o.name, err)
	}
	return o.addValue(st, v, ts)
}

// argument evaluates what the op folds for a record (nil for count).
func (o *op) argument(r *engine.Record) (any, error) {
	if o.arg == nil {
		return nil, nil
	}
	v, err := o.arg.Eval(r)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", o.name, err)
	}
	return v, nil
}

// addValue folds an evaluated argument into the state (not for reduce).
func (o *op) addValue(st *opState, v any, ts int64) error {
	if o.kind != "count" {
		if err := o.finite(v); err != nil {
			return err
		}
	}
	switch o.kind {
	case "count":
		st.N++
	case "sum", "avg":
		if err := o.addNumber(st, v); err != nil {
			return err
		}
		st.N++
	case "min", "max":
		if !st.S {
			st.V, st.S = v, true
			return nil
		}
		c, err := compare(v, st.V)
		if err != nil {
			return fmt.Errorf("%s: %w", o.name, err)
		}
		if (o.kind == "min" && c < 0) || (o.kind == "max" && c > 0) {
			st.V = v
		}
	case "first":
		if !st.S || ts < st.T {
			st.V, st.T, st.S = v, ts, true
		}
	case "last":
		if !st.S || ts >= st.T {
			st.V, st.T, st.S = v, ts, true
		}
	case "collect":
		st.L = append(st.L, v)
	}
	return nil
}

// addNumber adds a value to a sum: an integer to the exact integer sum
// (its overflow fails the record, as integer arithmetic in expressions
// does), anything else to the float sum.
func (o *op) addNumber(st *opState, v any) error {
	if i, ok := integerOf(v); ok {
		sum, err := addIntegers(st.I, i)
		if err != nil {
			return fmt.Errorf("%s: %w", o.name, err)
		}
		st.I = sum
		return nil
	}
	if n, ok := v.(json.Number); ok { // kept as written: beyond int64 and float64
		return fmt.Errorf("%s: %s cannot add %s exactly (it is beyond 64-bit integers and floats)", o.name, o.kind, n)
	}
	f, ok := toFloat(v)
	if !ok {
		return fmt.Errorf("%s: %s needs numbers, got %T", o.name, o.kind, v)
	}
	if sum := st.F + f; math.IsInf(sum, 0) {
		return fmt.Errorf("%s: float overflow: %v + %v", o.name, st.F, f)
	}
	st.F += f
	st.Floats = true
	return nil
}

// integerOf returns a value as int64 when it is an integer (not a float
// that happens to be whole: that one goes into the float sum).
func integerOf(v any) (int64, bool) {
	switch v.(type) {
	case float64, float32:
		return 0, false
	}
	return engine.ToInt64(v)
}

func addIntegers(a, b int64) (int64, error) {
	sum := a + b
	if (a >= 0) == (b >= 0) && (sum >= 0) != (a >= 0) {
		return 0, fmt.Errorf("integer overflow: %d + %d", a, b)
	}
	return sum, nil
}

// finite fails a float that JSON cannot hold (NaN, ±Inf from an expression
// such as 1/0), which would otherwise be written as null.
func (o *op) finite(v any) error {
	var f float64
	switch x := v.(type) {
	case float64:
		f = x
	case float32:
		f = float64(x)
	default:
		return nil
	}
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return fmt.Errorf("%s: %v cannot be aggregated: JSON cannot hold it", o.name, f)
	}
	return nil
}

// mergeable reports whether two partial states of the op can be combined,
// which session windows need when a record bridges two sessions.
func (o *op) mergeable() bool { return o.kind != "reduce" }

// mergeInto combines the partial state of a later session into st, the
// state of an earlier one.
func (o *op) mergeInto(st, other *opState) error {
	switch o.kind {
	case "count":
		st.N += other.N
	case "sum", "avg":
		sum, err := addIntegers(st.I, other.I)
		if err != nil {
			return fmt.Errorf("%s: %w", o.name, err)
		}
		st.I = sum
		st.F += other.F
		st.Floats = st.Floats || other.Floats
		st.N += other.N
	case "min", "max":
		if !other.S {
			return nil
		}
		if !st.S {
			st.V, st.S = other.V, true
			return nil
		}
		c, err := compare(other.V, st.V)
		if err != nil {
			return fmt.Errorf("%s: %w", o.name, err)
		}
		if (o.kind == "min" && c < 0) || (o.kind == "max" && c > 0) {
			st.V = other.V
		}
	case "first":
		if other.S && (!st.S || other.T < st.T) {
			st.V, st.T, st.S = other.V, other.T, true
		}
	case "last":
		if other.S && (!st.S || other.T > st.T) {
			st.V, st.T, st.S = other.V, other.T, true
		}
	case "collect":
		st.L = append(st.L, other.L...)
	}
	return nil
}

// result is the op's value as emitted.
func (o *op) result(st *opState) any {
	switch o.kind {
	case "count":
		return st.N
	case "sum":
		// A state kept before integers were summed apart has its whole
		// sum in F, and no Floats mark.
		if !st.Floats && st.F == 0 {
			return st.I
		}
		return st.F + float64(st.I)
	case "avg":
		if st.N == 0 {
			return nil
		}
		return (st.F + float64(st.I)) / float64(st.N)
	case "collect":
		if st.L == nil {
			return []any{}
		}
		return st.L
	}
	return st.V
}

func toFloat(v any) (float64, bool) {
	switch x := v.(type) {
	case float64:
		return x, true
	case int:
		return float64(x), true
	case int64:
		return float64(x), true
	case json.Number:
		f, err := x.Float64()
		return f, err == nil
	}
	if i, ok := engine.ToInt64(v); ok {
		return float64(i), true
	}
	return 0, false
}

func compare(a, b any) (int, error) {
	if fa, ok := toFloat(a); ok {
		if fb, ok := toFloat(b); ok {
			switch {
			case fa < fb:
				return -1, nil
			case fa > fb:
				return 1, nil
			}
			return 0, nil
		}
	}
	sa, aok := a.(string)
	sb, bok := b.(string)
	if aok && bok {
		return strings.Compare(sa, sb), nil
	}
	return 0, fmt.Errorf("cannot compare %T with %T", a, b)
}
