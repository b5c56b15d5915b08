package log_test

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"strings"
	"sync"
	"testing"

	"github.com/pipelinehq/pipeline/engine"
	"github.com/pipelinehq/pipeline/processors/internal/proctest"
	plog "github.com/pipelinehq/pipeline/processors/log"
)

// lines collects JSON log lines, without time.
type lines struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *lines) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *lines) get(t *testing.T) []map[string]any {
	t.Helper()
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []map[string]any
	for _, line := range strings.Split(strings.TrimSpace(l.buf.String()), "\n") {
		if line == "" {
			continue
		}
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("log line %q: %v", line, err)
		}
		delete(m, "time")
		if e, ok := m["error"].(string); ok {
			m["error"] = proctest.FirstLine(e) // expr-lang adds an excerpt
		}
		out = append(out, m)
	}
	return out
}

func newLogger(w *lines, level slog.Level) *slog.Logger {
	return slog.New(slog.NewJSONHandler(w, &slog.HandlerOptions{Level: level}))
}

func TestLog(t *testing.T) {
	tests := []struct {
		name   string
		body   string
		level  slog.Level // the logger's
		in     []*engine.Record
		want   []map[string]any
		values []string // every record passes on unchanged
	}{
		{
			name: "defaults: info, the value as message",
			body: `{}`,
			in:   proctest.Text("hello", "world"),
			want: []map[string]any{{"level": "INFO", "msg": "hello"}, {"level": "INFO", "msg": "world"}},
		},
		{
			name: "JSON values as JSON text, message and fields",
			body: `{ level: warn, message: 'value', fields: { id: 'value.id', tags: 'value.tags', k: 'key' } }`,
			in:   proctest.JSON(`{"id":1,"tags":["a"]}`),
			want: []map[string]any{{"level": "WARN", "msg": `{"id":1,"tags":["a"]}`, "id": 1.0, "tags": []any{"a"}, "k": ""}},
		},
		{
			name: "message expression",
			body: `{ level: error, message: '"got " + string(value.n)' }`,
			in:   proctest.JSON(`{"n":2}`),
			want: []map[string]any{{"level": "ERROR", "msg": "got 2"}},
		},
		{
			name:  "a level below the logger's logs nothing and evaluates nothing",
			body:  `{ level: debug, message: 'value.n + 1' }`,
			level: slog.LevelInfo,
			in:    proctest.JSON(`{"n":"x"}`, `nope`),
		},
		{
			name:  "debug when enabled",
			body:  `{ level: debug }`,
			level: slog.LevelDebug,
			in:    proctest.Text("d"),
			want:  []map[string]any{{"level": "DEBUG", "msg": "d"}},
		},
		{
			name: "expression errors are warnings and the record passes on",
			body: `{ message: '"n=" + string(value.n + 1)', fields: { bad: 'value.n * 2', good: '"yes"' } }`,
			in:   proctest.JSON(`{"n":"x"}`, `{"n":1}`, `nope`),
			want: []map[string]any{
				{"level": "WARN", "msg": "log: expression failed; the record passes on", "field": "fields.bad", "record": "record",
					"error": "value.n * 2: invalid operation: string * int (column 9)"},
				{"level": "WARN", "msg": "log: expression failed; the record passes on", "field": "message", "record": "record",
					"error": `"n=" + string(value.n + 1): invalid operation: string + int (column 23)`},
				{"level": "INFO", "msg": "n=2", "bad": 2.0, "good": "yes"},
				{"level": "WARN", "msg": "log: expression failed; the record passes on", "field": "fields.bad", "record": "record",
					"error": "value is not valid JSON: invalid character 'o' in literal null (expecting 'u')"},
				{"level": "WARN", "msg": "log: expression failed; the record passes on", "field": "message", "record": "record",
					"error": "value is not valid JSON: invalid character 'o' in literal null (expecting 'u')"},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var w lines
			p, err := plog.Plugin().New(proctest.Parse(t, plog.Plugin().Spec, tt.body), proctest.Resources(newLogger(&w, tt.level)))
			if err != nil {
				t.Fatal(err)
			}
			var want []string
			for _, r := range tt.in {
				b, _ := r.Bytes()
				want = append(want, string(b))
			}
			out, err := proctest.Process(p, append([]*engine.Record(nil), tt.in...))
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for i, r := range out {
				if r != tt.in[i] {
					t.Errorf("record %d replaced", i)
				}
				b, _ := r.Bytes()
				got = append(got, string(b))
			}
			proctest.Equal(t, "records", got, want)
			proctest.Equal(t, "log", w.get(t), tt.want)
		})
	}
}

func TestLogInPipeline(t *testing.T) {
	var w lines
	h := proctest.New(proctest.JSON(`{"a":1}`, `{"a":"x"}`))
	h.Logger = newLogger(&w, slog.LevelInfo)
	h.MustRun(t, proctest.Pipeline(`- log: { message: '"a is " + string(value.a + 1)' }
- map: { set: { seen: 'true' } }`))
	proctest.Equal(t, "output", h.Values("collect"), []string{`{"a":1,"seen":true}`, `{"a":"x","seen":true}`})
	var got []map[string]any
	for _, l := range w.get(t) {
		if l["component"] == "pipeline.processors.0" {
			got = append(got, l)
		}
	}
	proctest.Equal(t, "log", got, []map[string]any{
		{"level": "INFO", "msg": "a is 2", "component": "pipeline.processors.0", "label": "log"},
		{"level": "WARN", "msg": "log: expression failed; the record passes on", "component": "pipeline.processors.0", "label": "log",
			"field": "message", "record": "record at p:1", "error": `"a is " + string(value.a + 1): invalid operation: string + int (column 26)`},
	})
}

func TestLogConfigErrors(t *testing.T) {
	tests := []struct{ procs, want string }{
		{procs: `- log: { level: loud }`, want: `t.yaml:7:21: pipeline.processors.0.log.level: "loud" is not one of debug, info, warn, error`},
		{procs: `- log: { message: 'value +' }`, want: "t.yaml:7:30: pipeline.processors.0.log.message: expression: unexpected token EOF"},
		{`- log: { fields: { a: 'value.', b: 'ok(' } }`, "t.yaml:7:33: pipeline.processors.0.log.fields.a: expression: unexpected end of expression\n" +
			"t.yaml:7:43: pipeline.processors.0.log.fields.b: expression: unexpected token EOF"},
	}
	for _, tt := range tests {
		_, err := proctest.New().Build(proctest.Pipeline(tt.procs))
		if err == nil || err.Error() != tt.want {
			t.Errorf("%s:\n got  %v\n want %s", tt.procs, err, tt.want)
		}
	}
}

func TestLogSpec(t *testing.T) {
	spec := plog.Plugin().Spec
	if spec.Name != "log" || spec.Summary == "" {
		t.Fatalf("spec: %+v", spec)
	}
	if f, _ := spec.Field("message"); f.DefaultValue != "value" {
		t.Errorf("message default = %v", f.DefaultValue)
	}
	if _, err := proctest.New().Build("input: { fixed: {} }\noutput: { collect: {} }\n" + spec.Example); err != nil {
		t.Fatalf("example: %v", err)
	}
}
