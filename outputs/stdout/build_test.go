package stdout_test

import (
	"testing"

	"github.com/pipelinehq/pipeline/config"
	"github.com/pipelinehq/pipeline/engine"
	"github.com/pipelinehq/pipeline/inputs"
	"github.com/pipelinehq/pipeline/outputs"
	"github.com/pipelinehq/pipeline/outputs/stdout"
)

func TestSpecExampleBuilds(t *testing.T) {
	spec := stdout.Plugin().Spec
	doc, err := config.Load("example.yaml", []byte("input:\n  generate: {value: '1', count: 1}\n"+spec.Example+"\n"), config.LoadOptions{})
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
