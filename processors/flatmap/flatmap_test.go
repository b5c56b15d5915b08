package flatmap_test

import (
	"strings"
	"testing"

	"github.com/pipelinehq/pipeline/engine"
	"github.com/pipelinehq/pipeline/processors/flatmap"
	"github.com/pipelinehq/pipeline/processors/internal/proctest"
)

func TestFlatMap(t *testing.T) {
	tests := []struct {
		name   string
		in     [][]*engine.Record
		procs  string
		want   []proctest.Out
		failed []proctest.Failed
	}{
		{
			name:  "split words",
			in:    [][]*engine.Record{proctest.Text("a b c", "d")},
			procs: `- flat_map: { values: 'split(value, " ")' }`,
			want:  outs("a", "b", "c", "d"),
		},
		{
			name:  "shorthand over JSON lists of objects",
			in:    [][]*engine.Record{proctest.JSON(`{"items":[{"id":1},{"id":2}]}`, `{"items":[3,"x",null,[true]]}`)},
			procs: `- flat_map: 'value.items'`,
			// A null element is a record without a value: a tombstone.
			want: append(append(outs(`{"id":1}`, `{"id":2}`, `3`, `x`), proctest.Out{NoKey: true, Tombstone: true}), outs(`[true]`)...),
		},
		{
			name: "an empty list drops the record; order is kept while the batch grows",
			in: [][]*engine.Record{
				proctest.Text("a b c", "", "d e", "f", "g h i j"),
				proctest.Text("", ""),
				proctest.Text("k"),
				proctest.Text("", "", "l", "m n o p"), // in place, then growing
				proctest.Text("q", "", "r", ""),       // in place throughout
			},
			procs: `- flat_map: 'fields(value)'`,
			want:  outs("a", "b", "c", "d", "e", "f", "g", "h", "i", "j", "k", "l", "m", "n", "o", "p", "q", "r"),
		},
		{
			name:  "lists of other element types",
			in:    [][]*engine.Record{proctest.Text("x")},
			procs: `- flat_map: '1..3'`,
			want:  outs("1", "2", "3"),
		},
		{
			name:  "derived records keep key, headers and timestamp",
			in:    [][]*engine.Record{keyed(proctest.Text("a b"), "k", 77, "h", "v")},
			procs: `- flat_map: 'split(value, " ")'`,
			want: []proctest.Out{
				{Key: "k", Value: "a", Headers: []string{"h=v"}, Timestamp: 77},
				{Key: "k", Value: "b", Headers: []string{"h=v"}, Timestamp: 77},
			},
		},
		{
			name:  "a result that is not a list fails the record",
			in:    [][]*engine.Record{proctest.JSON(`{"items":"abc"}`, `{"items":[1]}`, `{}`, `{"items":{"a":1}}`, `{"items":2}`, `{"items":[2,3]}`)},
			procs: `- flat_map: 'value.items'`,
			want:  outs("1", "2", "3"),
			failed: []proctest.Failed{
				{Value: `{"items":"abc"}`, Error: "value.items: want a list, got a string"},
				{Value: `{}`, Error: "value.items: want a list, got null"},
				{Value: `{"items":{"a":1}}`, Error: "value.items: want a list, got an object"},
				{Value: `{"items":2}`, Error: "value.items: want a list, got the number 2"},
			},
		},
		{
			name:  "errors from the expression",
			in:    [][]*engine.Record{proctest.JSON(`{"n":"x"}`, `{"n":2}`)},
			procs: `- flat_map: '1..value.n'`,
			want:  outs("1", "2"),
			failed: []proctest.Failed{
				{Value: `{"n":"x"}`, Error: "1..value.n: invalid operation: int(string) (column 2)"},
			},
		},
		{
			name:  "derived records are processed further",
			in:    [][]*engine.Record{proctest.Text("b a", "c")},
			procs: "- flat_map: 'split(value, \" \")'\n- map: { value: 'upper(value)' }\n- filter: 'value != \"A\"'",
			want:  outs("B", "C"),
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := proctest.New(tt.in...)
			h.MustRun(t, proctest.Pipeline(tt.procs))
			proctest.Equal(t, "output", h.Out("collect"), tt.want)
			proctest.Equal(t, "failed", h.Failures(t, "pipeline.processors.0"), tt.failed)
		})
	}
}

func outs(values ...string) []proctest.Out {
	var out []proctest.Out
	for _, v := range values {
		out = append(out, proctest.Out{NoKey: true, Value: v})
	}
	return out
}

func keyed(recs []*engine.Record, key string, ts int64, kv ...string) []*engine.Record {
	for _, r := range recs {
		r.SetKeyFromInput([]byte(key))
		r.Timestamp = ts
		for i := 0; i+1 < len(kv); i += 2 {
			r.Headers = append(r.Headers, engine.Header{Key: kv[i], Value: []byte(kv[i+1])})
		}
	}
	return recs
}

func TestFlatMapConfigErrors(t *testing.T) {
	tests := []struct{ procs, want string }{
		{procs: `- flat_map: 'split(value'`, want: "t.yaml:7:28: pipeline.processors.0.flat_map.values: expression: unexpected token EOF"},
		{procs: `- flat_map: {}`, want: `t.yaml:7:17: pipeline.processors.0.flat_map.values: missing required field "values"`},
	}
	for _, tt := range tests {
		_, err := proctest.New().Build(proctest.Pipeline(tt.procs))
		if err == nil || strings.Split(err.Error(), "\n")[0] != tt.want {
			t.Errorf("%s:\n got  %v\n want %s", tt.procs, err, tt.want)
		}
	}
}

func TestFlatMapSpec(t *testing.T) {
	spec := flatmap.Plugin().Spec
	if spec.Name != "flat_map" || spec.Shorthand != "values" || spec.Summary == "" {
		t.Fatalf("spec: %+v", spec)
	}
	if _, err := proctest.New().Build("input: { fixed: {} }\noutput: { collect: {} }\n" + spec.Example); err != nil {
		t.Fatalf("example: %v", err)
	}
}
