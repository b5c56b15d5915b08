package generate_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pipelinehq/pipeline/config"
	"github.com/pipelinehq/pipeline/engine"
	"github.com/pipelinehq/pipeline/inputs"
	"github.com/pipelinehq/pipeline/inputs/generate"
	"github.com/pipelinehq/pipeline/outputs"
)

func build(t *testing.T, yaml string) (*engine.Pipeline, error) {
	t.Helper()
	doc, err := config.Load("t.yaml", []byte(yaml), config.LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return engine.Build(doc, engine.NewRegistry(inputs.Register, outputs.Register), engine.BuildOptions{})
}

func TestConfigErrors(t *testing.T) {
	tests := []struct{ input, want string }{
		{`generate: {count: 3}`, `t.yaml:2:13: input.generate.value: missing required field "value"`},
		{`generate: {value: 'meta.offset +'}`, "t.yaml:2:34: input.generate.value: expression: unexpected token EOF"},
		{`generate: {value: '1', count: -1}`, "t.yaml:2:33: input.generate.count: must be 0 (without end) or more, got -1"},
		{`generate: {value: '1', batch_size: 0}`, "t.yaml:2:38: input.generate.batch_size: must be at least 1, got 0"},
		{`generate: {value: '1', interval: -1s}`, "t.yaml:2:36: input.generate.interval: want a duration of zero or more, got -1s"},
	}
	for _, tt := range tests {
		_, err := build(t, "input:\n  "+tt.input+"\noutput:\n  drop: {}\n")
		if err == nil || err.Error() != tt.want {
			t.Errorf("error:\n%v\nwant:\n%s", err, tt.want)
		}
	}
}

func run(t *testing.T, yaml string) error {
	t.Helper()
	p, err := build(t, yaml)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	return p.Run(ctx)
}

func TestPipelineGenerateToDrop(t *testing.T) {
	if err := run(t, "input:\n  generate: {value: '{\"id\": meta.offset}', count: 10000}\noutput:\n  drop: {}\n"); err != nil {
		t.Fatal(err)
	}
}

func TestPipelineGenerateToFile(t *testing.T) {
	out := filepath.Join(t.TempDir(), "out.jsonl")
	err := run(t, fmt.Sprintf("input:\n  generate: {value: '{\"id\": meta.offset}', count: 1000, batch_size: 64}\noutput:\n  file: {path: %q, codec: json_lines}\n", out))
	if err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	var want strings.Builder
	for i := range 1000 {
		fmt.Fprintf(&want, "{\"id\":%d}\n", i)
	}
	if string(got) != want.String() {
		t.Fatalf("output has %d bytes, want %d:\n%.200s", len(got), want.Len(), got)
	}
}

func TestPipelineStopsUnboundedGenerate(t *testing.T) {
	p, err := build(t, "input:\n  generate: {value: '1'}\noutput:\n  drop: {}\n")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	if err := p.Run(ctx); err != nil {
		t.Fatalf("a stopped run: %v", err)
	}
}

func TestSpecExampleBuilds(t *testing.T) {
	spec := generate.Plugin().Spec
	doc, err := config.Load("example.yaml", []byte(spec.Example+"\noutput:\n  drop: {}\n"), config.LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := engine.Build(doc, engine.NewRegistry(inputs.Register, outputs.Register), engine.BuildOptions{}); err != nil {
		t.Fatalf("the spec's example does not build: %v\n%s", err, spec.Example)
	}
	for _, f := range spec.Fields {
		if f.Description == "" || len(f.Examples) == 0 || (f.DefaultValue == nil && !f.IsRequired) {
			t.Errorf("field %s lacks a description, an example or a default", f.Name)
		}
	}
}
