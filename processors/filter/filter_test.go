package filter_test

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/pipelinehq/pipeline/engine"
	"github.com/pipelinehq/pipeline/processors/filter"
	"github.com/pipelinehq/pipeline/processors/internal/proctest"
)

func TestFilter(t *testing.T) {
	tests := []struct {
		name   string
		in     [][]*engine.Record
		procs  string
		want   []string
		failed []proctest.Failed
	}{
		{
			name:  "shorthand",
			in:    [][]*engine.Record{proctest.Text("a", "", "b", "")},
			procs: `- filter: 'value != ""'`,
			want:  []string{"a", "b"},
		},
		{
			name:  "condition field",
			in:    [][]*engine.Record{proctest.JSON(`{"n":1}`, `{"n":5}`, `{"n":3}`, `{"n":9}`)},
			procs: `- filter: { condition: 'value.n > 2' }`,
			want:  []string{`{"n":5}`, `{"n":3}`, `{"n":9}`},
		},
		{
			name:  "keeps order across batches and drops whole batches",
			in:    [][]*engine.Record{proctest.JSON(`1`, `2`), proctest.JSON(`3`), proctest.JSON(`4`, `5`, `6`)},
			procs: `- filter: 'int(value) % 2 == 0'`,
			want:  []string{`2`, `4`, `6`},
		},
		{
			name:  "drops everything",
			in:    [][]*engine.Record{proctest.Text("a", "b")},
			procs: `- filter: 'false'`,
		},
		{
			name:  "keys, headers and meta",
			in:    [][]*engine.Record{keyed("a", "k1"), keyed("b", "k2"), keyed("c", "k1")},
			procs: `- filter: 'key == "k1" && meta.partition == "p" && meta.offset >= 0'`,
			want:  []string{"a", "c"},
		},
		{
			// A missing field (nil) is false, as expr-lang casts it.
			name:  "a condition that fails or is not a boolean fails the record; nil is false",
			in:    [][]*engine.Record{proctest.JSON(`{"ok":true}`, `{"ok":"yes"}`, `{"ok":false}`, `{}`, `{"ok":1}`)},
			procs: `- filter: 'value.ok'`,
			want:  []string{`{"ok":true}`},
			failed: []proctest.Failed{
				{Value: `{"ok":"yes"}`, Error: "value.ok: invalid operation: bool(string) (column 1)"},
				{Value: `{"ok":1}`, Error: "value.ok: invalid operation: bool(int64) (column 1)"},
			},
		},
		{
			name:   "a run-time error fails the record",
			in:     [][]*engine.Record{proctest.JSON(`{"n":"x"}`, `{"n":2}`)},
			procs:  `- filter: 'value.n > 1'`,
			want:   []string{`{"n":2}`},
			failed: []proctest.Failed{{Value: `{"n":"x"}`, Error: "value.n > 1: invalid operation: string > int (column 9)"}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := proctest.New(tt.in...)
			h.MustRun(t, proctest.Pipeline(tt.procs))
			proctest.Equal(t, "output", h.Values("collect"), tt.want)
			proctest.Equal(t, "failed", h.Failures(t, "pipeline.processors.0"), tt.failed)
		})
	}
}

func keyed(value, key string) []*engine.Record {
	recs := proctest.Text(value)
	recs[0].SetKeyFromInput([]byte(key))
	return recs
}

func TestFilterConfigErrors(t *testing.T) {
	tests := []struct{ procs, want string }{
		{procs: `- filter: 'value =='`, want: "t.yaml:7:23: pipeline.processors.0.filter.condition: expression: unexpected token EOF"},
		{procs: `- filter: '"abc"'`, want: "t.yaml:7:16: pipeline.processors.0.filter.condition: expression: expected bool, but got string"},
		{procs: `- filter: { condition: '1 + 1' }`, want: "t.yaml:7:29: pipeline.processors.0.filter.condition: expression: expected bool, but got int"},
		{procs: `- filter: {}`, want: `t.yaml:7:15: pipeline.processors.0.filter.condition: missing required field "condition"`},
		{procs: `- filter: { condition: 'true', extra: 1 }`, want: `t.yaml:7:36: pipeline.processors.0.filter.extra: unknown field "extra"`},
	}
	for _, tt := range tests {
		_, err := proctest.New().Build(proctest.Pipeline(tt.procs))
		if err == nil || strings.Split(err.Error(), "\n")[0] != tt.want {
			t.Errorf("%s:\n got  %v\n want %s", tt.procs, err, tt.want)
		}
	}
}

func TestFilterSpec(t *testing.T) {
	spec := filter.Plugin().Spec
	if spec.Name != "filter" || spec.Shorthand != "condition" || spec.Summary == "" {
		t.Fatalf("spec: %+v", spec)
	}
	if _, err := proctest.New().Build("input: { fixed: {} }\noutput: { collect: {} }\n" + spec.Example); err != nil {
		t.Fatalf("example: %v", err)
	}
}

func BenchmarkFilter(b *testing.B) {
	p, err := filter.Plugin().New(proctest.Parse(b, filter.Plugin().Spec, `{ condition: 'value.price > 25 && value.name != ""' }`), proctest.Resources(nil))
	if err != nil {
		b.Fatal(err)
	}
	raw, kept := benchRecords()
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		recs := make([]*engine.Record, len(raw))
		for i, r := range raw {
			recs[i] = engine.NewRecord(r, engine.JSON)
		}
		out, err := proctest.Process(p, recs)
		if err != nil || len(out) != kept {
			b.Fatal(err, len(out))
		}
	}
}

// BenchmarkFilterHandWritten is the same work as BenchmarkFilter in a plain
// Go loop, the baseline the filter is measured against.
func BenchmarkFilterHandWritten(b *testing.B) {
	raw, kept := benchRecords()
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		n := 0
		for _, r := range raw {
			var m map[string]any
			if err := json.Unmarshal(r, &m); err != nil {
				b.Fatal(err)
			}
			if m["price"].(float64) > 25 && m["name"].(string) != "" {
				n++
			}
		}
		if n != kept {
			b.Fatal(n)
		}
	}
}

func benchRecords() (raw [][]byte, kept int) {
	raw = make([][]byte, 256)
	for i := range raw {
		price := i%50 + 1
		if price > 25 {
			kept++
		}
		n, _ := json.Marshal(price)
		raw[i] = []byte(`{"id":1,"name":"item","price":` + string(n) + `,"qty":3,"tags":["a","b"]}`)
	}
	return raw, kept
}
