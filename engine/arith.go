package engine

import (
	"encoding/json"
	"fmt"
	"math"
	"reflect"

	"github.com/expr-lang/expr"
	"github.com/expr-lang/expr/ast"
	"github.com/expr-lang/expr/builtin"
	"github.com/expr-lang/expr/file"
	"github.com/expr-lang/expr/vm/runtime"
)

// expr-lang's integer arithmetic wraps on overflow (2 * 9223372036854775807
// is -2), and so does abs(-9223372036854775808), int(1e19) and sum over
// integers. checkedArithmetic rewrites those operators and builtins into
// calls of the functions below, which fail the record instead. An operand
// known not to be an integer (a string, a float, a time, a duration) leaves
// its operator to expr-lang, and the functions hand every operand that is
// not an integer to expr-lang's own runtime: string concatenation, float
// and mixed arithmetic stay exactly as they were. `/` and `**` always give
// a float, and `%` cannot overflow (MinInt64 % -1 is 0), so they stay too.
//
// The functions' names cannot be written in an expression, so only the
// rewrite calls them.
const (
	checkedAddName = "integer +"
	checkedSubName = "integer -"
	checkedMulName = "integer *"
	checkedNegName = "integer unary -"
	checkedAbsName = "integer abs"
	checkedIntName = "integer int"
	checkedSumName = "integer sum"
)

var checkedBinaryNames = map[string]string{"+": checkedAddName, "-": checkedSubName, "*": checkedMulName}

var checkedFunctions = []expr.Option{
	expr.Function(checkedAddName, func(p ...any) (any, error) { return checkedAdd(p[0], p[1]) }),
	expr.Function(checkedSubName, func(p ...any) (any, error) { return checkedSub(p[0], p[1]) }),
	expr.Function(checkedMulName, func(p ...any) (any, error) { return checkedMul(p[0], p[1]) }),
	expr.Function(checkedNegName, func(p ...any) (any, error) { return checkedNeg(p[0]) }),
	expr.Function(checkedAbsName, func(p ...any) (any, error) { return checkedAbs(p[0]) }),
	expr.Function(checkedIntName, func(p ...any) (any, error) { return checkedInt(p[0]) }),
	expr.Function(checkedSumName, func(p ...any) (any, error) { return checkedSum(p[0]) }),
}

// checkedArithmetic is the expr.Patch visitor that does the rewrite. An
// overflow between two integer literals is found at compile time: err.
type checkedArithmetic struct {
	source string
	err    *file.Error
}

func (c *checkedArithmetic) Visit(node *ast.Node) {
	switch n := (*node).(type) {
	case *ast.BinaryNode:
		name, ok := checkedBinaryNames[n.Operator]
		if !ok || !mayBeInteger(n.Left) || !mayBeInteger(n.Right) {
			return
		}
		if a, ok := n.Left.(*ast.IntegerNode); ok {
			if b, ok := n.Right.(*ast.IntegerNode); ok {
				// expr-lang folds constants; it may, when they fit.
				c.checkConstant(n, a.Value, b.Value)
				return
			}
		}
		c.call(node, name, n.Left, n.Right)
	case *ast.UnaryNode:
		// A literal is never MinInt64 (expr-lang cannot write it), so its
		// negation cannot overflow and stays a constant.
		if _, literal := n.Node.(*ast.IntegerNode); n.Operator == "-" && mayBeInteger(n.Node) && !literal {
			c.call(node, checkedNegName, n.Node)
		}
	case *ast.BuiltinNode:
		c.builtin(node, n)
	}
}

func (c *checkedArithmetic) builtin(node *ast.Node, n *ast.BuiltinNode) {
	switch {
	case n.Name == "abs" && len(n.Arguments) == 1 && mayBeInteger(n.Arguments[0]):
		c.call(node, checkedAbsName, n.Arguments[0])
	case n.Name == "int" && len(n.Arguments) == 1:
		c.call(node, checkedIntName, n.Arguments[0])
	case n.Name == "sum" && len(n.Arguments) == 1:
		c.call(node, checkedSumName, n.Arguments[0])
	case n.Name == "sum" && len(n.Arguments) == 2:
		// sum(list, predicate) is the sum of map(list, predicate).
		mapped := &ast.BuiltinNode{Name: "map", Arguments: n.Arguments}
		mapped.SetLocation(n.Location())
		c.call(node, checkedSumName, mapped)
	}
}

