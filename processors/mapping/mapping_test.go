package mapping_test

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/pipelinehq/pipeline/engine"
	"github.com/pipelinehq/pipeline/processors/internal/proctest"
	"github.com/pipelinehq/pipeline/processors/mapping"
)

const step = "pipeline.processors.0"

// v is an output record with only a value.
func v(value string) proctest.Out { return proctest.Out{NoKey: true, Value: value} }

func withKey(key string, recs []*engine.Record) []*engine.Record {
	for _, r := range recs {
		r.SetKeyFromInput([]byte(key))
	}
	return recs
}

func TestMap(t *testing.T) {
	tests := []struct {
		name   string
		in     []*engine.Record
		procs  string
		want   []proctest.Out
		failed []proctest.Failed
	}{
		{
			name:  "value of text",
			in:    proctest.Text("Hello", "WORLD"),
			procs: `- map: { value: 'lower(value)' }`,
			want:  []proctest.Out{v("hello"), v("world")},
		},
		{
			name:  "value of JSON to a new object",
			in:    proctest.JSON(`{"id":7,"price":2.5,"qty":4}`),
			procs: `- map: { value: '{"id": value.id, "total": value.price * value.qty}' }`,
			want:  []proctest.Out{v(`{"id":7,"total":10}`)},
		},
		{
			name:  "value to a number, a list, null, text from JSON",
			in:    proctest.JSON(`{"n":3}`, `{"n":4}`, `{"n":5}`, `{"n":6}`),
			procs: `- map: { value: 'value.n == 3 ? value.n * 2 : value.n == 4 ? [value.n, "x"] : value.n == 5 ? nil : "six"' }`,
			// A value set to nil is a tombstone.
			want: []proctest.Out{v(`6`), v(`[4,"x"]`), {NoKey: true, Tombstone: true}, v(`six`)},
		},
		{
			name: "set fields, creating intermediate objects",
			in:   proctest.JSON(`{"price":2,"qty":3,"meta":{"a":1}}`, `{"price":1,"qty":1}`, `{"price":1,"qty":0,"meta":null}`),
			procs: `- map:
    set:
      total: 'value.price * value.qty'
      meta.seen: 'true'
      deep.er.still: '"x"'`,
			want: []proctest.Out{
				v(`{"deep":{"er":{"still":"x"}},"meta":{"a":1,"seen":true},"price":2,"qty":3,"total":6}`),
				v(`{"deep":{"er":{"still":"x"}},"meta":{"seen":true},"price":1,"qty":1,"total":1}`),
				v(`{"deep":{"er":{"still":"x"}},"meta":{"seen":true},"price":1,"qty":0,"total":0}`),
			},
		},
		{
			name:  "set applies in order: a later path sets inside an earlier result",
			in:    proctest.JSON(`{}`),
			procs: `- map: { set: { "a": '{"x": 1}', "a.y": '2', "b.c": '3', "b": '4' } }`,
			want:  []proctest.Out{v(`{"a":{"x":1,"y":2},"b":4}`)},
		},
		{
			name:  "set on the value's result, which sees the original",
			in:    proctest.JSON(`{"n":1,"inner":{"k":"v"}}`),
			procs: `- map: { value: 'value.inner', set: { "n": 'value.n', "k2": 'value.inner.k + "2"' } }`,
			want:  []proctest.Out{v(`{"k":"v","k2":"v2","n":1}`)},
		},
		{
			name:  "set a copy of the whole value: no cycle",
			in:    proctest.JSON(`{"a":1}`),
			procs: `- map: { set: { "copy": 'value', "copy2.b": 'value.a' } }`,
			want:  []proctest.Out{v(`{"a":1,"copy":{"a":1},"copy2":{"b":1}}`)},
		},
		{
			name:  "set results are snapshots: a later path does not change an earlier result",
			in:    proctest.JSON(`{"b":{"y":1}}`),
			procs: `- map: { set: { "a": 'value.b', "b.x": '2' }, delete: ["b.y"] }`,
			want:  []proctest.Out{v(`{"a":{"y":1},"b":{"x":2}}`)},
		},
		{
			name: "values shared by flat_map records are copied on write",
			in:   proctest.JSON(`{"m":{"n":0}}`),
			procs: `- flat_map: '[value, value, value]'
- map: { set: { "m.n": 'value.m.n + 1', "m.seen": 'true' } }
- map: { set: { "m.n": 'value.m.n + 10' } }`,
			want: []proctest.Out{v(`{"m":{"n":11,"seen":true}}`), v(`{"m":{"n":11,"seen":true}}`), v(`{"m":{"n":11,"seen":true}}`)},
		},
		{
			name:  "delete",
			in:    proctest.JSON(`{"tmp":1,"keep":2,"meta":{"x":1,"y":2}}`, `{}`),
			procs: `- map: { delete: [tmp, meta.x, missing, meta.nope.deep, keep.sub] }`,
			want:  []proctest.Out{v(`{"keep":2,"meta":{"y":2}}`), v(`{}`)},
		},
		{
			name:  "delete after set",
			in:    proctest.JSON(`{"a":1}`),
			procs: `- map: { set: { "b": '2', "c.d": '3' }, delete: [a, c.d] }`,
			want:  []proctest.Out{v(`{"b":2,"c":{}}`)},
		},
		{
			name:  "set and delete on values that are not objects fail",
			in:    append(proctest.Text("plain"), proctest.JSON(`[1,2]`, `5`, `null`, `{"a":5}`, `{"a":{"b":[]}}`, `{"ok":1}`)...),
			procs: `- map: { set: { "a.b.c": '1' } }`,
			want:  []proctest.Out{v(`{"a":{"b":{"c":1}},"ok":1}`)},
			failed: []proctest.Failed{
				{Value: "plain", Error: "set: the value is a string, not a JSON object"},
				{Value: `[1,2]`, Error: "set: the value is a list, not a JSON object"},
				{Value: `5`, Error: "set: the value is the number 5, not a JSON object"},
				{Value: `null`, Error: "set: the value is null, not a JSON object"},
				{Value: `{"a":5}`, Error: "set a.b.c: a is the number 5, not an object"},
				{Value: `{"a":{"b":[]}}`, Error: "set a.b.c: a.b is a list, not an object"},
			},
		},
		{
			name:   "delete on a text value fails",
			in:     proctest.Text("plain"),
			procs:  `- map: { delete: [a] }`,
			failed: []proctest.Failed{{Value: "plain", Error: "delete: the value is a string, not a JSON object"}},
		},
		{
			name: "every expression sees the record as it began",
			in:   withKey("k0", proctest.JSON(`{"n":1}`)),
			procs: `- map:
    value: '{"n": value.n + 1}'
    set: { "old": 'value.n', "oldkey": 'key' }
    key: '"k" + string(value.n)'
    headers: { n: 'value.n', k: 'key' }
    timestamp: 'value.n * 1000'`,
			want: []proctest.Out{{Key: "k1", Value: `{"n":2,"old":1,"oldkey":"k0"}`, Headers: []string{"n=1", "k=k0"}, Timestamp: 1000}},
		},
		{
			name: "key from strings, numbers and nil",
			in:   withKey("old", proctest.JSON(`{"k":"a"}`, `{"k":42}`, `{"k":1.5}`, `{"k":-3}`, `{"k":null}`, `{}`)),
			procs: `- map: { key: 'value.k' }
- map: { value: 'key' }`,
			want: []proctest.Out{
				{Key: "a", Value: "a"}, {Key: "42", Value: "42"}, {Key: "1.5", Value: "1.5"}, {Key: "-3", Value: "-3"},
				{NoKey: true, Value: ""}, {NoKey: true, Value: ""},
			},
		},
		{
			name:  "key of an integer expression",
			in:    proctest.Text("x"),
			procs: `- map: { key: '7 * 6' }`,
			want:  []proctest.Out{{Key: "42", Value: "x"}},
		},
		{
			name:  "key that is not text or a number fails",
			in:    proctest.JSON(`{"k":true}`, `{"k":{"a":1}}`, `{"k":[1]}`, `{"k":"ok"}`),
			procs: `- map: { key: 'value.k' }`,
			want:  []proctest.Out{{Key: "ok", Value: `{"k":"ok"}`}},
			failed: []proctest.Failed{
				{Value: `{"k":true}`, Error: "key: value.k: want a string, bytes or a number, got a boolean"},
				{Value: `{"k":{"a":1}}`, Error: "key: value.k: want a string, bytes or a number, got an object"},
				{Value: `{"k":[1]}`, Error: "key: value.k: want a string, bytes or a number, got a list"},
			},
		},
		{
			name: "headers: set, replace every one of a name, remove with nil",
			in:   withHeaders(proctest.JSON(`{"t":"acme","n":7,"f":2.5,"ok":true,"o":{"a":[1]}}`), "a", "1", "dup", "x", "old", "o", "dup", "y"),
			procs: `- map:
    headers:
      dup: '"z"'
      old: 'nil'
      tenant: 'value.t'
      n: 'value.n'
      f: 'value.f'
      ok: 'value.ok'
      o: 'value.o'
      gone: 'value.missing'`,
			want: []proctest.Out{{NoKey: true, Value: `{"t":"acme","n":7,"f":2.5,"ok":true,"o":{"a":[1]}}`,
				Headers: []string{"a=1", "dup=z", "tenant=acme", "n=7", "f=2.5", "ok=true", `o={"a":[1]}`}}},
		},
		{
			name: "headers of derived records are copied, not shared",
			in:   withHeaders(proctest.JSON(`[1,2]`), "h", "parent"),
			procs: `- flat_map: 'value'
- map: { headers: { h: 'string(value)' } }`,
			want: []proctest.Out{{NoKey: true, Value: "1", Headers: []string{"h=1"}}, {NoKey: true, Value: "2", Headers: []string{"h=2"}}},
		},
		{
			name: "timestamp from milliseconds, times and RFC 3339 text",
			in: proctest.JSON(`{"ts":1700000000123}`, `{"ts":"2024-05-01T12:00:00Z"}`, `{"ts":"2024-05-01T12:00:00.5+02:00"}`,
				`{"ts":-1}`),
			procs: `- map: { timestamp: 'value.ts' }
- map: { value: 'timestamp' }`,
			want: []proctest.Out{
				{NoKey: true, Value: "1700000000123", Timestamp: 1700000000123},
				{NoKey: true, Value: "1714564800000", Timestamp: 1714564800000},
				{NoKey: true, Value: "1714557600500", Timestamp: 1714557600500},
				{NoKey: true, Value: "-1", Timestamp: -1},
			},
		},
		{
			name:  "timestamp from a time value",
			in:    proctest.Text("x"),
			procs: `- map: { timestamp: 'date("2024-05-01T12:00:00Z")', value: 'string(unix_ms(date("2024-05-01T12:00:01Z")))' }`,
			want:  []proctest.Out{{NoKey: true, Value: "1714564801000", Timestamp: 1714564800000}},
		},
		{
			name:  "timestamp of the wrong kind fails",
			in:    proctest.JSON(`{"ts":"yesterday"}`, `{"ts":1.5}`, `{}`, `{"ts":true}`, `{"ts":[1]}`),
			procs: `- map: { timestamp: 'value.ts' }`,
			failed: []proctest.Failed{
				{Value: `{"ts":"yesterday"}`, Error: `timestamp: value.ts: "yesterday" is not an RFC 3339 time such as 2024-05-01T12:00:00Z`},
				{Value: `{"ts":1.5}`, Error: "timestamp: value.ts: want integer milliseconds since the epoch, a time or an RFC 3339 string, got the number 1.5"},
				{Value: `{}`, Error: "timestamp: value.ts: want integer milliseconds since the epoch, a time or an RFC 3339 string, got null"},
				{Value: `{"ts":true}`, Error: "timestamp: value.ts: want integer milliseconds since the epoch, a time or an RFC 3339 string, got a boolean"},
				{Value: `{"ts":[1]}`, Error: "timestamp: value.ts: want integer milliseconds since the epoch, a time or an RFC 3339 string, got a list"},
			},
		},
		{
			name: "a failing expression fails the record and changes nothing",
			in:   withHeaders(proctest.JSON(`{"n":1}`, `{"n":"x"}`, `{"n":2}`), "h", "0"),
			procs: `- map:
    value: '{"n": value.n}'
    key: '"k"'
    headers: { h: '"1"' }
    timestamp: '5'
    set: { "d": 'value.n * 2' }`,
			want: []proctest.Out{
				{Key: "k", Value: `{"d":2,"n":1}`, Headers: []string{"h=1"}, Timestamp: 5},
				{Key: "k", Value: `{"d":4,"n":2}`, Headers: []string{"h=1"}, Timestamp: 5},
			},
			failed: []proctest.Failed{{Value: `{"n":"x"}`, Error: "set d: value.n * 2: invalid operation: string * int (column 9)"}},
		},
		{
			name:   "errors name the field",
			in:     proctest.JSON(`{"a":1}`),
			procs:  `- map: { headers: { h: 'value.a.b.c()' } }`,
			failed: []proctest.Failed{{Value: `{"a":1}`, Error: "headers h: value.a.b.c(): cannot fetch b from int64 (column 9)"}},
		},
		{
			name:  "an untouched value is passed as it was read",
			in:    proctest.JSON(`{ "spaced" : 1 }`),
			procs: `- map: { key: '"k"' }`,
			want:  []proctest.Out{{Key: "k", Value: `{ "spaced" : 1 }`}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := proctest.New(tt.in)
			h.MustRun(t, proctest.Pipeline(tt.procs))
			proctest.Equal(t, "output", h.Out("collect"), tt.want)
			proctest.Equal(t, "failed", h.Failures(t, failingStep(tt.procs)), tt.failed)
		})
	}
}

