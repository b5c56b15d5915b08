package schema

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/pipelinehq/pipeline/config"
	"github.com/pipelinehq/pipeline/engine"
	"github.com/pipelinehq/pipeline/inputs"
	"github.com/pipelinehq/pipeline/outputs"
	"github.com/pipelinehq/pipeline/processors"
)

var update = flag.Bool("update", false, "rewrite pipeline.schema.json from the component registry")

const committed = "pipeline.schema.json"

func fullRegistry() *engine.Registry {
	return engine.NewRegistry(inputs.Register, processors.Register, outputs.Register)
}

func TestSchemaUpToDate(t *testing.T) {
	got, err := Generate(fullRegistry())
	if err != nil {
		t.Fatalf("Generate: %v", err)
	}
	if *update {
		if err := os.WriteFile(committed, got, 0o644); err != nil {
			t.Fatal(err)
		}
		t.Logf("wrote schema/%s (%d bytes)", committed, len(got))
		return
	}
	want, err := os.ReadFile(committed)
	if err != nil {
		t.Fatalf("reading the committed schema: %v\nrun `go test ./schema -update` to write it", err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("schema/%s is stale: it differs from what Generate makes of the registered component specs.\n%s\n"+
			"Run `go test ./schema -update` and commit schema/%s.", committed, firstDifference(want, got), committed)
	}
}

func firstDifference(old, new []byte) string {
	a, b := strings.Split(string(old), "\n"), strings.Split(string(new), "\n")
	for i := 0; i < len(a) || i < len(b); i++ {
		var x, y string
		if i < len(a) {
			x = a[i]
		}
		if i < len(b) {
			y = b[i]
		}
		if x != y {
			return fmt.Sprintf("First difference, line %d:\n\tcommitted: %s\n\tgenerated: %s", i+1, strings.TrimSpace(x), strings.TrimSpace(y))
		}
	}
	return "no line differs"
}

func TestGenerateIsDeterministicAndFormatted(t *testing.T) {
	for name, reg := range map[string]*engine.Registry{"full": fullRegistry(), "test": testRegistry()} {
		first, err := Generate(reg)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		for i := 0; i < 5; i++ {
			again, err := Generate(reg)
			if err != nil || !bytes.Equal(first, again) {
				t.Fatalf("%s: Generate is not deterministic (err %v)", name, err)
			}
		}
		if !json.Valid(first) {
			t.Fatalf("%s: not valid JSON", name)
		}
		var indented bytes.Buffer
		if err := json.Indent(&indented, first, "", "  "); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(indented.Bytes(), first) || !bytes.HasSuffix(first, []byte("}\n")) || bytes.HasSuffix(first, []byte("\n\n")) {
			t.Errorf("%s: not two-space indented JSON with a trailing newline", name)
		}
		if bytes.Contains(first, []byte(`\u003c`)) || bytes.Contains(first, []byte(`\u0026`)) {
			t.Errorf("%s: HTML-escaped characters in descriptions", name)
		}
		compile(t, first)
	}
}

// testRegistry holds made-up components that use every field kind.
func testRegistry() *engine.Registry {
	return engine.NewRegistry(func(r *engine.Registry) {
		r.AddInput(engine.InputPlugin{Spec: config.Spec{
			Name:        "file",
			Summary:     "Reads files.",
			Description: "Line by line.",
			Example:     "input:\n  file: {paths: [a.txt]}\n",
			Fields: []config.Field{
				config.StringList("paths", "Files to read.").Required().Example([]string{"in/*.txt"}),
				config.String("codec", "How a file becomes records.").Default("lines").Enum("lines", "json_lines", "csv"),
				config.String("acks", "Acks.").Default("all").Enum("0", "1", "all"),
				config.Int("batch_size", "The most records in one batch.").Default(100),
				config.ByteSize("max_line_size", "The longest line.").Default("1MiB"),
				config.Duration("interval", "Poll interval.").Default(2 * time.Second),
				config.Float("ratio", "A ratio.").Default(0.5),
				config.Bool("follow", "Follow.").Default(false),
				config.StringMap("headers", "Headers."),
				config.Object("tls", "TLS.",
					config.Bool("enabled", "Use TLS.").Default(false),
					config.String("ca_file", "CA file."),
				),
				config.Object("auth", "Auth.",
					config.String("user", "User.").Required(),
				),
				config.ObjectList("columns", "Columns.",
					config.String("name", "Column name.").Required(),
					config.String("type", "Column type.").Default("string").Enum("string", "int"),
				),
				config.Any("extra", "Anything."),
			},
		}})
		r.AddInput(engine.InputPlugin{Spec: config.Spec{
			Name:    "generate",
			Summary: "Generates records.",
			Fields: []config.Field{
				config.Expr("value", "The value.").Required(),
				config.Int("count", "How many.").Default(0),
			},
		}})
		r.AddProcessor(engine.ProcessorPlugin{Spec: config.Spec{
			Name:      "filter",
			Summary:   "Keeps records.",
			Fields:    []config.Field{config.Expr("condition", "Keep when true.").Required()},
			Shorthand: "condition",
		}})
		r.AddProcessor(engine.ProcessorPlugin{Spec: config.Spec{
			Name:    "branch",
			Summary: "Routes records.",
			Fields: []config.Field{
				config.ObjectList("cases", "Cases.",
					config.Expr("when", "When.").Required(),
					config.ComponentList("processors", "processor", "Processors.").Default(nil),
				).Required(),
			},
		}})
		r.AddProcessor(engine.ProcessorPlugin{Spec: config.Spec{Name: "noop", Summary: "Does nothing."}})
		r.AddOutput(engine.OutputPlugin{Spec: config.Spec{
			Name:    "stdout",
			Summary: "Writes to stdout.",
			Fields:  []config.Field{config.String("codec", "Codec.").Default("lines").Enum("lines", "json_lines")},
		}})
		r.AddOutput(engine.OutputPlugin{Spec: config.Spec{
			Name:    "fan_out",
			Summary: "Writes to several outputs.",
			Fields: []config.Field{
				config.ComponentMap("outputs", "output", "Named outputs.").Required(),
				config.Component("fallback", "output", "Fallback."),
			},
		}})
		r.AddOutput(engine.OutputPlugin{Spec: config.Spec{Name: "drop", Summary: "Drops records."}})
	})
}

type problem struct {
	at        string
	fragments []string
}

func TestGeneratedSchemaAcceptsWhatTheEngineAccepts(t *testing.T) {
	s := compile(t, mustGenerate(t, testRegistry()))
	const io = "input: {generate: {value: '1'}}\noutput: {drop: {}}\n"
	valid := map[string]string{
		"minimal":         io,
		"inputs map only": "inputs: {a: {generate: {value: '1'}}}\noutput: {drop: ~}\n",
		"label":           "input: {label: src, generate: {value: '1'}}\noutput: {drop: {}}\n",
		"every kind": `input:
  file:
    paths: [a.txt, 42]
    codec: csv
    acks: 1
    batch_size: 10
    max_line_size: 64KiB
    interval: 1m30s
    ratio: 1
    follow: true
    headers: {a: b, n: 1}
    tls: ~
    auth: {user: me}
    columns: [{name: a}, {name: b, type: int}]
    extra: {anything: [1, 2]}
output: {fan_out: {outputs: {a: {stdout: {}}, b: {drop: {}}}, fallback: {drop: {}}}}
`,
		"quoted scalars": `input:
  file: {paths: [a], batch_size: "10", ratio: "0.25", follow: "false", max_line_size: "1,000 kb", interval: "0"}
output: {drop: {}}
`,
		"size as integer": "input: {file: {paths: [a], max_line_size: 4096}}\noutput: {drop: {}}\n",
		"interpolations": `input:
  file:
    paths: ["${IN}"]
    codec: ${CODEC:lines}
    batch_size: ${N:5}
    max_line_size: ${SIZE:1MiB}
    interval: ${EVERY:1s}
    ratio: ${R:0.5}
    follow: ${FOLLOW:false}
max_in_flight: ${MAX:8}
output: {drop: {}}
`,
		"shorthand and nesting": `input: {generate: {value: '1'}}
pipeline:
  processors:
    - filter: 'value != ""'
    - filter: {condition: 'true'}
    - filter: true
    - noop: {}
    - noop:
    - branch: {cases: [{when: 'true', processors: [{filter: x}, {noop: ~}]}]}
output: {drop: {}}
`,
		"dead letter":                "input: {generate: {value: '1'}}\non_error: dead_letter\ndead_letter: {drop: {}}\n",
		"dead letter interpolated":   "input: {generate: {value: '1'}}\non_error: ${ON_ERROR:dead_letter}\ndead_letter: {drop: {}}\n",
		"string field from a number": "name: 42\ninput: {generate: {value: 1}}\noutput: {drop: {}}\n",
	}
	for name, doc := range valid {
		t.Run("valid/"+name, func(t *testing.T) {
			if p := problems(t, s, decodeYAML(t, name, []byte(doc))); p != nil {
				t.Errorf("rejected:\n%s\n%s", doc, strings.Join(p, "\n"))
			}
		})
	}

	invalid := map[string]struct {
		doc  string
		want []problem
	}{
		"no input":           {"output: {drop: {}}\n", []problem{{"", []string{"missing property", "input"}}}},
		"unknown root field": {io + "outptu: {drop: {}}\n", []problem{{"", []string{"'outptu'"}}}},
		"unknown component": {"input: {fiel: {paths: [a]}}\noutput: {drop: {}}\n",
			[]problem{{"/input", []string{"'fiel'", "not allowed"}}, {"/input", []string{"missing", "file"}}}},
		"two components": {"input: {generate: {value: '1'}, file: {paths: [a]}}\noutput: {drop: {}}\n",
			[]problem{{"/input", []string{"'file'", "not allowed"}}, {"/input", []string{"'generate'", "not allowed"}}}},
		"no component": {"input: {label: x}\noutput: {drop: {}}\n", []problem{{"/input", []string{"missing", "generate"}}}},
		"empty label":  {"input: {label: '', generate: {value: '1'}}\noutput: {drop: {}}\n", []problem{{"/input/label", []string{"minLength"}}}},
		"misspelled field": {"input: {file: {pathz: [a]}}\noutput: {drop: {}}\n",
			[]problem{{"/input/file", []string{"'pathz'", "not allowed"}}, {"/input/file", []string{"missing", "paths"}}}},
		"missing required":   {"input: {generate: {count: 1}}\noutput: {drop: {}}\n", []problem{{"/input/generate", []string{"missing", "value"}}}},
		"null with required": {"input: {generate: ~}\noutput: {drop: {}}\n", []problem{{"/input/generate", []string{"null", "object"}}}},
		"int as word":        {"input: {file: {paths: [a], batch_size: lots}}\noutput: {drop: {}}\n", []problem{{"/input/file/batch_size", []string{"integer"}}}},
		"int as float":       {"input: {file: {paths: [a], batch_size: 1.5}}\noutput: {drop: {}}\n", []problem{{"/input/file/batch_size", []string{"integer"}}}},
		"bool as yes":        {"input: {file: {paths: [a], follow: yes}}\noutput: {drop: {}}\n", []problem{{"/input/file/follow", []string{"boolean"}}}},
		"enum":               {"input: {file: {paths: [a], codec: xml}}\noutput: {drop: {}}\n", []problem{{"/input/file/codec", []string{"lines"}}}},
		"duration without unit": {"input: {file: {paths: [a], interval: 10}}\noutput: {drop: {}}\n",
			[]problem{{"/input/file/interval", []string{"string"}}}},
		"negative duration": {"input: {file: {paths: [a], interval: -1s}}\noutput: {drop: {}}\n",
			[]problem{{"/input/file/interval", []string{"does not match pattern"}}}},
		"bad size": {"input: {file: {paths: [a], max_line_size: lots}}\noutput: {drop: {}}\n",
			[]problem{{"/input/file/max_line_size", []string{"does not match pattern"}}}},
		"list as string": {"input: {file: {paths: a.txt}}\noutput: {drop: {}}\n", []problem{{"/input/file/paths", []string{"array"}}}},
		"nested unknown": {"input: {file: {paths: [a], tls: {enable: true}}}\noutput: {drop: {}}\n",
			[]problem{{"/input/file/tls", []string{"'enable'", "not allowed"}}}},
		"nested required": {"input: {file: {paths: [a], columns: [{type: int}]}}\noutput: {drop: {}}\n",
			[]problem{{"/input/file/columns/0", []string{"missing", "name"}}}},
		"shorthand is not a list": {io + "pipeline: {processors: [{filter: [a]}]}\n",
			[]problem{{"/pipeline/processors/0/filter", []string{"array"}}}},
		"nested processor": {io + "pipeline: {processors: [{branch: {cases: [{when: 'true', processors: [{filtr: x}]}]}}]}\n",
			[]problem{{"/pipeline/processors/0/branch/cases/0/processors/0", []string{"'filtr'", "not allowed"}}}},
		"component map entry": {"input: {generate: {value: '1'}}\noutput: {fan_out: {outputs: {a: {stdot: {}}}}}\n",
			[]problem{{"/output/fan_out/outputs/a", []string{"'stdot'", "not allowed"}}}},
		"dead letter without on_error": {io + "dead_letter: {drop: {}}\n", []problem{{"", []string{"missing", "on_error"}}}},
		"on_error without dead letter": {io + "on_error: dead_letter\n", []problem{{"", []string{"missing", "dead_letter"}}}},
		"null string":                  {"name:\n" + io, []problem{{"/name", []string{"null"}}}},
	}
	for name, tc := range invalid {
		t.Run("invalid/"+name, func(t *testing.T) {
			got := problems(t, s, decodeYAML(t, name, []byte(tc.doc)))
			if got == nil {
				t.Fatalf("accepted:\n%s", tc.doc)
			}
			for _, w := range tc.want {
				if !hasProblem(got, w.at, w.fragments...) {
					t.Errorf("no problem at %q mentioning %q; got:\n%s", w.at, w.fragments, strings.Join(got, "\n"))
				}
			}
		})
	}
}

func mustGenerate(t *testing.T, reg *engine.Registry) []byte {
	t.Helper()
	data, err := Generate(reg)
	if err != nil {
		t.Fatalf("Generate: %v", err)
	}
	return data
}

func TestGenerateDocumentsFields(t *testing.T) {
	var s map[string]any
	if err := json.Unmarshal(mustGenerate(t, testRegistry()), &s); err != nil {
		t.Fatal(err)
	}
	get := func(path ...string) any {
		var v any = s
		for _, p := range path {
			m, ok := v.(map[string]any)
			if !ok {
				t.Fatalf("%v: %s is not an object", path, p)
			}
			v = m[p]
		}
		return v
	}
	file := []string{"definitions", "input.file", "properties", "file"}
	field := func(name string, rest ...string) any {
		return get(append(append(append([]string{}, file...), "properties", name), rest...)...)
	}
	checks := []struct {
		what      string
		got, want any
	}{
		{"$schema", get("$schema"), "http://json-schema.org/draft-07/schema#"},
		{"component description", get(append(file, "description")...), "Reads files.\n\nLine by line."},
		{"component example", get(append(file, "markdownDescription")...), "Reads files.\n\nLine by line.\n\n```yaml\ninput:\n  file: {paths: [a.txt]}\n```"},
		{"required", fmt.Sprint(get(append(file, "required")...)), "[paths]"},
		{"slot required", fmt.Sprint(get("definitions", "input.file", "required")), "[file]"},
		{"slot closed", get("definitions", "input.file", "additionalProperties"), false},
		{"fields closed", get(append(file, "additionalProperties")...), false},
		{"root closed", get("additionalProperties"), false},
		{"field description", field("batch_size", "description"), "The most records in one batch."},
		{"int default", field("batch_size", "default"), 100.0},
		{"duration default", field("interval", "default"), "2s"},
		{"size default", field("max_line_size", "default"), "1MiB"},
		{"example", fmt.Sprint(field("paths", "examples")), "[[in/*.txt]]"},
		{"enum", fmt.Sprint(field("codec", "anyOf")), "[map[enum:[lines json_lines csv]] map[pattern:\\$\\{ patternErrorMessage:want a ${VAR} or ${VAR:default} reference type:string]]"},
		{"numeric enum", fmt.Sprint(field("acks", "anyOf")), "[map[enum:[0 0 1 1 all]] map[pattern:\\$\\{ patternErrorMessage:want a ${VAR} or ${VAR:default} reference type:string]]"},
		{"category", fmt.Sprint(get("definitions", "output", "oneOf")), "[map[$ref:#/definitions/output.drop] map[$ref:#/definitions/output.fan_out] map[$ref:#/definitions/output.stdout]]"},
		{"component field", fmt.Sprint(get("definitions", "output.fan_out", "properties", "fan_out", "properties", "fallback", "allOf")), "[map[$ref:#/definitions/output]]"},
		{"component map", fmt.Sprint(get("definitions", "output.fan_out", "properties", "fan_out", "properties", "outputs", "additionalProperties")), "map[$ref:#/definitions/output]"},
		{"component list", fmt.Sprint(get("properties", "pipeline", "properties", "processors", "items")), "map[$ref:#/definitions/processor]"},
	}
	for _, c := range checks {
		if fmt.Sprint(c.got) != fmt.Sprint(c.want) {
			t.Errorf("%s: got %v, want %v", c.what, c.got, c.want)
		}
	}
}

func TestGenerateRejectsInconsistentSpecs(t *testing.T) {
	cases := map[string]struct {
		spec config.Spec
		want string
	}{
		"shorthand without field": {config.Spec{Name: "x", Shorthand: "nope"}, `processor x: shorthand names no field: "nope"`},
		"shorthand on a list": {config.Spec{Name: "x", Shorthand: "l", Fields: []config.Field{config.StringList("l", "")}},
			`shorthand field "l" is a string_list`},
		"bad default":  {config.Spec{Name: "x", Fields: []config.Field{config.Int("n", "").Default("5")}}, `processor x.n: default "5" is not an int`},
		"bad duration": {config.Spec{Name: "x", Fields: []config.Field{config.Duration("d", "").Default("5")}}, `default "5" is not a duration`},
		"bad enum default": {config.Spec{Name: "x", Fields: []config.Field{config.String("s", "").Enum("a", "b").Default("c")}},
			`default "c" is not one of a, b`},
		"bad category":    {config.Spec{Name: "x", Fields: []config.Field{config.Component("c", "sink", "")}}, `unknown category "sink"`},
		"unknown kind":    {config.Spec{Name: "x", Fields: []config.Field{{Name: "k", Kind: "weird"}}}, `processor x.k: unknown kind "weird"`},
		"duplicate field": {config.Spec{Name: "x", Fields: []config.Field{config.Int("n", ""), config.Int("n", "")}}, `processor x.n: field is declared twice`},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			reg := engine.NewRegistry(func(r *engine.Registry) { r.AddProcessor(engine.ProcessorPlugin{Spec: tc.spec}) })
			_, err := Generate(reg)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got error %v, want one containing %q", err, tc.want)
			}
		})
	}
}

func TestGenerateWithoutComponents(t *testing.T) {
	s := compile(t, mustGenerate(t, engine.NewRegistry()))
	got := problems(t, s, decodeYAML(t, "empty", []byte("input: {file: {}}\n")))
	if !hasProblem(got, "/input", "not") {
		t.Errorf("an input was accepted with no input registered: %v", got)
	}
}
