package engine

import (
	"reflect"
	"strings"
	"testing"

	"github.com/expr-lang/expr"

	"github.com/pipelinehq/pipeline/config"
)

const arithValue = `{"max":9223372036854775807,"min":-9223372036854775808,"a":3,"f":1e19,"big":9223372036854775808,` +
	`"list":[1,2,3],"maxes":[9223372036854775807,1],"s":"x","neg":-2.5,"n":3}`

func arithRecord() *Record {
	r := NewRecord([]byte(arithValue), JSON)
	r.Key = []byte("k")
	r.Timestamp = 9223372036854775807
	return r
}

// TestIntegerOverflowFailsTheRecord: integer arithmetic that int64 cannot
// hold is an error for the record, never a wrapped value.
func TestIntegerOverflowFailsTheRecord(t *testing.T) {
	for _, tt := range []struct{ expr, want string }{
		{"value.max * 2", "integer overflow: 9223372036854775807 * 2"},
		{"2 * value.max", "integer overflow: 2 * 9223372036854775807"},
		{"value.max + 1", "integer overflow: 9223372036854775807 + 1"},
		{"value.max + value.max", "integer overflow: 9223372036854775807 + 9223372036854775807"},
		{"value.min - 1", "integer overflow: -9223372036854775808 - 1"},
		{"0 - value.min", "integer overflow: 0 - -9223372036854775808"},
		{"-value.min", "integer overflow: -(-9223372036854775808)"},
		{"value.min * -1", "integer overflow: -9223372036854775808 * -1"},
		{"-1 * value.min", "integer overflow: -1 * -9223372036854775808"},
		{"value.min * value.min", "integer overflow: -9223372036854775808 * -9223372036854775808"},
		{"timestamp * 2", "integer overflow: 9223372036854775807 * 2"},
		{"(value.a + 1) * value.max", "integer overflow: 4 * 9223372036854775807"},
		{"abs(value.min)", "integer overflow: abs(-9223372036854775808)"},
		{"int(value.f)", "integer overflow: int(1e+19)"},
		{"int(-value.f)", "integer overflow: int(-1e+19)"},
		{"int(value.big)", "integer overflow: int(9223372036854775808)"},
		{"sum(value.maxes)", "integer overflow: 9223372036854775807 + 1"},
		{"sum(value.list, # * value.max)", "integer overflow: 2 * 9223372036854775807"},
		{"reduce(value.maxes, #acc + #, 0)", "integer overflow: 9223372036854775807 + 1"},
		{"value.big + 1", "invalid operation: 9223372036854775808 + 1: 9223372036854775808 is beyond exact arithmetic (64-bit integers and floats)"},
	} {
		e, err := CompileExpr(config.ExprSource{Text: tt.expr}, AnyResult)
		if err != nil {
			t.Fatalf("%s: %v", tt.expr, err)
		}
		got, err := e.Eval(arithRecord())
		if err == nil || !strings.HasPrefix(err.Error(), tt.expr+": "+tt.want+" (column ") {
			t.Errorf("%s = %v, %v; want the error %s", tt.expr, got, err, tt.want)
		}
	}
}

