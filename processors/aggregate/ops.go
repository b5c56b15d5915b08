package aggregate

import (
	"encoding/json"
	"fmt"
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
	F float64 `json:"f,omitempty"` // sum; avg: their sum
	V any     `json:"v,omitempty"` // min, max, first, last, reduce
	T int64   `json:"t,omitempty"` // first, last: the event time of V
	L []any   `json:"l,omitempty"` // collect
	S bool    `json:"s,omitempty"` // V is set (V may legitimately be null)
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
	switch o.kind {
	case "count":
		st.N++
	case "sum", "avg":
		f, ok := toFloat(v)
		if !ok {
			return fmt.Errorf("%s: %s needs numbers, got %T", o.name, o.kind, v)
		}
		st.F += f
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
		st.F += other.F
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
		return st.F
	case "avg":
		if st.N == 0 {
			return nil
		}
		return st.F / float64(st.N)
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
