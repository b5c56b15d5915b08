package stdin_test

import (
	"testing"

	"github.com/pipelinehq/pipeline/config"
	"github.com/pipelinehq/pipeline/engine"
	"github.com/pipelinehq/pipeline/inputs"
	"github.com/pipelinehq/pipeline/inputs/stdin"
	"github.com/pipelinehq/pipeline/outputs"
)

func TestConfigErrors(t *testing.T) {
	tests := []struct{ input, want string }{
		{`stdin: {batch_size: 0}`, "t.yaml:2:23: input.stdin.batch_size: must be at least 1, got 0"},
		{`stdin: {codec: csv}`, `t.yaml:2:18: input.stdin.codec: "csv" is not one of lines, json_lines`},
		{`stdin: {max_line_size: 0}`, "t.yaml:2:26: input.stdin.max_line_size: must be at least 1 byte"},
	}
	for _, tt := range tests {
		doc, err := config.Load("t.yaml", []byte("input:\n  "+tt.input+"\noutput:\n  drop: {}\n"), config.LoadOptions{})
		if err != nil {
			t.Fatal(err)
		}
		_, err = engine.Build(doc, engine.NewRegistry(inputs.Register, outputs.Register), engine.BuildOptions{})
		if err == nil || err.Error() != tt.want {
			t.Errorf("error:\n%v\nwant:\n%s", err, tt.want)
		}
	}
	doc, _ := config.Load("t.yaml", []byte("input:\n  stdin: {}\noutput:\n  drop: {}\n"), config.LoadOptions{})
	if _, err := engine.Build(doc, engine.NewRegistry(inputs.Register, outputs.Register), engine.BuildOptions{}); err != nil {
		t.Fatalf("defaults: %v", err)
	}
}

func TestSpecExampleBuilds(t *testing.T) {
	spec := stdin.Plugin().Spec
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
