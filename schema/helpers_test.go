package schema

import (
	"bytes"
	"fmt"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"gopkg.in/yaml.v3"
)

// compile compiles a generated schema with an independent validator,
// checking it against the draft-07 meta-schema on the way.
func compile(t *testing.T, data []byte) *jsonschema.Schema {
	t.Helper()
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(data))
	if err != nil {
		t.Fatalf("schema is not JSON: %v", err)
	}
	const url = "file:///pipeline.schema.json"
	c := jsonschema.NewCompiler()
	c.DefaultDraft(jsonschema.Draft7)
	if err := c.AddResource(url, doc); err != nil {
		t.Fatalf("adding schema: %v", err)
	}
	s, err := c.Compile(url)
	if err != nil {
		t.Fatalf("compiling schema: %v", err)
	}
	return s
}

// decodeYAML decodes a config into the values a JSON Schema validator
// takes: mappings with string keys, lists, strings, numbers, bools, nil.
func decodeYAML(t *testing.T, name string, data []byte) any {
	t.Helper()
	var v any
	if err := yaml.Unmarshal(data, &v); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	out, err := jsonValue(v)
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return out
}

func jsonValue(v any) (any, error) {
	switch v := v.(type) {
	case map[string]any:
		out := make(map[string]any, len(v))
		for k, x := range v {
			j, err := jsonValue(x)
			if err != nil {
				return nil, err
			}
			out[k] = j
		}
		return out, nil
	case map[any]any:
		out := make(map[string]any, len(v))
		for k, x := range v {
			j, err := jsonValue(x)
			if err != nil {
				return nil, err
			}
			out[fmt.Sprint(k)] = j
		}
		return out, nil
	case []any:
		out := make([]any, len(v))
		for i, x := range v {
			j, err := jsonValue(x)
			if err != nil {
				return nil, err
			}
			out[i] = j
		}
		return out, nil
	case time.Time:
		return v.Format(time.RFC3339Nano), nil
	case nil, string, bool, int, int64, uint64, float64:
		return v, nil
	}
	return nil, fmt.Errorf("cannot convert %T to JSON", v)
}

// problems validates v and returns each leaf error as
// "/instance/location: message", sorted; nil when v is valid.
func problems(t *testing.T, s *jsonschema.Schema, v any) []string {
	t.Helper()
	err := s.Validate(v)
	if err == nil {
		return nil
	}
	ve, ok := err.(*jsonschema.ValidationError)
	if !ok {
		t.Fatalf("validate: %v", err)
	}
	var out []string
	var walk func(u jsonschema.OutputUnit)
	walk = func(u jsonschema.OutputUnit) {
		if u.Error != nil && len(u.Errors) == 0 {
			out = append(out, u.InstanceLocation+": "+u.Error.String())
		}
		for _, c := range u.Errors {
			walk(c)
		}
	}
	walk(*ve.DetailedOutput())
	sort.Strings(out)
	return out
}

// hasProblem reports whether one of the problems is at location and
// contains every one of the fragments.
func hasProblem(probs []string, location string, fragments ...string) bool {
	for _, p := range probs {
		loc, msg, _ := strings.Cut(p, ": ")
		if loc != location {
			continue
		}
		all := true
		for _, f := range fragments {
			all = all && strings.Contains(msg, f)
		}
		if all {
			return true
		}
	}
	return false
}

func globYAML(t *testing.T, dir string) []string {
	t.Helper()
	var files []string
	for _, pattern := range []string{"*.yaml", "*.yml"} {
		m, err := filepath.Glob(filepath.Join(dir, pattern))
		if err != nil {
			t.Fatal(err)
		}
		files = append(files, m...)
	}
	sort.Strings(files)
	return files
}