// failingStep is the path of the processor the table's failures come from:
// the first map, or the second when the first is a flat_map.
func failingStep(procs string) string {
	if strings.HasPrefix(procs, "- flat_map") {
		return "pipeline.processors.1"
	}
	return step
}

func withHeaders(recs []*engine.Record, kv ...string) []*engine.Record {
	for _, r := range recs {
		for i := 0; i+1 < len(kv); i += 2 {
			r.Headers = append(r.Headers, engine.Header{Key: kv[i], Value: []byte(kv[i+1])})
		}
	}
	return recs
}

func TestMapAcrossBatches(t *testing.T) {
	h := proctest.New(proctest.JSON(`{"a":1}`, `{"a":"x"}`), proctest.JSON(`{"a":2}`), proctest.JSON(`{"a":3}`, `{"a":4}`))
	h.MustRun(t, proctest.Pipeline(`- map: { value: 'value.a + 1' }`))
	proctest.Equal(t, "values", h.Values("collect"), []string{"2", "3", "4", "5"})
	proctest.Equal(t, "failed", h.Failures(t, step), []proctest.Failed{{Value: `{"a":"x"}`, Error: `value: value.a + 1: invalid operation: string + int (column 9)`}})
}

func TestMapStopsWithoutDeadLetter(t *testing.T) {
	h := proctest.New(proctest.JSON(`{"a":"x"}`))
	err := h.Run(t, "input: { fixed: {} }\noutput: { collect: {} }\npipeline:\n  processors:\n    - map: { value: 'value.a + 1' }\n")
	if err == nil || !strings.HasPrefix(err.Error(), "pipeline.processors.0: record at p:0: value: value.a + 1: invalid operation") {
		t.Fatalf("run error = %v", err)
	}
	proctest.Equal(t, "output", h.Out("collect"), []proctest.Out(nil))
}

