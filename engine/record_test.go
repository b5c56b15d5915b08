package engine

import (
	"testing"

	"github.com/pipelinehq/pipeline/config"
)

// TestTombstones: nil bytes read are a record without a value, which every
// codec passes (JSON too: it is not invalid JSON) and which is written as
// nil again; a value set to nil is one too. The JSON text null is a value.
func TestTombstones(t *testing.T) {
	for _, format := range []Format{Text, JSON, Binary} {
		r := NewRecord(nil, format)
		if err := r.checkDecodable(); err != nil {
			t.Fatalf("format %d: a tombstone fails intake: %v", format, err)
		}
		v, err := r.Value()
		b, berr := r.Bytes()
		if v != nil || err != nil || b != nil || berr != nil || !r.IsTombstone() {
			t.Fatalf("format %d: value %v (%v), bytes %q (%v), tombstone %v", format, v, err, b, berr, r.IsTombstone())
		}
	}
	null := NewRecord([]byte("null"), JSON)
	if v, _ := null.Value(); v != nil || null.IsTombstone() {
		t.Fatalf("JSON null: value %v, tombstone %v; want nil, a value", v, null.IsTombstone())
	}
	if b, _ := null.Bytes(); string(b) != "null" {
		t.Fatalf("JSON null written as %q", b)
	}
	empty := NewRecord([]byte{}, Text)
	if empty.IsTombstone() {
		t.Fatal("an empty value is a value, not a tombstone")
	}
	set := NewRecord([]byte(`{"a":1}`), JSON)
	set.SetValue(nil)
	if b, _ := set.Bytes(); b != nil || !set.IsTombstone() {
		t.Fatalf("a value set to nil: bytes %q, tombstone %v", b, set.IsTombstone())
	}
}

// TestChangeRecords: a record's operation and the row before it are seen by
// expressions as op and before, and kept by records derived from it.
func TestChangeRecords(t *testing.T) {
	r := NewRecord([]byte(`{"id":1,"n":5}`), JSON)
	r.Op, r.Before = OpUpdate, map[string]any{"id": int64(1), "n": int64(3)}
	e, err := CompileExpr(config.ExprSource{Text: `op == "u" && value.n - before.n == 2`}, BoolResult)
	if err != nil {
		t.Fatal(err)
	}
	derived := NewDerived(r, map[string]any{"n": int64(5)})
	for _, rec := range []*Record{r, derived} {
		if ok, err := e.EvalBool(rec); !ok || err != nil {
			t.Fatalf("%v, %v", ok, err)
		}
	}
	if derived.Op != OpUpdate || derived.Before == nil {
		t.Fatalf("a derived record lost the change: op %q before %v", derived.Op, derived.Before)
	}
	plain, err := CompileExpr(config.ExprSource{Text: `op == "" && before == nil`}, BoolResult)
	if err != nil {
		t.Fatal(err)
	}
	if ok, err := plain.EvalBool(NewRecord([]byte("x"), Text)); !ok || err != nil {
		t.Fatalf("a plain record: %v, %v", ok, err)
	}
	for code, op := range map[string]Operation{"c": OpCreate, "update": OpUpdate, "d": OpDelete, "r": OpRead, "": OpNone} {
		if got, err := ParseOperation(code); got != op || err != nil {
			t.Fatalf("ParseOperation(%q) = %v, %v", code, got, err)
		}
	}
	if _, err := ParseOperation("x"); err == nil || err.Error() != `unknown operation "x": want c (create), u (update), d (delete) or r (read)` {
		t.Fatalf("ParseOperation(x): %v", err)
	}
}