// TestIntegerOverflowOfConstants: two integer literals that overflow are a
// compile error, positioned at the operator's operands.
func TestIntegerOverflowOfConstants(t *testing.T) {
	doc, err := config.Load("t.yaml", []byte("check: 'value.a + 2 * 9223372036854775807'\n"), config.LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	conf, errs := config.Parse(doc.File, "", doc.Root, []config.Field{config.Expr("check", "")})
	if errs != nil {
		t.Fatal(errs)
	}
	_, err = CompileExpr(conf.Expr("check"), AnyResult)
	if err == nil || err.Error() != "t.yaml:1:21: check: expression: integer overflow: 2 * 9223372036854775807" {
		t.Fatalf("error %v", err)
	}
	for _, ok := range []string{"9223372036854775806 + 1", "-9223372036854775807 - 1", "3037000499 * 3037000499"} {
		if _, err := CompileExpr(config.ExprSource{Text: ok}, AnyResult); err != nil {
			t.Errorf("%s: %v", ok, err)
		}
	}
}

// TestArithmeticAsExprLang: what cannot overflow gives exactly what
// expr-lang gives (value and type): string concatenation, floats, mixed
// integer and float, `/` (a float), `%`, `**`, times and durations, and
// expr-lang's errors.
func TestArithmeticAsExprLang(t *testing.T) {
	plainOpts := append([]expr.Option{expr.Env(env{})}, exprFunctions...)
	for _, src := range []string{
		"value.a + 1", "value.a - 10", "value.a * value.n", "-value.a", "1 + 2 * 3", "-5",
		"value.max / -1", "value.min / -1", "value.min % -1", "value.a % 2", "value.max % 7",
		"2 ** 64", "value.a ** 2", "value.max - 1", "value.min + 1",
		`"a" + "b"`, `key + "-" + value.s`, "value.s + value.s", `value.s + "y"`,
		"value.f + 1", "1.5 * 2", "value.a * 1.5", "value.neg * value.a", "-value.neg", "-value.f",
		"abs(-3)", "abs(value.neg)", "abs(value.a)", "int(3.7)", "int(value.neg)", `int("42")`, "int(value.a)",
		"sum([1, 2.5])", "sum(value.list)", "sum(value.list, # * 2)", "sum(1..4)", "reduce(value.list, #acc + #, 0)",
		"value.list[value.a - 2]", "1..(value.a + 1)", "value.list[1:value.a - 1]",
		`duration("1h") * 2`, `duration("1h") + duration("1m")`, `-duration("1h")`, `date("2024-01-02") - date("2024-01-01")`,
		`date("2024-01-01") + duration("1h")`,
		"value.a + value.missing", "value.s * 2", `value.s - "x"`, "-value.s", "abs(value.s)", `int("x")`,
		"value.a % 0", "1 / 0", "0.0 / 0.0 != 0.0 / 0.0",
	} {
		ours, err := CompileExpr(config.ExprSource{Text: src}, AnyResult)
		plain, perr := expr.Compile(src, plainOpts...)
		if (err == nil) != (perr == nil) {
			t.Errorf("%s: compiles with %v, expr-lang with %v", src, err, perr)
			continue
		}
		if err != nil {
			continue
		}
		got, err := ours.Eval(arithRecord())
		r := arithRecord()
		v, _ := r.Value()
		want, werr := expr.Run(plain, &env{Value: v, Key: "k", Timestamp: r.Timestamp})
		switch {
		case (err == nil) != (werr == nil):
			t.Errorf("%s = %#v, %v; expr-lang gives %#v, %v", src, got, err, want, werr)
		case err != nil:
			if gotMsg, wantMsg := err.Error(), firstLine(werr.Error()); !strings.Contains(gotMsg, wantMsg) {
				t.Errorf("%s: error %q; expr-lang's %q", src, gotMsg, wantMsg)
			}
		case !reflect.DeepEqual(got, want) && !isNaN(got, want):
			t.Errorf("%s = %#v (%T); expr-lang gives %#v (%T)", src, got, got, want, want)
		}
	}
}

func firstLine(s string) string {
	s, _, _ = strings.Cut(s, "\n")
	s, _, _ = strings.Cut(s, " (")
	return s
}

func isNaN(a, b any) bool {
	fa, aok := a.(float64)
	fb, bok := b.(float64)
	return aok && bok && fa != fa && fb != fb
}

// TestCheckedArithmeticKeepsTimes: time arithmetic keeps its static types,
// so that what mixes times and durations still compiles.
func TestCheckedArithmeticKeepsTimes(t *testing.T) {
	e, err := CompileExpr(config.ExprSource{Text: `now() - duration("1h") * 2 < now()`}, BoolResult)
	if err != nil {
		t.Fatal(err)
	}
	if ok, err := e.EvalBool(arithRecord()); !ok || err != nil {
		t.Fatalf("%v, %v", ok, err)
	}
}

// TestDivisionAndRemainderCannotOverflow: `/` and `**` give floats and `%`
// of MinInt64 by -1 is 0, so none of them needs a check.
func TestDivisionAndRemainderCannotOverflow(t *testing.T) {
	for src, want := range map[string]any{
		"value.min / -1": 9.223372036854775808e18,
		"value.min % -1": 0,
		"value.max % -1": 0,
		"2 ** 63":        9.223372036854775808e18,
		"value.max ** 2": 8.507059173023462e37,
	} {
		e, err := CompileExpr(config.ExprSource{Text: src}, AnyResult)
		if err != nil {
			t.Fatal(err)
		}
		if got, err := e.Eval(arithRecord()); err != nil || got != want {
			t.Errorf("%s = %#v, %v; want %#v", src, got, err, want)
		}
	}
	e, _ := CompileExpr(config.ExprSource{Text: "value.a % 0"}, AnyResult)
	if _, err := e.Eval(arithRecord()); err == nil || !strings.Contains(err.Error(), "integer divide by zero") {
		t.Errorf("value.a %% 0: %v", err)
	}
}