func TestMapConfigErrors(t *testing.T) {
	tests := []struct {
		name  string
		procs string
		want  []string
	}{
		{
			name:  "nothing to do",
			procs: `- map: {}`,
			want:  []string{"t.yaml:7:7: pipeline.processors.0.map: nothing to do: give at least one of value, set, delete, key, headers, timestamp"},
		},
		{
			name:  "empty set and delete are nothing to do",
			procs: `- map: { set: {}, delete: [] }`,
			want:  []string{"t.yaml:7:7: pipeline.processors.0.map: nothing to do: give at least one of value, set, delete, key, headers, timestamp"},
		},
		{
			name:  "bad value expression",
			procs: `- map: { value: 'lower(' }`,
			want:  []string{"t.yaml:7:27: pipeline.processors.0.map.value: expression: unexpected token EOF"},
		},
		{
			name: "every problem at once, each at its place",
			procs: `- map:
    value: 'nope('
    set: { "a..b": '1', "x": 'foo(' }
    delete: ["", ok, ".x"]
    key: '1 +'
    headers: { "": '1', "h": ')' }
    timestamp: 'value.'`,
			want: []string{
				"t.yaml:8:21: pipeline.processors.0.map.value: expression: unexpected token EOF",
				`t.yaml:9:16: pipeline.processors.0.map.set.a..b: field path "a..b" has an empty segment: write names separated by single dots, such as meta.seen`,
				"t.yaml:9:38: pipeline.processors.0.map.set.x: expression: unexpected token EOF",
				`t.yaml:10:18: pipeline.processors.0.map.delete.0: field path "" has an empty segment: write names separated by single dots, such as meta.seen`,
				`t.yaml:10:26: pipeline.processors.0.map.delete.2: field path ".x" has an empty segment: write names separated by single dots, such as meta.seen`,
				"t.yaml:11:17: pipeline.processors.0.map.key: expression: unexpected token EOF",
				"t.yaml:12:20: pipeline.processors.0.map.headers.: a header name must not be empty",
				`t.yaml:12:35: pipeline.processors.0.map.headers.h: expression: unexpected token Bracket(")")`,
				"t.yaml:13:26: pipeline.processors.0.map.timestamp: expression: unexpected end of expression",
			},
		},
		{
			name:  "unknown field",
			procs: `- map: { valeu: 'x' }`,
			want:  []string{`t.yaml:7:14: pipeline.processors.0.map.valeu: unknown field "valeu", did you mean "value"?`},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := proctest.New().Build(proctest.Pipeline(tt.procs))
			if err == nil {
				t.Fatal("built without error")
			}
			var got []string
			for _, line := range strings.Split(err.Error(), "\n") {
				if strings.HasPrefix(line, "t.yaml:") {
					got = append(got, line)
				}
			}
			proctest.Equal(t, "errors", got, tt.want)
		})
	}
}

