package engine

import (
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"sync"
	"time"

	"github.com/expr-lang/expr"
	"github.com/expr-lang/expr/ast"
	"github.com/expr-lang/expr/file"
	"github.com/expr-lang/expr/vm"

	"github.com/pipelinehq/pipeline/config"
)

// env is what an expression sees of a record. Only the variables an
// expression names are filled in, so `value > 3` never builds `headers`.
type env struct {
	Value     any               `expr:"value"`
	Key       string            `expr:"key"`
	Headers   map[string]string `expr:"headers"`
	Timestamp int64             `expr:"timestamp"`
	Meta      map[string]any    `expr:"meta"`
	// Op and Before are a change record's operation ("c", "u", "d", "r",
	// or "" for a plain record) and the row before it.
	Op     string `expr:"op"`
	Before any    `expr:"before"`
	// Acc is a reducer's accumulated value, seen only by reduce expressions.
	Acc any `expr:"acc"`
	// Table is the table row a join found for the record (nil: none),
	// seen only by a join's value expression.
	Table any `expr:"table"`
	// Left and Right are the two sides of a stream–stream join's result
	// (nil: the side a left or outer join did not find), seen only by its
	// value expression.
	Left  any `expr:"left"`
	Right any `expr:"right"`
}

// usage is the set of record variables an expression reads.
type usage uint8

const (
	usesValue usage = 1 << iota
	usesKey
	usesHeaders
	usesTimestamp
	usesMeta
	usesOp
	usesBefore
)

var variableUsage = map[string]usage{
	"value": usesValue, "key": usesKey, "headers": usesHeaders, "timestamp": usesTimestamp, "meta": usesMeta,
	"op": usesOp, "before": usesBefore,
}

// ExprKind is the result an expression must produce.
type ExprKind uint8

const (
	AnyResult ExprKind = iota
	BoolResult
)

// Expr is a compiled expression, safe for concurrent use.
type Expr struct {
	Source  config.ExprSource
	program *vm.Program
	uses    usage
	states  sync.Pool
	// onlyValue: the expression is just `value`, common as a grouping key;
	// it needs no VM.
	onlyValue bool
	// valuePath: the expression is a path into the value (`value.user`,
	// `value.order.id`), the common key of a join or an aggregate; through
	// objects it is walked without the VM, whose reflective field access
	// costs a join's lookup a tenth of its time.
	valuePath []string
}

type evalState struct {
	machine vm.VM
	env     env
}

// CompileExpr compiles an expression from a config field. Its errors carry
// the file position of the offending part of the expression.
func CompileExpr(src config.ExprSource, kind ExprKind) (*Expr, error) {
	var used usage
	collector := &identCollector{found: &used}
	arithmetic := &checkedArithmetic{source: src.Text}
	opts := append([]expr.Option{
		expr.Env(env{}),
		expr.Patch(collector),
		expr.Patch(arithmetic),
	}, exprFunctions...)
	opts = append(opts, checkedFunctions...)
	if kind == BoolResult {
		opts = append(opts, expr.AsBool())
	}
	program, err := expr.Compile(src.Text, opts...)
	if err != nil {
		var fe *file.Error
		if errors.As(err, &fe) {
			return nil, src.ErrorAt(fe.Line, fe.Column, "expression: "+fe.Message)
		}
		return nil, src.ErrorAt(1, 0, "expression: "+err.Error())
	}
	if fe := arithmetic.err; fe != nil {
		return nil, src.ErrorAt(fe.Line, fe.Column, "expression: "+fe.Message)
	}
	e := &Expr{Source: src, program: program, uses: used}
	if id, ok := program.Node().(*ast.IdentifierNode); ok && id.Value == "value" && kind == AnyResult {
		e.onlyValue = true
	}
	if kind == AnyResult {
		e.valuePath = valuePathOf(program.Node())
	}
	e.states.New = func() any { return new(evalState) }
	return e, nil
}

// valuePathOf is the field names of an expression `value.a.b…` (dots or
// constant brackets; an optional step `?.` makes a chain the VM keeps), nil
// for any other expression.
func valuePathOf(node ast.Node) []string {
	var path []string
	for {
		switch n := node.(type) {
		case *ast.MemberNode:
			name, ok := n.Property.(*ast.StringNode)
			if !ok || n.Method || n.Optional {
				return nil
			}
			path = append([]string{name.Value}, path...)
			node = n.Node
		case *ast.IdentifierNode:
			if n.Value != "value" || len(path) == 0 {
				return nil
			}
			return path
		default:
			return nil
		}
	}
}

// walkValue follows path through objects; !ok where a step is anything
// else (a list, a string, null), which the VM then judges as it always does.
func walkValue(v any, path []string) (_ any, ok bool) {
	for _, name := range path {
		m, isObject := v.(map[string]any)
		if !isObject {
			return nil, false
		}
		v = m[name]
	}
	return v, true
}

type identCollector struct{ found *usage }

func (c *identCollector) Visit(node *ast.Node) {
	if id, ok := (*node).(*ast.IdentifierNode); ok {
		*c.found |= variableUsage[id.Value]
	}
}

// Eval runs the expression against a record.
func (e *Expr) Eval(r *Record) (any, error) {
	return e.EvalWithAcc(r, nil)
}