func (c *checkedArithmetic) call(node *ast.Node, name string, args ...ast.Node) {
	callee := &ast.IdentifierNode{Value: name}
	callee.SetLocation((*node).Location())
	ast.Patch(node, &ast.CallNode{Callee: callee, Arguments: args})
}

func (c *checkedArithmetic) checkConstant(n *ast.BinaryNode, a, b int) {
	if _, err := checkedBinary(n.Operator, int64(a), int64(b)); err != nil && c.err == nil {
		c.err = (&file.Error{Location: n.Location(), Message: err.Error()}).Bind(file.NewSource(c.source))
	}
}

// mayBeInteger reports whether a node's value may be a plain integer: its
// type is one, or is not known before the expression runs (a field of
// value). Named integer types such as time.Duration are left to
// expr-lang, which knows their arithmetic.
func mayBeInteger(n ast.Node) bool {
	if _, isNil := n.(*ast.NilNode); isNil {
		return false
	}
	t := n.Type()
	if t == nil || t.Kind() == reflect.Interface {
		return true
	}
	return t.PkgPath() == "" && (t.Kind() >= reflect.Int && t.Kind() <= reflect.Uint64)
}

func overflow(format string, args ...any) error {
	return fmt.Errorf("integer overflow: "+format, args...)
}

// integerOf returns an operand as int64 when it is a plain integer. ok is
// false for everything else (floats, strings, durations), which expr-lang
// handles; err is set for an unsigned integer beyond int64.
func integerOf(v any) (i int64, ok bool, err error) {
	switch x := v.(type) {
	case int:
		return int64(x), true, nil
	case int64:
		return x, true, nil
	case int32:
		return int64(x), true, nil
	case int16:
		return int64(x), true, nil
	case int8:
		return int64(x), true, nil
	case uint8:
		return int64(x), true, nil
	case uint16:
		return int64(x), true, nil
	case uint32:
		return int64(x), true, nil
	case uint:
		return unsignedOf(uint64(x))
	case uint64:
		return unsignedOf(x)
	}
	return 0, false, nil
}

func unsignedOf(u uint64) (int64, bool, error) {
	if u > math.MaxInt64 {
		return 0, false, overflow("%d is beyond int64", u)
	}
	return int64(u), true, nil
}

// literalOperand fails arithmetic on a number kept as its JSON literal
// (beyond int64 and float64): it would not give an exact result.
func literalOperand(op string, a, b any) error {
	for _, v := range []any{a, b} {
		if n, ok := v.(json.Number); ok {
			return fmt.Errorf("invalid operation: %v %s %v: %s is beyond exact arithmetic (64-bit integers and floats)", a, op, b, n)
		}
	}
	return nil
}

// integers returns both operands as int64 when both are plain integers.
func integers(op string, a, b any) (x, y int64, ok bool, err error) {
	if err := literalOperand(op, a, b); err != nil {
		return 0, 0, false, err
	}
	x, aok, err := integerOf(a)
	if err != nil {
		return 0, 0, false, err
	}
	y, bok, err := integerOf(b)
	if err != nil {
		return 0, 0, false, err
	}
	return x, y, aok && bok, nil
}

func checkedAdd(a, b any) (any, error) {
	x, y, ok, err := integers("+", a, b)
	if err != nil || !ok {
		return fallback(err, func() any { return runtime.Add(a, b) })
	}
	return checkedBinary("+", x, y)
}

func checkedSub(a, b any) (any, error) {
	x, y, ok, err := integers("-", a, b)
	if err != nil || !ok {
		return fallback(err, func() any { return runtime.Subtract(a, b) })
	}
	return checkedBinary("-", x, y)
}