func TestMapSpec(t *testing.T) {
	spec := mapping.Plugin().Spec
	if spec.Name != "map" || spec.Summary == "" || spec.Example == "" {
		t.Fatalf("incomplete spec: %+v", spec)
	}
	for _, f := range spec.Fields {
		if f.Description == "" || len(f.Examples) == 0 {
			t.Errorf("field %s: want a description and examples", f.Name)
		}
	}
	// The example is a valid config.
	_, err := proctest.New().Build("input: { fixed: {} }\noutput: { collect: {} }\n" + spec.Example)
	if err != nil {
		t.Fatalf("example: %v", err)
	}
}

func BenchmarkMap(b *testing.B) {
	p, err := mapping.Plugin().New(proctest.Parse(b, mapping.Plugin().Spec,
		`{ set: { "total": 'value.price * value.qty', "seen": 'true' }, delete: [tmp] }`), proctest.Resources(nil))
	if err != nil {
		b.Fatal(err)
	}
	raw := benchRecords(256)
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		recs := make([]*engine.Record, len(raw))
		for i, r := range raw {
			recs[i] = engine.NewRecord(r, engine.JSON)
		}
		out, err := proctest.Process(p, recs)
		if err != nil || len(out) != len(raw) {
			b.Fatal(err, len(out))
		}
		for _, r := range out {
			if _, err := r.Bytes(); err != nil {
				b.Fatal(err)
			}
		}
	}
}

