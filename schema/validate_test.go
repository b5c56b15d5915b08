package schema

// These tests read the committed schema/pipeline.schema.json with an
// independent validator (santhosh-tekuri/jsonschema), as an editor would, and
// hold it to what the engine accepts.

import (
	"bytes"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/pipelinehq/pipeline/config"
	"github.com/pipelinehq/pipeline/engine"
)

func committedSchema(t *testing.T) []byte {
	t.Helper()
	data, err := os.ReadFile(committed)
	if err != nil {
		t.Fatalf("reading the committed schema: %v (run `go test ./schema -update`)", err)
	}
	return data
}

func TestExamplesAreValid(t *testing.T) {
	s := compile(t, committedSchema(t))
	files := globYAML(t, filepath.Join("..", "pipelines"))
	if len(files) == 0 {
		if os.Getenv("CI") == "true" {
			t.Fatal("no pipelines/*.yaml to validate")
		}
		t.Skip("no pipelines/*.yaml yet")
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			data, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			if p := problems(t, s, decodeYAML(t, f, data)); p != nil {
				t.Errorf("%s does not match schema/pipeline.schema.json:\n%s", f, strings.Join(p, "\n"))
			}
		})
	}
}

// Each testdata config, with what the validator must say about it. The
// engine is held to the same verdicts, so the schema and the engine agree.
var testdataVerdicts = map[string][]problem{
	"valid/shorthand.yaml":        nil,
	"valid/interpolated-int.yaml": nil,
	"invalid/unknown-component.yaml": {
		{"/input", []string{"additional properties 'fiel' not allowed"}},
	},
	"invalid/missing-required.yaml": {
		{"/input/file", []string{"missing property 'paths'"}},
	},
	"invalid/two-components.yaml": {
		// Neither alternative fits: each finds the other's key.
		{"/pipeline/processors/0", []string{"additional properties 'filter' not allowed"}},
		{"/pipeline/processors/0", []string{"additional properties 'map' not allowed"}},
	},
	"invalid/misspelled-field.yaml": {
		{"/output/stdout", []string{"additional properties 'codecc' not allowed"}},
	},
	"invalid/wrong-type.yaml": {
		{"/input/file/batch_size", []string{"got string, want integer"}},
	},
}

func TestTestdataVerdicts(t *testing.T) {
	s := compile(t, committedSchema(t))
	reg := fullRegistry()
	files := append(globYAML(t, filepath.Join("testdata", "valid")), globYAML(t, filepath.Join("testdata", "invalid"))...)
	if len(files) != len(testdataVerdicts) {
		t.Errorf("%d testdata configs, %d verdicts: give every file a verdict", len(files), len(testdataVerdicts))
	}
	for _, f := range files {
		name := filepath.ToSlash(strings.TrimPrefix(f, "testdata"+string(filepath.Separator)))
		t.Run(name, func(t *testing.T) {
			want, ok := testdataVerdicts[name]
			if !ok {
				t.Fatalf("no verdict for %s", name)
			}
			wantValid := strings.HasPrefix(name, "valid/")
			data, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}

			got := problems(t, s, decodeYAML(t, f, data))
			switch {
			case wantValid && got != nil:
				t.Errorf("the schema rejects it:\n%s", strings.Join(got, "\n"))
			case !wantValid && got == nil:
				t.Errorf("the schema accepts it")
			}
			for _, w := range want {
				if !hasProblem(got, w.at, w.fragments...) {
					t.Errorf("no problem at %q saying %q; got:\n%s", w.at, w.fragments, strings.Join(got, "\n"))
				}
			}

			// The engine's verdict (load and build, nothing started).
			noEnv := func(string) (string, bool) { return "", false }
			doc, err := config.Load(name, data, config.LoadOptions{LookupEnv: noEnv})
			if err == nil {
				_, err = engine.Build(doc, reg, engine.BuildOptions{})
			}
			switch {
			case wantValid && err != nil:
				t.Errorf("the schema accepts it but the engine does not:\n%v", err)
			case !wantValid && err == nil:
				t.Errorf("the schema rejects it but the engine builds it")
			}
		})
	}
}

// Every default and example in the schema must be valid where it stands, or
// an editor would flag the value it suggests.
func TestDefaultsAndExamplesMatchTheirSchema(t *testing.T) {
	data := committedSchema(t)
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	c := jsonschema.NewCompiler()
	c.DefaultDraft(jsonschema.Draft7)
	const url = "file:///pipeline.schema.json"
	if err := c.AddResource(url, doc); err != nil {
		t.Fatal(err)
	}
	checked := 0
	var walk func(ptr string, v any)
	walk = func(ptr string, v any) {
		s, ok := v.(map[string]any)
		if !ok {
			return
		}
		var values []any
		if d, ok := s["default"]; ok {
			values = append(values, d)
		}
		if ex, ok := s["examples"].([]any); ok {
			values = append(values, ex...)
		}
		if len(values) > 0 {
			sub, err := c.Compile(url + "#" + ptr)
			if err != nil {
				t.Fatalf("%s: %v", ptr, err)
			}
			for _, x := range values {
				checked++
				if err := sub.Validate(x); err != nil {
					t.Errorf("%s: %#v is not valid there: %v", ptr, x, err)
				}
			}
		}
		for _, k := range []string{"properties", "definitions"} {
			if m, ok := s[k].(map[string]any); ok {
				for name, sub := range m {
					walk(ptr+"/"+k+"/"+strings.ReplaceAll(strings.ReplaceAll(name, "~", "~0"), "/", "~1"), sub)
				}
			}
		}
		for _, k := range []string{"additionalProperties", "items", "not", "if", "then", "else"} {
			walk(ptr+"/"+k, s[k])
		}
		for _, k := range []string{"allOf", "anyOf", "oneOf"} {
			if list, ok := s[k].([]any); ok {
				for i, sub := range list {
					walk(ptr+"/"+k+"/"+strconv.Itoa(i), sub)
				}
			}
		}
	}
	walk("", doc)
	if checked < 10 {
		t.Errorf("only %d defaults and examples found; the walk misses some", checked)
	}
	t.Logf("%d defaults and examples checked", checked)
}