func checkedMul(a, b any) (any, error) {
	x, y, ok, err := integers("*", a, b)
	if err != nil || !ok {
		return fallback(err, func() any { return runtime.Multiply(a, b) })
	}
	return checkedBinary("*", x, y)
}

// fallback is expr-lang's own operation, for operands that are not both
// integers (it panics on invalid ones, which the VM reports as usual).
func fallback(err error, op func() any) (any, error) {
	if err != nil {
		return nil, err
	}
	return op(), nil
}

// checkedBinary is x op y, or an integer overflow error. The result is an int, as
// expr-lang's integer arithmetic gives.
func checkedBinary(op string, x, y int64) (any, error) {
	var r int64
	ok := true
	switch op {
	case "+":
		r = x + y
		ok = (x >= 0) != (y >= 0) || (r >= 0) == (x >= 0)
	case "-":
		r = x - y
		ok = (x >= 0) == (y >= 0) || (r >= 0) == (x >= 0)
	case "*":
		r = x * y
		ok = x == 0 || (r/x == y && !(x == -1 && y == math.MinInt64) && !(y == -1 && x == math.MinInt64))
	}
	if !ok {
		return nil, overflow("%d %s %d", x, op, y)
	}
	return int(r), nil
}

func checkedNeg(v any) (any, error) {
	if err := literalOperand("-", 0, v); err != nil {
		return nil, err
	}
	x, ok, err := integerOf(v)
	switch {
	case err != nil:
		return nil, err
	case !ok:
		return runtime.Negate(v), nil
	case x == math.MinInt64:
		return nil, overflow("-(%d)", x)
	}
	return likeOperand(v, -x), nil
}

// likeOperand is r with the type of v, as expr-lang's negation and abs keep
// an int64 an int64; narrower integers widen to int, which cannot wrap.
func likeOperand(v any, r int64) any {
	if _, ok := v.(int64); ok {
		return r
	}
	return int(r)
}

func checkedAbs(v any) (any, error) {
	x, ok, err := integerOf(v)
	switch {
	case err != nil:
		return nil, err
	case !ok:
		return builtin.Abs(v), nil
	case x == math.MinInt64:
		return nil, overflow("abs(%d)", x)
	case x < 0:
		return likeOperand(v, -x), nil
	}
	return likeOperand(v, x), nil
}

// checkedInt is expr-lang's int(), except that a float (or a number kept
// as its literal) beyond int64 fails instead of becoming some other
// integer.
func checkedInt(v any) (any, error) {
	switch x := v.(type) {
	case float64:
		return floatToInt(x)
	case float32:
		return floatToInt(float64(x))
	case json.Number:
		switch n := exactNumber(x).(type) {
		case int64:
			return int(n), nil
		case float64:
			return floatToInt(n)
		}
		return nil, overflow("int(%s)", x)
	}
	if i, ok, err := integerOf(v); ok || err != nil {
		return int(i), err
	}
	return builtin.Int(v), nil
}

func floatToInt(f float64) (any, error) {
	// -2^63 is exact as a float; 2^63 is the first float beyond int64.
	if math.IsNaN(f) || f < math.MinInt64 || f >= 1<<63 {
		return nil, overflow("int(%v)", f)
	}
	return int(f), nil
}

// checkedSum is expr-lang's sum() (0, plus every element in order) with
// checked integer addition.
func checkedSum(list any) (any, error) {
	var acc any = 0
	add := func(e any) error {
		var err error
		acc, err = checkedAdd(acc, e)
		return err
	}
	switch l := list.(type) {
	case []any:
		for _, e := range l {
			if err := add(e); err != nil {
				return nil, err
			}
		}
		return acc, nil
	}
	rv := reflect.ValueOf(list)
	if rv.Kind() != reflect.Slice && rv.Kind() != reflect.Array {
		return nil, fmt.Errorf("invalid argument for sum (type %T)", list)
	}
	for i := range rv.Len() {
		if err := add(rv.Index(i).Interface()); err != nil {
			return nil, err
		}
	}
	return acc, nil
}