// EvalWithAcc runs the expression against a record with `acc` bound to a
// reducer's accumulated value.
func (e *Expr) EvalWithAcc(r *Record, acc any) (any, error) {
	return e.evalWith(r, func(en *env) { en.Acc = acc })
}

// EvalWithSides runs the expression against a record with `left` and
// `right` bound to the two sides of a join's result.
func (e *Expr) EvalWithSides(r *Record, left, right any) (any, error) {
	return e.evalWith(r, func(en *env) { en.Left, en.Right = left, right })
}

// EvalWithTable runs the expression against a record with `table` bound
// to the table row a join found for it (nil: none).
func (e *Expr) EvalWithTable(r *Record, table any) (any, error) {
	return e.evalWith(r, func(en *env) { en.Table = table })
}

// evalWith runs the expression against a record, with bind setting the
// variables beyond the record's.
func (e *Expr) evalWith(r *Record, bind func(*env)) (any, error) {
	if e.onlyValue {
		return r.Value()
	}
	if e.valuePath != nil {
		v, err := r.Value()
		if err != nil {
			return nil, err
		}
		if found, ok := walkValue(v, e.valuePath); ok {
			return found, nil
		}
	}
	st := e.states.Get().(*evalState)
	defer e.states.Put(st)
	if err := e.fill(&st.env, r); err != nil {
		return nil, err
	}
	bind(&st.env)
	return e.run(st)
}

// run runs the program on the environment st holds, and clears it.
func (e *Expr) run(st *evalState) (any, error) {
	out, err := st.machine.Run(e.program, &st.env)
	st.env = env{}
	if err != nil {
		// expr-lang's own message carries a multi-line source excerpt; a
		// dead-letter header or a log line wants one line.
		var fe *file.Error
		if errors.As(err, &fe) {
			return nil, fmt.Errorf("%s: %s (column %d)", e.Source.Text, fe.Message, fe.Column+1)
		}
		return nil, fmt.Errorf("%s: %v", e.Source.Text, err)
	}
	return out, nil
}

// EvalBool runs a condition; a result that is not a boolean is an error.
func (e *Expr) EvalBool(r *Record) (bool, error) {
	out, err := e.Eval(r)
	if err != nil {
		return false, err
	}
	b, ok := out.(bool)
	if !ok {
		return false, fmt.Errorf("%s: want a boolean, got %T", e.Source.Text, out)
	}
	return b, nil
}

func (e *Expr) fill(en *env, r *Record) error {
	if e.uses&usesValue != 0 {
		v, err := r.Value()
		if err != nil {
			return err
		}
		en.Value = v
	}
	if e.uses&usesKey != 0 {
		en.Key = string(r.Key)
	}
	if e.uses&usesTimestamp != 0 {
		en.Timestamp = r.Timestamp
	}
	if e.uses&usesHeaders != 0 {
		en.Headers = make(map[string]string, len(r.Headers))
		for _, h := range r.Headers {
			en.Headers[h.Key] = string(h.Value)
		}
	}
	if e.uses&usesMeta != 0 {
		en.Meta = recordMeta(r)
	}
	if e.uses&usesOp != 0 {
		en.Op = r.Op.String()
	}
	if e.uses&usesBefore != 0 {
		en.Before = r.Before
	}
	return nil
}

func recordMeta(r *Record) map[string]any {
	m := map[string]any{"offset": r.Offset}
	if r.Source != nil {
		m["input"] = r.Source.Input
		m["partition"] = r.Source.Partition
		for k, v := range r.Source.Meta {
			m[k] = v
		}
	}
	return m
}

// exprFunctions extend expr-lang's builtins (lower, split, trim, toJSON, …)
// with what stream processing needs.
var exprFunctions = []expr.Option{
	expr.Function("fields",
		func(params ...any) (any, error) { return strings.Fields(params[0].(string)), nil },
		new(func(string) []string)),
	expr.Function("re_replace",
		func(params ...any) (any, error) {
			re, err := cachedRegexp(params[1].(string))
			if err != nil {
				return nil, err
			}
			return re.ReplaceAllString(params[0].(string), params[2].(string)), nil
		},
		new(func(string, string, string) string)),
	expr.Function("re_match",
		func(params ...any) (any, error) {
			re, err := cachedRegexp(params[1].(string))
			if err != nil {
				return nil, err
			}
			return re.MatchString(params[0].(string)), nil
		},
		new(func(string, string) bool)),
	expr.Function("re_route",
		func(params ...any) (any, error) {
			return regexRoute(params[0].(string), params[1].(string), params[2].(string))
		},
		new(func(string, string, string) string)),
	expr.Function("unix_ms",
		func(params ...any) (any, error) { return params[0].(time.Time).UnixMilli(), nil },
		new(func(time.Time) int64)),
}

// ToInt64 converts a number an expression returned to int64.
func ToInt64(v any) (int64, bool) {
	switch x := v.(type) {
	case int:
		return int64(x), true
	case int64:
		return x, true
	case int32:
		return int64(x), true
	case float64:
		return int64(x), x == float64(int64(x))
	case json.Number:
		i, ok := exactNumber(x).(int64)
		return i, ok
	case time.Time:
		return x.UnixMilli(), true
	}
	rv := reflect.ValueOf(v)
	if rv.CanInt() {
		return rv.Int(), true
	}
	return 0, false
}
