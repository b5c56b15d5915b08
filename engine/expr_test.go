package engine

import (
	"testing"

	"github.com/pipelinehq/pipeline/config"
)

// TestValuePathAgreesWithTheVM: an expression that is a path into the value
// is walked without the VM, and gives what the VM gives, errors included,
// for every shape of value.
func TestValuePathAgreesWithTheVM(t *testing.T) {
	values := []string{
		`{"a":{"b":7,"c":null},"n":1}`, `{"a":3}`, `{"a":[1,2]}`, `{"a":"text"}`, `{}`, `[1]`, `"s"`, `5`, `null`,
	}
	for _, src := range []string{`value.a`, `value.a.b`, `value["a"].b`, `value.a.c`, `value.n`, `value.zz.b`} {
		fast, err := CompileExpr(config.ExprSource{Text: src}, AnyResult)
		if err != nil {
			t.Fatal(err)
		}
		if fast.valuePath == nil {
			t.Fatalf("%s: not taken as a path", src)
		}
		slow, err := CompileExpr(config.ExprSource{Text: src}, AnyResult)
		if err != nil {
			t.Fatal(err)
		}
		slow.valuePath = nil
		for _, v := range values {
			r := NewRecord([]byte(v), JSON)
			got, gerr := fast.Eval(r)
			want, werr := slow.Eval(NewRecord([]byte(v), JSON))
			if (gerr == nil) != (werr == nil) || gerr != nil && gerr.Error() != werr.Error() || !sameTree(got, want) {
				t.Errorf("%s on %s: walked %#v (%v), the VM %#v (%v)", src, v, got, gerr, want, werr)
			}
		}
	}
	for _, src := range []string{`value`, `value.a + 1`, `key`, `value[0]`, `value.a[0]`, `meta.offset`, `table.a`, `value?.a`, `value.a?.b`} {
		e, err := CompileExpr(config.ExprSource{Text: src}, AnyResult)
		if err != nil {
			t.Fatal(err)
		}
		if e.valuePath != nil {
			t.Errorf("%s: taken as the path %q", src, e.valuePath)
		}
	}
}