// BenchmarkMapHandWritten is the same work as BenchmarkMap in a plain Go
// loop, the baseline the map is measured against.
func BenchmarkMapHandWritten(b *testing.B) {
	raw := benchRecords(256)
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		for _, r := range raw {
			var m map[string]any
			if err := json.Unmarshal(r, &m); err != nil {
				b.Fatal(err)
			}
			m["total"] = m["price"].(float64) * m["qty"].(float64)
			m["seen"] = true
			delete(m, "tmp")
			if _, err := json.Marshal(m); err != nil {
				b.Fatal(err)
			}
		}
	}
}

func benchRecords(n int) [][]byte {
	out := make([][]byte, n)
	for i := range out {
		out[i] = []byte(`{"id":` + itoa(i) + `,"name":"item ` + itoa(i) + `","price":` + itoa(i%50+1) + `,"qty":3,"tmp":"x","tags":["a","b"]}`)
	}
	return out
}

func itoa(i int) string {
	b, _ := json.Marshal(i)
	return string(b)
}

// TestTombstones: set and delete leave a record without a value a
// tombstone (there is no object to edit) while key, headers and timestamp
// still apply; value sees nil.
func TestTombstones(t *testing.T) {
	h := proctest.New(proctest.Tombstones("k1"), proctest.JSON(`{"a":1}`))
	h.MustRun(t, proctest.Pipeline(`- map: { set: { b: 'value.a + 1' }, delete: [a], key: '"new"', headers: { seen: 'value == nil ? "tombstone" : "value"' } }`))
	proctest.Equal(t, "output", h.Out("collect"), []proctest.Out{
		{Key: "new", Tombstone: true, Headers: []string{"seen=tombstone"}},
		{Key: "new", Value: `{"b":2}`, Headers: []string{"seen=value"}},
	})
	h = proctest.New(proctest.Tombstones("k1"))
	h.MustRun(t, proctest.Pipeline(`- map: { value: 'value == nil ? "was a tombstone" : value' }`))
	proctest.Equal(t, "output", h.Out("collect"), []proctest.Out{{Key: "k1", Value: "was a tombstone"}})
}
